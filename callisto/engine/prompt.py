"""Build the model's view of a run: system prompt, thread history, tool rounds and tools.

A tool round's assistant message carries the reasoning stored with its calls, for the
providers configured to send it back (:mod:`callisto.providers.replay`); when it has some, the
text its reply wrote before the calls joins it, so the model sees that reply as one turn.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callisto.ids import observe
from callisto.providers.base import ChatMessage, ChatRequest, Role, ToolCall, ToolSpec
from callisto.store import wire
from callisto.store.models import MessageRow, RunRow, RunStepRow


def _sort_key(object_id: str) -> str:
    # Every id body comes from one clock (callisto.ids), so bodies compare across prefixes.
    return object_id.partition("_")[2]


def message_text(content: list[dict[str, Any]]) -> str:
    """Return the text of a message's content parts (images become a short placeholder)."""
    pieces: list[str] = []
    for part in content:
        if part.get("type") == "text":
            pieces.append(part["text"]["value"])
        elif part.get("type") in ("image_url", "image_file"):
            pieces.append("[image]")
        elif part.get("type") == "refusal":
            pieces.append(part.get("refusal", ""))
    return "\n".join(pieces)


def function_tools(tools: list[dict[str, Any]]) -> tuple[ToolSpec, ...]:
    """Return the function tools of a run as the model sees them."""
    specs = []
    for tool in tools:
        if tool.get("type") != "function":
            continue
        fn = tool["function"]
        specs.append(
            ToolSpec(
                name=fn["name"],
                description=fn.get("description"),
                parameters=fn.get("parameters") or {"type": "object", "properties": {}},
                strict=fn.get("strict"),
            )
        )
    return tuple(specs)


def _tool_round(step: RunStepRow) -> list[ChatMessage]:
    calls = [c for c in step.step_details.get("tool_calls", []) if c.get("type") == "function"]
    if not calls:
        return []
    out = [
        ChatMessage(
            role="assistant",
            reasoning=step.step_details.get(wire.REASONING),
            tool_calls=tuple(
                ToolCall(
                    id=c["id"],
                    name=c["function"]["name"],
                    arguments=c["function"]["arguments"],
                    provider_data=c.get("provider_data"),
                )
                for c in calls
            ),
        )
    ]
    for c in calls:
        output = c["function"].get("output")
        out.append(
            ChatMessage(
                role="tool",
                content=output if output is not None else "",
                tool_call_id=c["id"],
                name=c["function"]["name"],
            )
        )
    return out


def history(db: Session, run: RunRow, *, max_messages: int) -> list[ChatMessage]:
    """Return the thread's newest messages and their answered tool rounds, oldest first.

    Read with a limit, never the whole thread: ``truncation_strategy`` ``last_messages: N``
    keeps the newest N messages, ``auto`` the newest ``max_messages``; then, when the run sets
    ``max_prompt_tokens``, the oldest are dropped until the prompt fits (:func:`fit_prompt`).
    Tool rounds of the kept span stay with them.
    """
    strategy = run.truncation_strategy or {}
    keep = strategy.get("last_messages") if strategy.get("type") == "last_messages" else None
    limit = min(keep, max_messages) if keep else max_messages
    newest = db.scalars(
        select(MessageRow)
        .where(MessageRow.thread_id == run.thread_id)
        .order_by(MessageRow.id.desc())
        .limit(limit)
    ).all()
    messages = list(reversed(newest))
    if messages:
        observe(messages[-1].id)  # this turn's rows sort after the thread's newest message
    since = messages[0].created_at if messages else 0
    steps = (
        db.scalars(
            select(RunStepRow)
            .where(
                RunStepRow.thread_id == run.thread_id,
                RunStepRow.created_at >= since,
                RunStepRow.type == "tool_calls",
                RunStepRow.status == "completed",
            )
            .order_by(RunStepRow.id)
        )
    ).all()
    oldest_key = _sort_key(messages[0].id) if messages else ""
    items: list[_Item] = []
    for m in messages:
        if m.status == "in_progress":
            continue
        role: Role = "assistant" if m.role == "assistant" else "user"
        message = ChatMessage(role=role, content=message_text(m.content))
        items.append(
            _Item(_sort_key(m.id), [message], text_of=m.run_id if role == "assistant" else None)
        )
    for step in steps:
        if _sort_key(step.id) >= oldest_key:
            items.append(_Item(_sort_key(step.id), _tool_round(step), round_of=step.run_id))
    items.sort(key=lambda item: item.key)
    return fit_prompt(_join_reply_text(items), run)


@dataclasses.dataclass(slots=True)
class _Item:
    """A piece of the history: a message, or a tool round, with the run that wrote it."""

    key: str
    chunk: list[ChatMessage]
    text_of: str | None = None  # an assistant message: its run
    round_of: str | None = None  # a tool round: its run


def _join_reply_text(items: list[_Item]) -> list[list[ChatMessage]]:
    """Return the items' chunks, a tool round with reasoning joined by the text just before it
    from the same run (its reply's words before the calls: one assistant turn, as written)."""
    chunks: list[list[ChatMessage]] = []
    previous: _Item | None = None
    for item in items:
        chunk = item.chunk
        calls = chunk[0] if chunk else None
        if (
            calls is not None
            and calls.reasoning
            and previous is not None
            and previous.text_of is not None
            and previous.text_of == item.round_of
        ):
            text = chunks.pop()[0].content
            chunk = [dataclasses.replace(calls, content=text or None), *chunk[1:]]
        chunks.append(chunk)
        previous = item
    return chunks


def estimate_tokens(message: ChatMessage) -> int:
    """Return a rough token count of a message (4 characters a token, as OpenAI's rule of thumb)."""
    size = len(message.content or "") + sum(
        len(c.name) + len(c.arguments) for c in message.tool_calls
    )
    return 4 + size // 4


def fit_prompt(chunks: list[list[ChatMessage]], run: RunRow) -> list[ChatMessage]:
    """Drop the oldest chunks (a message, or a tool round whole) until the prompt fits the run's
    ``max_prompt_tokens`` (estimated; the newest chunk is always kept)."""
    budget = run.max_prompt_tokens
    if budget is not None:
        budget -= estimate_tokens(ChatMessage(role="system", content=run.instructions or ""))
        kept: list[list[ChatMessage]] = []
        for chunk in reversed(chunks):
            cost = sum(estimate_tokens(m) for m in chunk)
            if kept and cost > budget:
                break
            kept.append(chunk)
            budget -= cost
        chunks = list(reversed(kept))
    return [message for chunk in chunks for message in chunk]


def build_request(run: RunRow, conversation: list[ChatMessage], model: str) -> ChatRequest:
    """Return the provider request for the run's next model call."""
    system: list[ChatMessage] = []
    if run.instructions:
        system.append(ChatMessage(role="system", content=run.instructions))
    tools = function_tools(run.tools)
    choice = run.tool_choice
    forced = None
    mode = "auto"
    if isinstance(choice, dict):
        forced = choice.get("function", {}).get("name")
        mode = "required"
    elif choice in ("none", "auto", "required"):
        mode = choice
    response_format = run.response_format if isinstance(run.response_format, dict) else None
    if response_format is not None and response_format.get("type") == "text":
        response_format = None
    max_tokens = None
    if run.max_completion_tokens is not None:
        used = (run.usage or {}).get("completion_tokens", 0)
        max_tokens = max(1, run.max_completion_tokens - used)
    return ChatRequest(
        model=model,
        messages=tuple(system + conversation),
        tools=tools,
        tool_choice=mode,  # type: ignore[arg-type]
        forced_tool=forced,
        parallel_tool_calls=run.parallel_tool_calls,
        temperature=run.temperature,
        top_p=run.top_p,
        max_tokens=max_tokens,
        response_format=response_format,
    )
