"""The Chat Completions tool loop: model, tool calls, tool messages, model, until an answer."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from callisto.tools._driving import executor_for
from callisto.tools.errors import MaxRoundsExceeded
from callisto.tools.executor import ToolExecutor
from callisto.tools.results import ToolCall, ToolResult
from callisto.tools.toolbox import Toolbox


@dataclass(frozen=True, slots=True)
class ChatOutcome:
    """How the loop ended.

    Attributes:
        completion: The last ``ChatCompletion``, the one with the answer.
        messages: The whole conversation as sent, plus the final assistant message.
        tool_results: Every tool result, in order.
    """

    completion: Any
    messages: list[dict[str, Any]]
    tool_results: list[ToolResult] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The final answer's text ("" if it has none)."""
        return str(self.completion.choices[0].message.content or "")


def complete_with_tools(
    client: Any,
    messages: Iterable[Mapping[str, Any]],
    tools: Toolbox | ToolExecutor,
    *,
    model: str,
    max_rounds: int = 8,
    caller: str | None = None,
    **params: Any,
) -> ChatOutcome:
    """Call the model, run the tools it asks for, send their results back, until it answers.

    Args:
        client: An ``openai.OpenAI`` client (any OpenAI-compatible server).
        messages: The conversation so far (not modified).
        tools: The toolbox offered, or an executor carrying policies.
        model: The model name.
        max_rounds: Most rounds of tool calls answered.
        caller: Who the calls run for.
        **params: More ``chat.completions.create`` parameters (``temperature``, ...).

    Returns:
        The final completion and the conversation.

    Raises:
        MaxRoundsExceeded: The model still called tools after ``max_rounds`` rounds.
    """
    history = [dict(message) for message in messages]
    results: list[ToolResult] = []
    with executor_for(tools) as executor:
        offered = executor.toolbox.openai_tools()
        for round_number in itertools.count():
            completion = client.chat.completions.create(
                model=model, messages=history, tools=offered, **params
            )
            calls = _record_reply(completion, history, round_number, max_rounds)
            if not calls:
                break
            batch = executor.execute_all_sync(calls, caller=caller)
            results += batch
            history += [result.chat_message() for result in batch]
    return ChatOutcome(completion=completion, messages=history, tool_results=results)


async def async_complete_with_tools(
    client: Any,
    messages: Iterable[Mapping[str, Any]],
    tools: Toolbox | ToolExecutor,
    *,
    model: str,
    max_rounds: int = 8,
    caller: str | None = None,
    **params: Any,
) -> ChatOutcome:
    """:func:`complete_with_tools` for an ``openai.AsyncOpenAI`` client; same arguments."""
    history = [dict(message) for message in messages]
    results: list[ToolResult] = []
    with executor_for(tools) as executor:
        offered = executor.toolbox.openai_tools()
        for round_number in itertools.count():
            completion = await client.chat.completions.create(
                model=model, messages=history, tools=offered, **params
            )
            calls = _record_reply(completion, history, round_number, max_rounds)
            if not calls:
                break
            batch = await executor.execute_all(calls, caller=caller)
            results += batch
            history += [result.chat_message() for result in batch]
    return ChatOutcome(completion=completion, messages=history, tool_results=results)


def _record_reply(
    completion: Any, history: list[dict[str, Any]], round_number: int, max_rounds: int
) -> list[ToolCall]:
    """Append the assistant's reply to ``history``; return the calls it makes, if any."""
    message = completion.choices[0].message
    calls = [ToolCall.from_any(call) for call in (message.tool_calls or [])]
    reply: dict[str, Any] = {"role": "assistant", "content": message.content}
    if calls:
        reply["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": _as_text(c)}}
            for c in calls
        ]
    history.append(reply)
    if calls and round_number >= max_rounds:
        raise MaxRoundsExceeded(
            f"the model still called tools after {max_rounds} rounds", last=completion
        )
    return calls


def _as_text(call: ToolCall) -> str:
    if isinstance(call.arguments, str):
        return call.arguments
    return json.dumps(dict(call.arguments))
