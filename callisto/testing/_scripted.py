"""What the scripted fake model APIs have in common: a queue of replies and a request log.

A fake API (:mod:`callisto.testing.fake_anthropic`, :mod:`callisto.testing.fake_gemini`) is
an ASGI app that answers each request with the next :class:`ScriptedReply` in its queue, in its
own API's wire format, and records every request it got as a :class:`RecordedRequest`.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from starlette.requests import Request

from callisto.testing._server import ThreadedServer

__all__ = ["RecordedRequest", "ScriptedCall", "ScriptedFake", "ScriptedReply", "peer"]


@dataclass(frozen=True, slots=True)
class ScriptedCall:
    """A tool call the fake model makes.

    Attributes:
        name: The function name.
        arguments: The arguments object.
    """

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ScriptedReply:
    """One answer of a fake API.

    Attributes:
        text: Visible text, streamed in pieces of ``chunk_size`` characters.
        tool_calls: Calls made after the text, in one reply (parallel when several).
        finish: The API's own stop/finish reason, to override the one implied by the content.
        prompt_tokens: Reported input tokens.
        completion_tokens: Reported output tokens.
        status: An HTTP status >= 400 answers with the API's error body instead of a stream.
        error_message: The message of that error, or of a mid-stream error.
        error_type: The API's error type/status string; a sensible one per status if unset.
        retry_after: Seconds to ask the client to wait (429).
        stream_error: After streaming the content, send the API's mid-stream error event and
            end the stream.
        delay: Seconds to wait before the first event of the stream (for timeouts).
        chunk_size: Characters of text (or of tool arguments) per streamed delta.
    """

    text: str = ""
    tool_calls: tuple[ScriptedCall, ...] = ()
    finish: str | None = None
    prompt_tokens: int = 10
    completion_tokens: int = 5
    status: int = 200
    error_message: str = ""
    error_type: str | None = None
    retry_after: float | None = None
    stream_error: bool = False
    delay: float = 0.0
    chunk_size: int = 4


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request a fake API received.

    Attributes:
        method: The HTTP method.
        path: The URL path.
        query: The query parameters.
        headers: The headers, names lower-cased.
        body: The JSON body (``{}`` when there was none or it was not JSON).
        connection: The client's ``host:port``, the same for every request carried by one TCP
            connection (so a test can count the connections a client opened).
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]
    connection: str = ""


def peer(request: Request) -> str:
    """Return the ``host:port`` of the client end of ``request``'s connection."""
    client = request.client
    return f"{client.host}:{client.port}" if client is not None else ""


class ScriptedFake:
    """Base of the fake APIs: the reply queue, the request log, and the server lifecycle.

    Subclasses build the ASGI app in :meth:`build_app`; use an instance as a context manager
    to serve it on a free loopback port at :attr:`base_url`.

    Attributes:
        api_key: The key the fake expects; ``None`` accepts any request.
        requests: Every request received, oldest first.
        default_reply: The answer when the queue is empty.
    """

    def __init__(
        self, *, api_key: str | None = None, default_reply: ScriptedReply | None = None
    ) -> None:
        """Create the fake; it serves nothing until entered.

        Args:
            api_key: The key to expect; a request without it gets the API's 401 answer.
            default_reply: The answer when the queue is empty (text ``"ok"`` if unset).
        """
        self.api_key = api_key
        self.default_reply = default_reply or ScriptedReply(text="ok")
        self.requests: list[RecordedRequest] = []
        self._replies: deque[ScriptedReply] = deque()
        self._lock = threading.Lock()
        self._server = ThreadedServer(self.build_app())

    def build_app(self) -> Any:
        """Return the ASGI app that speaks the API (implemented by each fake)."""
        raise NotImplementedError

    @property
    def url(self) -> str:
        """The server's root URL, ``http://127.0.0.1:PORT``."""
        return self._server.url

    @property
    def base_url(self) -> str:
        """The URL to configure as the provider's ``base_url``."""
        return self.url

    def enqueue(self, *replies: ScriptedReply) -> None:
        """Add replies to the end of the queue."""
        with self._lock:
            self._replies.extend(replies)

    def reply_text(self, text: str, **options: Any) -> None:
        """Queue a plain text answer; ``options`` are other :class:`ScriptedReply` fields."""
        self.enqueue(ScriptedReply(text=text, **options))

    def reply_tool_calls(
        self, *calls: ScriptedCall | tuple[str, dict[str, Any]], **options: Any
    ) -> None:
        """Queue an answer that calls one or more tools (several means parallel calls).

        Args:
            *calls: :class:`ScriptedCall` objects or ``(name, arguments)`` pairs.
            **options: Other :class:`ScriptedReply` fields (``text`` before the calls, ...).
        """
        made = tuple(c if isinstance(c, ScriptedCall) else ScriptedCall(*c) for c in calls)
        self.enqueue(ScriptedReply(tool_calls=made, **options))

    def reply_error(self, status: int, message: str = "scripted error", **options: Any) -> None:
        """Queue an HTTP error answer in the API's error format."""
        self.enqueue(ScriptedReply(status=status, error_message=message, **options))

    def next_reply(self) -> ScriptedReply:
        """Take the next reply off the queue (the default reply when it is empty)."""
        with self._lock:
            return self._replies.popleft() if self._replies else self.default_reply

    async def record(self, request: Request) -> RecordedRequest:
        """Read ``request``, add it to :attr:`requests` and return it (called by the app)."""
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        recorded = RecordedRequest(
            method=request.method,
            path=request.url.path,
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body if isinstance(body, dict) else {},
            connection=peer(request),
        )
        with self._lock:
            self.requests.append(recorded)
        return recorded

    @property
    def last_body(self) -> dict[str, Any]:
        """The JSON body of the latest request."""
        return self.requests[-1].body

    def __enter__(self) -> Self:
        self._server.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.stop()


def split(text: str, size: int) -> list[str]:
    """Cut ``text`` into pieces of ``size`` characters (at least one piece per character run)."""
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]


def sse(data: dict[str, Any], event: str | None = None) -> bytes:
    """Encode one server-sent event with a JSON ``data`` line."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()
