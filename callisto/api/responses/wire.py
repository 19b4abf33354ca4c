"""The wire form of a response, derived from its row, its run and the run's rows in its window.

Nothing about a response's progress is copied into its row: its status comes from the run (a
run resting at ``requires_action`` is a response ``completed`` with function calls), and its
output is the assistant messages and validated calls the run wrote after the response began
and before the next response on the thread (:attr:`ResponseRow.ends`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callisto.api.responses.items import body, call_item, message_item, step_calls
from callisto.errors import NotFound
from callisto.store.models import MessageRow, RunRow, RunStepRow
from callisto.store.responses_models import ResponseRow

RUN_TO_RESPONSE = {
    "queued": "queued",
    "in_progress": "in_progress",
    "cancelling": "in_progress",
    "requires_action": "completed",
    "completed": "completed",
    "incomplete": "incomplete",
    "failed": "failed",
    "expired": "failed",
    "cancelled": "cancelled",
}
FINISHED = frozenset({"completed", "incomplete", "failed", "cancelled"})


@dataclass(slots=True)
class Snapshot:
    """A response as read from the store: its row, its run and its output items."""

    row: ResponseRow
    run: RunRow | None
    output: list[dict[str, Any]]

    @property
    def status(self) -> str:
        """The response's status, derived from its run."""
        if self.row.settled is not None:
            return str(self.row.settled["status"])
        return RUN_TO_RESPONSE.get(self.run.status, "failed") if self.run else "failed"


def find_response(db: Session, response_id: str, project: str) -> ResponseRow:
    """Return a stored response of ``project`` (``store: false`` ones are not retrievable).

    Raises:
        NotFound: No such stored response in ``project``.
    """
    row = db.get(ResponseRow, response_id)
    if row is None or not row.store or row.project_id != project:
        raise NotFound(f"Response with id '{response_id}' not found.")
    return row


def read_snapshot(db: Session, row: ResponseRow) -> Snapshot:
    """Read the response's run and output (a sync session: run it with ``run_sync``)."""
    run = db.get(RunRow, row.run_id)
    start = body(row.id)
    messages = select(MessageRow).where(
        MessageRow.thread_id == row.thread_id,
        MessageRow.run_id == row.run_id,
        MessageRow.role == "assistant",
        MessageRow.id > "msg_" + start,
    )
    steps = select(RunStepRow).where(
        RunStepRow.run_id == row.run_id,
        RunStepRow.type == "tool_calls",
        RunStepRow.id > "step_" + start,
    )
    if row.ends is not None:
        messages = messages.where(MessageRow.id < "msg_" + row.ends)
        steps = steps.where(RunStepRow.id < "step_" + row.ends)
    # Calls count once they are validated: the run rests at requires_action, or moved on.
    resting = row.settled is not None or (run is not None and run.status == "requires_action")
    keyed: list[tuple[tuple[str, int], dict[str, Any]]] = [
        ((body(m.id), 0), message_item(m)) for m in db.scalars(messages)
    ]
    for step in db.scalars(steps):
        if step.status == "completed" or (step.status == "in_progress" and resting):
            for i, call in enumerate(step_calls(step)):
                keyed.append(((body(step.id), 1 + i), call_item(call)))
    keyed.sort(key=lambda pair: pair[0])
    return Snapshot(row, run, [item for _, item in keyed])


def usage_between(now: dict[str, Any] | None, base: dict[str, Any] | None) -> dict[str, Any]:
    """Return the Responses usage object of the run's usage since ``base``."""
    now, base = now or {}, base or {}
    prompt = now.get("prompt_tokens", 0) - base.get("prompt_tokens", 0)
    completion = now.get("completion_tokens", 0) - base.get("completion_tokens", 0)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def _error(run: RunRow | None, status: str) -> dict[str, Any] | None:
    if status != "failed":
        return None
    if run is not None and run.status == "expired":
        return {"code": "server_error", "message": "The response expired before it finished."}
    error = (run.last_error if run is not None else None) or {}
    return {
        "code": error.get("code") or "server_error",
        "message": error.get("message") or "The response failed.",
    }


def response_object(
    row: ResponseRow,
    *,
    status: str,
    output: list[dict[str, Any]],
    run: RunRow | None = None,
) -> dict[str, Any]:
    """Return the wire form of a response with ``status`` and ``output``."""
    request = row.request
    usage = None
    if status in FINISHED:
        usage = (row.settled or {}).get("usage") or usage_between(
            run.usage if run is not None else None, row.usage_base
        )
    incomplete = None
    if status == "incomplete":
        incomplete = {"reason": "max_output_tokens"}
    completed_at = None
    if status == "completed" and run is not None:
        completed_at = run.completed_at or run.created_at
    return {
        "id": row.id,
        "object": "response",
        "created_at": row.created_at,
        "status": status,
        "background": row.background,
        "completed_at": completed_at,
        "conversation": {"id": row.conversation_id} if row.conversation_id else None,
        "error": _error(run, status),
        "incomplete_details": incomplete,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "max_tool_calls": request.get("max_tool_calls"),
        "metadata": request.get("metadata") or {},
        "model": row.model,
        "output": output,
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "previous_response_id": row.previous_response_id,
        "reasoning": None,
        "store": row.store,
        "temperature": request.get("temperature"),
        "text": request.get("text") or {"format": {"type": "text"}},
        "tool_choice": request.get("tool_choice", "auto"),
        "tools": request.get("tools") or [],
        "top_p": request.get("top_p"),
        "truncation": request.get("truncation") or "disabled",
        "usage": usage,
        "user": None,
    }


def snapshot_object(snapshot: Snapshot) -> dict[str, Any]:
    """Return the wire form of a response as read."""
    return response_object(
        snapshot.row, status=snapshot.status, output=snapshot.output, run=snapshot.run
    )
