"""HTTP plumbing shared by the native adapters: SSE reading and status-to-error translation.

The translation is one table (:data:`STATUS_ERRORS`) so that every adapter maps a status the
same way; an adapter only says how to find the message in its API's error body.
"""

from __future__ import annotations

import contextlib
import email.utils
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

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
    "new_client",
    "parse_retry_after",
    "redact",
    "translate_transport_errors",
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


def new_client(settings: ProviderSettings) -> httpx.AsyncClient:
    """Return the pooled HTTP client of one provider, with its timeout and extra headers.

    The timeout bounds connecting and every read, so a stream that stalls mid-way times out.
    """
    return httpx.AsyncClient(timeout=httpx.Timeout(settings.timeout), headers=settings.headers)


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


async def iter_sse(response: httpx.Response) -> AsyncIterator[SSEEvent]:
    """Yield the events of a ``text/event-stream`` response body.

    Args:
        response: An open streaming response.

    Yields:
        Each event with at least one ``data:`` line; comments and ``id:``/``retry:`` lines are
        dropped since no adapter resumes a model stream.
    """
    event = "message"
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield SSEEvent(event, "\n".join(data))
            event, data = "message", []
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
    if data:
        yield SSEEvent(event, "\n".join(data))


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


def redact(text: str, secret: str | None) -> str:
    """Return ``text`` with every occurrence of ``secret`` masked.

    APIs sometimes echo a rejected key back in their error message; that message ends up in a
    run's ``last_error``, which API clients read.
    """
    if secret:
        return text.replace(secret, "***")
    return text


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


@contextlib.contextmanager
def translate_transport_errors(provider: str) -> Iterator[None]:
    """Turn httpx's transport failures into provider errors, at the adapter boundary.

    Args:
        provider: The provider name, to say who failed.

    Raises:
        ProviderTimeout: On any httpx timeout (connect, read, write, pool).
        ProviderServerError: When the connection fails or breaks.
    """
    try:
        yield
    except httpx.TimeoutException as exc:
        raise ProviderTimeout(f"{provider} did not answer in time ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        # httpx's text may quote the URL, never headers, so the key cannot leak through it.
        raise ProviderServerError(f"{provider} connection failed: {type(exc).__name__}") from exc
