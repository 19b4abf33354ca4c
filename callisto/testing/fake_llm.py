"""A scripted fake LLM that speaks OpenAI's Chat Completions API, for tests, demos and benchmarks.

It serves ``POST /v1/chat/completions`` (streamed as server-sent events, or one JSON object) and
``GET /v1/models`` in OpenAI's exact wire format, so the official SDK and Callisto's
OpenAI-compatible adapter can both talk to it. What it answers is scripted: each request takes
the next :class:`Reply` from a queue, and when the queue is empty a default reply. Every request
received is recorded for assertions::

    with FakeLLM() as llm:
        llm.script(
            Reply.tool_calls(("get_weather", {"city": "Tokyo"}), ("get_weather", {"city": "Oslo"})),
            Reply.text("Sunny in both."),
            Reply.error(500),
        )
        provider = OpenAIProvider("fake", ProviderSettings(base_url=llm.base_url))
        ...
        assert llm.requests[0].body["tools"][0]["function"]["name"] == "get_weather"

For benchmarks it runs as its own process with a fixed default answer::

    python -m callisto.testing.fake_llm --port 8001 --ttft-ms 200 --token-delay-ms 20 --tokens 50

Tokens are whitespace-separated words (a word keeps its leading space); tool call arguments are
streamed in fragments of ``arg_chunk`` characters. Usage counts the words of the prompt's
message texts and the chunks of the reply.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from callisto.ids import new_id
from callisto.testing._fake_llm_reply import Reply
from callisto.testing._fake_llm_wire import (
    DONE,
    ChunkWriter,
    FakeToolCall,
    ToolCallStyle,
    completion_object,
    count_prompt_tokens,
    error_body,
    split_tokens,
    usage_object,
)
from callisto.testing._scripted import peer
from callisto.testing._server import ThreadedServer

__all__ = ["FakeLLM", "FakeToolCall", "RecordedRequest", "Reply", "Responder", "ToolCallStyle"]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request the fake received.

    Attributes:
        path: The URL path.
        body: The JSON body.
        headers: The headers, names in lower case.
        connection: The client's ``host:port``, the same for every request carried by one TCP
            connection (so a test can count the connections a client opened).
    """

    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    connection: str = ""

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The request's ``messages``."""
        return list(self.body.get("messages") or [])


Responder = Callable[[RecordedRequest], Reply]
"""A function that chooses the reply from the request, usable in a script or as the default."""


class _StreamCut(Exception):
    """Raised inside a response body so that uvicorn drops the connection mid-stream."""


class _QuietCuts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        while isinstance(error, BaseExceptionGroup) and error.exceptions:
            error = error.exceptions[0]
        return not isinstance(error, _StreamCut)


_QUIET_CUTS = _QuietCuts()


class FakeLLM:
    """The fake LLM server: a Starlette app, and in-thread serving on a free loopback port.

    Args:
        default: The reply (or :data:`Responder`) used when the script is empty.
        models: The model ids listed by ``GET /v1/models``.
        api_key: When set, requests without ``Authorization: Bearer <api_key>`` get a 401 whose
            message echoes the key received, as some APIs do (to test redaction).

    Attributes:
        app: The ASGI application, usable without starting the server.
        requests: Every chat completion request received, oldest first.
    """

    def __init__(
        self,
        *,
        default: Reply | Responder | None = None,
        models: Sequence[str] = ("fake-model",),
        api_key: str | None = None,
    ) -> None:
        self.default: Reply | Responder = default or Reply.text("Hello from the fake LLM.")
        self.models = list(models)
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self._queue: collections.deque[Reply | Responder] = collections.deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server: ThreadedServer | None = None
        routes = [
            Route("/v1/chat/completions", self._chat_completions, methods=["POST"]),
            Route("/chat/completions", self._chat_completions, methods=["POST"]),
            Route("/v1/models", self._list_models, methods=["GET"]),
        ]
        self.app = Starlette(routes=routes)

    # --- scripting -----------------------------------------------------------------------------

    def script(self, *replies: Reply | Responder) -> None:
        """Queue replies; each request takes the next one, then the default when none is left."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending(self) -> int:
        """How many scripted replies have not been served yet."""
        with self._lock:
            return len(self._queue)

    def reset(self) -> None:
        """Forget the script and the recorded requests."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()

    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            chosen = self._queue.popleft() if self._queue else self.default
        reply = chosen if isinstance(chosen, Reply) else chosen(request)
        if any(not c.id for c in reply.calls):
            calls = tuple(replace(c, id=c.id or new_id("call_")) for c in reply.calls)
            reply = replace(reply, calls=calls)
        return reply

    # --- serving -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL, ``http://127.0.0.1:PORT/v1``.

        Raises:
            RuntimeError: If the server is not running.
        """
        if self._server is None:
            raise RuntimeError("FakeLLM is not running; use it as a context manager")
        return self._server.url + "/v1"

    def start(self) -> None:
        """Serve on a free loopback port in a background thread."""
        self._closing.clear()
        self._server = ThreadedServer(self.app)
        self._server.start()

    def stop(self) -> None:
        """End stalled replies, stop serving and release the port."""
        self._closing.set()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> FakeLLM:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def _sleep(self, seconds: float) -> None:
        # Sleep in short steps so that stopping the server ends a long stall promptly.
        remaining = seconds
        while remaining > 0 and not self._closing.is_set():
            step = min(remaining, 0.02)
            await asyncio.sleep(step)
            remaining -= step

    # --- routes --------------------------------------------------------------------------------

    async def _list_models(self, request: Request) -> Response:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.models]
        return JSONResponse({"object": "list", "data": data})

    async def _chat_completions(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse(error_body("The body is not valid JSON.", 400), status_code=400)
        if not isinstance(body, dict):
            return JSONResponse(error_body("The body must be a JSON object.", 400), status_code=400)
        recorded = RecordedRequest(
            request.url.path, body, dict(request.headers), connection=peer(request)
        )
        with self._lock:
            self.requests.append(recorded)
        if self.api_key is not None:
            given = request.headers.get("authorization", "").removeprefix("Bearer ")
            if given != self.api_key:
                message = f"Incorrect API key provided: {given}."
                return JSONResponse(error_body(message, 401), status_code=401)
        if not body.get("messages") or not body.get("model"):
            message = "'model' and a non-empty 'messages' are required."
            return JSONResponse(error_body(message, 400), status_code=400)
        reply = self._next_reply(recorded)
        if reply.kind == "error":
            content = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
            return Response(content, reply.status, dict(reply.headers), "application/json")
        if reply.kind == "hang" and not reply.content:
            await self._sleep(reply.hang_seconds)
            return JSONResponse(error_body("The fake LLM stalled.", 504), status_code=504)
        model = str(body["model"])
        if body.get("stream"):
            options = body.get("stream_options") or {}
            writer = ChunkWriter(model, include_usage=bool(options.get("include_usage")))
            return StreamingResponse(
                self._stream(reply, body, writer),
                headers=dict(reply.headers),
                media_type="text/event-stream",
            )
        return await self._complete(reply, body, model)

    async def _complete(self, reply: Reply, body: dict[str, Any], model: str) -> Response:
        await self._sleep(reply.ttft)
        calls = list(reply.calls)
        tokens = len(split_tokens(reply.content or "")) + len(calls)
        await self._sleep(reply.token_delay * max(tokens - 1, 0))
        if reply.kind in ("cut", "hang"):
            return StreamingResponse(self._cut_json(reply), media_type="application/json")
        usage = self._usage(reply, body, tokens)
        completion = completion_object(model, reply.content, calls, reply.finish_reason, usage)
        return JSONResponse(completion, headers=dict(reply.headers))

    async def _cut_json(self, reply: Reply) -> AsyncIterator[str]:
        yield '{"id": "chatcmpl-fake", "object": "chat.completion", "choices": ['
        if reply.kind == "hang":
            await self._sleep(reply.hang_seconds)
        self._cut_connection(reply)

    def _usage(self, reply: Reply, body: dict[str, Any], completion: int) -> dict[str, Any]:
        if reply.usage is not None:
            return usage_object(*reply.usage)
        return usage_object(count_prompt_tokens(body), completion)

    async def _stream(
        self, reply: Reply, body: dict[str, Any], writer: ChunkWriter
    ) -> AsyncIterator[str]:
        field = reply.reasoning_field
        lines = [writer.delta({field: piece}) for piece in split_tokens(reply.reasoning or "")]
        lines += [writer.text(piece) for piece in split_tokens(reply.content or "")]
        for index, call in enumerate(reply.calls):
            lines += writer.tool_call_fragments(index, call, reply.arg_chunk, reply.style)
        if reply.kind == "cut":
            lines = lines[: reply.cut_after]
        await self._sleep(reply.ttft)
        yield writer.role()
        for n, line in enumerate(lines):
            if n:
                await self._sleep(reply.token_delay)
            yield line
        if reply.kind == "hang":
            await self._sleep(reply.hang_seconds)
            return
        if reply.kind == "cut":
            self._cut_connection(reply)
            return
        yield writer.finish(reply.finish_reason)
        if writer.include_usage:
            usage = self._usage(reply, body, len(lines))
            yield writer.usage(usage["prompt_tokens"], usage["completion_tokens"])
        yield DONE

    @staticmethod
    def _cut_connection(reply: Reply) -> None:
        if not reply.abort:
            return
        # uvicorn logs an app error at ERROR level before closing the connection; this one is
        # on purpose, so keep it out of test output.
        logger = logging.getLogger("uvicorn.error")
        if _QUIET_CUTS not in logger.filters:
            logger.addFilter(_QUIET_CUTS)
        raise _StreamCut("the script cut this stream")


def main(argv: Sequence[str] | None = None) -> None:
    """Run the fake LLM as a process: ``python -m callisto.testing.fake_llm --port 8001``.

    Args:
        argv: Command line arguments (``sys.argv[1:]`` when ``None``).
    """
    import uvicorn

    parser = argparse.ArgumentParser(description="A fake OpenAI-compatible LLM server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="delay before the first token")
    parser.add_argument("--token-delay-ms", type=float, default=0.0, help="delay between tokens")
    parser.add_argument("--tokens", type=int, default=20, help="tokens in the default answer")
    parser.add_argument("--api-key", default=None, help="require this bearer key")
    args = parser.parse_args(argv)
    default = Reply.tokens(
        args.tokens, ttft=args.ttft_ms / 1000, token_delay=args.token_delay_ms / 1000
    )
    fake = FakeLLM(default=default, api_key=args.api_key)
    uvicorn.run(fake.app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
