"""``/v1/threads``: create (with initial messages), retrieve, update, delete."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter

from callisto.api.deps import Project, Session, State, get_or_404
from callisto.api.routes.messages import new_message_row
from callisto.api.schemas import ThreadCreate, ThreadUpdate
from callisto.ids import PREFIXES, new_id
from callisto.store import changes as store_changes
from callisto.store import wire
from callisto.store.changes import add_thread
from callisto.store.models import MessageRow, ThreadRow

router = APIRouter(prefix="/threads", tags=["threads"])


def new_thread(body: ThreadCreate | None, project: str) -> tuple[ThreadRow, list[MessageRow]]:
    """Return the rows of a new thread of ``project`` and of its initial messages (not yet
    added)."""
    now = int(time.time())
    body = body or ThreadCreate()
    row = ThreadRow(
        id=new_id(PREFIXES["thread"]),
        project_id=project,
        created_at=now,
        metadata_=body.metadata or {},
        tool_resources=body.tool_resources,
    )
    return row, [new_message_row(row.id, message, now) for message in body.messages or []]


@router.post("")
async def create_thread(
    state: State, project: Project, body: ThreadCreate | None = None
) -> dict[str, Any]:
    """Create a thread, with its initial messages in the same transaction."""
    row, messages = new_thread(body, project)
    await state.runs.writer.run(lambda db: add_thread(db, row, messages), retry=True)
    return wire.thread(row)


@router.get("/{thread_id}")
async def retrieve_thread(thread_id: str, db: Session, project: Project) -> dict[str, Any]:
    """Retrieve a thread."""
    return wire.thread(await get_or_404(db, ThreadRow, thread_id, "thread", project))


@router.post("/{thread_id}")
async def update_thread(
    thread_id: str, body: ThreadUpdate, state: State, project: Project
) -> dict[str, Any]:
    """Update a thread's metadata and tool resources."""
    changes: dict[str, object] = {}
    if "metadata" in body.model_fields_set:
        changes["metadata_"] = body.metadata or {}
    if "tool_resources" in body.model_fields_set:
        changes["tool_resources"] = body.tool_resources
    row = await state.runs.writer.run(
        lambda db: store_changes.update_thread(db, thread_id, changes, project=project)
    )
    return wire.thread(row)


@router.delete("/{thread_id}")
async def delete_thread(thread_id: str, state: State, project: Project) -> dict[str, Any]:
    """Delete a thread with its messages, runs and steps; an active run is cancelled first."""
    await state.runs.delete_thread(thread_id, project=project)
    return {"id": thread_id, "object": "thread.deleted", "deleted": True}
