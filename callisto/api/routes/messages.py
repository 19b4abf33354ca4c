"""``/v1/threads/{thread_id}/messages``: create, list, retrieve, update, delete."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callisto.api.deps import Listing, Project, Session, State, get_or_404, list_response
from callisto.api.schemas import MessageCreate, MessageUpdate, dump
from callisto.ids import PREFIXES, new_id
from callisto.store import changes, wire
from callisto.store.changes import add_message
from callisto.store.models import MessageRow, ThreadRow

router = APIRouter(prefix="/threads/{thread_id}/messages", tags=["messages"])


def content_parts(content: Any) -> list[dict[str, Any]]:
    """Return the stored (output) form of a new message's content."""
    if isinstance(content, str):
        return [{"type": "text", "text": {"value": content, "annotations": []}}]
    parts: list[dict[str, Any]] = []
    for part in content:
        if part.type == "text":
            parts.append({"type": "text", "text": {"value": part.text, "annotations": []}})
        else:
            parts.append(dump(part))
    return parts


def new_message_row(thread_id: str, body: MessageCreate, now: int) -> MessageRow:
    """Build the row for a message a client adds to a thread."""
    return MessageRow(
        id=new_id(PREFIXES["message"]),
        thread_id=thread_id,
        created_at=now,
        role=body.role,
        content=content_parts(body.content),
        status="completed",
        assistant_id=None,
        run_id=None,
        attachments=body.attachments or [],
        metadata_=body.metadata or {},
        completed_at=now,
    )


async def _message_of_thread(
    db: AsyncSession, thread_id: str, message_id: str, project: str
) -> MessageRow:
    return await db.run_sync(
        lambda sync: changes.message_of_thread(sync, thread_id, message_id, project=project)
    )


@router.post("")
async def create_message(
    thread_id: str, body: MessageCreate, state: State, project: Project
) -> dict[str, Any]:
    """Add a message to a thread; refused while a run on the thread is active."""
    row = new_message_row(thread_id, body, int(time.time()))
    await state.runs.writer.run(lambda db: add_message(db, row, project=project), retry=True)
    return wire.message(row)


@router.get("")
async def list_messages(
    thread_id: str,
    db: Session,
    listing: Listing,
    project: Project,
    run_id: Annotated[str | None, Query()] = None,
) -> Any:
    """List a thread's messages, optionally only those a run created."""
    await get_or_404(db, ThreadRow, thread_id, "thread", project)
    query = select(MessageRow).where(MessageRow.thread_id == thread_id)
    if run_id is not None:
        query = query.where(MessageRow.run_id == run_id)
    return await list_response(db, query, MessageRow.id, listing, wire.message)


@router.get("/{message_id}")
async def retrieve_message(thread_id: str, message_id: str, db: Session, project: Project) -> Any:
    """Retrieve a message."""
    return wire.message(await _message_of_thread(db, thread_id, message_id, project))


@router.post("/{message_id}")
async def update_message(
    thread_id: str, message_id: str, body: MessageUpdate, state: State, project: Project
) -> Any:
    """Update a message's metadata."""
    if "metadata" not in body.model_fields_set:
        async with state.sessions() as db:
            return wire.message(await _message_of_thread(db, thread_id, message_id, project))
    metadata = body.metadata or {}
    row = await state.runs.writer.run(
        lambda db: changes.update_message_metadata(
            db, thread_id, message_id, metadata, project=project
        )
    )
    return wire.message(row)


@router.delete("/{message_id}")
async def delete_message(thread_id: str, message_id: str, state: State, project: Project) -> Any:
    """Delete a message."""
    await state.runs.writer.run(
        lambda db: changes.delete_message(db, thread_id, message_id, project=project)
    )
    return {"id": message_id, "object": "thread.message.deleted", "deleted": True}
