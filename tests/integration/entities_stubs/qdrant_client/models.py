"""Stand-in for ``qdrant_client.models``."""

from _placeholder import Placeholder as FieldCondition
from _placeholder import Placeholder as Filter
from _placeholder import Placeholder as MatchValue
from _placeholder import Placeholder as Range

__all__ = ["FieldCondition", "Filter", "MatchValue", "Range"]
