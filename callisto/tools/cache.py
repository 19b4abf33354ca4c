"""A TTL cache of results for tools marked deterministic."""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any


def canonical_arguments(arguments: Mapping[str, Any]) -> str:
    """Arguments as canonical JSON: keys sorted, no spaces, so equal arguments give equal text."""
    return json.dumps(
        arguments, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False
    )


class ResultCache:
    """Remembers outputs of deterministic tools for ``ttl`` seconds, keyed by tool and arguments.

    Only successful outputs are stored. The oldest entries go first when full.

    Args:
        ttl: Seconds an entry stays valid.
        max_entries: Entries kept at most.
        clock: Returns seconds, monotonically; injectable for tests.
    """

    def __init__(
        self,
        *,
        ttl: float = 300.0,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(tool: str, arguments: Mapping[str, Any]) -> str:
        """The cache key of a call."""
        return f"{tool}:{canonical_arguments(arguments)}"

    def get(self, tool: str, arguments: Mapping[str, Any]) -> str | None:
        """Return the cached output of this call, or ``None`` when absent or expired."""
        key = self.key(tool, arguments)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, output = entry
            if self._clock() >= expires:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return output

    def put(self, tool: str, arguments: Mapping[str, Any], output: str) -> None:
        """Store the output of a successful call."""
        key = self.key(tool, arguments)
        with self._lock:
            self._entries[key] = (self._clock() + self.ttl, output)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
