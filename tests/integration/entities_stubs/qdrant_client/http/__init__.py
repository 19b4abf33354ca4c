"""Stand-in for ``qdrant_client.http``."""

from qdrant_client.http import models

__all__ = ["models"]
