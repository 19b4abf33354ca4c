"""Transaction functions shared by the API and the engine (run by :mod:`callisto.store.writer`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from callisto.errors import ConflictingState, NotFound
from callisto.store.models import ACTIVE_RUN_STATUSES, MessageRow, RunRow, ThreadRow


def active_run_query(thread_id: str) -> Select[str]:
    """Return the query of the id of the thread's non-terminal run."""
    return (
        select(RunRow.id)
        .where(RunRow.thread_id == thread_id, RunRow.status.in_(ACTIVE_RUN_STATUSES))
        .limit(1)
    )


def add_thread(db: Session, thread: ThreadRow, messages: Sequence[MessageRow]) -> None:
    """Add a new thread and its initial messages."""
    db.add(thread)
    db.flush()  # the thread before its messages (no ORM relationship orders them)
    db.add_all(messages)


def add_message(db: Session, message: MessageRow) -> None:
    """Add a client's message to its thread; refused while a run on the thread is active.

    Raises:
        NotFound: The thread does not exist.
        ConflictingState: The thread has an active run.
    """
    thread_id = message.thread_id
    if db.get(ThreadRow, thread_id) is None:
        raise NotFound(f"No thread found with id '{thread_id}'.")
    run_id = db.scalars(active_run_query(thread_id)).first()
    if run_id is not None:
        raise ConflictingState(f"Can't add messages to {thread_id} while a run {run_id} is active.")
    db.add(message)
