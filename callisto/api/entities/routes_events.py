"""Entities ``GET /v1/runs/{run_id}/events``: a run's actions and its end, as server-sent events.

The SDK's ``runs.watch_run_events`` listens here for ``action_required``. The stream replays the
run's log from its start and follows it to its end:

- ``event: action_required`` per tool call the run waits on that has no output yet, with the
  data of a ``GET /v1/actions/pending/{run_id}`` entry (saved as an action first);
- ``event: run.completed`` (or ``run.failed``, ``run.cancelled``, ``run.expired``) with
  ``{run_id, status, last_error}``, and the stream ends.

Idle streams get a comment line now and then.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from fastapi import APIRouter
from starlette.responses import StreamingResponse

from callisto.api.deps import Project, ServerState, State
from callisto.api.entities import actions
from callisto.api.entities.routes_runs import load_run
from callisto.api.entities.status import entities_status
from callisto.api.streaming import END_EVENTS, KEEPALIVE_FRAME, KEEPALIVE_SECONDS, sse_response
from callisto.engine.lifecycle import is_terminal

router = APIRouter(tags=["entities"])


def _frame(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _end_frame(run_id: str, status: str, last_error: dict[str, Any] | None) -> bytes:
    word = entities_status(status)
    message = (last_error or {}).get("message")
    return _frame(f"run.{word}", {"run_id": run_id, "status": word, "last_error": message})


async def _frames(state: ServerState, run_id: str) -> AsyncIterator[bytes]:
    events = state.runs.events
    async for event in events.read_from(run_id, 0, keepalive=KEEPALIVE_SECONDS):
        if event is None:
            yield KEEPALIVE_FRAME
            continue
        data = json.loads(event.data)
        if event.event == "thread.run.requires_action":
            calls = data["required_action"]["submit_tool_outputs"]["tool_calls"]
            rows = await state.runs.writer.run(
                partial(actions.save_actions, run_id=run_id, calls=calls)
            )
            for row in rows:
                if row.output is None:
                    yield _frame("action_required", actions.pending_entry(row))
        elif event.event in END_EVENTS:
            yield _end_frame(run_id, data["status"], data.get("last_error"))
            return


@router.get("/runs/{run_id}/events")
async def run_events(run_id: str, state: State, project: Project) -> StreamingResponse:
    """Stream the run's ``action_required`` events and its end."""
    async with state.sessions() as db:
        run = await load_run(db, run_id, project)
    if is_terminal(run.status) and await state.runs.events.last_seq(run_id) == 0:
        # The log of a run finished long ago is gone; its final state is still stored.
        final = _end_frame(run_id, run.status, run.last_error)

        async def ended() -> AsyncIterator[bytes]:
            yield final

        return sse_response(ended())
    return sse_response(_frames(state, run_id))
