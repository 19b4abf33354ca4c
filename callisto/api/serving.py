"""How uvicorn serves Callisto: bounded headers and timeouts on every connection.

uvicorn's httptools protocol keeps every header a client sends, with no limit on their size,
and waits for them without end: four connections sending headers forever took a server from
123 MB to 694 MB, and a client sending a byte a second holds a connection open for good.
:class:`BoundedHttpToolsProtocol` answers 431 and closes once a request's line and headers
pass ``max_header_bytes``, and closes a connection whose headers have not all arrived within
``header_timeout`` seconds (408). Idle connections between requests are closed after
``timeout_keep_alive`` (uvicorn's own timer), and slow bodies by the body time limit of
:class:`callisto.api.middleware.BodyLimitMiddleware`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from callisto.config import Settings


class HeadersTooLarge(Exception):
    """Raised inside the parser to stop it once the headers pass the limit."""


def _plain_response(status: bytes, message: str) -> bytes:
    body = message.encode()
    return (
        b"HTTP/1.1 " + status + b"\r\n"
        b"content-type: text/plain; charset=utf-8\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        b"connection: close\r\n\r\n" + body
    )


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a limit on the size of headers and the time they take.

    The limits are class attributes; :func:`server_options` makes a subclass with the
    configured ones.
    """

    max_header_bytes = 16 * 1024
    header_timeout = 10.0
    _header_bytes = 0
    _header_timer: asyncio.TimerHandle | None = None
    _refused = False

    def connection_made(self, transport: Any) -> None:
        """Start the clock for the first request's headers."""
        super().connection_made(transport)
        self._start_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the header clock."""
        self._stop_header_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        """Count a new request's headers from zero, against the clock."""
        super().on_message_begin()
        self._header_bytes = 0
        self._start_header_timer()

    def on_url(self, url: bytes) -> None:
        """Count the request line."""
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count one header."""
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        """Stop the header clock; the body has its own limit."""
        self._stop_header_timer()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        """Answer a malformed request, unless the parser stopped because we refused it."""
        if not self._refused:
            super().send_400_response(msg)

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.max_header_bytes:
            self._refuse(
                b"431 Request Header Fields Too Large",
                f"The request line and headers exceed {self.max_header_bytes} bytes.",
            )
            raise HeadersTooLarge

    def _start_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        self._refuse(
            b"408 Request Timeout",
            f"The request headers did not arrive within {self.header_timeout:g} seconds.",
        )

    def _refuse(self, status: bytes, message: str) -> None:
        self._refused = True
        self._stop_header_timer()
        if not self.transport.is_closing():
            self.transport.write(_plain_response(status, message))
            self.transport.close()


def server_options(settings: Settings) -> dict[str, Any]:
    """Return the keyword arguments for ``uvicorn.Config`` that enforce the connection limits."""
    limits = settings.limits
    protocol = type(
        "BoundedHttpToolsProtocol",
        (BoundedHttpToolsProtocol,),
        {"max_header_bytes": limits.max_header_bytes, "header_timeout": limits.header_timeout},
    )
    return {
        "http": protocol,
        "timeout_keep_alive": limits.keep_alive_timeout,
        "h11_max_incomplete_event_size": limits.max_header_bytes,
    }
