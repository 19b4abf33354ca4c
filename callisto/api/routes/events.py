"""``GET /v1/threads/{thread_id}/runs/{run_id}/events``: replay and follow a run's events.

Callisto's extension to the Assistants API. It streams the run's logged events (the same
frames as the run's own streams, with their sequence numbers as SSE ids) and follows the run
across ``requires_action`` until it ends. A client that lost its stream resumes with the
``Last-Event-ID`` header (or ``?after=N``) and gets exactly the events it missed.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query

from callisto.api.deps import Project, State
from callisto.api.streaming import final_state_frames, sse_frames, sse_response
from callisto.engine.lifecycle import is_terminal
from callisto.errors import InvalidRequest
from callisto.store import wire

router = APIRouter(tags=["runs"])


def _start_after(last_event_id: str | None, after: int | None) -> int:
    # The header wins: an EventSource reconnecting sends it while its URL keeps the old ?after=.
    if last_event_id is None or not last_event_id.strip():
        return after or 0
    try:
        seq = int(last_event_id.strip())
    except ValueError:
        raise InvalidRequest(
            f"Last-Event-ID must be an event's sequence number, got {last_event_id!r}.",
            param="Last-Event-ID",
        ) from None
    if seq < 0:
        raise InvalidRequest("Last-Event-ID must not be negative.", param="Last-Event-ID")
    return seq


@router.get("/threads/{thread_id}/runs/{run_id}/events")
async def run_events(
    thread_id: str,
    run_id: str,
    state: State,
    project: Project,
    after: Annotated[int | None, Query(ge=0)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Any:
    """Stream a run's events after ``Last-Event-ID`` (or ``after``) and follow it to its end."""
    start = _start_after(last_event_id, after)
    # A session of its own, closed before streaming: a stream may last minutes.
    async with state.sessions() as db:
        run = await state.runs.get_run(db, thread_id, run_id, project=project)
    events = state.runs.events
    if is_terminal(run.status) and await events.last_seq(run_id) == 0:
        # The log of a run finished long ago is gone; its final state is still stored.
        return sse_response(final_state_frames(wire.run(run)))
    return sse_response(sse_frames(events, run_id, start, follow_past_action=True))
