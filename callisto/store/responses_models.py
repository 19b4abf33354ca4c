"""The table behind the Responses API: one row per response, the rest lives on threads and runs.

A response is a window of a run on a thread: its input became the thread's messages and tool
steps, its output is the assistant messages and validated tool calls the run wrote after the
response began, up to the next response on the same thread. Status and output are derived
from the run and those rows when read, never copied. Conversations are threads whose id starts
with ``conv_`` (their metadata is the thread's metadata).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from callisto.store.models import Base, JsonType, project_column


class ResponseRow(Base):
    """A response: the request as echoed, and where its run and thread rows are.

    Attributes:
        begins: An id made before the response's input rows: the thread's rows before it are
            the response's context.
        ends: ``begins`` of the next response on the same thread, once there is one: the end of
            this response's output window.
        start_seq: The run event sequence number this response's events come after.
        usage_base: The run's usage when the response began (a run carries several responses
            when function call outputs continue it).
        settled: The final status and usage, written when a later response continues the same
            run (this one then ended ``completed`` at its function calls).
        request: The echoed request fields (instructions, tools, tool_choice, text, ...).
        input_items: The response's input items, as listed by ``input_items``.
    """

    __tablename__ = "responses"
    __table_args__ = (Index("ix_responses_thread_id_id", "thread_id", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = project_column()
    created_at: Mapped[int] = mapped_column(Integer)
    thread_id: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    conversation_id: Mapped[str | None] = mapped_column(String(64))
    previous_response_id: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(256))
    background: Mapped[bool] = mapped_column(Boolean, default=False)
    store: Mapped[bool] = mapped_column(Boolean, default=True)
    begins: Mapped[str] = mapped_column(String(64))
    ends: Mapped[str | None] = mapped_column(String(64))
    start_seq: Mapped[int] = mapped_column(Integer, default=0)
    usage_base: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    settled: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    request: Mapped[dict[str, Any]] = mapped_column(JsonType)
    input_items: Mapped[list[Any]] = mapped_column(JsonType, default=list)


class ConversationRoundRow(Base):
    """Function calls (and their outputs) added to a conversation as items, outside a response.

    A tool step belongs to a run, and no run has begun for them yet: the next response on the
    conversation makes them steps of its run (same id, so the same place in the history).

    Attributes:
        id: The step id the round will have (it orders the round among the thread's rows).
        calls: The calls, as a tool step stores them (outputs ``None`` until given).
    """

    __tablename__ = "conversation_rounds"
    __table_args__ = (Index("ix_conversation_rounds_thread_id_id", "thread_id", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(64), ForeignKey("threads.id", ondelete="CASCADE"))
    created_at: Mapped[int] = mapped_column(Integer)
    calls: Mapped[list[Any]] = mapped_column(JsonType, default=list)
