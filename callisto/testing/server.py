"""Serve a real Callisto on a free loopback port, in a thread: for tests, the demo and benchmarks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from callisto.config import Settings
from callisto.testing._server import ThreadedServer


@contextmanager
def serve_callisto(settings: Settings | None = None, **overrides: Any) -> Iterator[ThreadedServer]:
    """Start Callisto with ``settings`` (or ``Settings(**overrides)``); stop it on exit.

    The server's lifespan runs: migrations at start, runs resumed, the sweeper started. The
    connection limits are those of ``callisto serve``.
    """
    from callisto.api.app import create_app
    from callisto.api.serving import server_options

    settings = settings or Settings(**overrides)
    app = create_app(settings)
    with ThreadedServer(app, lifespan=True, uvicorn_options=server_options(settings)) as server:
        yield server
