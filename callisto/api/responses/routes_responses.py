"""``/v1/responses``: create (plain, streamed, background), retrieve, delete, cancel, input items."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from callisto.api.deps import Listing, Project, ServerState, State
from callisto.api.responses.runs import CONVERSATION_PREFIX, ResponseRuns
from callisto.api.responses.schemas import ResponseCreate
from callisto.api.responses.stream import response_frames, snapshot, wait_resting
from callisto.api.responses.wire import FINISHED, find_response, response_object, snapshot_object
from callisto.api.streaming import sse_response
from callisto.errors import ConflictingState, InvalidRequest
from callisto.store.models import ThreadRow
from callisto.store.responses_models import ResponseRow

router = APIRouter(tags=["responses"])

Include = Annotated[list[str] | None, Query(alias="include[]")]
CANCEL_WAIT_SECONDS = 5.0


async def response_runs(request: Request, state: State) -> ResponseRuns:
    """Return the app's :class:`ResponseRuns` (made on first use, over the engine's service)."""
    runs: ResponseRuns | None = getattr(request.app.state, "callisto_responses", None)
    if runs is None or runs.runs is not state.runs:
        runs = request.app.state.callisto_responses = ResponseRuns(state.runs)
    return runs


Runs = Annotated[ResponseRuns, Depends(response_runs)]


async def stored(state: State, response_id: str, project: str) -> ResponseRow:
    """Return the project's stored response, or raise a 404."""
    async with state.sessions() as db:
        row: ResponseRow = await db.run_sync(lambda sync: find_response(sync, response_id, project))
        return row


@router.post("/responses")
async def create_response(
    request: ResponseCreate, state: State, runs: Runs, project: Project
) -> Any:
    """Create a response: it runs on the engine; answered when it rests, streamed, or queued."""
    started = await runs.start(request, project)
    row = started.row
    if request.stream:
        if row.store:
            return sse_response(response_frames(state.runs, row))
        return sse_response(_forgotten_at_rest(state, row, started.thread_is_new))
    if row.background:
        return response_object(row, status="queued", output=[])
    await wait_resting(state.runs, row)
    answer = snapshot_object(await snapshot(state.runs, row))
    if not row.store:
        await forget(state, row, started.thread_is_new)
    return answer


_FORGETTING: set[asyncio.Task[None]] = set()


async def _forgotten_at_rest(
    state: ServerState, row: ResponseRow, thread_is_new: bool
) -> AsyncIterator[bytes]:
    """Stream a ``store: false`` response, deleted before its last event goes out."""
    forgotten = False

    async def at_rest() -> None:
        nonlocal forgotten
        await forget(state, row, thread_is_new)
        forgotten = True

    try:
        async for chunk in response_frames(state.runs, row, at_rest=at_rest):
            yield chunk
    finally:
        if not forgotten:
            # The client left mid-stream: the run goes on, and is deleted once it rests.
            task = asyncio.create_task(_forget_when_resting(state, row, thread_is_new))
            _FORGETTING.add(task)
            task.add_done_callback(_FORGETTING.discard)


async def _forget_when_resting(state: ServerState, row: ResponseRow, thread_is_new: bool) -> None:
    await wait_resting(state.runs, row)
    await forget(state, row, thread_is_new)


async def forget(state: ServerState, row: ResponseRow, thread_is_new: bool) -> None:
    """Delete a ``store: false`` response once it rests: its row, and its thread if its own."""

    def delete(db: Session) -> None:
        stored_row = db.get(ResponseRow, row.id)
        if stored_row is not None:
            db.delete(stored_row)
        thread = db.get(ThreadRow, row.thread_id) if thread_is_new else None
        if thread is not None:
            db.delete(thread)

    await state.runs.writer.run(delete)


@router.get("/responses/{response_id}")
async def retrieve_response(
    response_id: str,
    state: State,
    project: Project,
    stream: bool = False,
    starting_after: Annotated[int | None, Query(ge=-1)] = None,
    include: Include = None,
) -> Any:
    """Retrieve a response; ``stream=true`` streams it (from ``starting_after``)."""
    row = await stored(state, response_id, project)
    if stream:
        after = -1 if starting_after is None else starting_after
        return sse_response(response_frames(state.runs, row, after))
    return snapshot_object(await snapshot(state.runs, row))


@router.delete("/responses/{response_id}")
async def delete_response(response_id: str, state: State, project: Project) -> Any:
    """Delete a response (its internal thread too, when no other response is on it)."""
    row = await stored(state, response_id, project)
    current = await snapshot(state.runs, row)
    if current.status not in FINISHED:
        raise ConflictingState(
            f"Response {response_id} is {current.status}; cancel it or wait for it to finish."
        )

    def delete(db: Session) -> None:
        stored_row = db.get(ResponseRow, response_id)
        if stored_row is None:
            return
        db.delete(stored_row)
        db.flush()
        others = db.scalars(
            select(ResponseRow.id).where(ResponseRow.thread_id == row.thread_id).limit(1)
        ).first()
        thread = db.get(ThreadRow, row.thread_id)
        if others is None and thread is not None and not thread.id.startswith(CONVERSATION_PREFIX):
            db.delete(thread)

    await state.runs.writer.run(delete)
    return {"id": response_id, "object": "response.deleted", "deleted": True}


@router.post("/responses/{response_id}/cancel")
async def cancel_response(response_id: str, state: State, project: Project) -> Any:
    """Cancel a background response: its run stops, and the response ends ``cancelled``."""
    row = await stored(state, response_id, project)
    if not row.background:
        raise InvalidRequest("Only background responses can be cancelled.", param="response_id")
    current = await snapshot(state.runs, row)
    if current.status in ("queued", "in_progress"):
        with contextlib.suppress(ConflictingState):  # it ended meanwhile
            await state.runs.cancel(row.thread_id, row.run_id, project=project)
        await wait_resting(state.runs, row, CANCEL_WAIT_SECONDS)
        current = await snapshot(state.runs, row)
    return snapshot_object(current)


@router.get("/responses/{response_id}/input_items")
async def list_input_items(
    response_id: str, state: State, listing: Listing, project: Project, include: Include = None
) -> Any:
    """List a response's input items."""
    row = await stored(state, response_id, project)
    return page_items(row.input_items, listing)


def page_items(items: list[dict[str, Any]], listing: Any) -> dict[str, Any]:
    """Return one page of ``items`` (in stored order) as the API's list object."""
    ordered = list(items) if listing.order == "asc" else list(reversed(items))
    ids = [i["id"] for i in ordered]
    start, end = 0, len(ordered)
    if listing.after is not None and listing.after in ids:
        start = ids.index(listing.after) + 1
    if listing.before is not None and listing.before in ids:
        end = ids.index(listing.before)
    ordered = ordered[start:end]
    data = ordered[: listing.limit]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": len(ordered) > listing.limit,
    }


__all__ = ["page_items", "router"]
