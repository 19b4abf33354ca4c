"""Stand-in for python-pptx (file parsing; unused by the function-calling flow)."""

from _placeholder import Placeholder as Presentation

__all__ = ["Presentation"]
