"""Entities ``/v1/threads`` and ``/v1/messages``: the same threads and messages the Assistants
API serves, in Entities' shapes."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy import select

from callisto.api import schemas as callisto_schemas
from callisto.api.deps import Session, State, get_or_404
from callisto.api.entities import wire
from callisto.api.entities.schemas import MessageCreate, ThreadCreate
from callisto.api.routes.messages import new_message_row
from callisto.api.routes.threads import new_thread
from callisto.errors import InvalidRequest, NotFound
from callisto.store.changes import add_message, add_thread
from callisto.store.entities_models import EntitiesActionRow
from callisto.store.models import MessageRow, RunRow, ThreadRow

router = APIRouter(tags=["entities"])


@router.post("/threads")
async def create_thread(state: State, body: ThreadCreate | None = None) -> dict[str, Any]:
    """Create a thread (``participant_ids`` are ignored: Callisto has no users)."""
    meta = body.meta_data if body is not None else None
    row, messages = new_thread(callisto_schemas.ThreadCreate(metadata=meta))
    await state.runs.writer.run(lambda db: add_thread(db, row, messages))
    return wire.thread(row)


@router.get("/threads/{thread_id}")
async def retrieve_thread(thread_id: str, db: Session) -> dict[str, Any]:
    """Retrieve a thread."""
    return wire.thread(await get_or_404(db, ThreadRow, thread_id, "thread"))


@router.delete("/threads/{thread_id}")
async def delete_thread(thread_id: str, state: State) -> dict[str, Any]:
    """Delete a thread with its messages and runs; an active run is cancelled first."""
    await state.runs.delete_thread(thread_id)
    return {"id": thread_id, "object": "thread.deleted", "deleted": True}


@router.get("/threads/{thread_id}/messages")
async def list_messages(
    thread_id: str,
    db: Session,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Annotated[Literal["asc", "desc"], Query()] = "asc",
) -> dict[str, Any]:
    """List a thread's messages (``MessagesList``)."""
    await get_or_404(db, ThreadRow, thread_id, "thread")
    column = MessageRow.id.asc() if order == "asc" else MessageRow.id.desc()
    query = select(MessageRow).where(MessageRow.thread_id == thread_id).order_by(column)
    rows = list((await db.scalars(query.limit(limit + 1))).all())
    more = len(rows) > limit
    data = [wire.message(r) for r in rows[:limit]]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": more,
    }


@router.post("/messages")
async def create_message(body: MessageCreate, state: State) -> dict[str, Any]:
    """Add a user (or assistant) message to a thread; refused while a run on it is active."""
    if body.role == "tool":
        raise InvalidRequest(
            "Tool outputs go to POST /v1/messages/tools, with the action id as 'tool_id'.",
            param="role",
        )
    if body.role not in ("user", "assistant"):
        raise InvalidRequest(
            f"Callisto threads hold 'user' and 'assistant' messages, not '{body.role}'; "
            "give instructions on the assistant or the run instead.",
            param="role",
        )
    if not body.content:
        raise InvalidRequest("A message needs some content.", param="content")
    message = callisto_schemas.MessageCreate(
        role=body.role, content=body.content, metadata=body.meta_data
    )
    row = new_message_row(body.thread_id, message, int(time.time()))
    await state.runs.writer.run(lambda db: add_message(db, row))
    return wire.message(row)


@router.get("/messages/{message_id}")
async def retrieve_message(message_id: str, db: Session) -> dict[str, Any]:
    """Retrieve a message by its id alone (a tool output's message too)."""
    row = await db.get(MessageRow, message_id)
    if row is not None:
        return wire.message(row)
    query = select(EntitiesActionRow).where(EntitiesActionRow.output_message_id == message_id)
    action = (await db.scalars(query)).first()
    if action is None:
        raise NotFound(f"No message found with id '{message_id}'.")
    return wire.tool_message(action, await get_or_404(db, RunRow, action.run_id, "run"))
