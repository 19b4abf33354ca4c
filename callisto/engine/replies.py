"""Turn one streamed model reply into stored messages, steps and published events.

:class:`ReplyRecorder` receives a provider's events for one model call. The first text delta
creates the assistant message and its ``message_creation`` step (written, then published); the
first tool-call delta creates the ``tool_calls`` step. Deltas are relayed to the event log as
they come, in the shapes the SDK's event handlers merge.

Reasoning is kept, not relayed: the runner stores it with the reply's tool calls (see
:data:`callisto.store.wire.REASONING`) for the models that want it back.

Steps follow one another as OpenAI's do: text before tool calls completes its message (and
step) when the first call begins, so the SDK's handler never sees a message step end while a
tool call is its current one (it would report that call done twice). Text after the calls starts
a new message.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from callisto.engine.events import EventLog
from callisto.ids import PREFIXES, new_id
from callisto.providers.base import ToolCall, ToolCallDelta
from callisto.store import wire
from callisto.store.models import MessageRow, RunRow, RunStepRow
from callisto.store.writer import Transactions


@dataclass(slots=True)
class _PendingCall:
    id: str
    name: str
    arguments: list[str] = field(default_factory=list)
    provider_data: dict[str, str] | None = None


@dataclass(slots=True)
class ReplyRecorder:
    """Stores and publishes one model reply of a run."""

    writer: Transactions
    events: EventLog
    run: RunRow
    message: MessageRow | None = None
    message_step: RunStepRow | None = None
    tool_step: RunStepRow | None = None
    text: list[str] = field(default_factory=list)
    thoughts: list[str] = field(default_factory=list)
    calls: list[_PendingCall] = field(default_factory=list)
    _index_of: dict[int, int] = field(default_factory=dict)
    _message_closed: bool = False
    _text_start: int = 0

    def _step(self, kind: str, details: dict[str, Any], now: int) -> RunStepRow:
        return RunStepRow(
            id=new_id(PREFIXES["step"]),
            run_id=self.run.id,
            thread_id=self.run.thread_id,
            assistant_id=self.run.assistant_id,
            created_at=now,
            type=kind,
            status="in_progress",
            step_details=details,
            metadata_={},
        )

    async def on_text(self, text: str) -> None:
        """Relay a text delta, creating the message and its step on the first one."""
        if not text:
            return
        if self.message is None or self._message_closed:
            self._text_start, self._message_closed = len(self.text), False
            await self._start_message()
        assert self.message is not None
        self.text.append(text)
        await self.events.append(
            self.run.id,
            "thread.message.delta",
            {
                "id": self.message.id,
                "object": "thread.message.delta",
                "delta": {
                    "content": [
                        {"index": 0, "type": "text", "text": {"value": text, "annotations": []}}
                    ]
                },
            },
        )

    def on_reasoning(self, text: str) -> None:
        """Keep a reasoning delta for the reply's tool step; it is never published."""
        if text:
            self.thoughts.append(text)

    def reasoning(self) -> str | None:
        """Return the reasoning of this reply, or ``None`` when it had none."""
        return "".join(self.thoughts).strip() or None

    async def _start_message(self) -> None:
        now = int(time.time())
        message = MessageRow(
            id=new_id(PREFIXES["message"]),
            thread_id=self.run.thread_id,
            created_at=now,
            role="assistant",
            content=[],
            status="in_progress",
            assistant_id=self.run.assistant_id,
            run_id=self.run.id,
            attachments=[],
            metadata_={},
        )
        step = self._step(
            "message_creation",
            {"type": "message_creation", "message_creation": {"message_id": message.id}},
            now,
        )
        await self.writer.insert([message, step], durable=False)
        self.message, self.message_step = message, step
        await self.events.append(self.run.id, "thread.run.step.created", wire.run_step(step))
        await self.events.append(self.run.id, "thread.run.step.in_progress", wire.run_step(step))
        await self.events.append(self.run.id, "thread.message.created", wire.message(message))
        await self.events.append(self.run.id, "thread.message.in_progress", wire.message(message))

    async def on_tool_call(self, delta: ToolCallDelta) -> None:
        """Relay a tool-call fragment: id and name once, then ``type`` and argument pieces."""
        if self.tool_step is None:
            await self._close_message()
            now = int(time.time())
            step = self._step("tool_calls", {"type": "tool_calls", "tool_calls": []}, now)
            await self.writer.insert([step], durable=False)
            self.tool_step = step
            await self.events.append(self.run.id, "thread.run.step.created", wire.run_step(step))
            await self.events.append(
                self.run.id, "thread.run.step.in_progress", wire.run_step(step)
            )
        index = self._index_of.get(delta.index)
        if index is None:
            # Provider indexes may have gaps; ours are contiguous from 0 in order of arrival.
            index = self._index_of[delta.index] = len(self.calls)
            self.calls.append(
                _PendingCall(
                    id=new_id(PREFIXES["call"]),
                    name=delta.name or "",
                    provider_data=delta.provider_data,
                )
            )
            item: dict[str, Any] = {
                "index": index,
                "id": self.calls[index].id,
                "type": "function",
                "function": {
                    "name": delta.name or "",
                    "arguments": delta.arguments,
                    "output": None,
                },
            }
        else:
            function: dict[str, Any] = {"arguments": delta.arguments}
            if delta.name and not self.calls[index].name:
                # A name that comes late is sent once, when it comes (the SDK concatenates).
                self.calls[index].name = function["name"] = delta.name
            elif not delta.arguments:
                return
            # ``type`` on every delta: the SDK parses a tool-call delta without it as a
            # code_interpreter delta (its union is discriminated on ``type``).
            item = {"index": index, "type": "function", "function": function}
        self.calls[index].arguments.append(delta.arguments)
        await self.events.append(
            self.run.id,
            "thread.run.step.delta",
            {
                "id": self.tool_step.id,
                "object": "thread.run.step.delta",
                "delta": {"step_details": {"type": "tool_calls", "tool_calls": [item]}},
            },
        )

    def tool_calls(self) -> list[ToolCall]:
        """Return the calls of this reply, assembled."""
        return [
            ToolCall(
                id=c.id,
                name=c.name,
                arguments="".join(c.arguments),
                provider_data=c.provider_data,
            )
            for c in self.calls
        ]

    async def _close_message(self) -> None:
        if self.message is None or self._message_closed:
            return
        await self.writer.run(
            lambda db: self.finish_message(db, incomplete_reason=None), durable=False
        )
        await self.publish_message_finished()
        self._message_closed = True

    async def save_partial_text(self) -> None:
        """Store the text streamed so far on the open message, statuses unchanged.

        For a turn stopped mid-reply (provider failure, cancel): whoever settles the run then
        marks the message incomplete, and its event carries the text the clients already saw
        (the SDK's handler indexes the content of ``thread.message.incomplete`` by the deltas'
        ``index`` and fails on an empty content list).
        """
        if self.message is None or self._message_closed:
            return
        message_id, content = self.message.id, self._content()

        def save(db: Session) -> None:
            message = db.get(MessageRow, message_id)
            if message is not None and message.status == "in_progress":
                message.content = content

        await self.writer.run(save, durable=False)

    def _content(self) -> list[dict[str, Any]]:
        text = "".join(self.text[self._text_start :])
        return [{"type": "text", "text": {"value": text, "annotations": []}}]

    def finish_message(self, db: Session, *, incomplete_reason: str | None) -> None:
        """Write the finished message and its step (in a writer transaction function)."""
        if self.message is None or self.message_step is None or self._message_closed:
            return
        now = int(time.time())
        message, step = self.message, self.message_step
        db.add_all([message, step])
        message.content = self._content()
        if incomplete_reason is None:
            message.status, message.completed_at = "completed", now
        else:
            message.status, message.incomplete_at = "incomplete", now
            # Messages name token limits "max_tokens"; runs name which limit it was.
            message.incomplete_details = {"reason": "max_tokens"}
        step.status, step.completed_at = "completed", now

    async def publish_message_finished(self) -> None:
        """Publish the events of :meth:`finish_message`, after its commit."""
        if self.message is None or self.message_step is None or self._message_closed:
            return
        name = "completed" if self.message.status == "completed" else "incomplete"
        await self.events.append(self.run.id, f"thread.message.{name}", wire.message(self.message))
        await self.events.append(
            self.run.id, "thread.run.step.completed", wire.run_step(self.message_step)
        )
