"""Stand-in for sentence-transformers (embeddings; unused by the function-calling flow)."""

from _placeholder import Placeholder as CrossEncoder
from _placeholder import Placeholder as SentenceTransformer

__all__ = ["CrossEncoder", "SentenceTransformer"]
