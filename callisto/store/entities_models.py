"""Tables of the Entities V1 face: what its flow keeps between requests, shared by every process.

Entities spreads one round of a run over several requests (a stream, action updates, one tool
output per request, another stream), and any API process may serve any of them. Runs,
threads, messages and assistants are Callisto's own rows; these tables hold only the glue:

- ``entities_actions``: one row per tool call a run waited on, saved before the call is
  streamed to the client: its status as the client reports it (``PUT /v1/actions/{id}``) and
  the output it sent, kept until every call of the round has one.
- ``entities_streams``: per run, the event sequence number its last Entities stream ended at,
  so the next ``POST /v1/completions`` continues after it.
- ``entities_tools``: tools created with ``POST /v1/tools`` before an assistant has them.
- ``entities_assistants``: the Entities-only settings of an assistant (``max_turns``, ...).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from callisto.store.models import DEFAULT_PROJECT, Base, JsonType


class EntitiesActionRow(Base):
    """A tool call of a run, as an Entities action.

    The id is the call's id with ``act_`` for ``call_`` (see
    ``callisto.api.entities.actions``): either names the other, so two processes saving the
    same call's action agree on its id.
    """

    __tablename__ = "entities_actions"
    __table_args__ = (Index("ix_entities_actions_run_id_id", "run_id", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64), ForeignKey("runs.id", ondelete="CASCADE"))
    tool_call_id: Mapped[str] = mapped_column(String(64), unique=True)
    tool_name: Mapped[str] = mapped_column(String(256))
    # The arguments as the model wrote them (JSON text): a JSON column would reorder the keys.
    arguments: Mapped[str] = mapped_column(Text, default="{}")
    turn_index: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    triggered_at: Mapped[float] = mapped_column(Float)
    processed_at: Mapped[float | None] = mapped_column(Float)
    result: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    # The tool output the client sent, its message id and time; ``submitted`` once the run
    # was given the outputs of the whole round.
    output: Mapped[str | None] = mapped_column(Text)
    output_message_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    output_at: Mapped[int | None] = mapped_column(Integer)
    submitted: Mapped[bool] = mapped_column(Boolean, default=False)


class EntitiesStreamRow(Base):
    """How far a run's Entities streams have gone in its event log."""

    __tablename__ = "entities_streams"

    run_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    streamed_to: Mapped[int] = mapped_column(Integer)


class EntitiesToolRow(Base):
    """A function tool created on its own; its id is a digest of its definition.

    Two projects creating the same definition each keep a row: the key is both columns.
    """

    __tablename__ = "entities_tools"

    project_id: Mapped[str] = mapped_column(
        String(64), primary_key=True, server_default=DEFAULT_PROJECT
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[int] = mapped_column(Integer)
    tool: Mapped[dict[str, Any]] = mapped_column(JsonType)


class EntitiesAssistantRow(Base):
    """The settings an Entities assistant has beyond a Callisto assistant's."""

    __tablename__ = "entities_assistants"

    assistant_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("assistants.id", ondelete="CASCADE"), primary_key=True
    )
    max_turns: Mapped[int] = mapped_column(Integer, default=1)
    agent_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    decision_telemetry: Mapped[bool] = mapped_column(Boolean, default=False)
    max_tokens: Mapped[int | None] = mapped_column(Integer)
