"""The run event log on Redis Streams, shared by every server and worker process.

Each run has one stream, ``{prefix}:{<run_id>}:events``, whose entry ids are ``<seq>-0``: the
sequence number is the stream id, so a reader resumes with ``XREAD ... <seq>-0`` and
``Last-Event-ID`` maps to Redis directly. A counter key beside it hands out sequence numbers;
appending is one Lua script (``INCR`` then ``XADD``), so two processes appending to the same run
(a runner and a cancel request) never interleave wrongly. Closing adds a marker entry
``<last seq>-1`` that ends readers without taking a sequence number, and gives both keys a TTL
so finished runs' logs go away after ``retention`` seconds. Logs of runs that never close expire
after ``idle_ttl`` seconds without an event.

The braces in the key names are a Redis Cluster hash tag: both keys of a run share a slot, as a
script touching both requires.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis

from callisto.engine.events import RunEvent, encode

# KEYS: stream, counter. ARGV: event, data, idle ttl. Returns the new sequence number.
_APPEND = """
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], seq .. '-0', 'event', ARGV[1], 'data', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return seq
"""

# KEYS: stream, counter. ARGV: retention. Adds the closing marker once; sets the TTLs.
_CLOSE = """
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
local marker = seq .. '-1'
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if not (last[1] and last[1][1] == marker) then
  redis.call('XADD', KEYS[1], marker, 'closed', '1')
end
if seq == 0 then redis.call('SET', KEYS[2], 0) end
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return seq
"""

# KEYS: stream, counter. ARGV: idle ttl. Removes the closing marker, if any.
_REOPEN = """
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
redis.call('XDEL', KEYS[1], seq .. '-1')
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return seq
"""

_BATCH = 512
# Each stream being read holds a connection while its XREAD waits: the pool must be as large
# as the streams a process serves at once, and a full pool waits instead of failing.
_MAX_CONNECTIONS = 4096
_POOL_TIMEOUT = 30.0
# How long one XREAD waits for new entries: well under redis-py's default socket timeout.
_BLOCK_MS = 1000


def blocking_pool(url: str) -> aioredis.BlockingConnectionPool:
    """Return a connection pool for ``url`` that waits for a free connection when full
    (redis-py's default pool raises past 100 connections, one per stream being read)."""
    return aioredis.BlockingConnectionPool.from_url(
        url, decode_responses=True, max_connections=_MAX_CONNECTIONS, timeout=_POOL_TIMEOUT
    )


class RedisEventLog:
    """An :class:`~callisto.engine.events.EventLog` over Redis Streams.

    Args:
        url: The Redis URL, e.g. ``redis://127.0.0.1:6379/0``.
        prefix: The prefix of every key this log writes.
        retention: Seconds a finished run's log is kept after :meth:`close`.
        idle_ttl: Seconds an unfinished run's log is kept after its last event.
        client: A client to use instead of one made from ``url`` (it must decode responses).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        prefix: str = "callisto:run",
        retention: float = 900.0,
        idle_ttl: float = 86_400.0,
        client: aioredis.Redis | None = None,
    ) -> None:
        """Connect lazily to ``url`` (or use ``client``)."""
        if client is None:
            if url is None:
                raise ValueError("RedisEventLog needs a url or a client")
            client = aioredis.Redis.from_pool(blocking_pool(url))  # owns the pool: aclose closes it
        self.redis = client
        self.prefix = prefix
        self.retention = max(1, int(retention))
        self.idle_ttl = max(1, int(idle_ttl))
        self._append = client.register_script(_APPEND)
        self._close = client.register_script(_CLOSE)
        self._reopen = client.register_script(_REOPEN)

    def _keys(self, run_id: str) -> list[str]:
        base = f"{self.prefix}:{{{run_id}}}"
        return [f"{base}:events", f"{base}:seq"]

    async def append(self, run_id: str, event: str, data: Any) -> int:
        """Append an event and return its sequence number."""
        payload = data if isinstance(data, str) else encode(data)
        seq = await self._append(keys=self._keys(run_id), args=[event, payload, self.idle_ttl])
        return int(seq)

    async def last_seq(self, run_id: str) -> int:
        """Return the newest sequence number of the run (0 when none)."""
        value = await self.redis.get(self._keys(run_id)[1])
        return int(value or 0)

    async def read_from(
        self, run_id: str, after: int = 0, *, keepalive: float | None = None
    ) -> AsyncIterator[RunEvent | None]:
        """Yield events after ``after`` and follow the run until its log is closed.

        With ``keepalive``, yield ``None`` after that many idle seconds.
        """
        stream = self._keys(run_id)[0]
        last_id = f"{max(0, after)}-0"
        # XREAD BLOCK 0 would wait forever, and redis-py gives up on a read that waits past its
        # socket timeout (5 s by default): block in short slices, and count the idle time.
        idle_since = time.monotonic()
        while True:
            # XREAD returns ids strictly after last_id, already stored ones at once.
            reply: Any = await self.redis.xread({stream: last_id}, count=_BATCH, block=_BLOCK_MS)
            if not reply:
                if keepalive is not None and time.monotonic() - idle_since >= keepalive:
                    idle_since = time.monotonic()
                    yield None
                continue
            idle_since = time.monotonic()
            entries: list[tuple[str, dict[str, str]]] = reply[0][1]
            for entry_id, fields in entries:
                last_id = entry_id
                if "closed" in fields:
                    return
                yield RunEvent(int(entry_id.split("-", 1)[0]), fields["event"], fields["data"])

    async def close(self, run_id: str) -> None:
        """Mark the run's log complete and let it expire after ``retention`` seconds."""
        await self._close(keys=self._keys(run_id), args=[self.retention])

    async def reopen(self, run_id: str) -> None:
        """Allow more events on a run whose log was closed (a run resumed after a restart)."""
        await self._reopen(keys=self._keys(run_id), args=[self.idle_ttl])

    async def delete(self, run_id: str) -> None:
        """Drop the run's log at once."""
        await self.redis.delete(*self._keys(run_id))

    async def aclose(self) -> None:
        """Close the connections."""
        await self.redis.aclose()
