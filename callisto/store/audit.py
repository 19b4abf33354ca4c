"""The server's audit trail of tool calls: every call handed out and every output received.

An entry is written in the same transaction as the change it records (the run ending its turn
at ``requires_action``, or the run accepting tool outputs), so the trail holds exactly what
happened: a rolled-back change leaves no entry, and a committed one always has its entries.
Arguments and outputs are kept with the values of secret-looking keys replaced (see
:func:`callisto.tools.audit.redact_secrets`): an output that is not a JSON object or array is
kept as it came. Entries outlive the thread and run they name, as an audit trail must.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from callisto.ids import new_id
from callisto.store.models import Base, RunRow, ThreadRow
from callisto.tools.audit import redact_secrets

AUDIT_PREFIX = "audit_"

SUBMITTER: ContextVar[str | None] = ContextVar("callisto_submitter", default=None)
"""Who the current request is: its masked API key (set by the API's auth layer)."""

CALL_HANDED_OUT = "tool_call.handed_out"
OUTPUT_RECEIVED = "tool_output.received"


class ToolAuditRow(Base):
    """One entry of the audit trail."""

    __tablename__ = "tool_audit"
    __table_args__ = (
        Index("ix_tool_audit_project_id_id", "project_id", "id"),
        Index("ix_tool_audit_run_id", "run_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), default="default")
    created_at: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(32))
    thread_id: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[str] = mapped_column(String(64))
    tool_call_id: Mapped[str] = mapped_column(String(64))
    tool: Mapped[str] = mapped_column(String(256))
    arguments: Mapped[str | None] = mapped_column(Text)
    output: Mapped[str | None] = mapped_column(Text)
    submitted_by: Mapped[str | None] = mapped_column(String(64))


def _redacted(text: str) -> str:
    """``text`` with secret-looking keys' values replaced when it is JSON; as it is otherwise."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if not isinstance(value, dict | list):
        return text
    return json.dumps(redact_secrets(value), ensure_ascii=False)


def record_calls(db: Session, run: RunRow, calls: Iterable[dict[str, Any]]) -> None:
    """Record the tool calls a run hands out (``required_action``'s wire form), in the project
    of the run's thread (read by the INSERT itself: no round trip)."""
    project = select(ThreadRow.project_id).where(ThreadRow.id == run.thread_id).scalar_subquery()
    for call in calls:
        function = call.get("function", {})
        db.add(
            _entry(
                run,
                project,
                CALL_HANDED_OUT,
                call["id"],
                function.get("name", ""),
                arguments=_redacted(function.get("arguments", "")),
            )
        )


def record_outputs(
    db: Session,
    run: RunRow,
    names: dict[str, str],
    outputs: Iterable[tuple[str, str]],
    submitted_by: str | None,
    project: str,
) -> None:
    """Record the tool outputs a run receives.

    Args:
        db: The session of the transaction that accepts them.
        run: The run.
        names: The function name of each pending call, by call id.
        outputs: ``(call id, output)`` pairs.
        submitted_by: Who submitted them: the masked API key, or ``None`` when the request
            presented none.
        project: The project of the run's thread.
    """
    for call_id, output in outputs:
        db.add(
            _entry(
                run,
                project,
                OUTPUT_RECEIVED,
                call_id,
                names.get(call_id, ""),
                output=_redacted(output),
                submitted_by=submitted_by,
            )
        )


def _entry(
    run: RunRow, project: Any, event: str, call_id: str, tool: str, **fields: Any
) -> ToolAuditRow:
    """An entry about one call of ``run`` (``project``: its id, or a query that reads it)."""
    return ToolAuditRow(
        id=new_id(AUDIT_PREFIX),
        project_id=project,
        created_at=int(time.time()),
        event=event,
        thread_id=run.thread_id,
        run_id=run.id,
        tool_call_id=call_id,
        tool=tool,
        **fields,
    )


def to_wire(row: ToolAuditRow) -> dict[str, Any]:
    """The API form of an entry."""
    return {
        "id": row.id,
        "object": "audit.tool_event",
        "created_at": row.created_at,
        "event": row.event,
        "thread_id": row.thread_id,
        "run_id": row.run_id,
        "tool_call_id": row.tool_call_id,
        "tool": row.tool,
        "arguments": row.arguments,
        "output": row.output,
        "submitted_by": row.submitted_by,
    }
