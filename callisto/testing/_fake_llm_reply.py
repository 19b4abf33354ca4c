"""The scripted replies of the fake LLM (:mod:`callisto.testing.fake_llm`): what it answers next."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from callisto.testing._fake_llm_wire import FakeToolCall, ToolCallStyle, error_body

__all__ = ["CallSpec", "Reply", "ReplyKind"]

ReplyKind = Literal["text", "tool_calls", "error", "cut", "hang"]
CallSpec = tuple[str, Mapping[str, Any] | str] | tuple[str, Mapping[str, Any] | str, str]


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted answer of the fake LLM; build it with the class methods.

    Attributes:
        kind: ``text``, ``tool_calls``, ``error``, ``cut`` (the stream stops early) or ``hang``.
        content: The text streamed (for ``tool_calls``, any text sent before the calls).
        calls: The tool calls made; an empty id is replaced by a fresh ``call_`` id when served.
        status: The HTTP status of an ``error``.
        body: The body of an ``error``: a dict sent as JSON, or a string sent as is.
        headers: Extra response headers (e.g. ``retry-after``).
        ttft: Seconds before the first token (and, not streamed, before the answer).
        token_delay: Seconds between tokens.
        finish_reason: The finish reason sent.
        usage: ``(prompt_tokens, completion_tokens)`` to report instead of the counted ones.
        cut_after: For ``cut``: how many tokens are sent before the stream stops.
        abort: For ``cut``: drop the connection mid-body (``True``) or end the body cleanly,
            without a finish reason or ``[DONE]`` (``False``).
        hang_seconds: For ``hang``: how long to stall (it also ends when the server stops).
        style: How tool calls are streamed (see :data:`ToolCallStyle`).
        arg_chunk: Characters per streamed fragment of a call's arguments.
        reasoning: Reasoning streamed before the content, word by word, in the delta field
            ``reasoning_field`` (as servers with a reasoning parser do; streamed replies only).
        reasoning_field: ``reasoning_content`` (vLLM, SGLang, DeepSeek) or ``reasoning``.
    """

    kind: ReplyKind
    content: str | None = None
    calls: tuple[FakeToolCall, ...] = ()
    status: int = 200
    body: dict[str, Any] | str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    ttft: float = 0.0
    token_delay: float = 0.0
    finish_reason: str = "stop"
    usage: tuple[int, int] | None = None
    cut_after: int = 0
    abort: bool = True
    hang_seconds: float = 0.0
    style: ToolCallStyle = "openai"
    arg_chunk: int = 8
    reasoning: str | None = None
    reasoning_field: str = "reasoning_content"

    @classmethod
    def text(
        cls,
        text: str,
        *,
        ttft: float = 0.0,
        token_delay: float = 0.0,
        finish_reason: str = "stop",
        usage: tuple[int, int] | None = None,
        reasoning: str | None = None,
    ) -> Reply:
        """Answer with ``text``, streamed word by word.

        Args:
            text: The answer.
            ttft: Seconds before the first token.
            token_delay: Seconds between tokens.
            finish_reason: E.g. ``length`` to imitate a reply cut by ``max_tokens``.
            usage: Token counts to report instead of the counted ones.
            reasoning: Reasoning streamed first, in ``reasoning_content`` deltas.
        """
        return cls(
            "text",
            text,
            ttft=ttft,
            token_delay=token_delay,
            finish_reason=finish_reason,
            usage=usage,
            reasoning=reasoning,
        )

    @classmethod
    def tokens(cls, count: int, *, ttft: float = 0.0, token_delay: float = 0.0) -> Reply:
        """Answer with ``count`` tokens of filler text (``"w1 w2 w3 ..."``), for benchmarks."""
        words = " ".join(f"w{i}" for i in range(1, count + 1))
        return cls.text(words, ttft=ttft, token_delay=token_delay)

    @classmethod
    def tool_calls(
        cls,
        *calls: CallSpec,
        text: str | None = None,
        style: ToolCallStyle = "openai",
        arg_chunk: int = 8,
        ttft: float = 0.0,
        token_delay: float = 0.0,
        finish_reason: str = "tool_calls",
        reasoning: str | None = None,
    ) -> Reply:
        """Call tools: each call is ``(name, arguments)`` or ``(name, arguments, call_id)``.

        Args:
            calls: The calls; arguments are a mapping (sent as JSON) or a string sent as is.
            text: Text streamed before the calls, if any.
            style: How the calls are streamed (see :data:`ToolCallStyle`).
            arg_chunk: Characters per streamed fragment of arguments.
            ttft: Seconds before the first token.
            token_delay: Seconds between tokens (fragments count as tokens).
            finish_reason: The finish reason sent (some servers say ``stop``).
            reasoning: Reasoning streamed first, in ``reasoning_content`` deltas.
        """
        built = []
        for spec in calls:
            name, arguments = spec[0], spec[1]
            call_id = spec[2] if len(spec) == 3 else ""
            raw = arguments if isinstance(arguments, str) else json.dumps(dict(arguments))
            built.append(FakeToolCall(id=call_id, name=name, arguments=raw))
        return cls(
            "tool_calls",
            text,
            tuple(built),
            style=style,
            arg_chunk=arg_chunk,
            ttft=ttft,
            token_delay=token_delay,
            finish_reason=finish_reason,
            reasoning=reasoning,
        )

    @classmethod
    def error(
        cls,
        status: int = 500,
        message: str | None = None,
        *,
        body: dict[str, Any] | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Answer with an HTTP error.

        Args:
            status: The HTTP status, e.g. 500, 429, 401.
            message: The message of an OpenAI-shaped error body.
            body: The whole body instead (a dict sent as JSON, a string as is).
            headers: Response headers, e.g. ``{"retry-after": "2"}``.
        """
        if body is None:
            body = error_body(message or f"fake error {status}", status)
        return cls("error", status=status, body=body, headers=dict(headers or {}))

    @classmethod
    def cut(
        cls, text: str = "This answer stops in the", *, after: int = 2, abort: bool = True
    ) -> Reply:
        """Stream ``after`` tokens of ``text``, then stop without a finish reason or ``[DONE]``.

        Args:
            text: The text whose start is sent.
            after: Tokens sent before the cut.
            abort: Drop the connection (``True``) or end the response body cleanly (``False``).
        """
        return cls("cut", text, cut_after=after, abort=abort)

    @classmethod
    def hang(cls, seconds: float = 30.0, *, after_text: str | None = None) -> Reply:
        """Stall: send nothing (or ``after_text`` first, then nothing) for ``seconds``.

        Args:
            seconds: How long to stall; the stall also ends when the server stops.
            after_text: Text streamed before the stall, to test a stream that stops mid-way.
        """
        return cls("hang", after_text, hang_seconds=seconds)
