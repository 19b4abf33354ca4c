"""Stand-in for ``qdrant_client.http.models``."""
