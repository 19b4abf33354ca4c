"""Server-sent events: a run's event log, framed as the Assistants API streams it.

A stream reads the run's log from a sequence number, so it never misses an event however fast
the run. Each frame carries its sequence number as the SSE ``id``, so a client can resume with
``Last-Event-ID``. A stream ends after ``thread.run.requires_action`` (the continuation comes on
the stream of ``submit_tool_outputs``) or the run's terminal event, with ``event: done`` /
``data: [DONE]``. A run that fails ends with ``thread.run.failed``, its ``last_error`` saying
why, as OpenAI streams it: the SDK's event handlers see it and ``get_final_run()`` returns the
failed run. An ``error`` event, whose data ``{"error": {...}}`` makes the SDK raise, is kept for
the server's own failures (the event log could not be read). Idle streams get a comment line
now and then, so proxies and clients do not time them out.

Events that are already in the log when a stream gets to them go out together: their frames are
joined into one chunk, so a fast run costs one socket write per batch instead of one per event.
A stream never waits to fill a batch: whatever is ready is sent at once.

A client that goes away only stops its stream: the run goes on, and its events can be read
again from ``/v1/threads/{thread_id}/runs/{run_id}/events``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.responses import StreamingResponse

from callisto.engine.events import EventLog, RunEvent

if TYPE_CHECKING:
    from callisto.api.deps import ServerState

END_EVENTS = frozenset(
    {
        "thread.run.requires_action",
        "thread.run.completed",
        "thread.run.failed",
        "thread.run.cancelled",
        "thread.run.expired",
        "thread.run.incomplete",
    }
)
KEEPALIVE_SECONDS = 15.0
"""Idle seconds before a keepalive comment; read at the start of each stream (tests shorten it)."""
KEEPALIVE_FRAME = b": keepalive\n\n"
DONE_FRAME = b"event: done\ndata: [DONE]\n\n"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
READ_AHEAD = 256
"""Events a stream may read from the log ahead of its client (bounds a slow client's buffer)."""

T = TypeVar("T")

log = logging.getLogger("callisto.api")


def frame(event: RunEvent) -> bytes:
    """Return the SSE frame of one event, with its sequence number as the SSE id."""
    return f"id: {event.seq}\nevent: {event.event}\ndata: {event.data}\n\n".encode()


def error_frame(message: str) -> bytes:
    """Return an ``error`` frame for a failure of the server itself (no id: it is not logged)."""
    body = {"error": {"message": message, "type": "server_error", "param": None, "code": None}}
    return f"event: error\ndata: {json.dumps(body)}\n\n".encode()


async def sse_frames(
    events: EventLog,
    run_id: str,
    after: int,
    *,
    follow_past_action: bool = False,
    keepalive: float | None = None,
) -> AsyncIterator[bytes]:
    """Yield the SSE frames of a run's events after sequence ``after``, a batch per chunk.

    Each chunk holds the frames of every event that was ready when the stream got to it (at least
    one), ending with the ``[DONE]`` frame when the stream ends.

    Args:
        events: The event log.
        run_id: The run.
        after: The sequence number to start after (``Last-Event-ID``).
        follow_past_action: Keep following after ``requires_action`` (the replay endpoint).
        keepalive: Idle seconds before a keepalive comment (default :data:`KEEPALIVE_SECONDS`).
    """
    idle = KEEPALIVE_SECONDS if keepalive is None else keepalive
    source = events.read_from(run_id, after, keepalive=idle)
    try:
        async with contextlib.aclosing(ready_batches(source)) as batches:
            async for batch in batches:
                frames, ended = _batch_frames(batch, follow_past_action)
                if ended:
                    frames.append(DONE_FRAME)
                    yield b"".join(frames)
                    return
                yield b"".join(frames)
    except Exception:
        log.exception("the events of run %s could not be read", run_id)
        yield error_frame("The server could not read the run's events; the run goes on.")
        return
    yield DONE_FRAME


def _batch_frames(
    batch: list[RunEvent | None], follow_past_action: bool
) -> tuple[list[bytes], bool]:
    """Return the frames of ``batch`` up to the event that ends the stream, and whether one did."""
    frames: list[bytes] = []
    for event in batch:
        if event is None:
            frames.append(KEEPALIVE_FRAME)
            continue
        frames.append(frame(event))
        if event.event in END_EVENTS and (
            not follow_past_action or event.event != "thread.run.requires_action"
        ):
            return frames, True
    return frames, False


class _Stop:
    """The last item a read-ahead task queues: the end of its source, or the error it raised."""

    __slots__ = ("error",)

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error


async def ready_batches(
    source: AsyncIterator[T], limit: int = READ_AHEAD
) -> AsyncGenerator[list[T], None]:
    """Yield the items of ``source`` in lists of those ready together: wait for one, never more.

    A task reads ``source`` into a queue of at most ``limit`` items; each list is the item waited
    for plus every item queued behind it by then. The task ends with this generator, and closes
    ``source``.

    Args:
        source: Any async iterator, e.g. an event log's :meth:`~EventLog.read_from`.
        limit: The most items read ahead of the consumer.

    Raises:
        Exception: Whatever ``source`` raised, after the items before it.
    """
    queue: asyncio.Queue[T | _Stop] = asyncio.Queue(limit)
    reader = asyncio.create_task(_read_into(source, queue))
    try:
        while True:
            batch: list[T] = []
            item = await queue.get()
            while not isinstance(item, _Stop):
                batch.append(item)
                if queue.empty():
                    break
                item = queue.get_nowait()
            if batch:
                yield batch
            if isinstance(item, _Stop):
                if item.error is not None:
                    raise item.error
                return
    finally:
        reader.cancel()


async def _read_into(source: AsyncIterator[T], queue: asyncio.Queue[T | _Stop]) -> None:
    """Queue every item of ``source``, then a :class:`_Stop` (with the error, if it raised)."""
    try:
        async for item in source:
            await queue.put(item)
    except Exception as exc:
        await queue.put(_Stop(exc))
    else:
        await queue.put(_Stop())
    finally:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()


async def final_state_frames(run: dict[str, Any]) -> AsyncIterator[bytes]:
    """Yield a finished run's last event rebuilt from the store, for a log no longer kept."""
    yield f"event: thread.run.{run['status']}\ndata: {json.dumps(run)}\n\n".encode()
    yield DONE_FRAME


def sse_response(frames: AsyncIterator[bytes]) -> StreamingResponse:
    """Return a ``text/event-stream`` response of ``frames``, unbuffered by proxies."""
    return StreamingResponse(frames, media_type="text/event-stream", headers=HEADERS)


def stream_run(
    state: ServerState, run_id: str, after: int, *, follow_past_action: bool = False
) -> StreamingResponse:
    """Return the streaming response of a run from sequence ``after``."""
    return sse_response(
        sse_frames(state.runs.events, run_id, after, follow_past_action=follow_past_action)
    )
