"""HTTP plumbing shared by the native adapters: SSE reading and status-to-error translation.

The client that carries the calls is :mod:`callisto.providers._client`.

The translation is one table (:data:`STATUS_ERRORS`) so that every adapter maps a status the
same way; an adapter only says how to find the message in its API's error body.
"""

from __future__ import annotations

import contextlib
import email.utils
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import httpx

from callisto.config import ProviderSettings
from callisto.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
)
from callisto.providers.base import ChatRequest

__all__ = [
    "STATUS_ERRORS",
    "SSEEvent",
    "api_key_for",
    "error_for_status",
    "iter_sse",
    "parse_retry_after",
    "parse_sse_block",
    "redact",
    "shown_url",
]

STATUS_ERRORS: dict[int, type[ProviderError]] = {
    400: ProviderBadRequest,
    401: ProviderAuthError,
    403: ProviderAuthError,
    404: ProviderBadRequest,
    408: ProviderTimeout,
    413: ProviderBadRequest,
    422: ProviderBadRequest,
    429: ProviderRateLimited,
    504: ProviderTimeout,
}
"""Error class per HTTP status; other 4xx are bad requests, other 5xx server errors."""


def api_key_for(request: ChatRequest, settings: ProviderSettings) -> str | None:
    """Return the key for ``request``: its own ``api_key`` first, then the configured one."""
    if request.api_key:
        return request.api_key
    return settings.api_key.get_secret_value() if settings.api_key is not None else None


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One server-sent event: its ``event:`` name (``message`` when absent) and its data."""

    event: str
    data: str


class ByteStream(Protocol):
    """A response whose body can be read in pieces (ours, or an httpx one)."""

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        """Yield the body's bytes as they arrive."""
        ...


async def iter_sse(response: ByteStream) -> AsyncIterator[SSEEvent]:
    r"""Yield the events of a ``text/event-stream`` response body.

    The body is read as bytes and cut at blank lines; only whole events are decoded, so a
    character or an event split across network reads comes out whole. Lines end with
    ``\r\n``, ``\n`` or ``\r`` and nothing else: unlike text lines (``aiter_lines``), a
    U+2028 that a server left unescaped in its JSON does not cut a ``data:`` line.

    Args:
        response: An open streaming response.

    Yields:
        Each event with at least one ``data:`` line (several are joined with newlines);
        comments and ``id:``/``retry:`` lines are dropped since no adapter resumes a model
        stream.
    """
    unfinished: list[bytes] = []  # the pieces of an event not yet ended by a blank line
    carry = b""  # a final \r, held back in case the next read starts with its \n
    async for chunk in response.aiter_bytes():
        if carry or b"\r" in chunk:
            chunk, carry = _lf_line_ends(carry + chunk)
        if unfinished:
            # Join only once the event ends: a long event read in small pieces costs linear
            # time, not quadratic.
            ends = b"\n\n" in chunk or (chunk[:1] == b"\n" and unfinished[-1][-1:] == b"\n")
            unfinished.append(chunk)
            if not ends:
                continue
            chunk = b"".join(unfinished)
            unfinished.clear()
        # Everything before the last blank line is whole events, so whole characters too.
        events, _, rest = chunk.rpartition(b"\n\n")
        if rest:
            unfinished.append(rest)
        if not events:
            continue
        for block in events.decode(errors="replace").split("\n\n"):
            event = parse_sse_block(block)
            if event is not None:
                yield event
    event = parse_sse_block(b"".join(unfinished).decode(errors="replace"))
    if event is not None:
        yield event


def _lf_line_ends(chunk: bytes) -> tuple[bytes, bytes]:
    """Return ``chunk`` with ``\\r\\n`` and ``\\r`` line ends made ``\\n``, and a final ``\\r``
    held back (the next read may start with its ``\\n``)."""
    carry = b""
    if chunk.endswith(b"\r"):
        chunk, carry = chunk[:-1], b"\r"
    chunk = chunk.replace(b"\r\n", b"\n")
    if b"\r" in chunk:
        chunk = chunk.replace(b"\r", b"\n")
    return chunk, carry


def parse_sse_block(block: str) -> SSEEvent | None:
    r"""Return the event of one block of ``text/event-stream`` lines, ``None`` without data.

    Args:
        block: The lines of one event, ``\n``-separated, without the blank line that ends it.
    """
    if block.startswith("data: ") and "\n" not in block:
        return SSEEvent("message", block[6:])  # the common case: one data line
    event = "message"
    data: list[str] = []
    for line in block.removeprefix("\ufeff").split("\n"):
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
    return SSEEvent(event, "\n".join(data)) if data else None


def parse_retry_after(value: str | None) -> float | None:
    """Read a ``Retry-After`` header: seconds, or an HTTP date. ``None`` when unreadable."""
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    return None


# A key as APIs echo it half-masked: "sk-proj-****...****abcd", "sk-ab...wxyz", "sk-••••wxyz".
_MASKED_KEY = re.compile(r"[\w.\-]*(?:[*•]{3,}|\.{3}|…)[\w\-]*")
_MASKS = re.compile(r"[*•]{3,}|\.{3}|…")
_LEAST_FRAGMENT = 3


def redact(text: str, secret: str | None) -> str:
    """Return ``text`` with ``secret`` masked, whole or as an API echoes it half-masked.

    APIs sometimes echo a rejected key back in their error message, whole or as its first and
    last characters around asterisks (OpenAI: ``sk-proj-****...abcd``); that message ends up
    in a run's ``last_error``, which API clients read, and in the log. A masked form is
    removed when its visible start is a start of ``secret`` or its visible end an end of it
    (at least three characters), so unrelated text with asterisks stays.
    """
    if not secret:
        return text
    text = text.replace(secret, "***")

    def fragment(match: re.Match[str]) -> str:
        parts = _MASKS.split(match.group(0))
        head, tail = parts[0], parts[-1]
        if (len(head) >= _LEAST_FRAGMENT and secret.startswith(head)) or (
            len(tail) >= _LEAST_FRAGMENT and secret.endswith(tail)
        ):
            return "***"
        return match.group(0)

    return _MASKED_KEY.sub(fragment, text)


def error_for_status(
    status: int,
    message: str,
    *,
    provider: str,
    retry_after: float | None = None,
    secret: str | None = None,
) -> ProviderError:
    """Build the :class:`ProviderError` for an HTTP error answer.

    Args:
        status: The HTTP status.
        message: The API's own explanation, if it gave one.
        provider: The provider name, to say who failed.
        retry_after: Seconds the API asked us to wait.
        secret: The API key in use, masked out of the message.

    Returns:
        The error to raise.
    """
    cls = STATUS_ERRORS.get(status)
    if cls is None:
        cls = ProviderServerError if status >= 500 else ProviderBadRequest
    text = f"{provider} answered HTTP {status}"
    if message:
        text += f": {message}"
    return cls(redact(text, secret), retry_after=retry_after, status=status)


def shown_url(url: httpx.URL | str) -> str:
    """Return ``url`` without its query string or credentials, which may carry a key."""
    try:
        bare = httpx.URL(url).copy_with(username=None, password=None, query=None, fragment=None)
    except httpx.InvalidURL:
        return "an invalid URL"
    return str(bare)
