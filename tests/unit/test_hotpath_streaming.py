"""SSE batching: events ready together go out as one chunk, and no event waits for a batch.

The ``sse_frames`` tests run against both event logs (the Redis one needs the server at
``CALLISTO_TEST_REDIS_URL`` and is skipped, with the reason, when it is not reachable).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
from collections.abc import AsyncIterator

import pytest

from callisto.api.streaming import (
    DONE_FRAME,
    KEEPALIVE_FRAME,
    final_state_frames,
    ready_batches,
    sse_frames,
)
from callisto.engine.events import EventLog, MemoryEventLog, RunEvent
from callisto.engine.redis_events import RedisEventLog
from callisto.testing.databases import redis_unavailable_reason, redis_url

WAIT = 10.0  # generous: anything that should arrive does so in milliseconds
FAILED = {
    "id": "run_1",
    "status": "failed",
    "last_error": {"code": "rate_limit_exceeded", "message": "slow down"},
}


@pytest.fixture(params=["memory", "redis"])
async def events(request: pytest.FixtureRequest) -> AsyncIterator[EventLog]:
    if request.param == "memory":
        yield MemoryEventLog()
        return
    reason = redis_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    log = RedisEventLog(redis_url(), prefix=f"callisto_test:{secrets.token_hex(6)}")
    yield log
    async for key in log.redis.scan_iter(match=f"{log.prefix}:*"):
        await log.redis.delete(key)
    await log.aclose()


def parse(chunk: bytes) -> list[tuple[str, str]]:
    """Return ``(event, data)`` per frame of a chunk (``":"`` for a comment)."""
    frames = []
    for block in chunk.decode().split("\n\n")[:-1]:
        fields = dict(
            line.split(": ", 1) if not line.startswith(":") else (":", line)
            for line in block.split("\n")
        )
        frames.append((fields.get("event", ":"), fields.get("data", "")))
    return frames


async def all_chunks(chunks: AsyncIterator[bytes]) -> list[bytes]:
    async def read() -> list[bytes]:
        return [chunk async for chunk in chunks]

    return await asyncio.wait_for(read(), WAIT)


async def test_events_already_logged_go_out_as_one_chunk_ending_with_done(events: EventLog) -> None:
    for name in ("thread.run.created", "thread.run.queued", "thread.run.in_progress"):
        await events.append("run_1", name, {"id": "run_1"})
    for i in range(20):
        await events.append("run_1", "thread.message.delta", {"i": i})
    await events.append("run_1", "thread.run.completed", {"id": "run_1"})
    await events.close("run_1")

    chunks = await all_chunks(sse_frames(events, "run_1", 0))

    assert len(chunks) == 1
    assert chunks[0].endswith(DONE_FRAME)
    frames = parse(chunks[0])
    assert [name for name, _ in frames[:3]] == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
    ]
    assert [json.loads(data)["i"] for _, data in frames[3:23]] == list(range(20))
    assert [name for name, _ in frames[23:]] == ["thread.run.completed", "done"]
    ids = [line for line in chunks[0].decode().split("\n") if line.startswith("id: ")]
    assert ids == [f"id: {seq}" for seq in range(1, 25)]


async def test_resuming_sends_only_the_events_after_the_given_sequence(events: EventLog) -> None:
    for i in range(5):
        await events.append("run_1", "thread.message.delta", {"i": i})
    await events.append("run_1", "thread.run.completed", {})
    await events.close("run_1")

    frames = parse(b"".join(await all_chunks(sse_frames(events, "run_1", 3))))

    assert frames == [
        ("thread.message.delta", '{"i":3}'),
        ("thread.message.delta", '{"i":4}'),
        ("thread.run.completed", "{}"),
        ("done", "[DONE]"),
    ]


async def test_an_event_available_now_is_sent_without_waiting_for_more(events: EventLog) -> None:
    await events.append("run_1", "thread.run.created", {"id": "run_1"})
    stream = sse_frames(events, "run_1", 0)

    first = await asyncio.wait_for(anext(stream), WAIT)
    assert parse(first) == [("thread.run.created", '{"id":"run_1"}')]

    await events.append("run_1", "thread.message.delta", {"i": 0})
    await events.append("run_1", "thread.message.delta", {"i": 1})
    await events.append("run_1", "thread.run.completed", {})
    rest = b"".join(await all_chunks(stream))
    assert [name for name, _ in parse(rest)] == [
        "thread.message.delta",
        "thread.message.delta",
        "thread.run.completed",
        "done",
    ]


async def test_a_failed_run_ends_with_its_failed_event_and_no_error_frame(
    events: EventLog,
) -> None:
    await events.append("run_1", "thread.run.in_progress", {"id": "run_1"})
    await events.append("run_1", "thread.run.failed", FAILED)
    await events.append("run_1", "thread.run.step.completed", {"id": "step_1"})  # past the end
    await events.close("run_1")

    chunks = await all_chunks(sse_frames(events, "run_1", 0))

    frames = parse(b"".join(chunks))
    assert [name for name, _ in frames] == ["thread.run.in_progress", "thread.run.failed", "done"]
    assert json.loads(frames[1][1])["last_error"] == FAILED["last_error"]


async def test_a_failed_run_replayed_from_the_store_has_no_error_frame() -> None:
    chunks = [chunk async for chunk in final_state_frames(FAILED)]

    frames = parse(b"".join(chunks))
    assert [name for name, _ in frames] == ["thread.run.failed", "done"]
    assert json.loads(frames[0][1]) == FAILED


class _BrokenLog(MemoryEventLog):
    """An event log whose reading fails after the first event, as a lost Redis would."""

    async def read_from(  # type: ignore[override]
        self, run_id: str, after: int, *, keepalive: float | None = None
    ) -> AsyncIterator[RunEvent | None]:
        async for event in super().read_from(run_id, after, keepalive=keepalive):
            yield event
            raise ConnectionError("the log went away")


async def test_a_log_that_cannot_be_read_ends_the_stream_with_an_error_frame() -> None:
    events = _BrokenLog()
    await events.append("run_1", "thread.run.in_progress", {"id": "run_1"})

    frames = parse(b"".join(await all_chunks(sse_frames(events, "run_1", 0))))

    assert [name for name, _ in frames] == ["thread.run.in_progress", "error"]
    error = json.loads(frames[1][1])["error"]
    assert error["type"] == "server_error" and "events" in error["message"]


async def test_requires_action_ends_a_stream_unless_it_follows_past_actions(
    events: EventLog,
) -> None:
    await events.append("run_1", "thread.run.requires_action", {"id": "run_1"})
    await events.append("run_1", "thread.run.queued", {"id": "run_1"})
    await events.append("run_1", "thread.run.completed", {"id": "run_1"})
    await events.append("run_1", "thread.message.created", {"id": "msg_1"})  # past the end
    await events.close("run_1")

    stops = parse(b"".join(await all_chunks(sse_frames(events, "run_1", 0))))
    follows = parse(
        b"".join(await all_chunks(sse_frames(events, "run_1", 0, follow_past_action=True)))
    )

    assert [name for name, _ in stops] == ["thread.run.requires_action", "done"]
    assert [name for name, _ in follows] == [
        "thread.run.requires_action",
        "thread.run.queued",
        "thread.run.completed",
        "done",
    ]


async def test_a_log_closed_without_an_end_event_still_ends_with_done(events: EventLog) -> None:
    await events.append("run_1", "thread.run.in_progress", {})
    await events.close("run_1")

    frames = parse(b"".join(await all_chunks(sse_frames(events, "run_1", 0))))

    assert [name for name, _ in frames] == ["thread.run.in_progress", "done"]


async def test_an_idle_stream_sends_keepalives_between_events(events: EventLog) -> None:
    stream = sse_frames(events, "run_1", 0, keepalive=0.05)

    assert await asyncio.wait_for(anext(stream), WAIT) == KEEPALIVE_FRAME
    await events.append("run_1", "thread.run.completed", {})
    rest = b"".join(await all_chunks(stream))

    assert rest.endswith(b"event: thread.run.completed\ndata: {}\n\n" + DONE_FRAME)


# --- ready_batches, the read-ahead under sse_frames ---------------------------------------------


async def test_ready_batches_yields_what_is_ready_and_never_waits_for_more() -> None:
    release = asyncio.Event()

    async def source() -> AsyncIterator[int]:
        for i in range(3):
            yield i
        await release.wait()
        yield 3

    batches = ready_batches(source())
    assert await asyncio.wait_for(anext(batches), WAIT) == [0, 1, 2]
    release.set()
    assert await asyncio.wait_for(anext(batches), WAIT) == [3]
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(batches), WAIT)


async def test_ready_batches_passes_on_the_error_of_its_source_after_the_items_before_it() -> None:
    async def source() -> AsyncIterator[int]:
        yield 1
        yield 2
        raise ConnectionError("log unreachable")

    batches = ready_batches(source())
    assert await asyncio.wait_for(anext(batches), WAIT) == [1, 2]
    with pytest.raises(ConnectionError, match="log unreachable"):
        await asyncio.wait_for(anext(batches), WAIT)


async def test_ready_batches_reads_a_bounded_number_of_items_ahead() -> None:
    counter = itertools.count()

    async def endless() -> AsyncIterator[int]:
        while True:
            yield next(counter)

    batches = ready_batches(endless(), limit=4)
    first = await asyncio.wait_for(anext(batches), WAIT)
    await asyncio.sleep(0.05)  # a slow client: the reader must stop, not fill memory

    assert first == [0, 1, 2, 3]
    assert next(counter) <= 2 * 4 + 2
    await batches.aclose()


async def test_closing_the_batches_stops_the_reader_and_closes_its_source() -> None:
    closed = asyncio.Event()

    async def source() -> AsyncIterator[int]:
        try:
            yield 1
            await asyncio.Event().wait()  # never set: only closing ends this
            yield 2
        finally:
            closed.set()

    batches = ready_batches(source())
    assert await asyncio.wait_for(anext(batches), WAIT) == [1]
    await batches.aclose()

    await asyncio.wait_for(closed.wait(), WAIT)
