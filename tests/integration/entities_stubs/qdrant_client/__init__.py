"""Stand-in for qdrant-client (vector stores; unused by the function-calling flow)."""

from _placeholder import Placeholder as QdrantClient

__all__ = ["QdrantClient"]
