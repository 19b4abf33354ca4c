"""The providers' HTTP client: enough connections for every run in flight."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from callisto.config import ProviderSettings
from callisto.providers._http import new_client

IN_FLIGHT = 120  # above httpx's default of 100 connections per client


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


@pytest.mark.parametrize("limit", [IN_FLIGHT, 1024])
async def test_a_provider_carries_every_run_in_flight_at_once(limit: int) -> None:
    server, port = await _barrier_server(IN_FLIGHT)
    async with server, new_client(ProviderSettings(max_connections=limit, timeout=30)) as client:
        replies = await asyncio.gather(
            *(client.get(f"http://127.0.0.1:{port}/") for _ in range(IN_FLIGHT))
        )
    assert {r.text for r in replies} == {"together"}


def test_max_connections_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        ProviderSettings(max_connections=0)


async def test_the_default_client_of_httpx_would_have_queued_them() -> None:
    # Why the setting exists: with httpx's own limits the 101st request waits for a free
    # connection, so the barrier is never reached and every request is answered "alone".
    server, port = await _barrier_server(IN_FLIGHT, patience=1)
    async with server, httpx.AsyncClient(timeout=30) as client:
        replies = await asyncio.gather(
            *(client.get(f"http://127.0.0.1:{port}/") for _ in range(IN_FLIGHT))
        )
    assert "alone" in {r.text for r in replies}
