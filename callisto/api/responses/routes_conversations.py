"""``/v1/conversations``: conversations and their items, backed by threads.

A conversation is a thread whose id starts with ``conv_``; its metadata is the thread's. Its
items are the thread's messages and tool rounds (:mod:`callisto.api.responses.items`), so
responses made with ``conversation`` read and extend it as runs read and extend a thread.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session

from callisto.api.deps import Listing, Project, State
from callisto.api.responses.items import Plan, plan_input, thread_items
from callisto.api.responses.rounds import add_rounds, busy, observe_thread, thread_steps
from callisto.api.responses.routes_responses import Include, page_items
from callisto.api.responses.runs import CONVERSATION_PREFIX
from callisto.api.responses.schemas import (
    ConversationCreate,
    ConversationUpdate,
    ItemsCreate,
)
from callisto.errors import ConflictingState, InvalidRequest, NotFound
from callisto.ids import new_id
from callisto.store.changes import add_thread
from callisto.store.models import MessageRow, ThreadRow
from callisto.store.projects import owned

router = APIRouter(prefix="/conversations", tags=["conversations"])


def conversation_object(row: ThreadRow) -> dict[str, Any]:
    """Return the wire form of a conversation."""
    return {
        "id": row.id,
        "object": "conversation",
        "created_at": row.created_at,
        "metadata": row.metadata_ or {},
    }


def _find(db: Session, conversation_id: str, project: str) -> ThreadRow:
    row = owned(db, ThreadRow, conversation_id, project)
    if row is None or not conversation_id.startswith(CONVERSATION_PREFIX):
        raise NotFound(f"Conversation with id '{conversation_id}' not found.")
    return row


def _items(db: Session, conversation_id: str, project: str) -> list[dict[str, Any]]:
    _find(db, conversation_id, project)
    messages = db.scalars(
        select(MessageRow).where(MessageRow.thread_id == conversation_id).order_by(MessageRow.id)
    )
    return [item for _, item in thread_items(messages, thread_steps(db, conversation_id))]


def _add(db: Session, conversation_id: str, plan: Plan) -> None:
    """Add planned items to a conversation (refused while a response runs on it)."""
    run_id = busy(db, conversation_id)
    if run_id is not None:
        raise ConflictingState(
            f"Can't add items to conversation {conversation_id} while a response is in "
            f"progress on it (run {run_id})."
        )
    db.add_all(plan.messages)
    add_rounds(db, conversation_id, plan)


@router.post("")
async def create_conversation(
    state: State, project: Project, body: ConversationCreate | None = None
) -> Any:
    """Create a conversation, with up to 20 initial items."""
    body = body or ConversationCreate()
    row = ThreadRow(
        id=new_id(CONVERSATION_PREFIX),
        project_id=project,
        created_at=int(time.time()),
        metadata_=body.metadata or {},
        tool_resources=None,
    )
    plan = plan_input(body.items or [], row.id, conversation=True)

    def create(db: Session) -> None:
        add_thread(db, row, [])
        _add(db, row.id, plan)

    await state.runs.writer.run(create)
    return conversation_object(row)


@router.get("/{conversation_id}")
async def retrieve_conversation(conversation_id: str, state: State, project: Project) -> Any:
    """Retrieve a conversation."""
    async with state.sessions() as db:
        row = await db.run_sync(lambda sync: _find(sync, conversation_id, project))
    return conversation_object(row)


@router.post("/{conversation_id}")
async def update_conversation(
    conversation_id: str, body: ConversationUpdate, state: State, project: Project
) -> Any:
    """Replace a conversation's metadata."""

    def update(db: Session) -> ThreadRow:
        row = _find(db, conversation_id, project)
        row.metadata_ = body.metadata
        return row

    return conversation_object(await state.runs.writer.run(update))


@router.delete("/{conversation_id}")
async def delete_conversation(conversation_id: str, state: State, project: Project) -> Any:
    """Delete a conversation and its items (refused while a response runs on it)."""

    def delete(db: Session) -> None:
        row = _find(db, conversation_id, project)
        run_id = busy(db, conversation_id)
        if run_id is not None:
            raise ConflictingState(
                f"Conversation {conversation_id} has a response in progress; it cannot be deleted now."
            )
        db.delete(row)

    await state.runs.writer.run(delete)
    return {"id": conversation_id, "object": "conversation.deleted", "deleted": True}


@router.post("/{conversation_id}/items")
async def create_items(
    conversation_id: str,
    body: ItemsCreate,
    state: State,
    project: Project,
    include: Include = None,
) -> Any:
    """Add message items to a conversation."""

    def add(db: Session) -> Plan:
        _find(db, conversation_id, project)
        observe_thread(db, conversation_id)  # the new items sort after the newest ones
        plan = plan_input(body.items, conversation_id, conversation=True)
        _add(db, conversation_id, plan)
        return plan

    data = (await state.runs.writer.run(add)).echo
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"],
        "last_id": data[-1]["id"],
        "has_more": False,
    }


@router.get("/{conversation_id}/items")
async def list_items(
    conversation_id: str,
    state: State,
    listing: Listing,
    project: Project,
    include: Include = None,
) -> Any:
    """List a conversation's items."""
    async with state.sessions() as db:
        items = await db.run_sync(lambda sync: _items(sync, conversation_id, project))
    return page_items(items, listing)


@router.get("/{conversation_id}/items/{item_id}")
async def retrieve_item(
    conversation_id: str, item_id: str, state: State, project: Project, include: Include = None
) -> Any:
    """Retrieve one item of a conversation."""
    async with state.sessions() as db:
        items = await db.run_sync(lambda sync: _items(sync, conversation_id, project))
    for item in items:
        if item["id"] == item_id:
            return item
    raise NotFound(f"Item with id '{item_id}' not found in conversation '{conversation_id}'.")


@router.delete("/{conversation_id}/items/{item_id}")
async def delete_item(conversation_id: str, item_id: str, state: State, project: Project) -> Any:
    """Delete a message item; answers the conversation."""

    def delete(db: Session) -> ThreadRow:
        row = _find(db, conversation_id, project)
        message = db.get(MessageRow, item_id)
        if message is None or message.thread_id != conversation_id:
            if any(item["id"] == item_id for item in _items(db, conversation_id, project)):
                raise InvalidRequest(
                    "Function call items cannot be deleted on their own.", param="item_id"
                )
            raise NotFound(
                f"Item with id '{item_id}' not found in conversation '{conversation_id}'."
            )
        if busy(db, conversation_id) is not None:
            raise ConflictingState(
                f"Conversation {conversation_id} has a response in progress; try again after it."
            )
        db.delete(message)
        return row

    return conversation_object(await state.runs.writer.run(delete))
