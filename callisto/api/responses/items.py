"""Items <-> thread rows: how Responses and Conversations items live on the engine's threads.

A ``message`` item is a thread message. ``function_call`` items are the calls of a
``tool_calls`` run step, and ``function_call_output`` items the outputs stored on the same
calls, exactly as the Assistants face keeps a tool round, so the engine's prompt builder sees
one history whatever face wrote it. Item ids of calls and outputs derive from the call id.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from callisto.api.responses.schemas import (
    FunctionCallItem,
    FunctionCallOutputItem,
    InputImage,
    InputItem,
    InputText,
    MessageItem,
    Refusal,
)
from callisto.engine.prompt import message_text
from callisto.errors import InvalidRequest
from callisto.ids import PREFIXES, new_id
from callisto.store.models import MessageRow, RunStepRow


def body(object_id: str) -> str:
    """Return the part of an id after its prefix: bodies of every prefix compare in time order."""
    return object_id.partition("_")[2]


def call_item_id(call_id: str, kind: str = "fc") -> str:
    """Return the item id of a call (``fc_``) or of its output (``fco_``)."""
    core = call_id[5:] if call_id.startswith("call_") else call_id
    return f"{kind}_{core}"


# -- rows -> items ---------------------------------------------------------------------------


def message_item(row: MessageRow) -> dict[str, Any]:
    """Return a thread message as a ``message`` item."""
    if row.role == "assistant":
        content: list[dict[str, Any]] = [
            {
                "type": "output_text",
                "text": message_text(row.content),
                "annotations": [],
                "logprobs": [],
            }
        ]
    else:
        content = []
        for part in row.content:
            if part.get("type") == "text":
                content.append({"type": "input_text", "text": part["text"]["value"]})
            elif part.get("type") == "image_url":
                image = part["image_url"]
                content.append(
                    {
                        "type": "input_image",
                        "image_url": image["url"],
                        "detail": image.get("detail") or "auto",
                    }
                )
    return {
        "id": row.id,
        "type": "message",
        "role": row.role,
        "status": row.status,
        "content": content,
    }


def call_item(call: dict[str, Any]) -> dict[str, Any]:
    """Return one call of a tool step as a ``function_call`` item."""
    function = call["function"]
    return {
        "id": call_item_id(call["id"]),
        "type": "function_call",
        "call_id": call["id"],
        "name": function["name"],
        "arguments": function["arguments"],
        "status": "completed",
    }


def output_item(call: dict[str, Any]) -> dict[str, Any]:
    """Return the stored output of one call as a ``function_call_output`` item."""
    return {
        "id": call_item_id(call["id"], "fco"),
        "type": "function_call_output",
        "call_id": call["id"],
        "output": call["function"]["output"],
        "status": "completed",
    }


def step_calls(step: RunStepRow) -> list[dict[str, Any]]:
    """Return the function calls of a tool step."""
    calls = step.step_details.get("tool_calls", [])
    return [c for c in calls if c.get("type") == "function"]


def thread_items(
    messages: Iterable[MessageRow], steps: Iterable[RunStepRow]
) -> list[tuple[tuple[str, int], dict[str, Any]]]:
    """Return a thread's items in order, each with its sort key.

    Messages in progress are left out; a tool step gives its calls, then the outputs it has.
    """
    keyed: list[tuple[tuple[str, int], dict[str, Any]]] = []
    for message in messages:
        if message.status != "in_progress":
            keyed.append(((body(message.id), 0), message_item(message)))
    for step in steps:
        calls = step_calls(step)
        for i, call in enumerate(calls):
            keyed.append(((body(step.id), 1 + i), call_item(call)))
        for i, call in enumerate(calls):
            if call["function"].get("output") is not None:
                keyed.append(((body(step.id), 1 + len(calls) + i), output_item(call)))
    keyed.sort(key=lambda pair: pair[0])
    return keyed


# -- items -> rows ---------------------------------------------------------------------------


@dataclass(slots=True)
class Round:
    """A tool round to store as a completed ``tool_calls`` step: calls and their outputs."""

    step_id: str
    calls: list[dict[str, Any]] = field(default_factory=list)

    def call(self, call_id: str) -> dict[str, Any] | None:
        """Return the call with ``call_id``, if this round has it."""
        return next((c for c in self.calls if c["id"] == call_id), None)


@dataclass(slots=True)
class Plan:
    """What an input becomes on a thread.

    Attributes:
        messages: Thread messages to add.
        rounds: Tool rounds to add as steps of the response's run.
        instructions: Text of ``system``/``developer`` messages (joined to the instructions).
        outputs: Outputs for calls the input does not contain (calls of an earlier response),
            in order, as ``(call_id, output)``.
        echo: The input items as ``input_items`` lists them, with ids.
        external: The step that will hold ``outputs`` with their calls when they are not
            given to a run waiting for them (its id places it among the input's rows).
    """

    messages: list[MessageRow] = field(default_factory=list)
    rounds: list[Round] = field(default_factory=list)
    instructions: list[str] = field(default_factory=list)
    outputs: list[tuple[str, str]] = field(default_factory=list)
    echo: list[dict[str, Any]] = field(default_factory=list)
    external: Round | None = None

    @property
    def only_outputs(self) -> bool:
        """Whether the input is nothing but outputs of earlier calls."""
        return bool(self.outputs) and not (self.messages or self.rounds or self.instructions)


def output_text(output: str | Sequence[Any]) -> str:
    """Return a function call output as text (parts are joined; images become a placeholder)."""
    if isinstance(output, str):
        return output
    pieces = []
    for part in output:
        if isinstance(part, InputText):
            pieces.append(part.text)
        elif isinstance(part, InputImage):
            pieces.append("[image]")
        else:
            raise InvalidRequest("input_file content is not supported.", param="input")
    return "\n".join(pieces)


def _message_parts(item: MessageItem) -> list[dict[str, Any]]:
    if isinstance(item.content, str):
        return [{"type": "text", "text": {"value": item.content, "annotations": []}}]
    parts: list[dict[str, Any]] = []
    for part in item.content:
        if isinstance(part, InputText):
            parts.append({"type": "text", "text": {"value": part.text, "annotations": []}})
        elif isinstance(part, Refusal):
            parts.append({"type": "text", "text": {"value": part.refusal, "annotations": []}})
        elif isinstance(part, InputImage) and part.image_url:
            image = {
                "url": part.image_url,
                "detail": part.detail if part.detail != "original" else "high",
            }
            parts.append({"type": "image_url", "image_url": {k: v for k, v in image.items() if v}})
        else:
            raise InvalidRequest(
                "Only input_text, output_text and input_image (by image_url) content is supported; "
                "files and uploaded images are not.",
                param="input",
            )
    return parts


def _echo_message(item: MessageItem, item_id: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    row = MessageRow(id=item_id, role=item.role, content=parts, status="completed")
    return message_item(row)


def plan_input(
    items: str | Sequence[InputItem], thread_id: str, *, conversation: bool = False
) -> Plan:
    """Turn input items into the rows to add to ``thread_id``, ids made in input order.

    ``system`` and ``developer`` messages join the instructions, and every call needs its
    output, unless ``conversation`` (items added to a conversation): then they are stored as
    messages like the others, and a call may wait for its output.

    Raises:
        InvalidRequest: A call without its output, an output given twice, unsupported content.
    """
    if isinstance(items, str):
        items = [MessageItem(role="user", content=items)]
    planner = _Planner(thread_id, keep_system=conversation)
    for item in items:
        if isinstance(item, FunctionCallItem):
            planner.call(item)
        elif isinstance(item, FunctionCallOutputItem):
            planner.output(item)
        else:
            planner.message(item)
    for r in planner.plan.rounds:
        for call in r.calls:
            if call["function"]["output"] is None and not conversation:
                raise InvalidRequest(
                    f"No tool output found for function call {call['id']}.", param="input"
                )
    return planner.plan


@dataclass(slots=True)
class _Planner:
    """Builds a :class:`Plan` item by item (consecutive calls form one round)."""

    thread_id: str
    keep_system: bool
    plan: Plan = field(default_factory=Plan)
    round_: Round | None = None
    answered: set[str] = field(default_factory=set)
    now: int = field(default_factory=lambda: int(time.time()))

    def call(self, item: FunctionCallItem) -> None:
        plan = self.plan
        if self.round_ is None:
            self.round_ = Round(new_id(PREFIXES["step"]))
            plan.rounds.append(self.round_)
        if any(r.call(item.call_id) for r in plan.rounds):
            raise InvalidRequest(f"Duplicate function call id '{item.call_id}'.", param="input")
        function = {"name": item.name, "arguments": item.arguments, "output": None}
        self.round_.calls.append({"id": item.call_id, "type": "function", "function": function})
        plan.echo.append(call_item(self.round_.calls[-1]))

    def output(self, item: FunctionCallOutputItem) -> None:
        plan = self.plan
        if item.call_id in self.answered:
            raise InvalidRequest(
                f"Function call output for call_id '{item.call_id}' given twice.", param="input"
            )
        self.answered.add(item.call_id)
        text = output_text(item.output)
        own = next((r.call(item.call_id) for r in plan.rounds if r.call(item.call_id)), None)
        if own is not None:
            own["function"]["output"] = text
        else:
            if plan.external is None:
                # Placed where the first such output is: the calls are filled in later.
                plan.external = Round(new_id(PREFIXES["step"]))
            plan.outputs.append((item.call_id, text))
        call = {"id": item.call_id, "function": {"output": text}}
        plan.echo.append(output_item(call))

    def message(self, item: MessageItem) -> None:
        self.round_ = None
        parts = _message_parts(item)
        item_id = new_id(PREFIXES["message"])
        self.plan.echo.append(_echo_message(item, item_id, parts))
        if item.role in ("system", "developer") and not self.keep_system:
            self.plan.instructions.append(message_text(parts))
            return
        self.plan.messages.append(
            MessageRow(
                id=item_id,
                thread_id=self.thread_id,
                created_at=self.now,
                role=item.role,
                content=parts,
                status="completed",
                assistant_id=None,
                run_id=None,
                attachments=[],
                metadata_={},
                completed_at=self.now,
            )
        )


def round_step(round_: Round, run_id: str, thread_id: str, assistant_id: str) -> RunStepRow:
    """Return the completed ``tool_calls`` step that stores a tool round of an input."""
    now = int(time.time())
    return RunStepRow(
        id=round_.step_id,
        run_id=run_id,
        thread_id=thread_id,
        assistant_id=assistant_id,
        created_at=now,
        type="tool_calls",
        status="completed",
        step_details={"type": "tool_calls", "tool_calls": round_.calls},
        completed_at=now,
        metadata_={},
    )
