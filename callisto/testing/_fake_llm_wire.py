"""OpenAI Chat Completions wire objects for the fake LLM: chunks, completions, errors, usage.

Shapes follow what api.openai.com sends: ``chat.completion.chunk`` objects whose first chunk
carries the role, tool call fragments whose first piece carries ``id``, ``type`` and the
function name, a last chunk with an empty delta and the finish reason, and, when the request
asked for ``stream_options.include_usage``, a ``usage: null`` on every chunk and one extra chunk
with no choices and the usage.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any, Literal

ToolCallStyle = Literal["openai", "repeat_ids", "whole", "no_index"]
"""How tool calls are streamed: ``openai`` as OpenAI does (``id`` and name on the first
fragment); ``repeat_ids`` with ``id``/name/type on every fragment; ``whole`` each call in one
fragment; ``no_index`` like ``openai`` without the ``index`` key. The last three imitate
OpenAI-compatible servers seen in the wild."""


@dataclass(frozen=True, slots=True)
class FakeToolCall:
    """A tool call the fake model makes.

    Attributes:
        id: The call id.
        name: The function name.
        arguments: The arguments JSON text, sent as is (it may be invalid on purpose).
    """

    id: str
    name: str
    arguments: str


def split_tokens(text: str) -> list[str]:
    """Split ``text`` into word tokens that keep their leading whitespace, as tokenizers do.

    ``"".join(split_tokens(t)) == t`` for any ``t``.
    """
    pieces = re.findall(r"\s*\S+", text)
    tail = text[len("".join(pieces)) :]
    if tail:
        if pieces:
            pieces[-1] += tail
        else:
            pieces = [tail]
    return pieces


def split_fixed(text: str, size: int) -> list[str]:
    """Split ``text`` into pieces of ``size`` characters (at least one piece, maybe empty)."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def count_prompt_tokens(body: dict[str, Any]) -> int:
    """Count the whitespace-separated words of every message's text, as the fake's token count."""
    total = 0
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        if isinstance(content, str):
            total += len(content.split())
    return total


def usage_object(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    """Return a ``usage`` object."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def error_body(message: str, status: int) -> dict[str, Any]:
    """Return an OpenAI-shaped error body for ``status``."""
    kind = {
        401: "invalid_request_error",
        403: "invalid_request_error",
        429: "rate_limit_exceeded",
    }.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


class ChunkWriter:
    """Builds the ``data:`` lines of one streamed completion.

    Args:
        model: The model name echoed back.
        include_usage: Whether the request asked for usage (``stream_options.include_usage``).
    """

    def __init__(self, model: str, *, include_usage: bool) -> None:
        self.completion_id = f"chatcmpl-fake{time.time_ns():x}"
        self.created = int(time.time())
        self.model = model
        self.include_usage = include_usage

    def _chunk(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> str:
        chunk: dict[str, Any] = {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_fake",
            "choices": choices,
        }
        if self.include_usage:
            chunk["usage"] = usage
        return "data: " + json.dumps(chunk) + "\n\n"

    def delta(self, delta: dict[str, Any], finish_reason: str | None = None) -> str:
        """Return one chunk line with ``delta`` and ``finish_reason``."""
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return self._chunk([choice])

    def role(self) -> str:
        """Return the first chunk, which carries the assistant role."""
        return self.delta({"role": "assistant", "content": "", "refusal": None})

    def text(self, piece: str) -> str:
        """Return a chunk with a piece of text."""
        return self.delta({"content": piece})

    def tool_call_fragments(
        self, index: int, call: FakeToolCall, arg_chunk: int, style: ToolCallStyle
    ) -> list[str]:
        """Return the chunks of one tool call, in the given ``style``."""
        pieces = [call.arguments] if style == "whole" else split_fixed(call.arguments, arg_chunk)
        head = {"id": call.id, "type": "function"}
        lines = []
        for n, piece in enumerate(pieces):
            entry: dict[str, Any] = {"index": index}
            function: dict[str, Any] = {"arguments": piece}
            if n == 0 or style == "repeat_ids":
                entry.update(head)
                function = {"name": call.name, "arguments": piece}
            entry["function"] = function
            if style == "no_index":
                del entry["index"]
            lines.append(self.delta({"tool_calls": [entry]}))
        return lines

    def finish(self, reason: str) -> str:
        """Return the chunk with an empty delta and the finish reason."""
        return self.delta({}, reason)

    def usage(self, prompt_tokens: int, completion_tokens: int) -> str:
        """Return the usage chunk (no choices), sent only when the request asked for it."""
        return self._chunk([], usage_object(prompt_tokens, completion_tokens))


DONE = "data: [DONE]\n\n"


def completion_object(
    model: str,
    text: str | None,
    calls: list[FakeToolCall],
    finish_reason: str,
    usage: dict[str, Any],
) -> dict[str, Any]:
    """Return a whole (non-streamed) ``chat.completion`` object."""
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in calls
        ]
    return {
        "id": f"chatcmpl-fake{time.time_ns():x}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
        "usage": usage,
    }
