"""Integration fixtures: a real Callisto server on a loopback port, the official SDK as client.

Every test that uses ``server`` (or the clients) runs once per backend: SQLite always, and
PostgreSQL when it is reachable (a fresh schema per test session); otherwise the PostgreSQL
variant is skipped with the reason. ``CALLISTO_TEST_BACKENDS=sqlite`` limits the backends.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import openai
import pytest

from callisto.config import ProviderSettings, Settings
from callisto.store.database import create_sync_engine, run_migrations
from callisto.store.writer import Writer
from callisto.testing._server import ThreadedServer
from callisto.testing.databases import fresh_postgres_schema, postgres_unavailable_reason
from callisto.testing.fake_llm import FakeLLM
from callisto.testing.server import serve_callisto

BACKENDS = [b for b in os.environ.get("CALLISTO_TEST_BACKENDS", "sqlite,postgres").split(",") if b]


@contextmanager
def fresh_database(backend: str, folder: Path) -> Iterator[str]:
    """A new, empty database: a SQLite file in ``folder``, or a PostgreSQL schema of its own
    (the test is skipped, with the reason, when PostgreSQL is not reachable)."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'callisto.db'}"
        return
    reason = postgres_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with fresh_postgres_schema() as url:
        yield url


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh database per backend for the whole session."""
    with fresh_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLM]:
    """A scripted fake OpenAI-compatible model, reachable as provider ``fake``."""
    with FakeLLM() as llm:
        yield llm


@pytest.fixture(autouse=True)
def _reset_fake_llm(request: pytest.FixtureRequest) -> None:
    if "fake_llm" in request.fixturenames:
        request.getfixturevalue("fake_llm").reset()


def make_settings(database_url: str, fake_llm: FakeLLM | None = None, **overrides: Any) -> Settings:
    """Settings for a test server: fast polling, quick retries, the fake LLM as provider ``fake``."""
    providers = dict(overrides.pop("providers", {}))
    if fake_llm is not None:
        providers.setdefault(
            "fake",
            ProviderSettings(
                kind="openai",
                base_url=fake_llm.base_url,
                api_key="sk-fake-test-key",
                timeout=5,
                max_retries=2,
            ),
        )
    runs = {"poll_after_ms": 10, "sweep_interval": 0.1, **overrides.pop("runs", {})}
    return Settings(database_url=database_url, providers=providers, runs=runs, **overrides)


@pytest.fixture(scope="session")
def server(database_url: str, fake_llm: FakeLLM) -> Iterator[ThreadedServer]:
    """The shared Callisto server of the session (per backend)."""
    with serve_callisto(make_settings(database_url, fake_llm)) as srv:
        yield srv


@pytest.fixture
def make_server(
    database_url: str, fake_llm: FakeLLM, tmp_path: Path
) -> Iterator[Callable[..., ThreadedServer]]:
    """Start extra servers with other settings; each is stopped at the end of the test."""
    with ExitStack() as stack:

        def start(*, same_database: bool = True, **overrides: Any) -> ThreadedServer:
            url = database_url if same_database else f"sqlite:///{tmp_path / 'other.db'}"
            return stack.enter_context(serve_callisto(make_settings(url, fake_llm, **overrides)))

        yield start


def sdk_client(base_url: str, api_key: str = "test-key", **kwargs: Any) -> openai.OpenAI:
    """An official SDK client for a Callisto server (no SDK retries, so failures show)."""
    return openai.OpenAI(
        base_url=base_url + "/v1", api_key=api_key, max_retries=0, timeout=30, **kwargs
    )


@pytest.fixture
def openai_client(server: ThreadedServer) -> Iterator[openai.OpenAI]:
    """The official sync SDK client, pointed at the session's server."""
    client = sdk_client(server.url)
    yield client
    client.close()


@pytest.fixture
async def async_openai_client(server: ThreadedServer) -> Any:
    """The official async SDK client, pointed at the session's server."""
    client = openai.AsyncOpenAI(
        base_url=server.url + "/v1", api_key="test-key", max_retries=0, timeout=30
    )
    yield client
    await client.close()


@pytest.fixture
async def writer(database_url: str) -> AsyncIterator[Writer]:
    """A store writer of its own on the session's database (migrated)."""
    run_migrations(database_url)
    w = Writer(create_sync_engine(database_url))
    w.start()
    yield w
    await w.aclose()
