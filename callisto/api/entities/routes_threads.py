"""Entities ``/v1/threads`` and ``/v1/messages``: the same threads and messages the Assistants
API serves, in Entities' shapes."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.orm import Session as SyncSession

from callisto.api import schemas as callisto_schemas
from callisto.api.deps import Project, Session, State, get_or_404
from callisto.api.entities import wire
from callisto.api.entities.schemas import MessageCreate, ThreadCreate
from callisto.api.routes.messages import new_message_row
from callisto.api.routes.threads import new_thread
from callisto.errors import InvalidRequest, NotFound
from callisto.store.changes import add_message, add_thread
from callisto.store.entities_models import EntitiesActionRow
from callisto.store.models import MessageRow, ThreadRow
from callisto.store.projects import owned, run_of_project

router = APIRouter(tags=["entities"])


@router.post("/threads")
async def create_thread(
    state: State, project: Project, body: ThreadCreate | None = None
) -> dict[str, Any]:
    """Create a thread (``participant_ids`` are ignored: Callisto has no users)."""
    meta = body.meta_data if body is not None else None
    row, messages = new_thread(callisto_schemas.ThreadCreate(metadata=meta), project)
    await state.runs.writer.run(lambda db: add_thread(db, row, messages))
    return wire.thread(row)


@router.get("/threads/{thread_id}")
async def retrieve_thread(thread_id: str, db: Session, project: Project) -> dict[str, Any]:
    """Retrieve a thread."""
    return wire.thread(await get_or_404(db, ThreadRow, thread_id, "thread", project))


@router.delete("/threads/{thread_id}")
async def delete_thread(thread_id: str, state: State, project: Project) -> dict[str, Any]:
    """Delete a thread with its messages and runs; an active run is cancelled first."""
    await state.runs.delete_thread(thread_id, project=project)
    return {"id": thread_id, "object": "thread.deleted", "deleted": True}


@router.get("/threads/{thread_id}/messages")
async def list_messages(
    thread_id: str,
    db: Session,
    project: Project,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Annotated[Literal["asc", "desc"], Query()] = "asc",
) -> dict[str, Any]:
    """List a thread's messages (``MessagesList``)."""
    await get_or_404(db, ThreadRow, thread_id, "thread", project)
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
async def create_message(body: MessageCreate, state: State, project: Project) -> dict[str, Any]:
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
    await state.runs.writer.run(lambda db: add_message(db, row, project=project))
    return wire.message(row)


@router.get("/messages/{message_id}")
async def retrieve_message(message_id: str, db: Session, project: Project) -> dict[str, Any]:
    """Retrieve a message by its id alone (a tool output's message too)."""
    found = await db.run_sync(lambda sync: _message_or_output(sync, message_id, project))
    if found is None:
        raise NotFound(f"No message found with id '{message_id}'.")
    return found


def _message_or_output(db: SyncSession, message_id: str, project: str) -> dict[str, Any] | None:
    """Return the project's message with this id, or the tool message of an action's output."""
    row = db.get(MessageRow, message_id)
    if row is not None:
        return wire.message(row) if owned(db, ThreadRow, row.thread_id, project) else None
    query = select(EntitiesActionRow).where(EntitiesActionRow.output_message_id == message_id)
    action = db.scalars(query).first()
    run = run_of_project(db, action.run_id, project) if action is not None else None
    return wire.tool_message(action, run) if action is not None and run is not None else None
