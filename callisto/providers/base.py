"""The provider protocol: one small interface that every model API is adapted to.

A provider takes a :class:`ChatRequest` and yields a stream of :data:`ProviderEvent`. Adapters
always stream; a caller that wants a whole reply collects the stream. Tool calls arrive as
:class:`ToolCallDelta` fragments keyed by ``index``: the first fragment of a call carries its
``id`` and ``name``, later ones carry ``arguments`` pieces to be concatenated.

Adapters raise the :class:`callisto.errors.ProviderError` subclasses (timeouts, 5xx, 429, auth,
bad request) and never put an API key in a message. Retrying is the engine's job, not theirs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "tool_calls", "length", "content_filter", "error"]
ToolChoiceMode = Literal["auto", "none", "required"]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call, as the model sees it.

    Attributes:
        name: The function name.
        description: What the function does, for the model.
        parameters: The JSON Schema of the arguments object.
        strict: OpenAI's strict mode flag, passed through where the API supports it.
    """

    name: str
    description: str | None = None
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A complete tool call, as it appears in the conversation history.

    Attributes:
        id: The call id (``call_...``), echoed by the tool result.
        name: The function name.
        arguments: The arguments as a JSON object string.
        provider_data: What the provider asked to get back with this call in later requests
            (Gemini's call id and thought signature), stored with the call, never on the wire.
    """

    id: str
    name: str
    arguments: str
    provider_data: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of the conversation sent to the model.

    Attributes:
        role: ``system``, ``user``, ``assistant`` or ``tool``.
        content: The text; may be ``None`` on an assistant message that only calls tools.
        tool_calls: The calls an assistant message made.
        tool_call_id: On a ``tool`` message, the id of the call it answers.
        name: On a ``tool`` message, the function name (some APIs want it).
        reasoning: On an assistant message, the reasoning the model wrote before it, for the
            models that want it back (see :mod:`callisto.providers.replay`); never content.
    """

    role: Role
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    reasoning: str | None = None


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """Everything a provider needs for one model call.

    Attributes:
        model: The model name as the provider knows it (without the ``provider/`` prefix).
        messages: The conversation, system prompt first when there is one.
        tools: The functions offered.
        tool_choice: ``auto``, ``none`` or ``required``.
        forced_tool: When set, the model must call this function (OpenAI's named tool choice).
        parallel_tool_calls: Whether the model may call several functions in one reply.
        temperature: Sampling temperature, if set.
        top_p: Nucleus sampling, if set.
        max_tokens: The most tokens the reply may have, if limited.
        response_format: The wire value of ``response_format`` (``{"type": "json_object"}``,
            ``{"type": "json_schema", "json_schema": {...}}``), or ``None`` for plain text.
        api_key: A key to use for this request instead of the configured one (never logged).
    """

    model: str
    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoiceMode = "auto"
    forced_tool: str | None = None
    parallel_tool_calls: bool = True
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    response_format: dict[str, Any] | None = None
    api_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the reply's visible text."""

    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the reply's reasoning: a server's ``reasoning_content`` field, or a
    ``<think>`` block taken out of the text. Kept with the turn, never shown as content."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of a tool call.

    Attributes:
        index: Which call of this reply the fragment belongs to, from 0.
        id: The call id, on the first fragment of a call only (``None`` after).
        name: The function name, on the first fragment of a call only (``None`` after).
        arguments: A piece of the arguments JSON, to be concatenated.
        provider_data: On the first fragment: what the provider wants echoed with the call
            (see :attr:`ToolCall.provider_data`).
    """

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    provider_data: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of the call; if a provider reports several times, the last one wins."""

    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class Finish:
    """The reply is over, and why."""

    reason: FinishReason


ProviderEvent = TextDelta | ReasoningDelta | ToolCallDelta | Usage | Finish


@runtime_checkable
class Provider(Protocol):
    """A model API adapted to Callisto's event stream."""

    name: str

    def stream(self, request: ChatRequest) -> AsyncIterator[ProviderEvent]:
        """Send ``request`` and yield the reply as events, ending with one :class:`Finish`."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


@dataclass(slots=True)
class CollectedReply:
    """A whole reply assembled from a provider's events (see :func:`collect`)."""

    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage | None = None
    finish_reason: FinishReason | None = None


async def collect(events: AsyncIterator[ProviderEvent]) -> CollectedReply:
    """Assemble a stream of events into one :class:`CollectedReply`."""
    reply = CollectedReply()
    parts: list[str] = []
    reasoning: list[str] = []
    calls: dict[int, list[str]] = {}
    ids: dict[int, str] = {}
    names: dict[int, str] = {}
    async for event in events:
        if isinstance(event, TextDelta):
            parts.append(event.text)
        elif isinstance(event, ReasoningDelta):
            reasoning.append(event.text)
        elif isinstance(event, ToolCallDelta):
            calls.setdefault(event.index, []).append(event.arguments)
            if event.id:
                ids[event.index] = event.id
            if event.name:
                names[event.index] = event.name
        elif isinstance(event, Usage):
            reply.usage = event
        else:
            reply.finish_reason = event.reason
    reply.text = "".join(parts)
    reply.reasoning = "".join(reasoning)
    reply.tool_calls = [
        ToolCall(id=ids.get(i, ""), name=names.get(i, ""), arguments="".join(calls[i]))
        for i in sorted(calls)
    ]
    return reply
