"""Run an ASGI app on a free loopback port in a background thread, for tests and demos.

The fakes of :mod:`callisto.testing` use this so that a test talks to them over real HTTP,
with the client in the test's own event loop and the server in its own thread and loop::

    with ThreadedServer(app) as server:
        httpx.get(server.url + "/health")
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType
from typing import Any

import uvicorn

__all__ = ["ThreadedServer"]


class ThreadedServer:
    """An ASGI app served by uvicorn on ``127.0.0.1`` at a free port, in a daemon thread.

    The port is bound before the thread starts, so :attr:`url` is known at once and no other
    process can take the port between choosing and binding it.

    Attributes:
        app: The ASGI application served.
        host: The loopback address bound.
        port: The port bound (chosen by the OS).
    """

    def __init__(
        self,
        app: Any,
        *,
        startup_timeout: float = 10.0,
        lifespan: bool = False,
        uvicorn_options: dict[str, Any] | None = None,
    ) -> None:
        """Prepare the server; nothing is bound until :meth:`start` or ``with``.

        Args:
            app: Any ASGI application (Starlette, FastAPI, ...).
            startup_timeout: Seconds to wait for uvicorn to start accepting connections.
            lifespan: Run the app's lifespan (start-up and shutdown) handlers.
            uvicorn_options: More keyword arguments for ``uvicorn.Config``.
        """
        self.app = app
        self.host = "127.0.0.1"
        self.port = 0
        self._startup_timeout = startup_timeout
        self._lifespan = lifespan
        self._uvicorn_options = uvicorn_options or {}
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:PORT``, without a trailing slash."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Bind a free port and serve the app until :meth:`stop`.

        Raises:
            RuntimeError: If the server is already running or does not start in time.
        """
        if self._thread is not None:
            raise RuntimeError("server already started")
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP;
        # without it every small response waits ~40 ms on delayed ACKs.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        self._socket = sock
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="on" if self._lifespan else "off",
            ws="none",  # the apps served here speak HTTP only; loop and http stay "auto"
            # Streams that a test abandons must not hold shutdown for long.
            timeout_graceful_shutdown=1,
            **self._uvicorn_options,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"asgi-{self.port}", daemon=True
        )
        self._thread.start()
        if not self._wait_started():
            self.stop()
            raise RuntimeError("ASGI server did not start in time")

    def _wait_started(self) -> bool:
        # uvicorn exposes no start event; poll its flag while watching for an early exit.
        assert self._server is not None and self._thread is not None
        waited = 0.0
        step = 0.005
        while waited < self._startup_timeout:
            if self._server.started:
                return True
            if not self._thread.is_alive():
                return False
            threading.Event().wait(step)
            waited += step
        return False

    def stop(self) -> None:
        """Ask uvicorn to exit, wait for its thread and release the port."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = None
        self._thread = None
        self._socket = None

    def __enter__(self) -> ThreadedServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
