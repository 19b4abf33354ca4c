"""The server's view of itself: ``/metrics``, a metrics port, request spans and request logs.

``/metrics`` serves the process's Prometheus metrics (the engine's, from :mod:`callisto.telemetry`,
and the client library's process metrics) and asks for a key like every API route. With
``metrics_port`` set, they are also served without a key on that port, for a scraper that
cannot send one.

:func:`instrument` wraps the whole application, authentication included: each request gets a
DEBUG line on ``callisto.http`` with its status and time, and with the error's message for a
4xx or 5xx. (Request spans come from FastAPI's own OpenTelemetry support, which continues a
client's ``traceparent``; the engine's spans are made in :mod:`callisto.telemetry`.)
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callisto.config import Settings
from callisto.store.database import create_sync_engine

log = logging.getLogger("callisto.http")

router = APIRouter(tags=["operations"])

_ERROR_BODY_LIMIT = 4096


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    """Return the metrics in Prometheus's text format."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def start(settings: Settings) -> Callable[[], None]:
    """Start what the settings ask for; return what stops it.

    In the scaled mode, the dispatch queue's depth and age are collected at each scrape; with
    ``metrics_port`` set, ``/metrics`` is served there too.
    """
    stops: list[Callable[[], None]] = []
    if settings.dispatch == "queue":
        collector = QueueCollector(settings.database_url)
        REGISTRY.register(collector)
        stops.append(collector.close)
    if settings.metrics_port is not None:
        server, thread = start_http_server(settings.metrics_port, addr=settings.host)
        log.info("metrics on http://%s:%d/metrics", settings.host, settings.metrics_port)

        def stop_port() -> None:
            server.shutdown()
            server.server_close()
            thread.join()

        stops.append(stop_port)

    def stop() -> None:
        for each in reversed(stops):
            each()

    return stop


_QUEUE_SQL = text(
    """
    SELECT count(*), EXTRACT(EPOCH FROM now() - min(e.at))
    FROM procrastinate_jobs j
    LEFT JOIN procrastinate_events e ON e.job_id = j.id AND e.type = 'deferred'
    WHERE j.queue_name = :queue AND j.status = 'todo'
    """
)


class QueueCollector(Collector):
    """The scaled mode's dispatch queue, read from the database at each scrape."""

    def __init__(self, database_url: str) -> None:
        """Read the queue of the database at ``database_url`` (PostgreSQL)."""
        from callisto.engine.jobs import QUEUE  # the scaled mode's module, loaded with it

        self.queue = QUEUE
        self.engine = create_sync_engine(database_url)

    def collect(self) -> Iterator[Metric]:
        """Yield the jobs waiting for a worker and how long the oldest has waited."""
        with self.engine.connect() as connection:
            depth, age = connection.execute(_QUEUE_SQL, {"queue": self.queue}).one()
        yield GaugeMetricFamily(
            "callisto_dispatch_queue_depth", "Turns queued for a worker.", value=depth
        )
        yield GaugeMetricFamily(
            "callisto_dispatch_queue_age_seconds",
            "How long the oldest queued turn has waited for a worker (0: none waits).",
            value=float(age or 0.0),
        )

    def close(self) -> None:
        """Stop being collected and release the connection."""
        REGISTRY.unregister(self)
        self.engine.dispose()


class RequestLog:
    """Log each HTTP request at DEBUG: method, path, status, milliseconds, and an error's message."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, watching its response's status (and body, for an error)."""
        if scope["type"] != "http" or not log.isEnabledFor(logging.DEBUG):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        error = bytearray()

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status >= 400:
                error.extend(message.get("body", b"")[: _ERROR_BODY_LIMIT - len(error)])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            reason = _error_message(bytes(error)) if status >= 400 else ""
            log.debug(
                "%s %s %d %.1f ms%s",
                scope["method"],
                scope["path"],
                status,
                elapsed,
                f": {reason}" if reason else "",
                extra={"method": scope["method"], "path": scope["path"], "status_code": status},
            )


def _error_message(body: bytes) -> str:
    """Return the message of an error body in OpenAI's shape (or FastAPI's), else ``""``."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        return ""
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or "")
        return str(data.get("detail") or "")
    return ""


def instrument(app: ASGIApp) -> ASGIApp:
    """Wrap ``app`` (authentication included) in the request log."""
    return RequestLog(app)
