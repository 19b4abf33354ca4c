"""A scripted fake of the Gemini API (``generateContent``), served over real loopback HTTP.

It answers ``POST /v1beta/models/{model}:streamGenerateContent?alt=sse`` with a stream of
``GenerateContentResponse`` chunks (and ``:generateContent`` with one), Google error bodies
``{"error": {"code", "message", "status"}}``, and it refuses what the real API refuses where
adapters tend to slip: JSON Schema keywords outside Gemini's subset, roles other than
``user``/``model``, and function responses that do not match the calls of the turn before. The
first function call of a reply carries a ``thoughtSignature``, as Gemini 3 models send::

    with FakeGemini(api_key="g-test") as fake:
        fake.reply_text("Hello")
        ...  # point a GeminiProvider at fake.base_url
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from callisto.testing._scripted import (
    RecordedRequest,
    ScriptedCall,
    ScriptedFake,
    ScriptedReply,
    split,
    sse,
)

__all__ = ["FakeGemini", "RecordedRequest", "ScriptedCall", "ScriptedReply"]

_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
# The fields of Gemini's Schema object; anything else is refused as an unknown name.
_SCHEMA_KEYS = frozenset(
    {
        *("type", "format", "title", "description", "nullable", "enum", "properties"),
        *("required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern"),
        *("example", "anyOf", "propertyOrdering", "default", "items", "minimum", "maximum"),
        *("maxItems", "minItems"),
    }
)
_PART_KEYS = frozenset({"text", "functionCall", "functionResponse", "inlineData", "fileData"})


class FakeGemini(ScriptedFake):
    """The fake Gemini API; see :class:`callisto.testing._scripted.ScriptedFake`."""

    _signatures = itertools.count(1)

    @property
    def base_url(self) -> str:
        """The URL to configure as the provider's ``base_url`` (with ``/v1beta``)."""
        return self.url + "/v1beta"

    def build_app(self) -> Starlette:
        """Return the Starlette app serving ``POST /v1beta/models/{model}:{method}``."""
        return Starlette(
            routes=[Route("/v1beta/models/{target}", self._generate, methods=["POST"])]
        )

    async def _generate(self, request: Request) -> Response:
        recorded = await self.record(request)
        key = recorded.headers.get("x-goog-api-key") or recorded.query.get("key")
        if self.api_key is not None and key != self.api_key:
            return _error(400, "API key not valid. Please pass a valid API key.", invalid_key=True)
        _, _, method = request.path_params["target"].partition(":")
        if method not in ("generateContent", "streamGenerateContent"):
            return _error(404, f"Method {method!r} not found.")
        problem = validate_request(recorded.body)
        if problem:
            return _error(400, problem)
        reply = self.next_reply()
        if reply.status >= 400:
            return _error(reply.status, reply.error_message, retry_after=reply.retry_after)
        chunks = self._chunks(reply)
        if method == "generateContent":
            return JSONResponse(_merge(chunks))
        if recorded.query.get("alt") != "sse":
            return JSONResponse(chunks)
        return StreamingResponse(self._events(reply, chunks), media_type="text/event-stream")

    def _chunks(self, reply: ScriptedReply) -> list[dict[str, Any]]:
        usage = {
            "promptTokenCount": reply.prompt_tokens,
            "candidatesTokenCount": reply.completion_tokens,
            "totalTokenCount": reply.prompt_tokens + reply.completion_tokens,
        }
        parts: list[list[dict[str, Any]]] = [
            [{"text": p}] for p in split(reply.text, reply.chunk_size)
        ]
        calls: list[dict[str, Any]] = [
            {"functionCall": {"name": c.name, "args": c.arguments}} for c in reply.tool_calls
        ]
        if calls:
            calls[0]["thoughtSignature"] = f"sig-{next(self._signatures)}"
            parts.append(calls)  # Gemini sends function calls whole, together
        chunks = [_chunk(p, usage) for p in parts or [[{"text": ""}]]]
        chunks[-1]["candidates"][0]["finishReason"] = reply.finish or "STOP"
        return chunks

    async def _events(
        self, reply: ScriptedReply, chunks: list[dict[str, Any]]
    ) -> AsyncIterator[bytes]:
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.stream_error:
            del chunks[-1]["candidates"][0]["finishReason"]
        for chunk in chunks:
            yield sse(chunk)
        if reply.stream_error:
            status = reply.error_type or "INTERNAL"
            message = reply.error_message or "An internal error has occurred."
            yield sse({"error": {"code": 500, "message": message, "status": status}})


def _chunk(parts: list[dict[str, Any]], usage: dict[str, int]) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "index": 0}],
        "usageMetadata": usage,
        "modelVersion": "fake-gemini",
    }


def _merge(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    merged = _chunk(parts, chunks[-1]["usageMetadata"])
    merged["candidates"][0]["finishReason"] = chunks[-1]["candidates"][0].get("finishReason")
    return merged


def _error(
    status: int, message: str, *, retry_after: float | None = None, invalid_key: bool = False
) -> JSONResponse:
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": _STATUSES.get(status, "UNKNOWN"),
    }
    details: list[dict[str, Any]] = []
    if invalid_key:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
            }
        )
    if retry_after is not None:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_after:g}s"}
        )
    if details:
        error["details"] = details
    return JSONResponse({"error": error}, status_code=status)


def validate_request(body: dict[str, Any]) -> str | None:
    """Check a request body the way the real API does, for the rules adapters tend to break.

    Args:
        body: The JSON request body.

    Returns:
        The real API's kind of complaint, or ``None`` when the body is acceptable.
    """
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return "* GenerateContentRequest.contents: contents is not specified"
    calls = 0
    for number, content in enumerate(contents):
        problem = _check_content(number, content, calls)
        if problem:
            return problem
        calls = sum(1 for p in content.get("parts", []) if "functionCall" in p)
    for tool in body.get("tools", []):
        for declaration in tool.get("functionDeclarations", []):
            problem = _check_schema(declaration.get("parameters", {}), "parameters")
            if problem:
                return problem
    return None


def _check_content(number: int, content: dict[str, Any], calls_before: int) -> str | None:
    if content.get("role") not in ("user", "model"):
        return f"Please use a valid role: user, model. (contents[{number}])"
    parts = content.get("parts") or []
    if not parts:
        return (
            f"* GenerateContentRequest.contents[{number}].parts: contents.parts must not be empty."
        )
    for part in parts:
        unknown = set(part) - _PART_KEYS - {"thoughtSignature", "thought"}
        if unknown or not set(part) & _PART_KEYS:
            return f'Invalid JSON payload received. Unknown name "{sorted(unknown or part)[0]}"'
        if "functionResponse" in part and not part["functionResponse"].get("name"):
            return f"* contents[{number}].parts: function_response.name must not be empty"
    responses = sum(1 for p in parts if "functionResponse" in p)
    if (responses or calls_before) and responses != calls_before:
        return (
            "Please ensure that the number of function response parts is equal to the number of"
            " function call parts of the function call turn."
        )
    return None


def _check_schema(schema: Any, where: str) -> str | None:
    if not isinstance(schema, dict):
        return None
    for key, value in schema.items():
        if key not in _SCHEMA_KEYS:
            return (
                f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}':"
                " Cannot find field."
            )
        children = value.values() if key == "properties" else value if key == "anyOf" else [value]
        if key in ("properties", "anyOf", "items"):
            for child in children:
                problem = _check_schema(child, f"{where}.{key}")
                if problem:
                    return problem
    return None
