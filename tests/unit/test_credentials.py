"""Request-given provider keys: kept per run, dropped with it, shared through Redis."""

from __future__ import annotations

import secrets

import pytest

from callisto.engine.credentials import Credentials, MemoryCredentials, RedisCredentials
from callisto.testing.databases import redis_unavailable_reason, redis_url


async def _round_trip(store: Credentials, run_id: str) -> None:
    assert await store.get(run_id) is None
    await store.put(run_id, "sk-request-key", ttl=60)
    assert await store.get(run_id) == "sk-request-key"
    await store.drop(run_id)
    assert await store.get(run_id) is None


async def test_memory_keys_live_until_dropped() -> None:
    await _round_trip(MemoryCredentials(), "run_a")


@pytest.mark.redis
async def test_redis_keys_are_shared_and_expire() -> None:
    reason = redis_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    prefix = "callisto-test:" + secrets.token_hex(4)
    writer, reader = (
        RedisCredentials(redis_url(), prefix=prefix),
        RedisCredentials(redis_url(), prefix=prefix),
    )
    try:
        await _round_trip(writer, "run_b")
        await writer.put("run_c", "sk-other", ttl=30)
        # Another process (another client) reads it; it carries a time to live.
        assert await reader.get("run_c") == "sk-other"
        assert 0 < await reader.redis.ttl(f"{prefix}:run_c") <= 30
    finally:
        await writer.drop("run_c")
        await writer.redis.aclose()
        await reader.redis.aclose()
