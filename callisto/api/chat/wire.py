"""The response objects of Chat Completions: ``chat.completion`` and its streamed chunks."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from callisto.ids import new_id
from callisto.providers.base import ToolCall, Usage


def usage_body(usage: Usage | None) -> dict[str, int] | None:
    """Return ``usage`` in the wire shape, or ``None`` when no provider reported it."""
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


def tool_calls_body(calls: list[ToolCall]) -> list[dict[str, Any]]:
    """Return tool calls in the wire shape of a message."""
    return [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in calls
    ]


@dataclass(slots=True)
class Completion:
    """The identity shared by a completion and all its chunks."""

    model: str
    id: str = field(default_factory=lambda: new_id("chatcmpl-"))
    created: int = field(default_factory=lambda: int(time.time()))

    def body(
        self,
        text: str,
        calls: list[ToolCall],
        finish_reason: str,
        usage: Usage | None,
        reasoning: str = "",
    ) -> dict[str, Any]:
        """Return the whole ``chat.completion`` object (``reasoning_content`` when the model
        reasoned, as vLLM and DeepSeek answer)."""
        message: dict[str, Any] = {
            "role": "assistant",
            "content": text or None,
            "refusal": None,
            "annotations": [],
        }
        if reasoning:
            message["reasoning_content"] = reasoning
        if calls:
            message["tool_calls"] = tool_calls_body(calls)
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}
            ],
            "usage": usage_body(usage),
        }

    def chunk(
        self,
        delta: dict[str, Any] | None,
        finish_reason: str | None = None,
        *,
        usage: Usage | None = None,
        with_usage: bool = False,
    ) -> bytes:
        """Return one SSE ``data:`` frame of a ``chat.completion.chunk``.

        Args:
            delta: The choice's delta; ``None`` gives the usage chunk, whose ``choices`` is empty.
            finish_reason: Set on the last chunk of the choice.
            usage: The totals, on the usage chunk.
            with_usage: Whether the stream reports usage (every chunk then has a ``usage`` key,
                ``null`` but on the last).
        """
        body: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": []
            if delta is None
            else [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
        }
        if with_usage:
            body["usage"] = usage_body(usage) if delta is None else None
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode()


def error_chunk(message: str, error_type: str, code: str | None) -> bytes:
    """Return the frame of an error that ends a stream (the SDK raises it as an APIError)."""
    body = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode()


DONE = b"data: [DONE]\n\n"
