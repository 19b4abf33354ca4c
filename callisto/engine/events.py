"""The run event log: every state change and delta of a run, in order, with sequence numbers.

The engine writes a state change to the database first, then appends its event here. A
streaming response reads the log of its run from a sequence number and follows it, so it never
misses an event however fast the run, and a client can resume from ``Last-Event-ID``.

:class:`MemoryEventLog` serves one process. A Redis Streams implementation of the same
:class:`EventLog` protocol serves several (``callisto.engine.redis_events``).
"""

from __future__ import annotations

import asyncio
import bisect
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class RunEvent:
    """One event of a run.

    Attributes:
        seq: Position in the run's log, from 1.
        event: The SSE event name, e.g. ``thread.run.completed``.
        data: The event's data, already serialised as JSON.
    """

    seq: int
    event: str
    data: str


def encode(data: Any) -> str:
    """Serialise event data compactly (the format of :attr:`RunEvent.data`)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


class EventLog(Protocol):
    """Where runs publish their events and streams read them."""

    async def append(self, run_id: str, event: str, data: Any) -> int:
        """Append an event and return its sequence number."""
        ...

    async def last_seq(self, run_id: str) -> int:
        """Return the sequence number of the run's newest event (0 when none)."""
        ...

    def read_from(
        self, run_id: str, after: int = 0, *, keepalive: float | None = None
    ) -> AsyncIterator[RunEvent | None]:
        """Yield the run's events after sequence ``after``, following new ones until closed.

        With ``keepalive``, yield ``None`` after that many idle seconds so the caller can send a
        keepalive comment.
        """
        ...

    async def close(self, run_id: str) -> None:
        """Mark the run's log complete: readers finish once they reach its end."""
        ...

    async def aclose(self) -> None:
        """Release resources."""
        ...


async def publish(log: EventLog, run_id: str, events: list[tuple[str, Any]]) -> None:
    """Append ``(event, data)`` pairs to the run's log, in order."""
    for name, data in events:
        await log.append(run_id, name, data)


@dataclass(slots=True)
class _RunLog:
    events: list[RunEvent] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    closed_at: float | None = None
    last_seq: int = 0
    size: int = 0
    trimmed: bool = False


class MemoryEventLog:
    """An in-process :class:`EventLog`.

    ``trim_after`` seconds after a run's log closes (the run rests), its deltas are dropped: the
    events that follow them (``thread.message.completed``, a step's ``completed``) carry the
    whole content, so a late or resuming client still gets everything, and a finished run keeps
    only a few events. Logs of finished runs are kept for ``retention`` seconds, and the oldest
    finished ones are dropped earlier while all logs together hold more than ``max_bytes`` of
    event data.
    """

    def __init__(
        self,
        retention: float = 900.0,
        *,
        trim_after: float = 60.0,
        max_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        """Create an empty log keeping finished runs' events for ``retention`` seconds."""
        self.retention = retention
        self.trim_after = trim_after
        self.max_bytes = max_bytes
        self.size = 0
        self._logs: dict[str, _RunLog] = {}
        self._last_prune = time.monotonic()

    def _log(self, run_id: str) -> _RunLog:
        log = self._logs.get(run_id)
        if log is None:
            log = self._logs[run_id] = _RunLog()
        return log

    async def append(self, run_id: str, event: str, data: Any) -> int:
        """Append an event and wake every reader of the run."""
        log = self._log(run_id)
        log.last_seq += 1
        seq = log.last_seq
        item = RunEvent(seq, event, data if isinstance(data, str) else encode(data))
        log.events.append(item)
        log.size += len(item.data)
        self.size += len(item.data)
        # Swap in a fresh Event: readers waiting on the old one wake, new waits block.
        changed, log.changed = log.changed, asyncio.Event()
        changed.set()
        return seq

    async def last_seq(self, run_id: str) -> int:
        """Return the newest sequence number of the run (0 when none)."""
        log = self._logs.get(run_id)
        return log.last_seq if log else 0

    async def read_from(
        self, run_id: str, after: int = 0, *, keepalive: float | None = None
    ) -> AsyncIterator[RunEvent | None]:
        """Yield events after ``after`` and follow the run until its log is closed."""
        log = self._log(run_id)
        position = max(0, after)  # the last sequence number given out
        while True:
            events = log.events
            # Sequence numbers rise but have gaps once a log is trimmed: find the next one.
            index = bisect.bisect_right(events, position, key=lambda e: e.seq)
            for item in events[index:]:
                yield item
                position = item.seq
            if log.closed_at is not None:
                return
            waiter = log.changed
            try:
                await asyncio.wait_for(waiter.wait(), keepalive)
            except TimeoutError:
                yield None

    async def close(self, run_id: str) -> None:
        """Mark the run's log complete and prune logs past their retention."""
        log = self._log(run_id)
        log.closed_at = time.monotonic()
        changed, log.changed = log.changed, asyncio.Event()
        changed.set()
        self._prune()

    async def reopen(self, run_id: str) -> None:
        """Allow more events on a run whose log was closed (a run resumed after a restart)."""
        self._log(run_id).closed_at = None

    def _prune(self) -> None:
        now = time.monotonic()
        if self.size > self.max_bytes:
            # Oldest finished runs first (logs are kept in the order their runs began).
            for rid in [rid for rid, log in self._logs.items() if log.closed_at is not None]:
                if self.size <= self.max_bytes:
                    break
                self._drop(rid)
        if now - self._last_prune < 10:
            return
        self._last_prune = now
        for rid, log in list(self._logs.items()):
            if log.closed_at is None:
                continue
            if now - log.closed_at > self.retention:
                self._drop(rid)
            elif now - log.closed_at > self.trim_after and not log.trimmed:
                self._trim(log)

    def _trim(self, log: _RunLog) -> None:
        kept = [e for e in log.events if not e.event.endswith(".delta")]
        kept_size = sum(len(e.data) for e in kept)
        self.size -= log.size - kept_size
        log.events, log.size, log.trimmed = kept, kept_size, True

    def _drop(self, run_id: str) -> None:
        log = self._logs.pop(run_id)
        self.size -= log.size

    def __len__(self) -> int:
        """Return how many runs have a log in memory."""
        return len(self._logs)

    async def aclose(self) -> None:
        """Drop every log."""
        self._logs.clear()
        self.size = 0
