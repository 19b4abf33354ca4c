"""ASGI middleware: API-key authentication (which also names the request's project), and the
request body's size and time limits.

Written as plain ASGI (not ``BaseHTTPMiddleware``) so streaming responses pass through
untouched and each request pays one function call, not a task.
"""

from __future__ import annotations

import asyncio
import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callisto.api.auth import KeyResolver
from callisto.api.errors import error_body
from callisto.store.audit import SUBMITTER

log = logging.getLogger("callisto.auth")

OPEN_PATHS = frozenset({"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
"""Paths served without a key: readiness, and the API's description with its two viewers."""
DOCS_ASSETS = "/docs-assets"
"""Where the scripts and styles of /docs and /redoc are served (from the fastapi-offline package)."""
OPEN_PREFIXES = (DOCS_ASSETS + "/",)
"""Prefixes served without a key: the viewers' scripts and styles."""


async def send_error(
    send: Send,
    status: int,
    message: str,
    error_type: str = "invalid_request_error",
    *,
    code: str | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Send a whole error response in OpenAI's shape, from ASGI middleware."""
    body = json.dumps(error_body(message, error_type, code=code)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def presented_key(scope: Scope) -> bytes | None:
    """Return the API key a request presents (``Authorization: Bearer`` or ``X-API-Key``)."""
    auth = _header(scope, b"authorization")
    if auth is not None and auth[:7].lower() == b"bearer ":
        return auth[7:].strip()
    return _header(scope, b"x-api-key")


def masked_key(key: bytes | None) -> str | None:
    """Return a presented API key as the audit trail names it: ``sk-...wxyz``, never whole."""
    if not key:
        return None
    text = key.decode("latin-1")
    return f"{text[:3]}...{text[-4:]}" if len(text) >= 16 else "..."


PROJECT_STATE = "callisto_project"
"""Where in the request's ``scope["state"]`` the middleware puts the request's project."""


def _missing_key_message(scope: Scope) -> str:
    if _header(scope, b"authorization") is None:
        return (
            "You didn't provide an API key. Pass it as 'Authorization: Bearer <key>' "
            "(the OpenAI SDK does this with api_key=...)."
        )
    return "The Authorization header carries no API key. Pass it as 'Authorization: Bearer <key>'."


class AuthMiddleware:
    """Require an API key (``Authorization: Bearer <key>`` or ``X-API-Key``) unless the server
    runs open, and put the project the request acts in into ``scope["state"]``."""

    def __init__(self, app: ASGIApp, keys: KeyResolver) -> None:
        """Wrap ``app``; ``keys`` says which project a key acts in (see ``callisto.api.auth``)."""
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse unauthenticated HTTP requests with a 401 in OpenAI's shape."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        presented = presented_key(scope)
        SUBMITTER.set(masked_key(presented))
        path = scope.get("path", "")
        if (
            path in OPEN_PATHS
            or path.startswith(OPEN_PREFIXES)
            or path == "/ui"
            or path.startswith("/ui/")  # the inspector asks for a key itself
        ):
            await self.app(scope, receive, send)
            return
        try:
            project = await self.keys.project_of(presented)
        except Exception:
            log.exception("API keys could not be read from the database")
            await send_error(
                send,
                503,
                "API keys could not be checked: the database is unavailable.",
                "server_error",
            )
            return
        if project is None:
            refusal = (
                _missing_key_message(scope)
                if presented is None
                else "Incorrect API key provided. Pass it as 'Authorization: Bearer <key>'."
            )
            await send_error(send, 401, refusal, "invalid_request_error")
            return
        scope.setdefault("state", {})[PROJECT_STATE] = project
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Refuse request bodies larger than a limit with a 400 in OpenAI's shape, and bodies that
    take longer than ``timeout`` seconds to arrive with a 408.

    400 rather than 413: the SDK treats both as final, and the API groups every malformed
    request under 400. The time limit cuts off clients that send a body slowly to hold a
    connection and its memory.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float | None = None) -> None:
        """Wrap ``app`` with a limit of ``max_bytes`` and ``timeout`` seconds per request body."""
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check Content-Length up front, and count chunked bodies before the app sees them.

        The body is read in full (it is at most ``max_bytes``) and handed on as one message:
        raising from inside the app's ``receive`` would let the framework turn the error into
        its own, vaguer 400.
        """
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._too_large(send)
            return
        if length is None and _header(scope, b"transfer-encoding") is None:
            await self.app(scope, receive, send)  # no body
            return
        try:
            async with asyncio.timeout(self.timeout):
                body = await self._read(receive)
        except TimeoutError:
            await send_error(
                send,
                408,
                f"The request body did not arrive within {self.timeout:g} seconds.",
                headers=[(b"connection", b"close")],
            )
            return
        if body is None:  # the client went away
            return
        if len(body) > self.max_bytes:
            await self._too_large(send)
            return
        replayed = False

        async def replay_receive() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay_receive, send)

    async def _read(self, receive: Receive) -> bytes | None:
        """Return the body, cut off past the limit; ``None`` when the client went away."""
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            received += len(chunk)
            chunks.append(chunk)
            if received > self.max_bytes or not message.get("more_body", False):
                return b"".join(chunks)

    async def _too_large(self, send: Send) -> None:
        await send_error(
            send,
            400,
            f"Request body too large: the limit is {self.max_bytes} bytes.",
            "invalid_request_error",
        )
