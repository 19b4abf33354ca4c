"""Transaction functions shared by the API and the engine (run by :mod:`callisto.store.writer`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from callisto.errors import ConflictingState, NotFound
from callisto.ids import new_id, observe
from callisto.store.models import ACTIVE_RUN_STATUSES, MessageRow, RunRow, ThreadRow
from callisto.store.projects import owned
from callisto.store.writer import insert_row


def active_run_query(thread_id: str) -> Select[str]:
    """Return the query of the id of the thread's non-terminal run."""
    return (
        select(RunRow.id)
        .where(RunRow.thread_id == thread_id, RunRow.status.in_(ACTIVE_RUN_STATUSES))
        .limit(1)
    )


def add_thread(db: Session, thread: ThreadRow, messages: Sequence[MessageRow]) -> None:
    """Insert a new thread and its initial messages, in this order, one INSERT each.

    Core INSERTs, not the ORM's unit of work: the rows stay transient, fully set (their
    defaults applied), for the caller to answer with.
    """
    for row in (thread, *messages):
        insert_row(db, row)


def add_message(db: Session, message: MessageRow, *, project: str) -> None:
    """Add a client's message to its thread; refused while a run on the thread is active.

    Raises:
        NotFound: The thread does not exist in ``project``.
        ConflictingState: The thread has an active run.
    """
    thread_id = message.thread_id
    thread_or_404(db, thread_id, project=project)
    run_id = db.scalars(active_run_query(thread_id)).first()
    if run_id is not None:
        raise ConflictingState(f"Can't add messages to {thread_id} while a run {run_id} is active.")
    newest = db.scalar(
        select(MessageRow.id)
        .where(MessageRow.thread_id == thread_id)
        .order_by(MessageRow.id.desc())
        .limit(1)
    )
    if newest is not None and newest >= message.id:
        # Another process (with a clock ahead of ours) wrote the thread's newest message.
        observe(newest)
        message.id = new_id(message.id.partition("_")[0] + "_")
    db.add(message)


def thread_or_404(db: Session, thread_id: str, *, project: str) -> ThreadRow:
    """Return the project's thread, or raise :class:`NotFound` (another project's too)."""
    thread = owned(db, ThreadRow, thread_id, project)
    if thread is None:
        raise NotFound(f"No thread found with id '{thread_id}'.")
    return thread


def update_thread(
    db: Session, thread_id: str, changes: dict[str, object], *, project: str
) -> ThreadRow:
    """Set the given columns (``metadata_``, ``tool_resources``) of a thread."""
    thread = thread_or_404(db, thread_id, project=project)
    for column, value in changes.items():
        setattr(thread, column, value)
    db.flush()
    return thread


def message_of_thread(db: Session, thread_id: str, message_id: str, *, project: str) -> MessageRow:
    """Return the thread's message, or raise :class:`NotFound` for the thread or the message."""
    thread_or_404(db, thread_id, project=project)
    message = db.get(MessageRow, message_id)
    if message is None or message.thread_id != thread_id:
        raise NotFound(f"No message found with id '{message_id}' in thread '{thread_id}'.")
    return message


def update_message_metadata(
    db: Session, thread_id: str, message_id: str, metadata: dict[str, object], *, project: str
) -> MessageRow:
    """Replace a message's metadata."""
    message = message_of_thread(db, thread_id, message_id, project=project)
    message.metadata_ = metadata
    db.flush()
    return message


def delete_message(db: Session, thread_id: str, message_id: str, *, project: str) -> None:
    """Delete a message of the thread."""
    db.delete(message_of_thread(db, thread_id, message_id, project=project))
