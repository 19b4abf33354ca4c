"""Server-sent events: a run's event log, framed as the Assistants API streams it.

A stream reads the run's log from a sequence number, so it never misses an event however fast
the run. Each frame carries its sequence number as the SSE ``id``, so a client can resume with
``Last-Event-ID``. A stream ends after ``thread.run.requires_action`` (the continuation comes on
the stream of ``submit_tool_outputs``) or the run's terminal event, with ``event: done`` /
``data: [DONE]``. A run that fails after the stream began gets an ``error`` event first, whose
data ``{"error": {...}}`` makes the SDK raise. Idle streams get a comment line now and then, so
proxies and clients do not time them out.

A client that goes away only stops its stream: the run goes on, and its events can be read
again from ``/v1/threads/{thread_id}/runs/{run_id}/events``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

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


def frame(event: RunEvent) -> bytes:
    """Return the SSE frame of one event, with its sequence number as the SSE id."""
    return f"id: {event.seq}\nevent: {event.event}\ndata: {event.data}\n\n".encode()


def error_frame(run: dict[str, Any]) -> bytes:
    """Return the ``error`` frame sent before ``thread.run.failed`` (no id: it is not logged)."""
    error = run.get("last_error") or {}
    body = {
        "error": {
            "message": error.get("message") or "The run failed.",
            "type": "server_error",
            "param": None,
            "code": error.get("code") or "server_error",
        }
    }
    return f"event: error\ndata: {json.dumps(body)}\n\n".encode()


async def sse_frames(
    events: EventLog,
    run_id: str,
    after: int,
    *,
    follow_past_action: bool = False,
    keepalive: float | None = None,
) -> AsyncIterator[bytes]:
    """Yield the SSE frames of a run's events after sequence ``after``.

    Args:
        events: The event log.
        run_id: The run.
        after: The sequence number to start after (``Last-Event-ID``).
        follow_past_action: Keep following after ``requires_action`` (the replay endpoint).
        keepalive: Idle seconds before a keepalive comment (default :data:`KEEPALIVE_SECONDS`).
    """
    idle = KEEPALIVE_SECONDS if keepalive is None else keepalive
    async for event in events.read_from(run_id, after, keepalive=idle):
        if event is None:
            yield KEEPALIVE_FRAME
            continue
        if event.event == "thread.run.failed":
            yield error_frame(json.loads(event.data))
        yield frame(event)
        if event.event in END_EVENTS and (
            not follow_past_action or event.event != "thread.run.requires_action"
        ):
            break
    yield DONE_FRAME


async def final_state_frames(run: dict[str, Any]) -> AsyncIterator[bytes]:
    """Yield a finished run's last event rebuilt from the store, for a log no longer kept."""
    if run["status"] == "failed":
        yield error_frame(run)
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
