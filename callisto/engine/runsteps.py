"""Closing the open parts of a run (steps and messages) when the run stops early."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from callisto.store import wire
from callisto.store.models import MessageRow, RunRow, RunStepRow

_STAMP = {"failed": "failed_at", "cancelled": "cancelled_at", "expired": "expired_at"}


def settle_open_parts(
    db: Session,
    run: RunRow,
    *,
    step_status: str,
    error: dict[str, Any] | None = None,
) -> list[tuple[str, Any]]:
    """Mark the run's in-progress steps ``step_status`` and its in-progress messages incomplete.

    Returns the events to publish after the caller commits (a writer transaction function).
    """
    now = int(time.time())
    events: list[tuple[str, Any]] = []
    steps = (
        db.scalars(
            select(RunStepRow).where(
                RunStepRow.run_id == run.id, RunStepRow.status == "in_progress"
            )
        )
    ).all()
    for step in steps:
        step.status = step_status
        setattr(step, _STAMP[step_status], now)
        if error is not None:
            step.last_error = error
        events.append((f"thread.run.step.{step_status}", wire.run_step(step)))
    messages = (
        db.scalars(
            select(MessageRow).where(
                MessageRow.run_id == run.id, MessageRow.status == "in_progress"
            )
        )
    ).all()
    for message in messages:
        message.status, message.incomplete_at = "incomplete", now
        message.incomplete_details = {"reason": f"run_{step_status}"}
        events.append(("thread.message.incomplete", wire.message(message)))
    return events


def remove_open_parts(db: Session, run: RunRow) -> None:
    """Delete the steps and messages an interrupted turn left in progress.

    A turn restarted after its process died begins again from the history before it: its
    partial reply is removed, so the model never sees a half-written or empty message of its own.
    """
    db.execute(
        delete(RunStepRow)
        .where(RunStepRow.run_id == run.id, RunStepRow.status == "in_progress")
        .execution_options(synchronize_session=False)
    )
    db.execute(
        delete(MessageRow)
        .where(MessageRow.run_id == run.id, MessageRow.status == "in_progress")
        .execution_options(synchronize_session=False)
    )
