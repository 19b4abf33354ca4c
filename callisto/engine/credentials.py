"""Provider keys given with a request (Entities' ``api_key``), kept only while their run lives.

A key is never written to the database. :class:`MemoryCredentials` keeps it in this process
(the embedded mode); :class:`RedisCredentials` keeps it in Redis with a time to live, so the
worker executing the run (the scaled mode) can use it. Either way it is dropped when the run
ends, and gone by itself once the run could no longer use it.
"""

from __future__ import annotations

from typing import Protocol


class Credentials(Protocol):
    """Where request-given provider keys wait for their run's turns."""

    async def put(self, run_id: str, api_key: str, ttl: float) -> None:
        """Keep ``api_key`` for ``run_id`` for at most ``ttl`` seconds."""
        ...

    async def get(self, run_id: str) -> str | None:
        """Return the run's key, if one was given."""
        ...

    async def drop(self, run_id: str) -> None:
        """Forget the run's key (its run ended)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class MemoryCredentials:
    """Keys in this process's memory."""

    def __init__(self) -> None:
        """Start with no keys."""
        self._keys: dict[str, str] = {}

    async def put(self, run_id: str, api_key: str, ttl: float) -> None:
        """Keep the key until the run ends (a process restart forgets it)."""
        self._keys[run_id] = api_key

    async def get(self, run_id: str) -> str | None:
        """Return the run's key."""
        return self._keys.get(run_id)

    async def drop(self, run_id: str) -> None:
        """Forget the run's key."""
        self._keys.pop(run_id, None)

    async def aclose(self) -> None:
        """Forget every key."""
        self._keys.clear()


class RedisCredentials:
    """Keys in Redis, each with a time to live, shared by every process."""

    def __init__(self, url: str, *, prefix: str = "callisto:key") -> None:
        """Connect lazily to ``url``."""
        # The [redis] extra: a process without Redis needs none of it.
        import redis.asyncio as aioredis

        from callisto.engine.redis_events import blocking_pool

        self.redis = aioredis.Redis.from_pool(blocking_pool(url))  # owns the pool: aclose closes it
        self.prefix = prefix

    def _key(self, run_id: str) -> str:
        return f"{self.prefix}:{run_id}"

    async def put(self, run_id: str, api_key: str, ttl: float) -> None:
        """Keep the key for at most ``ttl`` seconds."""
        await self.redis.set(self._key(run_id), api_key, ex=max(1, int(ttl)))

    async def get(self, run_id: str) -> str | None:
        """Return the run's key."""
        value = await self.redis.get(self._key(run_id))
        return None if value is None else str(value)

    async def drop(self, run_id: str) -> None:
        """Forget the run's key."""
        await self.redis.delete(self._key(run_id))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.redis.aclose()
