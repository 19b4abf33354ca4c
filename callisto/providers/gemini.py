"""The Gemini API (``generateContent``), adapted to Callisto's provider events.

Requests go to ``POST {base_url}/models/{model}:streamGenerateContent?alt=sse`` with the key in
``x-goog-api-key``. Each streamed chunk is a whole ``GenerateContentResponse``; Gemini sends a
function call whole, so each becomes one complete :class:`ToolCallDelta` with a fresh ``call_``
id.

Gemini 3 models refuse a history whose function calls lack the ``thoughtSignature`` they were
sent with. The provider protocol has no field for it, so this adapter remembers the signatures
(and Gemini's own call ids) of the calls it has seen, by our call id, and sends them back; for
calls it never saw (another process, another model) it sends the placeholder signature that
Google documents for histories from elsewhere.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from callisto.config import ProviderSettings
from callisto.errors import ProviderAuthError, ProviderError, ProviderServerError
from callisto.ids import new_id
from callisto.providers._client import UpstreamClient, UpstreamResponse
from callisto.providers._gemini_schema import to_gemini_schema
from callisto.providers._http import (
    api_key_for,
    error_for_status,
    iter_sse,
    parse_retry_after,
    redact,
)
from callisto.providers.base import (
    ChatMessage,
    ChatRequest,
    Finish,
    FinishReason,
    ProviderEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
)

__all__ = ["GeminiProvider", "build_generate_body"]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"
PLACEHOLDER_SIGNATURE = "skip_thought_signature_validator"
_REMEMBERED_CALLS = 4096

_FINISH_REASONS: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
}
_TOOL_MODES = {"auto": "AUTO", "required": "ANY", "none": "NONE"}

# Our call id -> the functionCall fields Gemini wants echoed ("id", "thoughtSignature").
CallMemory = OrderedDict[str, dict[str, str]]


class GeminiProvider:
    """A provider speaking the Gemini API.

    Attributes:
        name: The provider name models are routed by (``NAME/model``).
    """

    def __init__(self, name: str, settings: ProviderSettings) -> None:
        """Create the adapter; connections open lazily.

        Args:
            name: The provider name, used in error messages.
            settings: Base URL (default the ``v1beta`` endpoint), key, timeout, headers.
        """
        self.name = name
        self._settings = settings
        self._base = (settings.base_url or DEFAULT_BASE_URL).rstrip("/")
        self._client = UpstreamClient(name, settings)
        self._calls: CallMemory = OrderedDict()

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.aclose()

    def _headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if api_key:
            headers["x-goog-api-key"] = api_key
        return headers

    async def stream(self, request: ChatRequest) -> AsyncIterator[ProviderEvent]:
        """Send ``request`` and yield the reply as events, ending with one :class:`Finish`.

        Raises:
            ProviderTimeout: The API did not answer, or stopped answering, in time.
            ProviderServerError: 5xx, an error chunk mid-stream, or a stream that ended
                without a finish reason.
            ProviderRateLimited: 429, with ``retry_after`` from the error's ``RetryInfo``.
            ProviderAuthError: 401, 403, or 400 for an invalid API key.
            ProviderBadRequest: Other 4xx, with the API's message.
        """
        key = api_key_for(request, self._settings)
        model = request.model.removeprefix("models/")
        url = f"{self._base}/models/{model}:streamGenerateContent"
        body = build_generate_body(request, self._calls)
        async with self._client.stream(
            "POST", url, params={"alt": "sse"}, json=body, headers=self._headers(key)
        ) as response:
            if response.status_code >= 400:
                await response.aread()
                raise self._error(response.status_code, _json(response.text), response, key)
            reader = _StreamReader(self._calls, request.parallel_tool_calls)
            async for sse in iter_sse(response):
                chunk = _json(sse.data)
                if "error" in chunk:
                    raise self._error(None, chunk, response, key)
                for event in reader.feed(chunk):
                    yield event
        if reader.reason is None:
            raise ProviderServerError(f"{self.name} stream ended without a finish reason")
        for event in reader.finish():
            yield event

    def _error(
        self,
        status: int | None,
        payload: dict[str, Any],
        response: UpstreamResponse,
        key: str | None,
    ) -> ProviderError:
        error = payload.get("error") if isinstance(payload.get("error"), dict) else {}
        assert isinstance(error, dict)
        code = status or int(error.get("code") or 500)
        message = str(error.get("message") or "")
        details = [d for d in error.get("details") or [] if isinstance(d, dict)]
        if any(d.get("reason") == "API_KEY_INVALID" for d in details):
            # Google answers a bad key with 400 INVALID_ARGUMENT; it is an auth failure.
            text = redact(f"{self.name} refused the API key: {message}", key)
            return ProviderAuthError(text, status=code)
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        for detail in details:
            delay = str(detail.get("retryDelay") or "")
            if delay.endswith("s"):
                retry_after = parse_retry_after(delay[:-1])
        return error_for_status(
            code, message, provider=self.name, retry_after=retry_after, secret=key
        )


def build_generate_body(request: ChatRequest, calls: CallMemory | None = None) -> dict[str, Any]:
    """Translate a :class:`ChatRequest` into a ``generateContent`` request body.

    Args:
        request: The chat request.
        calls: Gemini's ids and thought signatures of calls seen before, by our call id.

    Returns:
        The JSON body.
    """
    body: dict[str, Any] = {"contents": _contents(request.messages, calls or OrderedDict())}
    system = [m.content for m in request.messages if m.role == "system" and m.content]
    if system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    if request.tools:
        declarations = []
        for tool in request.tools:
            declaration: dict[str, Any] = {"name": tool.name, "description": tool.description or ""}
            parameters = to_gemini_schema(tool.parameters)
            # Gemini refuses an OBJECT without properties; a function without any omits them.
            if parameters.get("properties"):
                declaration["parameters"] = parameters
            declarations.append(declaration)
        body["tools"] = [{"functionDeclarations": declarations}]
        config: dict[str, Any] = {"mode": _TOOL_MODES[request.tool_choice]}
        if request.forced_tool and request.tool_choice != "none":
            config = {"mode": "ANY", "allowedFunctionNames": [request.forced_tool]}
        body["toolConfig"] = {"functionCallingConfig": config}
    generation = _generation_config(request)
    if generation:
        body["generationConfig"] = generation
    return body


def _generation_config(request: ChatRequest) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.max_tokens is not None:
        config["maxOutputTokens"] = request.max_tokens
    kind = (request.response_format or {}).get("type")
    if kind in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
    if kind == "json_schema":
        schema = (request.response_format or {}).get("json_schema", {}).get("schema")
        if isinstance(schema, dict):
            config["responseSchema"] = to_gemini_schema(schema)
    return config


def _contents(messages: tuple[ChatMessage, ...], calls: CallMemory) -> list[dict[str, Any]]:
    names = {c.id: c.name for m in messages for c in m.tool_calls}
    contents: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "assistant":
            role, parts = "model", _model_parts(message, calls)
        elif message.role == "tool":
            role, parts = "user", [_function_response(message, names, calls)]
        else:
            role, parts = "user", [{"text": message.content}] if message.content else []
        if not parts:
            continue
        # Gemini wants user and model turns to alternate; neighbours of one role are merged.
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return contents


def _model_parts(message: ChatMessage, calls: CallMemory) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"text": message.content}] if message.content else []
    for position, call in enumerate(message.tool_calls):
        try:
            args = json.loads(call.arguments or "{}")
        except ValueError:
            args = {}
        part: dict[str, Any] = {
            "functionCall": {"name": call.name, "args": args if isinstance(args, dict) else {}}
        }
        # Stored with the call (any process), else remembered by this one.
        seen = call.provider_data or calls.get(call.id, {})
        if "id" in seen:
            part["functionCall"]["id"] = seen["id"]
        if "thoughtSignature" in seen:
            part["thoughtSignature"] = seen["thoughtSignature"]
        elif position == 0 and call.provider_data is None and call.id not in calls:
            # Only the first call of a parallel set carries a signature.
            part["thoughtSignature"] = PLACEHOLDER_SIGNATURE
        parts.append(part)
    return parts


def _function_response(
    message: ChatMessage, names: dict[str, str], calls: CallMemory
) -> dict[str, Any]:
    output = message.content or ""
    try:
        parsed = json.loads(output)
    except ValueError:
        parsed = None
    # Gemini wants the function's name, which a tool message may not carry: take the call's.
    name = names.get(message.tool_call_id or "") or message.name or ""
    response: dict[str, Any] = {
        "name": name,
        "response": {"result": parsed if isinstance(parsed, dict) else output},
    }
    gemini_id = calls.get(message.tool_call_id or "", {}).get("id")
    if gemini_id:
        response["id"] = gemini_id
    return {"functionResponse": response}


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {"error": {"message": text[:500]}}
    # Without alt=sse Google wraps answers in a list; error bodies sometimes are too.
    if isinstance(value, list) and value and isinstance(value[0], dict):
        value = value[0]
    return value if isinstance(value, dict) else {}


@dataclass
class _StreamReader:
    """Turns streamed ``GenerateContentResponse`` chunks into provider events."""

    calls: CallMemory
    parallel: bool
    count: int = 0
    reason: str | None = None
    usage: Usage | None = None
    events: list[ProviderEvent] = field(default_factory=list)

    def feed(self, chunk: dict[str, Any]) -> list[ProviderEvent]:
        self.events = []
        metadata = chunk.get("usageMetadata")
        if isinstance(metadata, dict):
            # Thinking tokens are billed as output, as OpenAI counts reasoning tokens.
            self.usage = Usage(
                int(metadata.get("promptTokenCount") or 0),
                int(metadata.get("candidatesTokenCount") or 0)
                + int(metadata.get("thoughtsTokenCount") or 0),
            )
        block = (chunk.get("promptFeedback") or {}).get("blockReason")
        if block:
            self.reason = "SAFETY"
        candidates = chunk.get("candidates") or []
        candidate = candidates[0] if candidates else {}
        for part in (candidate.get("content") or {}).get("parts") or []:
            self._part(part)
        if candidate.get("finishReason"):
            self.reason = candidate["finishReason"]
        return self.events

    def _part(self, part: dict[str, Any]) -> None:
        if "functionCall" in part:
            if self.count and not self.parallel:
                return  # the request asked for one call at most; Gemini has no such switch
            call = part["functionCall"]
            call_id = new_id("call_")
            seen = self._remember(call_id, call.get("id"), part.get("thoughtSignature"))
            self.events.append(
                ToolCallDelta(
                    index=self.count,
                    id=call_id,
                    name=call.get("name"),
                    arguments=json.dumps(call.get("args") or {}),
                    provider_data=seen or None,
                )
            )
            self.count += 1
        elif part.get("text") and not part.get("thought"):
            self.events.append(TextDelta(part["text"]))

    def _remember(self, call_id: str, gemini_id: Any, signature: Any) -> dict[str, str]:
        seen = {}
        if isinstance(gemini_id, str) and gemini_id:
            seen["id"] = gemini_id
        if isinstance(signature, str) and signature:
            seen["thoughtSignature"] = signature
        self.calls[call_id] = seen
        while len(self.calls) > _REMEMBERED_CALLS:
            self.calls.popitem(last=False)
        return seen

    def finish(self) -> list[ProviderEvent]:
        reason = _FINISH_REASONS.get(self.reason or "", "stop")
        if self.count and reason == "stop":
            reason = "tool_calls"
        events: list[ProviderEvent] = [self.usage] if self.usage else []
        return [*events, Finish(reason)]
