"""The run event log: one contract, kept by the in-memory log and by the Redis Streams log.

Every contract test runs against both; the Redis variant needs the server at
``CALLISTO_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) and is skipped, with the
reason, when it is not reachable.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator

import pytest

from callisto.engine.events import EventLog, MemoryEventLog, RunEvent
from callisto.engine.redis_events import RedisEventLog
from callisto.testing.databases import redis_unavailable_reason, redis_url

WAIT = 10.0  # generous: a reader that should wake does so in milliseconds


@pytest.fixture(params=["memory", "redis"])
async def log(request: pytest.FixtureRequest) -> AsyncIterator[EventLog]:
    if request.param == "memory":
        memory = MemoryEventLog()
        yield memory
        await memory.aclose()
        return
    reason = redis_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    redis_log = RedisEventLog(redis_url(), prefix=f"callisto_test:{secrets.token_hex(6)}")
    yield redis_log
    keys = [k async for k in redis_log.redis.scan_iter(match=f"{redis_log.prefix}:*")]
    if keys:
        await redis_log.redis.delete(*keys)
    await redis_log.aclose()


async def collect(log: EventLog, run_id: str, after: int = 0) -> list[RunEvent]:
    async def read() -> list[RunEvent]:
        return [e async for e in log.read_from(run_id, after) if e is not None]

    return await asyncio.wait_for(read(), WAIT)


async def test_append_numbers_events_from_one(log: EventLog) -> None:
    assert await log.last_seq("run_a") == 0
    assert await log.append("run_a", "thread.run.created", {"id": "run_a"}) == 1
    assert await log.append("run_a", "thread.run.queued", {"id": "run_a"}) == 2
    assert await log.append("run_b", "thread.run.created", {"id": "run_b"}) == 1
    assert await log.last_seq("run_a") == 2
    assert await log.last_seq("run_b") == 1


async def test_closed_log_replays_in_order_and_ends(log: EventLog) -> None:
    for i in range(5):
        await log.append("run_a", f"e{i}", {"i": i, "text": "héllo ✓"})
    await log.close("run_a")
    events = await collect(log, "run_a")
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert [e.event for e in events] == ["e0", "e1", "e2", "e3", "e4"]
    assert json.loads(events[0].data) == {"i": 0, "text": "héllo ✓"}


async def test_read_from_starts_after_the_given_sequence(log: EventLog) -> None:
    for i in range(5):
        await log.append("run_a", f"e{i}", {"i": i})
    await log.close("run_a")
    assert [e.seq for e in await collect(log, "run_a", after=3)] == [4, 5]
    assert await collect(log, "run_a", after=5) == []


async def test_data_given_as_a_string_is_kept_as_is(log: EventLog) -> None:
    await log.append("run_a", "e", '{"already":"json"}')
    await log.close("run_a")
    assert (await collect(log, "run_a"))[0].data == '{"already":"json"}'


async def test_a_reader_follows_new_events_until_close(log: EventLog) -> None:
    await log.append("run_a", "first", {})
    seen: list[str] = []
    first_seen = asyncio.Event()

    async def follow() -> None:
        async for event in log.read_from("run_a", 0):
            assert event is not None
            seen.append(event.event)
            first_seen.set()

    reader = asyncio.create_task(follow())
    await asyncio.wait_for(first_seen.wait(), WAIT)
    await log.append("run_a", "second", {})
    await log.append("run_a", "third", {})
    await log.close("run_a")
    await asyncio.wait_for(reader, WAIT)
    assert seen == ["first", "second", "third"]


async def test_closing_an_empty_log_ends_its_readers(log: EventLog) -> None:
    reader = asyncio.create_task(collect(log, "run_empty"))
    await asyncio.sleep(0.05)
    await log.close("run_empty")
    assert await reader == []
    assert await log.last_seq("run_empty") == 0


async def test_close_twice_is_harmless(log: EventLog) -> None:
    await log.append("run_a", "e", {})
    await log.close("run_a")
    await log.close("run_a")
    assert [e.seq for e in await collect(log, "run_a")] == [1]


async def test_idle_reader_gets_keepalives(log: EventLog) -> None:
    await log.append("run_a", "e", {})
    items: list[RunEvent | None] = []

    async def read() -> None:
        async for item in log.read_from("run_a", 0, keepalive=0.05):
            items.append(item)
            if items.count(None) >= 2:
                return

    await asyncio.wait_for(read(), WAIT)
    assert items[0] is not None and items[0].seq == 1
    assert items[1:] == [None, None]


async def test_many_readers_see_the_same_events(log: EventLog) -> None:
    readers = [asyncio.create_task(collect(log, "run_a")) for _ in range(5)]
    for i in range(20):
        await log.append("run_a", "e", {"i": i})
    await log.close("run_a")
    results = await asyncio.gather(*readers)
    assert all([e.seq for e in r] == list(range(1, 21)) for r in results)


async def test_concurrent_appends_get_distinct_contiguous_numbers(log: EventLog) -> None:
    seqs = await asyncio.gather(*(log.append("run_a", "e", {"i": i}) for i in range(50)))
    assert sorted(seqs) == list(range(1, 51))
    await log.close("run_a")
    assert [e.seq for e in await collect(log, "run_a")] == list(range(1, 51))


async def test_reopen_lets_a_closed_log_grow_again(log: EventLog) -> None:
    assert isinstance(log, MemoryEventLog | RedisEventLog)
    reopen = log.reopen
    await log.append("run_a", "before", {})
    await log.close("run_a")
    await reopen("run_a")
    await log.append("run_a", "after", {})
    await log.close("run_a")
    assert [e.event for e in await collect(log, "run_a")] == ["before", "after"]


# -- Redis specifics ---------------------------------------------------------------------------


@pytest.fixture
async def redis_log() -> AsyncIterator[RedisEventLog]:
    reason = redis_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    log = RedisEventLog(
        redis_url(), prefix=f"callisto_test:{secrets.token_hex(6)}", retention=60, idle_ttl=3600
    )
    yield log
    keys = [k async for k in log.redis.scan_iter(match=f"{log.prefix}:*")]
    if keys:
        await log.redis.delete(*keys)
    await log.aclose()


async def test_redis_log_is_one_stream_per_run_with_seq_ids(redis_log: RedisEventLog) -> None:
    await redis_log.append("run_a", "thread.run.created", {"id": "run_a"})
    await redis_log.append("run_a", "thread.run.queued", {"id": "run_a"})
    stream, counter = redis_log._keys("run_a")
    entries = await redis_log.redis.xrange(stream)
    assert [entry_id for entry_id, _ in entries] == ["1-0", "2-0"]
    assert entries[0][1]["event"] == "thread.run.created"
    assert await redis_log.redis.get(counter) == "2"


async def test_redis_log_expires_after_close(redis_log: RedisEventLog) -> None:
    await redis_log.append("run_a", "e", {})
    stream, counter = redis_log._keys("run_a")
    assert 60 < await redis_log.redis.ttl(stream) <= 3600  # the idle TTL while open
    await redis_log.close("run_a")
    assert 0 < await redis_log.redis.ttl(stream) <= 60
    assert 0 < await redis_log.redis.ttl(counter) <= 60
    # The closing marker takes no sequence number.
    assert await redis_log.last_seq("run_a") == 1
    assert [entry_id for entry_id, _ in await redis_log.redis.xrange(stream)] == ["1-0", "1-1"]


async def test_redis_logs_are_shared_between_clients(redis_log: RedisEventLog) -> None:
    other = RedisEventLog(redis_url(), prefix=redis_log.prefix)
    try:
        reader = asyncio.create_task(collect(other, "run_a"))
        await redis_log.append("run_a", "written by one", {})
        await redis_log.close("run_a")
        assert [e.event for e in await reader] == ["written by one"]
    finally:
        await other.aclose()


async def test_redis_log_of_an_expired_run_reads_as_empty(redis_log: RedisEventLog) -> None:
    await redis_log.append("run_a", "e", {})
    await redis_log.delete("run_a")
    assert await redis_log.last_seq("run_a") == 0


def test_redis_log_needs_a_url_or_client() -> None:
    with pytest.raises(ValueError, match="url or a client"):
        RedisEventLog()


async def test_memory_log_drops_finished_runs_after_retention() -> None:
    log = MemoryEventLog(retention=0.0)
    await log.append("run_old", "e", {})
    await log.close("run_old")
    log._last_prune = 0.0  # prune on the next close
    await log.append("run_new", "e", {})
    await log.close("run_new")
    assert "run_old" not in log._logs


async def test_settings_choose_the_event_log() -> None:
    from callisto.config import Settings
    from callisto.engine.backends import make_event_log

    assert isinstance(make_event_log(Settings(database_url="sqlite://")), MemoryEventLog)
    with pytest.raises(ValueError, match="redis_url"):
        make_event_log(Settings(database_url="sqlite://", event_log="redis"))
    log = make_event_log(
        Settings(database_url="sqlite://", event_log="redis", redis_url="redis://127.0.0.1:1/0")
    )
    assert isinstance(log, RedisEventLog)  # connects lazily: nothing is reached here
    await log.aclose()


async def test_a_rested_run_s_deltas_are_trimmed_and_readers_resume_across_the_gap() -> None:
    log = MemoryEventLog(trim_after=0.0)
    await log.append("run_1", "thread.run.created", {"n": 1})
    for i in range(5):
        await log.append("run_1", "thread.message.delta", {"i": i})
    await log.append("run_1", "thread.message.completed", {"text": "whole"})
    log._last_prune = 0.0  # let the next close prune at once
    await log.close("run_1")
    events = [e async for e in log.read_from("run_1")]
    assert [(e.seq, e.event) for e in events] == [
        (1, "thread.run.created"),
        (7, "thread.message.completed"),
    ]
    # Resuming from a dropped delta's number gives what follows it.
    assert [e.seq async for e in log.read_from("run_1", after=3) if e] == [7]
    assert await log.last_seq("run_1") == 7
    assert log.size == sum(len(e.data) for e in events)


async def test_memory_is_bounded_by_dropping_the_oldest_finished_runs() -> None:
    log = MemoryEventLog(max_bytes=1000)
    for run in range(10):
        await log.append(f"run_{run}", "thread.message.delta", "x" * 300)
        await log.close(f"run_{run}")
    assert log.size <= 1000
    assert len(log) < 10 and await log.last_seq("run_9") == 1


async def test_a_reader_idle_longer_than_the_client_s_socket_timeout_keeps_waiting(
    log: EventLog,
) -> None:
    # redis-py gives up on a read that waits past its socket timeout (5 s): a reader idle
    # for longer must still get its keepalive and then the next event.
    await log.append("run_idle", "thread.run.created", {})
    reader = log.read_from("run_idle", 1, keepalive=6.0)
    assert await asyncio.wait_for(reader.__anext__(), 15) is None
    await log.append("run_idle", "thread.run.completed", {})
    event = await asyncio.wait_for(reader.__anext__(), WAIT)
    assert event is not None and event.event == "thread.run.completed"
    await reader.aclose()  # type: ignore[attr-defined]
