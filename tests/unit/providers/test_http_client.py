"""The providers' HTTP client: enough connections for every run in flight, and kept ones.

The servers here are raw asyncio servers, so that a test controls the bytes of each response
(when the end of a chunked body arrives, whether it arrives) and counts the TCP connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from callisto.config import ProviderSettings
from callisto.errors import ProviderServerError
from callisto.providers._client import UpstreamClient
from callisto.providers._http import iter_sse

IN_FLIGHT = 120  # above aiohttp's and httpx's default of 100 connections per client


async def _barrier_server(count: int, patience: float = 10) -> tuple[asyncio.Server, int]:
    """A server that answers no request until ``count`` requests are open at once.

    After ``patience`` seconds a request is answered ``alone``; otherwise ``together``.
    """
    arrived = 0
    everyone = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal arrived
        await reader.readuntil(b"\r\n\r\n")
        arrived += 1
        if arrived >= count:
            everyone.set()
        try:
            await asyncio.wait_for(everyone.wait(), patience)
            body = b"together"
        except TimeoutError:
            body = b"alone"
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _get(client: UpstreamClient, url: str) -> str:
    async with client.stream("GET", url) as response:
        await response.aread()
        return response.text


@pytest.mark.parametrize("limit", [IN_FLIGHT, 1024])
async def test_a_provider_carries_every_run_in_flight_at_once(limit: int) -> None:
    server, port = await _barrier_server(IN_FLIGHT)
    client = UpstreamClient("x", ProviderSettings(max_connections=limit, timeout=30))
    async with server:
        url = f"http://127.0.0.1:{port}/"
        replies = await asyncio.gather(*(_get(client, url) for _ in range(IN_FLIGHT)))
    await client.aclose()
    assert set(replies) == {"together"}


async def test_max_connections_bounds_the_pool() -> None:
    # Four requests, three connections: the fourth waits until the first three give up.
    server, port = await _barrier_server(4, patience=0.5)
    client = UpstreamClient("x", ProviderSettings(max_connections=3, timeout=30))
    async with server:
        url = f"http://127.0.0.1:{port}/"
        replies = await asyncio.gather(*(_get(client, url) for _ in range(4)))
    await client.aclose()
    assert sorted(replies) == ["alone", "alone", "alone", "together"]


def test_max_connections_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        ProviderSettings(max_connections=0)


# --- kept connections ---------------------------------------------------------------------------

EVENTS = (b'data: {"n": 1}\n\n', b'data: {"n": 2}\n\n', b"data: [DONE]\n\n")


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


@dataclass
class SSEServer:
    """Streams :data:`EVENTS` as a chunked body to every request, and counts connections.

    ``end``: ``"late"`` sends the body's last chunk a moment after ``[DONE]`` (as servers that
    flush each event do); ``"never"`` holds the body open after ``[DONE]``; ``"stall"`` stops
    after the first event.
    """

    end: str = "late"
    connections: int = 0
    requests: int = 0
    closed_by_client: int = 0
    server: asyncio.Server | None = None
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while await self._answer(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            self.closed_by_client += 1
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        self.requests += 1
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        events = EVENTS[:1] if self.end == "stall" else EVENTS
        for event in events:
            writer.write(_chunk(event))
            await writer.drain()
        if self.end == "late":
            await asyncio.sleep(0.05)
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            return True
        if not await reader.read(1):  # "never" and "stall": wait until the client gives up
            self.closed_by_client += 1
        return False

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        async with self.server:
            yield f"http://127.0.0.1:{port}/v1/chat/completions"
            for writer in self.writers:
                writer.close()


async def _read_to_done(client: UpstreamClient, url: str) -> list[str]:
    """Read events as an adapter does: stop at ``[DONE]``, leaving the body's end unread."""
    seen = []
    async with client.stream("POST", url, json={"stream": True}) as response:
        async for event in iter_sse(response):
            if event.data == "[DONE]":
                break
            seen.append(event.data)
    return seen


async def test_calls_share_one_connection_and_read_each_body_to_its_end() -> None:
    sse = SSEServer(end="late")
    # A long drain bound: the body's end comes 50 ms after [DONE] and must be waited for.
    client = UpstreamClient("x", ProviderSettings(), drain_seconds=30)
    async with sse.serving() as url:
        replies = [await _read_to_done(client, url) for _ in range(10)]
        await client.aclose()
    assert replies == [['{"n": 1}', '{"n": 2}']] * 10
    assert (sse.requests, sse.connections) == (10, 1)


async def test_a_body_that_never_ends_costs_its_connection_not_the_call() -> None:
    sse = SSEServer(end="never")
    client = UpstreamClient("x", ProviderSettings(), drain_seconds=0.01)
    async with sse.serving() as url:
        replies = [await _read_to_done(client, url) for _ in range(3)]
        await client.aclose()
    assert replies == [['{"n": 1}', '{"n": 2}']] * 3
    assert (sse.requests, sse.connections) == (3, 3)


async def test_a_call_abandoned_mid_stream_closes_its_connection() -> None:
    sse = SSEServer(end="stall")
    client = UpstreamClient("x", ProviderSettings())

    async def first_event(url: str) -> str:
        async with client.stream("POST", url, json={}) as response:
            async for event in iter_sse(response):
                return event.data  # leaves the body half read, as a cancelled run does
        raise AssertionError("no event")

    async with sse.serving() as url:
        assert [await first_event(url) for _ in range(2)] == ['{"n": 1}'] * 2
        await client.aclose()
    assert (sse.requests, sse.connections) == (2, 2)


async def test_a_body_cut_short_is_a_server_error() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + _chunk(EVENTS[0]))
        await writer.drain()
        writer.close()  # before the last chunk

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = UpstreamClient("cut", ProviderSettings())
    async with server:
        with pytest.raises(ProviderServerError, match="cut connection failed at http://127"):
            await _read_to_done(client, f"http://127.0.0.1:{port}/v1/chat/completions")
    await client.aclose()


async def test_a_proxy_named_by_the_environment_carries_the_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines.append(head.split(b"\r\n")[0])
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nproxied")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{port}")
    client = UpstreamClient("x", ProviderSettings())
    async with server:
        # A host that resolves nowhere: only the proxy can answer.
        assert await _get(client, "http://model.invalid/v1/models") == "proxied"
    await client.aclose()
    assert lines == [b"GET http://model.invalid/v1/models HTTP/1.1"]
