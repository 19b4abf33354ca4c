"""The audit trail of tool calls: every call handed out and every output received.

``GET /v1/audit/tool_events`` lists the entries newest first by default, paged like every list
(``limit``, ``order``, ``after``, ``before``), filtered by ``run_id``, ``thread_id``, ``tool``
and ``event``. See :mod:`callisto.store.audit` for what an entry holds.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy import select

from callisto.api.deps import Listing, Project, Session, list_response
from callisto.store import audit
from callisto.store.audit import ToolAuditRow

router = APIRouter(prefix="/audit", tags=["audit"])

Event = Literal["tool_call.handed_out", "tool_output.received"]


@router.get("/tool_events")
async def list_tool_events(
    db: Session,
    listing: Listing,
    project: Project,
    run_id: Annotated[str | None, Query(max_length=64)] = None,
    thread_id: Annotated[str | None, Query(max_length=64)] = None,
    tool: Annotated[str | None, Query(max_length=256)] = None,
    event: Annotated[Event | None, Query()] = None,
) -> Any:
    """List the audit trail's entries of the key's project, filtered by run, thread, tool name
    or event."""
    query = select(ToolAuditRow).where(ToolAuditRow.project_id == project)
    if run_id is not None:
        query = query.where(ToolAuditRow.run_id == run_id)
    if thread_id is not None:
        query = query.where(ToolAuditRow.thread_id == thread_id)
    if tool is not None:
        query = query.where(ToolAuditRow.tool == tool)
    if event is not None:
        query = query.where(ToolAuditRow.event == event)
    return await list_response(db, query, ToolAuditRow.id, listing, audit.to_wire)
