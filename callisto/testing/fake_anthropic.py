"""A scripted fake of the Anthropic Messages API, served over real loopback HTTP.

It speaks the documented wire format of ``POST /v1/messages``, streaming (``message_start``,
``content_block_*``, ``message_delta``, ``message_stop``, ``ping``, ``error``) and not, and it
refuses requests the real API refuses in ways adapters tend to get wrong: no ``max_tokens``,
roles that do not alternate, a ``tool_result`` that answers no ``tool_use`` of the turn before,
or text placed before the tool results of a turn::

    with FakeAnthropic(api_key="sk-test") as fake:
        fake.reply_tool_calls(("get_weather", {"city": "Paris"}))
        ...  # point an AnthropicProvider at fake.base_url
        assert fake.last_body["max_tokens"] == 4096
"""

from __future__ import annotations

import asyncio
import itertools
import json
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

__all__ = ["FakeAnthropic", "RecordedRequest", "ScriptedCall", "ScriptedReply"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


class FakeAnthropic(ScriptedFake):
    """The fake Messages API; see :class:`callisto.testing._scripted.ScriptedFake`."""

    _ids = itertools.count(1)

    def build_app(self) -> Starlette:
        """Return the Starlette app serving ``POST /v1/messages``."""
        return Starlette(routes=[Route("/v1/messages", self._messages, methods=["POST"])])

    async def _messages(self, request: Request) -> Response:
        recorded = await self.record(request)
        if self.api_key is not None and recorded.headers.get("x-api-key") != self.api_key:
            return _error(401, "invalid x-api-key")
        problem = validate_request(recorded)
        if problem:
            return _error(400, problem)
        reply = self.next_reply()
        if reply.status >= 400:
            headers = {"retry-after": str(reply.retry_after)} if reply.retry_after else {}
            return _error(reply.status, reply.error_message, reply.error_type, headers)
        if not recorded.body.get("stream"):
            return JSONResponse(self._message(reply, recorded.body))
        return StreamingResponse(self._events(reply, recorded.body), media_type="text/event-stream")

    def _tool_id(self) -> str:
        return f"toolu_{next(self._ids):024d}"

    def _message(self, reply: ScriptedReply, body: dict[str, Any]) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": reply.text}] if reply.text else []
        for call in reply.tool_calls:
            content.append(
                {
                    "type": "tool_use",
                    "id": self._tool_id(),
                    "name": call.name,
                    "input": call.arguments,
                }
            )
        return {
            "id": f"msg_{next(self._ids):024d}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": content,
            "stop_reason": _stop_reason(reply),
            "stop_sequence": None,
            "usage": {
                "input_tokens": reply.prompt_tokens,
                "output_tokens": reply.completion_tokens,
            },
        }

    async def _events(self, reply: ScriptedReply, body: dict[str, Any]) -> AsyncIterator[bytes]:
        if reply.delay:
            await asyncio.sleep(reply.delay)
        message = self._message(ScriptedReply(), body) | {"stop_reason": None}
        message["usage"] = {"input_tokens": reply.prompt_tokens, "output_tokens": 1}
        yield sse({"type": "message_start", "message": message}, "message_start")
        yield sse({"type": "ping"}, "ping")
        index = 0
        if reply.text:
            for event in _text_block(index, reply.text, reply.chunk_size):
                yield event
            index += 1
        for call in reply.tool_calls:
            for event in _tool_block(index, self._tool_id(), call, reply.chunk_size):
                yield event
            index += 1
        if reply.stream_error:
            error = {
                "type": reply.error_type or "overloaded_error",
                "message": reply.error_message or "Overloaded",
            }
            yield sse({"type": "error", "error": error}, "error")
            return
        delta = {"stop_reason": _stop_reason(reply), "stop_sequence": None}
        usage = {"output_tokens": reply.completion_tokens}
        yield sse({"type": "message_delta", "delta": delta, "usage": usage}, "message_delta")
        yield sse({"type": "message_stop"}, "message_stop")


def _block(index: int, block: dict[str, Any], deltas: list[dict[str, Any]]) -> list[bytes]:
    def event(kind: str, **fields: Any) -> bytes:
        return sse({"type": kind, "index": index, **fields}, kind)

    return [
        event("content_block_start", content_block=block),
        *(event("content_block_delta", delta=delta) for delta in deltas),
        event("content_block_stop"),
    ]


def _text_block(index: int, text: str, size: int) -> list[bytes]:
    deltas = [{"type": "text_delta", "text": piece} for piece in split(text, size)]
    return _block(index, {"type": "text", "text": ""}, deltas)


def _tool_block(index: int, tool_id: str, call: ScriptedCall, size: int) -> list[bytes]:
    block = {"type": "tool_use", "id": tool_id, "name": call.name, "input": {}}
    # The real API streams nothing for a call without arguments; mimic that.
    arguments = json.dumps(call.arguments) if call.arguments else ""
    deltas = [{"type": "input_json_delta", "partial_json": p} for p in split(arguments, size)]
    return _block(index, block, deltas)


def _stop_reason(reply: ScriptedReply) -> str:
    if reply.finish:
        return reply.finish
    return "tool_use" if reply.tool_calls else "end_turn"


def _error(
    status: int,
    message: str,
    error_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    kind = error_type or _ERROR_TYPES.get(status, "api_error")
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


def validate_request(request: RecordedRequest) -> str | None:
    """Check a request the way the real API does, for the rules adapters tend to break.

    Args:
        request: The recorded request.

    Returns:
        The real API's kind of complaint, or ``None`` when the request is acceptable.
    """
    body = request.body
    if "anthropic-version" not in request.headers:
        return "anthropic-version: header is required"
    if not isinstance(body.get("max_tokens"), int):
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    tool_ids: set[str] = set()
    for number, message in enumerate(messages):
        if number and message.get("role") == messages[number - 1].get("role"):
            return f"messages.{number}: roles must alternate between user and assistant"
        problem = _check_blocks(number, message, tool_ids)
        if problem:
            return problem
        tool_ids = {b["id"] for b in _content(message) if b.get("type") == "tool_use" and "id" in b}
    return None


def _content(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or [] if isinstance(b, dict)]


def _check_blocks(number: int, message: dict[str, Any], tool_ids: set[str]) -> str | None:
    blocks = _content(message)
    results = [b for b in blocks if b.get("type") == "tool_result"]
    for block in blocks:
        if block.get("type") == "text" and not block.get("text"):
            return f"messages.{number}: text content blocks must be non-empty"
        if block.get("type") == "tool_use" and not isinstance(block.get("input"), dict):
            return f"messages.{number}: tool_use.input: Input should be a valid dictionary"
    if results and blocks[: len(results)] != results:
        return f"messages.{number}: tool_result blocks must come first in the content"
    answered = {r.get("tool_use_id") for r in results}
    if tool_ids - answered:
        return (
            f"messages.{number}: tool_use ids were found without tool_result blocks immediately"
            f" after: {sorted(tool_ids - answered)[0]}"
        )
    unknown = [r.get("tool_use_id") for r in results if r.get("tool_use_id") not in tool_ids]
    if unknown:
        return (
            f"messages.{number}: unexpected tool_use_id found in tool_result blocks: {unknown[0]}."
            " Each tool_result block must have a corresponding tool_use block in the previous"
            " message."
        )
    return None
