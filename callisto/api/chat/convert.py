"""A Chat Completions request, checked and turned into the provider request every adapter takes."""

from __future__ import annotations

from typing import Any

from callisto.api.chat.schemas import ChatCompletionCreate, Message
from callisto.api.schemas import NamedToolChoice, dump
from callisto.engine.prompt import function_tools
from callisto.errors import InvalidRequest
from callisto.providers.base import ChatMessage, ChatRequest, ToolCall

UNSUPPORTED: dict[str, tuple[Any, ...]] = {
    "seed": (None,),
    "stop": (None, [], ""),
    "frequency_penalty": (None, 0),
    "presence_penalty": (None, 0),
    "logit_bias": (None, {}),
    "logprobs": (None, False),
    "top_logprobs": (None, 0),
    "service_tier": (None, "auto", "default"),
    "modalities": (None, ["text"]),
}
"""Parameters Callisto cannot honour, and the values that ask for nothing (accepted)."""


def check(body: ChatCompletionCreate) -> None:
    """Refuse what the schema alone cannot: parameters Callisto cannot honour, and parameters
    that contradict each other.

    Raises:
        InvalidRequest: A 400 naming the parameter.
    """
    for name, neutral in UNSUPPORTED.items():
        if getattr(body, name) not in neutral:
            raise InvalidRequest(
                f"'{name}' is not supported by Callisto's chat completions; leave it out.",
                param=name,
            )
    if body.n is not None and body.n > 1:
        raise InvalidRequest("n > 1 is not supported: Callisto returns one choice.", param="n")
    if body.store:
        raise InvalidRequest(
            "store=true is not supported: Callisto keeps no chat completions.", param="store"
        )
    if body.stream_options is not None and not body.stream:
        raise InvalidRequest(
            "stream_options is only allowed when stream is true.", param="stream_options"
        )
    names = [t.function.name for t in body.tools or []]
    if len(set(names)) != len(names):
        raise InvalidRequest("Each tool must have a different function name.", param="tools")
    if body.tool_choice is not None and not names:
        raise InvalidRequest(
            "tool_choice is only allowed when tools are specified.", param="tool_choice"
        )
    if body.parallel_tool_calls is not None and not names:
        raise InvalidRequest(
            "parallel_tool_calls is only allowed when tools are specified.",
            param="parallel_tool_calls",
        )
    choice = body.tool_choice
    if isinstance(choice, NamedToolChoice) and choice.function.name not in names:
        raise InvalidRequest(
            f"tool_choice names function '{choice.function.name}', which is not among the tools.",
            param="tool_choice",
        )


def _messages(messages: list[Message]) -> tuple[ChatMessage, ...]:
    out: list[ChatMessage] = []
    called: dict[str, str] = {}  # call id -> function name, of the calls made so far
    for index, message in enumerate(messages):
        text = message.text()
        if message.role in ("system", "developer"):
            out.append(ChatMessage(role="system", content=text))
        elif message.role == "user":
            out.append(ChatMessage(role="user", content=text))
        elif message.role == "assistant":
            calls = tuple(
                ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments)
                for c in message.tool_calls or []
            )
            called.update((c.id, c.name) for c in calls)
            out.append(
                ChatMessage(
                    role="assistant",
                    content=text or None,
                    tool_calls=calls,
                    reasoning=message.reasoning_content or None,
                )
            )
        else:
            call_id = message.tool_call_id or ""
            if call_id not in called:
                raise InvalidRequest(
                    f"The tool message at messages[{index}] answers tool_call_id '{call_id}', "
                    "which no earlier assistant message's tool_calls has.",
                    param=f"messages[{index}].tool_call_id",
                )
            out.append(
                ChatMessage(
                    role="tool", content=text or "", tool_call_id=call_id, name=called[call_id]
                )
            )
    return tuple(out)


def to_request(body: ChatCompletionCreate, model: str) -> ChatRequest:
    """Return the provider request for ``body``, sent to ``model`` (the provider's own name)."""
    check(body)
    tools = function_tools([dump(t) for t in body.tools or []])
    choice = body.tool_choice
    forced = choice.function.name if isinstance(choice, NamedToolChoice) else None
    mode = "required" if forced else (choice or "auto")
    response_format = dump(body.response_format)
    if response_format is not None and response_format.get("type") == "text":
        response_format = None
    return ChatRequest(
        model=model,
        messages=_messages(body.messages),
        tools=tools,
        tool_choice=mode,  # type: ignore[arg-type]
        forced_tool=forced,
        parallel_tool_calls=body.parallel_tool_calls is not False,
        temperature=body.temperature,
        top_p=body.top_p,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        response_format=response_format,
    )
