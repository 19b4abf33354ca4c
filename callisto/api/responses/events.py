"""Run events -> Responses stream events.

A response's stream is a translation of its run's event log from the response's start: message
events become ``output_item`` / ``content_part`` / ``output_text`` events, the validated calls
of ``thread.run.requires_action`` become ``function_call`` items, and the run's resting event
ends the stream with ``response.completed``, ``response.incomplete`` or ``response.failed``.

Calls are sent once validated, not while the model writes them: a call the engine refuses goes
back to the model for a correction, and a stream cannot take back an item it has sent.

Sequence numbers come from the run's own: the events a run event gives are numbered from its
sequence number times :data:`STRIDE`. They rise, with gaps, and replaying the log numbers every
event the same way, even a log whose deltas were dropped since (the memory log trims a rested
run's deltas): that is what makes ``starting_after`` resumption work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from callisto.api.responses.items import call_item_id
from callisto.engine.events import RunEvent
from callisto.engine.prompt import message_text

STRIDE = 4
"""Sequence numbers a run event's block holds: more than any run event but the last gives (a
message's end gives 3; the resting one, last of the stream, may give any number)."""

RESTING = {
    "thread.run.requires_action": "response.completed",
    "thread.run.completed": "response.completed",
    "thread.run.incomplete": "response.incomplete",
    "thread.run.failed": "response.failed",
    "thread.run.expired": "response.failed",
    "thread.run.cancelled": "",
}
"""The run events that end a response's stream, and the response event each sends last."""


@dataclass(slots=True)
class _Message:
    index: int
    text: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Translator:
    """Numbers and translates one response's events.

    Attributes:
        background: The response runs in background mode (it is announced ``queued``).
        seq: The sequence number of the last event made.
    """

    background: bool = False
    seq: int = -1
    _outputs: int = 0
    _messages: dict[str, _Message] = field(default_factory=dict)

    def event(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Return the next event: its ``type``, fields and ``sequence_number``."""
        self.seq += 1
        return {"type": kind, **fields, "sequence_number": self.seq}

    def _block(self, run_seq: int) -> None:
        """Number the next events from run event ``run_seq``'s block."""
        self.seq = max(self.seq, run_seq * STRIDE - 1)

    def opening(self, response: dict[str, Any], start_seq: int = 0) -> list[dict[str, Any]]:
        """Return ``response.created`` (and ``response.queued`` in background mode), numbered
        in the block of ``start_seq``, the run event the response's events come after."""
        self._block(start_seq)
        status = "queued" if self.background else "in_progress"
        events = [self.event("response.created", response={**response, "status": status})]
        if self.background:
            events.append(self.event("response.queued", response={**response, "status": status}))
        return events

    def translate(self, run_event: RunEvent, response: dict[str, Any]) -> list[dict[str, Any]]:
        """Return the response events of one run event (``response``: the opening snapshot)."""
        self._block(run_event.seq)
        name = run_event.event
        if name == "thread.run.in_progress":
            return [
                self.event("response.in_progress", response={**response, "status": "in_progress"})
            ]
        if name == "thread.message.created":
            return self._message_added(json.loads(run_event.data))
        if name == "thread.message.delta":
            return self._text_delta(json.loads(run_event.data))
        if name in ("thread.message.completed", "thread.message.incomplete"):
            return self._message_done(json.loads(run_event.data))
        if name == "thread.run.requires_action":
            return self._calls(json.loads(run_event.data))
        return []

    def closing(self, kind: str, response: dict[str, Any]) -> list[dict[str, Any]]:
        """Return the last event, ``kind`` (from :data:`RESTING`), with the final response."""
        return [self.event(kind, response=response)] if kind else []

    def _message_added(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        entry = self._messages[message["id"]] = _Message(self._outputs)
        self._outputs += 1
        item = {
            "id": message["id"],
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        return [
            self.event("response.output_item.added", output_index=entry.index, item=item),
            self.event(
                "response.content_part.added",
                item_id=message["id"],
                output_index=entry.index,
                content_index=0,
                part=part,
            ),
        ]

    def _text_delta(self, delta: dict[str, Any]) -> list[dict[str, Any]]:
        entry = self._messages.get(delta["id"])
        if entry is None:
            return []
        events = []
        for part in delta.get("delta", {}).get("content", []):
            text = (part.get("text") or {}).get("value") or ""
            if not text:
                continue
            entry.text.append(text)
            events.append(
                self.event(
                    "response.output_text.delta",
                    item_id=delta["id"],
                    output_index=entry.index,
                    content_index=0,
                    delta=text,
                    logprobs=[],
                )
            )
        return events

    def _message_done(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        entry = self._messages.pop(message["id"], None)
        if entry is None:
            return []
        # The finished message carries its whole text (its deltas may have been dropped).
        content = message.get("content")
        text = message_text(content) if content else "".join(entry.text)
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        status = "completed" if message["status"] == "completed" else "incomplete"
        item = {
            "id": message["id"],
            "type": "message",
            "role": "assistant",
            "status": status,
            "content": [part],
        }
        where = {"item_id": message["id"], "output_index": entry.index}
        return [
            self.event(
                "response.output_text.done", **where, content_index=0, text=text, logprobs=[]
            ),
            self.event("response.content_part.done", **where, content_index=0, part=part),
            self.event("response.output_item.done", output_index=entry.index, item=item),
        ]

    def _calls(self, run: dict[str, Any]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for call in run["required_action"]["submit_tool_outputs"]["tool_calls"]:
            index, self._outputs = self._outputs, self._outputs + 1
            item_id = call_item_id(call["id"])
            function = call["function"]
            item = {
                "id": item_id,
                "type": "function_call",
                "call_id": call["id"],
                "name": function["name"],
                "arguments": "",
                "status": "in_progress",
            }
            where = {"item_id": item_id, "output_index": index}
            events += [
                self.event("response.output_item.added", output_index=index, item=item),
                self.event(
                    "response.function_call_arguments.delta", **where, delta=function["arguments"]
                ),
                self.event(
                    "response.function_call_arguments.done",
                    **where,
                    name=function["name"],
                    arguments=function["arguments"],
                ),
                self.event(
                    "response.output_item.done",
                    output_index=index,
                    item={**item, "arguments": function["arguments"], "status": "completed"},
                ),
            ]
        return events
