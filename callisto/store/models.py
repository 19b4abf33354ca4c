"""SQLAlchemy models: the tables behind assistants, threads, messages, runs and run steps.

Scalar fields that are filtered or sorted on are columns; nested wire structures (tools,
content parts, step details) are JSON. Times are Unix seconds, as on the wire.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ACTIVE_RUN_STATUSES = ("queued", "in_progress", "requires_action", "cancelling")
TERMINAL_RUN_STATUSES = ("completed", "failed", "cancelled", "expired", "incomplete")

_ACTIVE_SQL = "status IN (" + ",".join(f"'{s}'" for s in ACTIVE_RUN_STATUSES) + ")"

JsonType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    """Declarative base of every table."""

    type_annotation_map = {dict[str, Any]: JsonType, list[Any]: JsonType, Any: JsonType}


DEFAULT_PROJECT = "default"
"""The project of the keys in ``CALLISTO_API_KEY``, of an open server, and of every object made
before projects existed."""
INTERNAL_PROJECT = "callisto:internal"
"""The project of Callisto's own objects (the Responses API's assistant): no key acts in it,
since a project name cannot hold ``:``, so no client reads, changes or deletes them."""


def project_column() -> Mapped[str]:
    """The ``project_id`` column of a top-level object: every route finds it within its project.

    The database default (``default``) fills rows older than projects; new rows are always
    given their project by the code that makes them.
    """
    return mapped_column(String(64), server_default=DEFAULT_PROJECT)


class AssistantRow(Base):
    """An assistant: a model, instructions and tools."""

    __tablename__ = "assistants"
    __table_args__ = (Index("ix_assistants_project_id_id", "project_id", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = project_column()
    created_at: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(256))
    instructions: Mapped[str | None] = mapped_column(Text)
    tools: Mapped[list[Any]] = mapped_column(JsonType, default=list)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JsonType, default=dict)
    tool_resources: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    temperature: Mapped[float | None] = mapped_column(Float)
    top_p: Mapped[float | None] = mapped_column(Float)
    response_format: Mapped[Any] = mapped_column(JsonType)


class ThreadRow(Base):
    """A conversation."""

    __tablename__ = "threads"
    __table_args__ = (Index("ix_threads_project_id_id", "project_id", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = project_column()
    created_at: Mapped[int] = mapped_column(Integer)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JsonType, default=dict)
    tool_resources: Mapped[dict[str, Any] | None] = mapped_column(JsonType)


class MessageRow(Base):
    """A message of a thread."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_thread_id_id", "thread_id", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(64), ForeignKey("threads.id", ondelete="CASCADE"))
    created_at: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[list[Any]] = mapped_column(JsonType, default=list)
    status: Mapped[str] = mapped_column(String(16), default="completed")
    assistant_id: Mapped[str | None] = mapped_column(String(64))
    run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    attachments: Mapped[list[Any]] = mapped_column(JsonType, default=list)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JsonType, default=dict)
    completed_at: Mapped[int | None] = mapped_column(Integer)
    incomplete_at: Mapped[int | None] = mapped_column(Integer)
    incomplete_details: Mapped[dict[str, Any] | None] = mapped_column(JsonType)


class RunRow(Base):
    """A run: one execution of an assistant on a thread.

    ``status`` is only ever assigned by ``callisto.engine.lifecycle.transition``.
    """

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_thread_id_id", "thread_id", "id"),
        # One non-terminal run per thread, enforced by the database rather than by a
        # read-then-write check that two requests could both pass.
        Index(
            "uq_runs_one_active_per_thread",
            "thread_id",
            unique=True,
            sqlite_where=text(_ACTIVE_SQL),
            postgresql_where=text(_ACTIVE_SQL),
        ),
        Index("ix_runs_status_expires_at", "status", "expires_at"),
        Index("ix_runs_status_lease_until", "status", "lease_until"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(64), ForeignKey("threads.id", ondelete="CASCADE"))
    assistant_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    required_action: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    last_error: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    expires_at: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[int | None] = mapped_column(Integer)
    cancelled_at: Mapped[int | None] = mapped_column(Integer)
    failed_at: Mapped[int | None] = mapped_column(Integer)
    completed_at: Mapped[int | None] = mapped_column(Integer)
    incomplete_details: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    model: Mapped[str] = mapped_column(String(256))
    instructions: Mapped[str | None] = mapped_column(Text)
    tools: Mapped[list[Any]] = mapped_column(JsonType, default=list)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JsonType, default=dict)
    usage: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    max_prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    max_completion_tokens: Mapped[int | None] = mapped_column(Integer)
    truncation_strategy: Mapped[dict[str, Any]] = mapped_column(JsonType)
    tool_choice: Mapped[Any] = mapped_column(JsonType)
    parallel_tool_calls: Mapped[bool] = mapped_column(Boolean, default=True)
    response_format: Mapped[Any] = mapped_column(JsonType)
    temperature: Mapped[float | None] = mapped_column(Float)
    top_p: Mapped[float | None] = mapped_column(Float)
    # Internal bookkeeping, never on the wire.
    expires_at_exact: Mapped[float | None] = mapped_column(Float)
    repair_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The lease of the process executing the run's turn (see callisto.engine.leases): its
    # owner, until when (Unix seconds) it holds the turn, and the turn's fencing token, which
    # every claim raises so that a writer holding an older token is refused.
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[float | None] = mapped_column(Float)
    turn_token: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Optimistic locking: an UPDATE matches only the version it read, so of two concurrent
    # writers (two submits, a submit and the sweeper) exactly one wins.
    version: Mapped[int] = mapped_column(Integer, default=0)

    __mapper_args__ = {"version_id_col": version}


class RunStepRow(Base):
    """A step of a run: a message creation or a round of tool calls."""

    __tablename__ = "run_steps"
    __table_args__ = (
        Index("ix_run_steps_run_id_id", "run_id", "id"),
        Index("ix_run_steps_thread_id_created_at", "thread_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64), ForeignKey("runs.id", ondelete="CASCADE"))
    thread_id: Mapped[str] = mapped_column(String(64))
    assistant_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    step_details: Mapped[dict[str, Any]] = mapped_column(JsonType)
    last_error: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    expired_at: Mapped[int | None] = mapped_column(Integer)
    cancelled_at: Mapped[int | None] = mapped_column(Integer)
    failed_at: Mapped[int | None] = mapped_column(Integer)
    completed_at: Mapped[int | None] = mapped_column(Integer)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JsonType, default=dict)
    usage: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
