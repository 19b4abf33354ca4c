"""Server-sent events: a run's event log, framed as the Assistants API streams it.

A stream reads the run's log from a sequence number, so it never misses an event however fast
the run. It ends after ``thread.run.requires_action`` (the continuation comes on the stream of
``submit_tool_outputs``) or the run's terminal event, with ``event: done`` / ``data: [DONE]``.
A run that fails after the stream began gets an ``error`` event first, whose data
``{"error": {...}}`` makes the SDK raise.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

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
DONE_FRAME = b"event: done\ndata: [DONE]\n\n"


def frame(event: RunEvent) -> bytes:
    """Return the SSE frame of one event, with its sequence number as the SSE id."""
    return f"id: {event.seq}\nevent: {event.event}\ndata: {event.data}\n\n".encode()


def _error_frame(event: RunEvent) -> bytes:
    run = json.loads(event.data)
    error = run.get("last_error") or {}
    body = {
        "error": {
            "message": error.get("message", "The run failed."),
            "type": "server_error",
            "param": None,
            "code": error.get("code", "server_error"),
        }
    }
    return f"event: error\ndata: {json.dumps(body)}\n\n".encode()


async def sse_frames(
    events: EventLog, run_id: str, after: int, *, follow_past_action: bool = False
) -> AsyncIterator[bytes]:
    """Yield the SSE frames of a run's events after sequence ``after``.

    Args:
        events: The event log.
        run_id: The run.
        after: The sequence number to start after (``Last-Event-ID``).
        follow_past_action: Keep following after ``requires_action`` (the replay endpoint).
    """
    async for event in events.read_from(run_id, after, keepalive=KEEPALIVE_SECONDS):
        if event is None:
            yield b": keepalive\n\n"
            continue
        if event.event == "thread.run.failed":
            yield _error_frame(event)
        yield frame(event)
        if event.event in END_EVENTS and (
            not follow_past_action or event.event != "thread.run.requires_action"
        ):
            break
    yield DONE_FRAME


def stream_run(state: ServerState, run_id: str, after: int) -> StreamingResponse:
    """Return the streaming response of a run from sequence ``after``."""
    return StreamingResponse(
        sse_frames(state.runs.events, run_id, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
