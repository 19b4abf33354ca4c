"""The adapter for OpenAI-compatible Chat Completions APIs.

One adapter serves OpenAI itself and the servers that copy its API: vLLM, Ollama, Together,
Hyperbolic, DeepSeek, Groq, OpenRouter, llama.cpp. It always streams (``stream: true`` with
``stream_options.include_usage``) and turns the server-sent chunks into Callisto's provider
events.

The copies differ in how they stream tool calls, so the reader is lenient: a call is recognised
by its ``id`` when the server sends one, else by its ``index``, else it continues the last call.
That covers servers that repeat ``id`` and name on every chunk, send a whole call in one chunk,
give every call index 0, or leave the index out. ``id`` and name are passed on once per call.
A call that never gets an id is given one. A ``stop`` finish after tool calls becomes
``tool_calls``, since some servers say ``stop`` either way.

Errors follow :mod:`callisto.providers._http`: 401/403 auth, 429 rate limited (``retry-after-ms``
or ``retry-after`` honoured), 400/404/422 bad request with the API's own message, 5xx and broken
connections server errors, and timeouts. A stream that ends before ``[DONE]`` and before any
finish reason is a server error. The API key is masked out of every message. Nothing is retried
here: the engine decides.

Reasoning is never message content: the ``reasoning_content`` and ``reasoning`` fields that
reasoning models' servers stream, and a ``<think>...</think>`` block that a server without a
reasoning parser leaves at the start of the content (see
:mod:`callisto.providers.textcalls.reasoning`), come out as :class:`ReasoningDelta` events. With
``template_opens_think`` the content is read as reasoning up to ``</think>``, unless the server
already streamed a reasoning field (it has a reasoning parser, so its content is the answer).
Reasoning stored with earlier tool calls goes back as ``reasoning_replay`` says (see
:mod:`callisto.providers.replay`).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from callisto.config import ProviderSettings
from callisto.errors import ProviderError, ProviderServerError
from callisto.ids import new_id
from callisto.providers._client import UpstreamClient, UpstreamResponse
from callisto.providers._http import error_for_status, iter_sse, parse_retry_after, redact
from callisto.providers.base import (
    ChatMessage,
    ChatRequest,
    Finish,
    FinishReason,
    ProviderEvent,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from callisto.providers.replay import ReplayMode, replay_mode, with_reasoning

if TYPE_CHECKING:
    from callisto.providers.textcalls import TextCallParser

__all__ = ["OpenAIProvider", "build_body"]

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


class OpenAIProvider:
    """A provider for any OpenAI-compatible ``/chat/completions`` endpoint.

    One :class:`~callisto.providers._client.UpstreamClient` per provider keeps connections
    across runs. The configured timeout bounds connecting and every read, so a stream that
    stalls mid-way times out too.

    Args:
        name: The provider name models are routed by (``NAME/model``).
        settings: Base URL (default OpenAI's), key, timeout and extra headers.
    """

    def __init__(self, name: str, settings: ProviderSettings) -> None:
        self.name = name
        self.settings = settings
        self._api_key = settings.api_key.get_secret_value() if settings.api_key else None
        base_url = (settings.base_url or DEFAULT_BASE_URL).rstrip("/")
        self._client = UpstreamClient(name, settings, base_url=base_url)

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()

    async def stream(self, request: ChatRequest) -> AsyncIterator[ProviderEvent]:
        """Send ``request`` and yield the reply as events, ending with one :class:`Finish`.

        Args:
            request: The conversation and options; ``request.api_key`` overrides the
                configured key.

        Raises:
            ProviderError: The subclass that matches the failure (see the module docstring).
        """
        key = request.api_key or self._api_key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        settings = self.settings.for_model(request.model)
        replay = replay_mode(settings.reasoning_replay, request.model)
        body = build_body(request, reasoning_replay=replay)
        async with self._client.stream(
            "POST", "/chat/completions", json=body, headers=headers
        ) as response:
            if response.status_code >= 400:
                await response.aread()
                raise self._error(response, key)
            reader = _StreamReader(self.name, key, in_reasoning=settings.template_opens_think)
            async for sse in iter_sse(response):
                if sse.data.strip() == "[DONE]":
                    reader.done = True
                    break  # the client reads the body's end, keeping the connection
                for event in reader.feed(sse.data):
                    yield event
            for event in reader.end():
                yield event

    def _error(self, response: UpstreamResponse, key: str | None) -> ProviderError:
        retry_after = None
        with contextlib.suppress(ValueError):
            ms = response.headers.get("retry-after-ms")
            retry_after = float(ms) / 1000 if ms else None
        if retry_after is None:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
        message = _error_message(response.text)
        logger.debug("provider %s answered HTTP %s", self.name, response.status_code)
        return error_for_status(
            response.status_code,
            message,
            provider=self.name,
            retry_after=retry_after,
            secret=key,
        )


def _error_message(text: str) -> str:
    """Find the human message in an error body (OpenAI's shape, or a string, or plain text)."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return text.strip()[:500]
    error = parsed.get("error", parsed) if isinstance(parsed, dict) else parsed
    if isinstance(error, dict):
        for key in ("message", "detail", "msg"):
            if isinstance(error.get(key), str):
                return str(error[key])[:500]
    if isinstance(error, str):
        return error[:500]
    return text.strip()[:500]


# --- request ------------------------------------------------------------------------------------


def build_body(request: ChatRequest, *, reasoning_replay: ReplayMode = "none") -> dict[str, Any]:
    """Return the JSON body of a streaming ``/chat/completions`` call for ``request``.

    Args:
        request: The request to translate.
        reasoning_replay: How assistant messages carry their stored reasoning (see
            :mod:`callisto.providers.replay`).
    """
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [_wire_message(m, reasoning_replay) for m in request.messages],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.tools:
        body["tools"] = [
            _wire_tool(t.name, t.description, t.parameters, t.strict) for t in request.tools
        ]
        if request.forced_tool is not None:
            body["tool_choice"] = {"type": "function", "function": {"name": request.forced_tool}}
        else:
            body["tool_choice"] = request.tool_choice
        # Only with tools: several servers reject parallel_tool_calls on a request without any.
        body["parallel_tool_calls"] = request.parallel_tool_calls
    optional = {
        "temperature": request.temperature,
        "top_p": request.top_p,
        # Not max_completion_tokens: most compatible servers only know max_tokens.
        "max_tokens": request.max_tokens,
        "response_format": request.response_format,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def _wire_message(message: ChatMessage, reasoning_replay: ReplayMode) -> dict[str, Any]:
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.role == "assistant" and message.tool_calls:
        wire["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    elif message.role == "tool":
        wire["tool_call_id"] = message.tool_call_id
        wire["content"] = message.content or ""
    elif wire["content"] is None:
        wire["content"] = ""
    if message.role == "assistant":
        wire = with_reasoning(wire, message.reasoning, reasoning_replay)
    return wire


def _wire_tool(
    name: str, description: str | None, parameters: dict[str, Any], strict: bool | None
) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name, "parameters": parameters}
    if description:
        function["description"] = description
    if strict is not None:
        function["strict"] = strict
    return {"type": "function", "function": function}


# --- response -----------------------------------------------------------------------------------


@dataclass
class _StreamReader:
    """Turns the chunks of one streamed completion into provider events."""

    provider: str
    key: str | None
    in_reasoning: bool = False
    reasoning_field: bool = False
    done: bool = False
    finish: FinishReason | None = None
    usage: Usage | None = None
    calls: int = 0
    by_id: dict[str, int] = field(default_factory=dict)
    by_index: dict[int, int] = field(default_factory=dict)
    started: set[int] = field(default_factory=set)
    named: set[int] = field(default_factory=set)
    last: int | None = None
    # Content is passed through as it comes, unless it starts with a tag: then it goes through
    # a parser that removes a reasoning block (imported then, so plain replies never pay for it).
    plain: bool = False
    reasoning: TextCallParser | None = None
    leading_space: str = ""

    def feed(self, data: str) -> list[ProviderEvent]:
        """Return the events in one ``data:`` payload."""
        try:
            chunk = json.loads(data)
        except ValueError:
            raise ProviderServerError(f"{self.provider} sent a malformed stream chunk") from None
        if not isinstance(chunk, dict):
            return []
        if chunk.get("error"):
            # OpenRouter and vLLM report failures that happen mid-stream inside the stream.
            message = redact(_error_message(json.dumps(chunk)), self.key)
            raise ProviderServerError(f"{self.provider} failed mid-stream: {message}")
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = Usage(
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
            )
        events: list[ProviderEvent] = []
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            # One of the two: some servers send the same text under both names.
            thought = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(thought, str) and thought:
                self.reasoning_field = True
                events.append(ReasoningDelta(thought))
            if delta.get("content"):
                events.extend(self._content(delta["content"]))
            for item in delta.get("tool_calls") or []:
                events.append(self._tool_call(item))
            reason = choice.get("finish_reason")
            if reason:
                self.finish = _FINISH_REASONS.get(reason, "stop")
        return events

    def _content(self, text: str) -> list[ProviderEvent]:
        if self.reasoning is None:
            if self.plain:
                return [TextDelta(text)]
            if self.in_reasoning and not self.reasoning_field:
                self.reasoning = _reasoning_parser(in_reasoning=True)
                return list(self.reasoning.feed(text))
            text = self.leading_space + text
            if not text.strip():
                self.leading_space = text
                return []
            self.leading_space = ""
            if not text.lstrip().startswith("<"):
                self.plain = True
                return [TextDelta(text)]
            self.reasoning = _reasoning_parser(in_reasoning=False)
        return list(self.reasoning.feed(text))

    def _tool_call(self, item: dict[str, Any]) -> ToolCallDelta:
        call_id = item.get("id") or None
        wire_index = item.get("index")
        function = item.get("function") or {}
        ours = self._route(call_id, wire_index)
        # id and name go out once per call, whatever the server repeats.
        if ours in self.started:
            call_id = None
        else:
            self.started.add(ours)
            call_id = call_id or new_id("call_")
        name = function.get("name") or None
        if name is not None and ours in self.named:
            name = None
        elif name is not None:
            self.named.add(ours)
        return ToolCallDelta(
            index=ours, id=call_id, name=name, arguments=function.get("arguments") or ""
        )

    def _route(self, call_id: str | None, wire_index: int | None) -> int:
        """Return our index for a fragment: by id, else by wire index, else the last call."""
        if call_id is not None and call_id in self.by_id:
            ours = self.by_id[call_id]
        elif call_id is None and wire_index is not None and wire_index in self.by_index:
            ours = self.by_index[wire_index]
        elif call_id is None and wire_index is None and self.last is not None:
            ours = self.last
        else:
            ours = self.calls
            self.calls += 1
        if call_id is not None:
            self.by_id[call_id] = ours
        if wire_index is not None:
            self.by_index[wire_index] = ours
        self.last = ours
        return ours

    def end(self) -> list[ProviderEvent]:
        """Return the closing events, or raise if the stream was cut short."""
        if not self.done and self.finish is None:
            raise ProviderServerError(f"{self.provider} closed the stream before it finished")
        reason: FinishReason = self.finish or "stop"
        if reason == "stop" and self.calls:
            reason = "tool_calls"
        events: list[ProviderEvent] = []
        if self.reasoning is not None:
            events.extend(self.reasoning.finish())
        elif self.leading_space:
            events.append(TextDelta(self.leading_space))
        if self.usage:
            events.append(self.usage)
        events.append(Finish(reason))
        return events


def _reasoning_parser(*, in_reasoning: bool) -> TextCallParser:
    """Return a parser that takes reasoning out of the content (imported on first use)."""
    from callisto.providers.textcalls import TextCallParser
    from callisto.providers.textcalls.reasoning import REASONING_ONLY

    return TextCallParser(REASONING_ONLY, in_reasoning=in_reasoning)
