"""Reading a model's server-sent events from raw bytes: line endings, split reads, odd content.

``iter_sse`` is fed exact byte pieces (an httpx response over a stream of our own), so every
way a network read can cut an event is reachable; the adapter is also run over real HTTP.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import AsyncIterator, Iterator, Sequence

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from callisto.config import ProviderSettings
from callisto.providers._http import SSEEvent, iter_sse, parse_sse_block
from callisto.providers.base import ChatMessage, ChatRequest, TextDelta, collect
from callisto.providers.openai import OpenAIProvider
from callisto.testing._server import ThreadedServer


class Pieces(httpx.AsyncByteStream):
    """A response body delivered in exactly the given pieces."""

    def __init__(self, pieces: Sequence[bytes]) -> None:
        self.pieces = pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece


async def events_of(*pieces: bytes) -> list[SSEEvent]:
    response = httpx.Response(200, stream=Pieces(pieces))
    return [event async for event in iter_sse(response)]


def cut(body: bytes, at: Sequence[int]) -> list[bytes]:
    """Split ``body`` at the given offsets."""
    edges = [0, *sorted(set(at)), len(body)]
    return [body[a:b] for a, b in itertools.pairwise(edges) if b > a]


async def test_one_data_line_per_event_with_lf() -> None:
    assert await events_of(b'data: {"a":1}\n\ndata: {"a":2}\n\n') == [
        SSEEvent("message", '{"a":1}'),
        SSEEvent("message", '{"a":2}'),
    ]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
async def test_every_line_ending_the_standard_allows(newline: bytes) -> None:
    body = newline.join([b"event: ping", b"data: one", b"data: two", b"", b"data: three", b"", b""])
    assert await events_of(body) == [SSEEvent("ping", "one\ntwo"), SSEEvent("message", "three")]


async def test_comments_ids_retries_and_empty_events_are_dropped() -> None:
    body = b": keepalive\n\nid: 7\nretry: 100\n\n: note\ndata: x\nid: 8\n\nevent: lonely\n\n"
    assert await events_of(body) == [SSEEvent("message", "x")]


async def test_field_forms_the_standard_allows() -> None:
    body = b"data:no space\n\ndata:  two spaces\n\ndata\ndata: after empty\n\n"
    assert await events_of(body) == [
        SSEEvent("message", "no space"),
        SSEEvent("message", " two spaces"),
        SSEEvent("message", "\nafter empty"),
    ]


async def test_a_crlf_cut_between_its_cr_and_lf_is_one_line_end() -> None:
    # Were the lone \r read as a line end, "a" and "b" would become two events.
    assert await events_of(b"data: a\r", b"\ndata: b\r\n\r", b"\n") == [SSEEvent("message", "a\nb")]


async def test_an_event_and_its_blank_line_split_over_reads() -> None:
    assert await events_of(b"da", b'ta: {"x"', b":1}\n", b"\n", b"data: 2\n\n") == [
        SSEEvent("message", '{"x":1}'),
        SSEEvent("message", "2"),
    ]


async def test_a_character_split_over_reads_comes_out_whole() -> None:
    body = "data: héllo ✓ 🌍\n\n".encode()
    pieces = [body[i : i + 1] for i in range(len(body))]
    assert await events_of(*pieces) == [SSEEvent("message", "héllo ✓ 🌍")]


async def test_the_last_event_needs_no_blank_line() -> None:
    assert await events_of(b"data: 1\n\ndata: [DONE]") == [
        SSEEvent("message", "1"),
        SSEEvent("message", "[DONE]"),
    ]
    assert await events_of(b"data: 1\r\n\r\ndata: [DONE]\r") == [
        SSEEvent("message", "1"),
        SSEEvent("message", "[DONE]"),
    ]


async def test_unicode_line_separators_do_not_cut_a_data_line() -> None:
    # Python's text lines break at U+2028, U+2029, U+0085, \x1c..\x1e, \v and \f; SSE does not.
    data = json.dumps({"content": "a\u2028b\u2029c\x85d\x1ce\x0bf\x0cg"}, ensure_ascii=False)
    assert await events_of(f"data: {data}\n\n".encode()) == [SSEEvent("message", data)]


async def test_a_byte_order_mark_at_the_start_is_ignored() -> None:
    assert await events_of(b"\xef\xbb\xbfdata: 1\n\n") == [SSEEvent("message", "1")]


async def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert await events_of(b"data: a\xffb\n\n") == [SSEEvent("message", "a\ufffdb")]


async def test_a_long_event_in_many_small_reads() -> None:
    data = "x" * 200_000
    body = f"data: {data}\n\n".encode()
    pieces = [body[i : i + 64] for i in range(0, len(body), 64)]
    assert await events_of(*pieces) == [SSEEvent("message", data)]


def test_parse_sse_block_reads_one_event() -> None:
    assert parse_sse_block("event: delta\ndata: 1") == SSEEvent("delta", "1")
    assert parse_sse_block(": only a comment") is None


# --- any events, any line endings, cut anywhere -------------------------------------------------

LINE_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=12
)
EVENTS = st.lists(
    st.tuples(
        st.sampled_from([None, "ping", "content_block_delta"]),
        st.lists(LINE_TEXT, min_size=1, max_size=3),
    ),
    min_size=1,
    max_size=5,
)


def serialise(events: list[tuple[str | None, list[str]]], newlines: Iterator[str]) -> bytes:
    """Write the events, each with its own line ending (one style per event: a CR line end
    followed by an empty LF-ended line would read as one CRLF)."""
    out = []
    for name, lines in events:
        newline = next(newlines)
        block = (
            [": comment"]
            + ([f"event: {name}"] if name else [])
            + [f"data: {line}" for line in lines]
        )
        out.extend(line + newline for line in [*block, ""])
    return "".join(out).encode()


FIELD = re.compile(r"(?P<name>[^:]*)(?::[ ]?(?P<value>.*))?", re.DOTALL)


def reference(body: bytes) -> list[SSEEvent]:
    """The standard's algorithm, line by line over the whole body at once (an independent oracle)."""
    found: list[SSEEvent] = []
    fields: dict[str, list[str]] = {}
    for line in re.split(r"\r\n|\r|\n", body.decode()):
        match = FIELD.fullmatch(line)
        assert match is not None
        if line == "" and "data" in fields:
            found.append(SSEEvent(fields.get("event", ["message"])[-1], "\n".join(fields["data"])))
        if line == "":
            fields = {}
        elif match["name"] in ("event", "data"):
            fields.setdefault(match["name"], []).append(match["value"] or "")
    return found


@settings(max_examples=300, deadline=None)
@given(
    events=EVENTS,
    newline_picks=st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=5, max_size=5),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
)
async def test_any_stream_cut_anywhere_reads_as_the_standard_says(
    events: list[tuple[str | None, list[str]]], newline_picks: list[str], cuts: list[int]
) -> None:
    body = serialise(events, iter(newline_picks))
    expected = reference(body)
    assert [e.data for e in expected] == ["\n".join(lines) for _, lines in events]
    assert await events_of(*cut(body, [c for c in cuts if c < len(body)])) == expected


# --- the OpenAI adapter over real HTTP ----------------------------------------------------------


def chunk(content: str) -> bytes:
    body = {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}
    return f"data: {json.dumps(body, ensure_ascii=False)}\r\n\r\n".encode()


BODY = [
    b": hello from a proxy\r\n\r\n",
    chunk("Line\u2028separated"),
    chunk(" ✓"),
    b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\r\n\r\ndata: [DONE]\r\n\r\n',
]


@pytest.fixture(scope="module")
def raw_model() -> Iterator[ThreadedServer]:
    async def completions(_request: Request) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            data = b"".join(BODY)
            for i in range(0, len(data), 7):  # odd-sized writes: events and CRLFs cut anywhere
                yield data[i : i + 7]

        return StreamingResponse(body(), media_type="text/event-stream")

    app = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])
    with ThreadedServer(app) as server:
        yield server


async def test_the_openai_adapter_reads_a_crlf_stream_with_raw_unicode(
    raw_model: ThreadedServer,
) -> None:
    provider = OpenAIProvider("raw", ProviderSettings(base_url=raw_model.url + "/v1", timeout=5))
    try:
        request = ChatRequest(model="m", messages=(ChatMessage(role="user", content="hi"),))
        events = [event async for event in provider.stream(request)]
        reply = await collect(provider.stream(request))
    finally:
        await provider.aclose()
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Line\u2028separated", " ✓"]
    assert reply.text == "Line\u2028separated ✓"
    assert reply.finish_reason == "stop"
