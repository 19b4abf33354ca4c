"""The ASGI application: routes, error handlers, middleware and the engine's lifetime."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from sqlalchemy import text
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from callisto import __version__
from callisto.api import metrics, ui
from callisto.api.auth import KeyResolver
from callisto.api.chat import router as chat_router
from callisto.api.deps import ServerState, server_state
from callisto.api.entities import router as entities_router
from callisto.api.errors import error_response, install_error_handlers
from callisto.api.limits import Limits, RateLimitMiddleware, database_active_runs
from callisto.api.middleware import DOCS_ASSETS, AuthMiddleware, BodyLimitMiddleware
from callisto.api.openapi import describe_responses
from callisto.api.responses import router as responses_router
from callisto.api.routes import assistants, audit, events, messages, models, runs, threads
from callisto.config import Settings, is_loopback
from callisto.engine.backends import make_credentials, make_event_log
from callisto.engine.service import RunService
from callisto.providers.registry import ProviderRegistry
from callisto.store.database import (
    create_engine,
    create_sync_engine,
    run_migrations,
    session_factory,
)
from callisto.store.writer import Writer

log = logging.getLogger("callisto")


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> ASGIApp:
    """Build the Callisto ASGI app.

    Args:
        settings: The settings; read from the environment and ``callisto.toml`` when omitted.
        migrate: Run database migrations at start.
    """
    settings = settings or Settings()
    keys = KeyResolver(
        settings.api_keys(),
        open_allowed=settings.allow_open or is_loopback(settings.host),
        cache_seconds=settings.key_cache_seconds,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            run_migrations(settings.database_url)
            if settings.dispatch == "queue":
                from callisto.engine.jobs import install_job_schema

                install_job_schema(settings.database_url)
        engine = create_engine(settings.database_url)
        sessions = session_factory(engine)
        writer = Writer(create_sync_engine(settings.database_url))
        writer.start()
        providers = ProviderRegistry(settings)
        await providers.start()  # before runs resume: none pays for building its provider
        service = RunService(
            sessions,
            writer,
            make_event_log(settings),
            providers,
            settings.runs,
            dispatch=settings.dispatch,
            credentials=make_credentials(settings),
        )
        keys.sessions = sessions
        app.state.callisto = ServerState(
            settings=settings, sessions=sessions, runs=service, keys=keys
        )
        await service.start()
        stop_metrics_port = metrics.start(settings)
        try:
            yield
        finally:
            stop_metrics_port()
            await service.aclose()
            await writer.aclose()
            await providers.aclose()
            await service.events.aclose()
            await engine.dispose()

    # /docs and /redoc from the assets in the fastapi-offline package: no CDN, so they work
    # without internet. Both are open, like /openapi.json (see callisto.api.middleware).
    app = FastAPIOffline(
        static_url=DOCS_ASSETS,
        title="Callisto",
        version=__version__,
        description="OpenAI Assistants API v2 compatible function-calling server.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    describe_responses(app)
    # runs before threads: POST /threads/runs must not match POST /threads/{thread_id}.
    for module in (assistants, runs, events, threads, messages, models, audit):
        app.include_router(module.router, prefix="/v1")
    app.include_router(chat_router, prefix="/v1")
    app.include_router(responses_router, prefix="/v1")
    app.include_router(entities_router, prefix="/entities")
    app.include_router(metrics.router)
    app.include_router(ui.router)

    @app.get("/health", tags=["health"])
    async def health() -> Any:
        """Readiness: the database answers."""
        state: ServerState = server_state_from(app)
        try:
            async with state.sessions() as db:
                await db.execute(text("SELECT 1"))
        except Exception as exc:  # readiness reports, it does not raise
            return error_response(
                503, f"database unavailable: {type(exc).__name__}", "server_error"
            )
        return {"status": "ok", "version": __version__}

    return metrics.instrument(wrap_in_middleware(app, settings, keys))


def wrap_in_middleware(app: FastAPI, settings: Settings, keys: KeyResolver) -> ASGIApp:
    """Return ``app`` inside, from the outside in: CORS (when origins are configured),
    authentication, the per-client limits, then the body's size and time limits.

    CORS is outermost so that a browser's preflight needs no key and every answer, a 401 or a
    429 included, carries the headers the browser needs to read it.
    """
    rate, burst, runs = settings.client_limits()
    wrapped: ASGIApp = BodyLimitMiddleware(
        app, settings.max_body_bytes, timeout=settings.limits.body_timeout
    )
    wrapped = RateLimitMiddleware(wrapped, Limits(rate, burst, runs), database_active_runs(app))
    wrapped = AuthMiddleware(wrapped, keys)
    if settings.cors_origins:
        wrapped = CORSMiddleware(
            wrapped,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            allow_headers=["*"],
            expose_headers=["retry-after", "openai-poll-after-ms", "x-request-id"],
            max_age=600,
        )
    return wrapped


def server_state_from(app: FastAPI) -> ServerState:
    """Return the state the lifespan stored on ``app``."""
    state: ServerState = app.state.callisto
    return state


__all__ = ["create_app", "server_state"]
