"""Backpressure: when no database connection is free, a request gets 503 with ``Retry-After``.

The server runs with a one-connection pool and a short pool timeout, and the test holds that
connection (checked out in the server's own event loop), so a request finds the pool exhausted
for real.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from callisto.api import app as app_module
from callisto.store.database import async_url
from callisto.testing._server import ThreadedServer
from tests.integration.conftest import sdk_client

POOL_TIMEOUT = 0.3


@dataclass
class TinyPool:
    """The server's engine, one connection deep, and a way to hold that connection."""

    engine: AsyncEngine | None = None
    loop: asyncio.AbstractEventLoop | None = None
    release: threading.Event = field(default_factory=threading.Event)

    def create_engine(self, url: str, **_: Any) -> AsyncEngine:
        self.engine = create_async_engine(
            async_url(url), pool_size=1, max_overflow=0, pool_timeout=POOL_TIMEOUT
        )
        self.loop = asyncio.get_running_loop()  # the lifespan runs in the server's loop
        return self.engine

    def hold(self) -> None:
        """Check the only connection out, in the server's loop, until :attr:`release` is set."""
        assert self.engine is not None and self.loop is not None
        engine, release, held = self.engine, threading.Event(), threading.Event()
        self.release = release

        async def keep() -> None:
            async with engine.connect():
                held.set()
                await asyncio.to_thread(release.wait, 30)

        asyncio.run_coroutine_threadsafe(keep(), self.loop)
        assert held.wait(10), "the connection was not checked out"


@pytest.fixture
def tiny_pool(
    monkeypatch: pytest.MonkeyPatch, make_server: Callable[..., ThreadedServer]
) -> Iterator[tuple[TinyPool, ThreadedServer]]:
    pool = TinyPool()
    monkeypatch.setattr(app_module, "create_engine", pool.create_engine)
    server = make_server()
    yield pool, server
    pool.release.set()


def test_an_exhausted_pool_answers_503_with_retry_after_and_one_warning(
    tiny_pool: tuple[TinyPool, ThreadedServer], caplog: pytest.LogCaptureFixture
) -> None:
    pool, server = tiny_pool
    with httpx.Client(base_url=server.url + "/v1", timeout=30) as http:
        assistant = http.post("/assistants", json={"model": "fake/m"}).json()
        pool.hold()
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            busy = http.get(f"/assistants/{assistant['id']}")

        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "1"
        assert busy.json() == {
            "error": {
                "message": "The server is busy: no database connection was free in time. "
                "Please retry shortly.",
                "type": "server_error",
                "param": None,
                "code": "server_busy",
            }
        }
        records = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert [(r.name, r.levelname) for r in records] == [("callisto.api", "WARNING")]
        assert records[0].exc_info is None
        message = records[0].getMessage()
        assert f"GET /v1/assistants/{assistant['id']}" in message
        assert "QueuePool limit of size 1 overflow 0 reached" in message

        pool.release.set()
        assert http.get(f"/assistants/{assistant['id']}").status_code == 200


class ReleaseOnBusy(logging.Handler):
    """Frees the held connection when the server reports that it refused a request."""

    def __init__(self, pool: TinyPool) -> None:
        super().__init__(logging.WARNING)
        self.pool = pool
        self.refused = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "no database connection was free" in record.getMessage():
            self.refused += 1
            self.pool.release.set()


def test_the_sdk_retries_a_503_after_retry_after_and_succeeds(
    tiny_pool: tuple[TinyPool, ThreadedServer],
) -> None:
    pool, server = tiny_pool
    client = sdk_client(server.url)
    retrying = openai.OpenAI(base_url=server.url + "/v1", api_key="test-key", max_retries=2)
    handler = ReleaseOnBusy(pool)
    logging.getLogger("callisto.api").addHandler(handler)
    try:
        assistant = client.beta.assistants.create(model="fake/m", name="patient")
        pool.hold()
        with pytest.raises(openai.InternalServerError) as info:
            client.beta.assistants.retrieve(assistant.id)  # no retries: the 503 shows
        assert info.value.status_code == 503
        assert handler.refused == 1

        pool.hold()
        again = retrying.beta.assistants.retrieve(assistant.id)  # 503, wait, retry: 200
        assert again.name == "patient"
        assert handler.refused == 2
    finally:
        logging.getLogger("callisto.api").removeHandler(handler)
        client.close()
        retrying.close()
