"""The benchmarks' fake model: the test-support :class:`FakeLLM`, answering a tool round trip.

``python -m callisto.testing.fake_llm`` answers every request with the same text, so it cannot
play a function-calling conversation. This module runs the same fake with a
:data:`~callisto.testing.fake_llm.Responder` that does:

- a request that offers tools and carries no tool result yet -> one call to the first tool;
- any other request (tool results given, or no tools) -> ``--tokens`` tokens of text.

With ``--stamp``, every text token is the time it left the fake (``~`` and 19 digits of
``time.monotonic_ns()``, a clock shared by every process of the machine), so a client can
measure each chunk's delay from the model to itself, directly or through Callisto::

    python -m bench.fake_model --port 8001 --ttft-ms 200 --tokens 20
    python -m bench.fake_model --port 8001 --tokens 1000 --token-delay-ms 2 --stamp
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from callisto.testing.fake_llm import FakeLLM, RecordedRequest, Reply, Responder

STAMP = b"~0000000000000000000"
"""The placeholder of a stamped token: replaced, as it is sent, by the send time."""

TOOL_ARGUMENTS = {"city": "Tokyo"}


def round_trip_responder(
    tokens: int, *, ttft: float = 0.0, token_delay: float = 0.0, stamp: bool = False
) -> Responder:
    """Return a responder that calls a tool first, then answers in text after its result.

    Args:
        tokens: Tokens of the text answer.
        ttft: Seconds before the first token of every reply.
        token_delay: Seconds between tokens.
        stamp: Make every text token a send-time placeholder (see :data:`STAMP`).
    """
    if stamp:
        text = " ".join([STAMP.decode()] * tokens)
    else:
        text = " ".join(f"w{i}" for i in range(1, tokens + 1))

    def respond(request: RecordedRequest) -> Reply:
        tools = request.body.get("tools") or []
        answered = any(m.get("role") == "tool" for m in request.messages if isinstance(m, dict))
        if tools and not answered:
            name = tools[0].get("function", {}).get("name", "tool")
            return Reply.tool_calls((name, TOOL_ARGUMENTS), ttft=ttft, token_delay=token_delay)
        return Reply.text(text, ttft=ttft, token_delay=token_delay)

    return respond


class StampSends:
    """ASGI middleware: replace :data:`STAMP` in response bodies with the send time."""

    def __init__(self, app: Any) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Serve ``scope``, stamping each body message as it is sent."""

        async def stamped(message: dict[str, Any]) -> None:
            body = message.get("body")
            if message["type"] == "http.response.body" and body and STAMP in body:
                now = b"~%019d" % time.monotonic_ns()
                message = {**message, "body": body.replace(STAMP, now)}
            await send(message)

        await self.app(scope, receive, stamped)


def parse_stamp(text: str) -> int | None:
    """Return the send time (``monotonic_ns``) written in a stamped token, if any."""
    at = text.find("~")
    if at < 0 or len(text) < at + 20:
        return None
    digits = text[at + 1 : at + 20]
    return int(digits) if digits.isdigit() else None


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the fake model until interrupted (see the module docstring for the flags)."""
    import uvicorn

    parser = argparse.ArgumentParser(description="The fake model of Callisto's benchmarks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="delay before the first token")
    parser.add_argument("--token-delay-ms", type=float, default=0.0, help="delay between tokens")
    parser.add_argument("--tokens", type=int, default=20, help="tokens of the text answer")
    parser.add_argument("--stamp", action="store_true", help="tokens carry their send time")
    args = parser.parse_args(argv)
    responder = round_trip_responder(
        args.tokens,
        ttft=args.ttft_ms / 1000,
        token_delay=args.token_delay_ms / 1000,
        stamp=args.stamp,
    )
    fake = FakeLLM(default=responder, models=("x",))
    app = StampSends(fake.app) if args.stamp else fake.app
    uvicorn.run(
        app, host=args.host, port=args.port, log_level="warning", backlog=4096, access_log=False
    )


if __name__ == "__main__":
    main()
