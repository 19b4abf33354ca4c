"""The Chat Completions tool loop: model, tool calls, tool messages, model, until an answer."""

from __future__ import annotations

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
    conversation = _Conversation(messages, max_rounds)
    with executor_for(tools) as executor:
        offered = executor.toolbox.openai_tools()
        while True:
            completion = client.chat.completions.create(
                model=model, messages=conversation.history, tools=offered, **params
            )
            calls = conversation.record_reply(completion)
            if not calls:
                return conversation.outcome(completion)
            conversation.record_results(executor.execute_all_sync(calls, caller=caller))


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
    conversation = _Conversation(messages, max_rounds)
    with executor_for(tools) as executor:
        offered = executor.toolbox.openai_tools()
        while True:
            completion = await client.chat.completions.create(
                model=model, messages=conversation.history, tools=offered, **params
            )
            calls = conversation.record_reply(completion)
            if not calls:
                return conversation.outcome(completion)
            conversation.record_results(await executor.execute_all(calls, caller=caller))


class _Conversation:
    """The loop's state, apart from I/O: what is sent, the results so far, the rounds answered.

    Both drivers keep it the same way; they differ only in how they call the model and run the
    tools.
    """

    def __init__(self, messages: Iterable[Mapping[str, Any]], max_rounds: int) -> None:
        self.history = [dict(message) for message in messages]
        self.results: list[ToolResult] = []
        self.rounds = 0
        self.max_rounds = max_rounds

    def record_reply(self, completion: Any) -> list[ToolCall]:
        """Append the assistant's reply to the history; return the calls it makes, if any.

        Raises:
            MaxRoundsExceeded: The reply makes calls and ``max_rounds`` rounds are answered.
        """
        message = completion.choices[0].message
        calls = [ToolCall.from_any(call) for call in (message.tool_calls or [])]
        reply: dict[str, Any] = {"role": "assistant", "content": message.content}
        if calls:
            reply["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": _as_text(c)},
                }
                for c in calls
            ]
        self.history.append(reply)
        if calls and self.rounds >= self.max_rounds:
            raise MaxRoundsExceeded(
                f"the model still called tools after {self.max_rounds} rounds", last=completion
            )
        return calls

    def record_results(self, batch: list[ToolResult]) -> None:
        """Add a round's results, and their tool messages to the history."""
        self.rounds += 1
        self.results += batch
        self.history += [result.chat_message() for result in batch]

    def outcome(self, completion: Any) -> ChatOutcome:
        """The outcome, ``completion`` being the answer."""
        return ChatOutcome(completion=completion, messages=self.history, tool_results=self.results)


def _as_text(call: ToolCall) -> str:
    if isinstance(call.arguments, str):
        return call.arguments
    return json.dumps(dict(call.arguments))
