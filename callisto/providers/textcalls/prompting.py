"""Rewriting a chat request for a model that reads and writes tool calls as text.

Three rewrites, each optional: the tool definitions go into the system prompt (and leave the
request's ``tools``); earlier assistant tool calls become assistant text; tool results become
user text. Which ones apply is decided by the provider wrapper from ``tool_format`` and
``tool_result_style``; the shapes come from the family's :class:`PromptStyle`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from callisto.providers.base import ChatMessage, ChatRequest, ToolSpec

from ._family import PromptStyle, ToolResult


@dataclasses.dataclass(frozen=True, slots=True)
class Rewrite:
    """Which parts of a request to write as text.

    Attributes:
        tools_in_prompt: Move the tool definitions from ``tools`` into the system prompt.
        history_as_text: Write earlier tool calls and tool results as plain messages.
    """

    tools_in_prompt: bool
    history_as_text: bool


def rewrite_request(request: ChatRequest, style: PromptStyle, rewrite: Rewrite) -> ChatRequest:
    """Return ``request`` with tools and tool history written as text where ``rewrite`` says.

    Args:
        request: The request as the engine built it.
        style: How the family writes tools, calls and results.
        rewrite: Which parts to rewrite.
    """
    messages = list(request.messages)
    if rewrite.history_as_text:
        messages = history_as_text(messages, style)
    if not rewrite.tools_in_prompt:
        return dataclasses.replace(request, messages=tuple(messages))
    if request.tools and request.tool_choice != "none":
        messages = with_system_text(messages, tools_block(request, style))
    return dataclasses.replace(
        request,
        messages=tuple(messages),
        tools=(),
        tool_choice="auto",
        forced_tool=None,
        parallel_tool_calls=True,
    )


def tools_block(request: ChatRequest, style: PromptStyle) -> str:
    """Return the system-prompt text that offers the request's tools, with its tool choice."""
    parts = [style.tools_prompt(request.tools)]
    if request.forced_tool:
        parts.append(f"You must call the function {request.forced_tool} in this reply.")
    elif request.tool_choice == "required":
        parts.append("You must call at least one function in this reply.")
    if not request.parallel_tool_calls:
        parts.append("Call at most one function per reply.")
    return "\n\n".join(parts)


def with_system_text(messages: Sequence[ChatMessage], text: str) -> list[ChatMessage]:
    """Append ``text`` to the leading system message, or add one that holds it."""
    out = list(messages)
    if out and out[0].role == "system":
        first = out[0]
        joined = f"{first.content}\n\n{text}" if first.content else text
        out[0] = dataclasses.replace(first, content=joined)
    else:
        out.insert(0, ChatMessage(role="system", content=text))
    return out


def history_as_text(messages: Sequence[ChatMessage], style: PromptStyle) -> list[ChatMessage]:
    """Write assistant tool calls as assistant text and tool results as user text.

    An assistant message keeps its reasoning, for the adapter to send back as configured.

    Consecutive tool results become one user message, and a user message that follows them is
    joined to it, since some templates insist that user and assistant turns alternate.
    """
    out: list[ChatMessage] = []
    names: dict[str, str] = {}
    results: list[ToolResult] = []
    after_results = False
    for message in [*messages, None]:
        if message is not None and message.role == "tool":
            call_id = message.tool_call_id or ""
            name = message.name or names.get(call_id, "tool")
            results.append(ToolResult(call_id, name, message.content or ""))
            continue
        if results:
            out.append(ChatMessage(role="user", content=style.results_text(results)))
            results.clear()
            after_results = True
        if message is None:
            break
        if message.role == "assistant" and message.tool_calls:
            names.update((c.id, c.name) for c in message.tool_calls)
            calls = style.calls_text(message.tool_calls)
            content = f"{message.content}\n\n{calls}" if message.content else calls
            out.append(ChatMessage(role="assistant", content=content, reasoning=message.reasoning))
        elif message.role == "user" and after_results:
            out[-1] = ChatMessage(
                role="user", content=f"{out[-1].content}\n\n{message.content or ''}"
            )
        else:
            out.append(message)
        after_results = False
    return out


def offered_tools(request: ChatRequest) -> tuple[ToolSpec, ...]:
    """Return the tools a call in the reply may name: none when the tool choice is ``none``."""
    return () if request.tool_choice == "none" else request.tools
