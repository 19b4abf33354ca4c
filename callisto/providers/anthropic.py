"""The Anthropic Messages API, adapted to Callisto's provider events.

Requests go to ``POST {base_url}/v1/messages`` with ``stream: true``. The translation:

- system messages become the top-level ``system`` string;
- assistant tool calls become ``tool_use`` blocks, tool results ``tool_result`` blocks in a user
  message, and neighbouring messages of one role are merged, since the API wants the roles to
  alternate;
- the stream's ``tool_use`` blocks are numbered from 0 as tool-call indexes, whatever their
  position among the text blocks.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from callisto.config import ProviderSettings
from callisto.errors import ProviderServerError
from callisto.providers._client import UpstreamClient, UpstreamResponse
from callisto.providers._http import api_key_for, error_for_status, iter_sse, parse_retry_after
from callisto.providers.base import (
    ChatMessage,
    ChatRequest,
    Finish,
    FinishReason,
    ProviderEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)

__all__ = ["DEFAULT_MAX_TOKENS", "AnthropicProvider", "build_messages_body"]

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
"""Sent when the request sets no limit: the API refuses a request without ``max_tokens``."""

_STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}


class AnthropicProvider:
    """A provider speaking the Anthropic Messages API.

    Attributes:
        name: The provider name models are routed by (``NAME/model``).
    """

    def __init__(self, name: str, settings: ProviderSettings) -> None:
        """Create the adapter; connections open lazily.

        Args:
            name: The provider name, used in error messages.
            settings: Base URL (default ``https://api.anthropic.com``), key, timeout, headers.
        """
        self.name = name
        self._settings = settings
        base = (settings.base_url or DEFAULT_BASE_URL).rstrip("/")
        # Accept a base URL given with or without the version segment.
        self._url = base + ("/messages" if base.endswith("/v1") else "/v1/messages")
        self._client = UpstreamClient(name, settings)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.aclose()

    def _headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION, "content-type": "application/json"}
        # Configured headers win, so a deployment can pin another API version or add betas.
        headers.update(self._settings.headers)
        if api_key:
            headers["x-api-key"] = api_key
        return headers

    async def stream(self, request: ChatRequest) -> AsyncIterator[ProviderEvent]:
        """Send ``request`` and yield the reply as events, ending with one :class:`Finish`.

        Raises:
            ProviderTimeout: The API did not answer, or stopped answering, in time.
            ProviderServerError: 5xx, 529 (overloaded), an ``error`` event mid-stream, or a
                stream that ended before ``message_stop``.
            ProviderRateLimited: 429, with ``retry_after`` from the ``retry-after`` header.
            ProviderAuthError: 401 or 403.
            ProviderBadRequest: 400, 404, 413 or 422, with the API's message.
        """
        key = api_key_for(request, self._settings)
        body = build_messages_body(request)
        async with self._client.stream(
            "POST", self._url, json=body, headers=self._headers(key)
        ) as response:
            if response.status_code >= 400:
                await response.aread()
                raise error_for_status(
                    response.status_code,
                    _error_message(response),
                    provider=self.name,
                    retry_after=parse_retry_after(response.headers.get("retry-after")),
                    secret=key,
                )
            reader = _StreamReader(self.name)
            async for sse in iter_sse(response):
                for event in reader.feed(json.loads(sse.data)):
                    yield event
                if reader.finished:
                    return
        raise ProviderServerError(f"{self.name} stream ended before message_stop")


def build_messages_body(request: ChatRequest) -> dict[str, Any]:
    """Translate a :class:`ChatRequest` into a Messages API request body (streaming).

    Args:
        request: The chat request.

    Returns:
        The JSON body for ``POST /v1/messages``.
    """
    system = [m.content for m in request.messages if m.role == "system" and m.content]
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": _history(request.messages),
        "stream": True,
    }
    if system:
        body["system"] = "\n\n".join(system)
    if request.temperature is not None:
        body["temperature"] = request.temperature
    # Recent Claude models refuse temperature and top_p together; temperature is the one
    # clients set most, so top_p goes only when it is the sole sampling setting.
    elif request.top_p is not None:
        body["top_p"] = request.top_p
    if request.tools:
        body["tools"] = [
            {
                "name": t.name,
                "description": t.description or "",
                "input_schema": t.parameters,
            }
            for t in request.tools
        ]
        body["tool_choice"] = _tool_choice(request)
    return body


def _tool_choice(request: ChatRequest) -> dict[str, Any]:
    # "none" keeps the tools listed: a history holding tool_use blocks needs their definitions.
    if request.tool_choice == "none":
        return {"type": "none"}
    choice: dict[str, Any]
    if request.forced_tool:
        choice = {"type": "tool", "name": request.forced_tool}
    elif request.tool_choice == "required":
        choice = {"type": "any"}
    else:
        choice = {"type": "auto"}
    if not request.parallel_tool_calls:
        choice["disable_parallel_tool_use"] = True
    return choice


def _history(messages: tuple[ChatMessage, ...]) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:
        # The API wants a user turn's tool_result blocks before any text in it.
        turn["content"].sort(key=lambda block: block["type"] != "tool_result")
    return turns


def _blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if message.role == "tool" and message.tool_call_id:
        return [
            {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": message.content or "",
            }
        ]
    # The API refuses empty text blocks.
    blocks: list[dict[str, Any]] = []
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    for call in message.tool_calls:
        blocks.append(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": _json_object(call)}
        )
    return blocks


def _json_object(call: ToolCall) -> dict[str, Any]:
    # tool_use.input must be an object: a stored call whose arguments are not a JSON object
    # is sent with an empty one, so the whole history is not refused for one bad call.
    try:
        value = json.loads(call.arguments or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _error_message(response: UpstreamResponse) -> str:
    try:
        payload = response.json()
    except ValueError:
        return response.text[:500]
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error.get("type") or "")
    return response.text[:500]


@dataclass
class _StreamReader:
    """Turns Messages API stream events into provider events, one event at a time."""

    provider: str
    finished: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    stop_reason: str | None = None
    # Content block index -> tool-call index; and the blocks that streamed any input.
    calls: dict[int, int] = field(default_factory=dict)
    calls_with_input: set[int] = field(default_factory=set)

    def feed(self, event: dict[str, Any]) -> list[ProviderEvent]:
        kind = event.get("type")
        if kind == "content_block_start":
            return self._block_start(event)
        if kind == "content_block_delta":
            return self._block_delta(event)
        if kind == "content_block_stop":
            return self._block_stop(event)
        if kind == "message_start":
            usage = event.get("message", {}).get("usage") or {}
            self.input_tokens = int(usage.get("input_tokens") or 0)
            self.output_tokens = int(usage.get("output_tokens") or 0)
        elif kind == "message_delta":
            self.stop_reason = (event.get("delta") or {}).get("stop_reason") or self.stop_reason
            usage = event.get("usage") or {}
            self.input_tokens = int(usage.get("input_tokens") or self.input_tokens)
            self.output_tokens = int(usage.get("output_tokens") or self.output_tokens)
        elif kind == "message_stop":
            return self._finish()
        elif kind == "error":
            error = event.get("error") or {}
            raise ProviderServerError(
                f"{self.provider} stream failed: {error.get('type', 'error')}: "
                f"{error.get('message', '')}"
            )
        return []

    def _block_start(self, event: dict[str, Any]) -> list[ProviderEvent]:
        block = event.get("content_block") or {}
        if block.get("type") == "tool_use":
            index = len(self.calls)
            self.calls[event["index"]] = index
            return [ToolCallDelta(index=index, id=block.get("id"), name=block.get("name"))]
        if block.get("type") == "text" and block.get("text"):
            return [TextDelta(block["text"])]
        return []

    def _block_delta(self, event: dict[str, Any]) -> list[ProviderEvent]:
        delta = event.get("delta") or {}
        if delta.get("type") == "text_delta" and delta.get("text"):
            return [TextDelta(delta["text"])]
        if delta.get("type") == "input_json_delta" and event.get("index") in self.calls:
            fragment = delta.get("partial_json") or ""
            if not fragment:
                return []
            self.calls_with_input.add(event["index"])
            return [ToolCallDelta(index=self.calls[event["index"]], arguments=fragment)]
        # Thinking, signatures and other block kinds have no place in the event stream.
        return []

    def _block_stop(self, event: dict[str, Any]) -> list[ProviderEvent]:
        block = event.get("index")
        if block in self.calls and block not in self.calls_with_input:
            # A call without parameters streams no input at all; its arguments are "{}".
            return [ToolCallDelta(index=self.calls[block], arguments="{}")]
        return []

    def _finish(self) -> list[ProviderEvent]:
        self.finished = True
        reason = _STOP_REASONS.get(self.stop_reason or "", "stop")
        return [Usage(self.input_tokens, self.output_tokens), Finish(reason)]
