"""Stand-in for pdfplumber (file parsing; unused by the function-calling flow)."""
