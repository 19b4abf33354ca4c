"""``/v1/threads/{thread_id}/messages``: create, list, retrieve, update, delete."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session as SyncSession

from callisto.api.deps import Listing, Session, State, get_or_404, list_response
from callisto.api.schemas import MessageCreate, MessageUpdate, dump
from callisto.errors import ConflictingState, NotFound
from callisto.ids import PREFIXES, new_id
from callisto.store import wire
from callisto.store.models import ACTIVE_RUN_STATUSES, MessageRow, RunRow, ThreadRow

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


def active_run_query(thread_id: str) -> Select[str]:
    """Return the query of the id of the thread's non-terminal run."""
    return (
        select(RunRow.id)
        .where(RunRow.thread_id == thread_id, RunRow.status.in_(ACTIVE_RUN_STATUSES))
        .limit(1)
    )


async def active_run_id(db: AsyncSession, thread_id: str) -> str | None:
    """Return the id of the thread's non-terminal run, if it has one."""
    return (await db.scalars(active_run_query(thread_id))).first()


async def _message_of_thread(db: AsyncSession, thread_id: str, message_id: str) -> MessageRow:
    await get_or_404(db, ThreadRow, thread_id, "thread")
    row = await db.get(MessageRow, message_id)
    if row is None or row.thread_id != thread_id:
        raise NotFound(f"No message found with id '{message_id}' in thread '{thread_id}'.")
    return row


@router.post("")
async def create_message(thread_id: str, body: MessageCreate, state: State) -> dict[str, Any]:
    """Add a message to a thread; refused while a run on the thread is active."""
    row = new_message_row(thread_id, body, int(time.time()))

    def create(db: SyncSession) -> None:
        if db.get(ThreadRow, thread_id) is None:
            raise NotFound(f"No thread found with id '{thread_id}'.")
        run_id = db.scalars(active_run_query(thread_id)).first()
        if run_id is not None:
            raise ConflictingState(
                f"Can't add messages to {thread_id} while a run {run_id} is active."
            )
        db.add(row)

    await state.runs.writer.run(create)
    return wire.message(row)


@router.get("")
async def list_messages(
    thread_id: str,
    db: Session,
    listing: Listing,
    run_id: Annotated[str | None, Query()] = None,
) -> Any:
    """List a thread's messages, optionally only those a run created."""
    await get_or_404(db, ThreadRow, thread_id, "thread")
    query = select(MessageRow).where(MessageRow.thread_id == thread_id)
    if run_id is not None:
        query = query.where(MessageRow.run_id == run_id)
    return await list_response(db, query, MessageRow.id, listing, wire.message)


@router.get("/{message_id}")
async def retrieve_message(thread_id: str, message_id: str, db: Session) -> Any:
    """Retrieve a message."""
    return wire.message(await _message_of_thread(db, thread_id, message_id))


@router.post("/{message_id}")
async def update_message(thread_id: str, message_id: str, body: MessageUpdate, db: Session) -> Any:
    """Update a message's metadata."""
    row = await _message_of_thread(db, thread_id, message_id)
    if "metadata" in body.model_fields_set:
        row.metadata_ = body.metadata or {}
    await db.commit()
    return wire.message(row)


@router.delete("/{message_id}")
async def delete_message(thread_id: str, message_id: str, db: Session) -> Any:
    """Delete a message."""
    row = await _message_of_thread(db, thread_id, message_id)
    await db.delete(row)
    await db.commit()
    return {"id": message_id, "object": "thread.message.deleted", "deleted": True}
