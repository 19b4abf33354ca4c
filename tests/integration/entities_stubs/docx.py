"""Stand-in for python-docx (file parsing; unused by the function-calling flow)."""

from _placeholder import Placeholder as Document

__all__ = ["Document"]
