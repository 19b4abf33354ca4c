"""Function calls added to a conversation as items: kept apart until a run can own them.

The engine keeps a tool round as a step of a run. Calls and outputs a client adds to a
conversation with the items API (the OpenAI Agents SDK's conversation session does) have no
run yet: they wait in ``conversation_rounds``, are listed with the conversation's items, and
become steps of the next response's run on the conversation, under the same id, so their place
in the history does not change.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callisto.api.responses.items import Plan, Round, step_calls
from callisto.errors import InvalidRequest
from callisto.ids import observe
from callisto.store.changes import active_run_query
from callisto.store.models import MessageRow, RunStepRow
from callisto.store.responses_models import ConversationRoundRow

ROUND_STEP_RUN = "(waiting for a run)"
"""The run id shown on a round that no run owns yet (never stored: such steps are views)."""


def waiting_rounds(db: Session, thread_id: str) -> list[ConversationRoundRow]:
    """Return the rounds of a conversation that no run owns yet, oldest first."""
    query = select(ConversationRoundRow).where(ConversationRoundRow.thread_id == thread_id)
    return list(db.scalars(query.order_by(ConversationRoundRow.id)))


def as_step(row: ConversationRoundRow, run_id: str = ROUND_STEP_RUN) -> RunStepRow:
    """Return a waiting round as a completed tool step of ``run_id`` (not added to a session)."""
    return RunStepRow(
        id=row.id,
        run_id=run_id,
        thread_id=row.thread_id,
        assistant_id="",
        created_at=row.created_at,
        type="tool_calls",
        status="completed",
        step_details={"type": "tool_calls", "tool_calls": row.calls},
        completed_at=row.created_at,
        metadata_={},
    )


def thread_steps(db: Session, thread_id: str, *, any_status: bool = False) -> list[RunStepRow]:
    """Return a thread's tool steps that hold calls (``any_status``: failed, cancelled and
    expired ones too), with its waiting rounds as steps."""
    query = select(RunStepRow).where(
        RunStepRow.thread_id == thread_id, RunStepRow.type == "tool_calls"
    )
    if not any_status:
        query = query.where(RunStepRow.status.in_(("completed", "in_progress")))
    steps = db.scalars(query).all()
    return [*steps, *(as_step(row) for row in waiting_rounds(db, thread_id))]


def add_rounds(db: Session, thread_id: str, plan: Plan) -> None:
    """Keep the plan's rounds until a run owns them, and give their outputs to earlier calls
    (a transaction function; the caller checked that no run is active on the thread).

    Raises:
        InvalidRequest: An output for a call the conversation does not have.
    """
    now = int(time.time())
    waiting = {c["id"]: row for row in waiting_rounds(db, thread_id) for c in row.calls}
    steps = db.scalars(
        select(RunStepRow).where(RunStepRow.thread_id == thread_id, RunStepRow.type == "tool_calls")
    )
    earlier = {c["id"]: c for step in steps for c in step_calls(step)}
    external = plan.external or Round("")
    for call_id, output in plan.outputs:
        row = waiting.get(call_id)
        if row is not None:
            row.calls = [_answered(c, output) if c["id"] == call_id else c for c in row.calls]
        elif call_id in earlier:
            external.calls.append(_answered(earlier[call_id], output))
        else:
            raise InvalidRequest(
                f"No tool call found for function call output with call_id {call_id}.",
                param="items",
            )
    for round_ in [*plan.rounds, external]:
        if round_.calls:
            db.add(
                ConversationRoundRow(
                    id=round_.step_id, thread_id=thread_id, created_at=now, calls=round_.calls
                )
            )


def _answered(call: dict[str, Any], output: str) -> dict[str, Any]:
    return {**call, "function": {**call["function"], "output": output}}


def adopt_rounds(db: Session, thread_id: str, run_id: str, assistant_id: str) -> None:
    """Make the conversation's waiting rounds steps of ``run_id`` (a transaction function)."""
    for row in waiting_rounds(db, thread_id):
        step = as_step(row, run_id)
        step.assistant_id = assistant_id
        db.delete(row)
        db.add(step)


def observe_thread(db: Session, thread_id: str) -> None:
    """Make the ids this process makes next sort after the thread's newest rows.

    Another process, whose clock may be ahead, may have written them; the rows a response or
    an items request adds must come after them in the history.
    """
    for column, where in (
        (MessageRow.id, MessageRow.thread_id == thread_id),
        (RunStepRow.id, RunStepRow.thread_id == thread_id),
        (ConversationRoundRow.id, ConversationRoundRow.thread_id == thread_id),
    ):
        newest = db.scalar(select(column).where(where).order_by(column.desc()).limit(1))
        if newest is not None:
            observe(newest)


def busy(db: Session, thread_id: str) -> str | None:
    """Return the id of the conversation's active run, if one is active."""
    return db.scalars(active_run_query(thread_id)).first()
