"""The scaled mode's dispatch: turns as procrastinate jobs, executed by ``callisto worker``.

API processes (``dispatch = "queue"``) execute nothing. The transaction that needs a turn
(creating a run, its tool outputs, a cancel) also defers a job, through procrastinate's own SQL
function, so a job exists exactly when its change committed. Workers take jobs as PostgreSQL
notifies them and execute the turn with the same runner, leases and fencing as the embedded
mode. The run row stays the source of truth: a job only says "look at this run", so a duplicate
or late job finds nothing to do.

A worker that dies mid-turn leaves its run's lease to run out; any worker's sweeper then takes
the run over (see :meth:`callisto.engine.service.RunService.take_over`), and its stalled job is
given back to the queue by procrastinate's stalled-job retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import procrastinate
from procrastinate.schema import SchemaManager
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from callisto.engine.runner import Begin

log = logging.getLogger("callisto.worker")

QUEUE = "callisto"
TURN_TASK = "callisto.turn"

_DEFER = text(
    "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, 0, NULL, NULL, "
    "CAST(:args AS jsonb), NULL)::procrastinate_job_to_defer_v1])"
)


class QueueDispatcher:
    """Dispatch of an API process in the scaled mode: jobs for the workers, nothing local."""

    executes = False

    def enqueue_in(self, db: Session, run_id: str) -> None:
        """Defer a turn job in the caller's transaction (it exists iff the change commits)."""
        db.execute(
            _DEFER, {"queue": QUEUE, "task": TURN_TASK, "args": json.dumps({"run_id": run_id})}
        )

    async def reserve(self, run_id: str) -> bool:
        """No slots here: turns begin in a worker."""
        return False

    def release(self) -> None:
        """Nothing was reserved."""

    def submit(self, run_id: str, begun: Begin | None = None) -> None:
        """Nothing to do: the job was deferred with the change."""

    def interrupt(self, run_id: str, reason: str) -> bool:
        """No turn runs here; the worker holding it sees the change at its next heartbeat."""
        return False

    def is_executing(self, run_id: str) -> bool:
        """No turn executes in an API process."""
        return False

    @property
    def active(self) -> int:
        """No turn executes in an API process."""
        return 0

    async def drain(self) -> None:
        """Nothing to wait for."""

    async def aclose(self) -> None:
        """Nothing to stop."""


def conninfo(database_url: str) -> str:
    """Return a libpq connection string for a ``postgresql[+driver]://`` URL."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def job_app(database_url: str) -> procrastinate.App:
    """Return the procrastinate app of the deployment's job queue."""
    return procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=conninfo(database_url))
    )


def install_job_schema(database_url: str) -> None:
    """Create procrastinate's tables and functions in the database, once."""
    import psycopg

    with psycopg.connect(conninfo(database_url), autocommit=True) as conn:
        # Processes starting together: one creates the schema, the others then find it.
        conn.execute("SELECT pg_advisory_lock(hashtext('callisto:procrastinate-schema'))")
        try:
            if conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone() == (None,):
                conn.execute(SchemaManager.get_schema())
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('callisto:procrastinate-schema'))")


async def run_worker(settings: Any, concurrency: int) -> None:
    """Execute turns from the job queue until stopped (SIGINT/SIGTERM)."""
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

    run_migrations(settings.database_url)
    install_job_schema(settings.database_url)
    engine = create_engine(settings.database_url)
    writer = Writer(create_sync_engine(settings.database_url))
    writer.start()
    providers = ProviderRegistry(settings)
    await providers.start()
    runs = settings.runs.model_copy(update={"max_concurrent": concurrency})
    service = RunService(
        session_factory(engine),
        writer,
        make_event_log(settings),
        providers,
        runs,
        credentials=make_credentials(settings),
    )
    app = job_app(settings.database_url)

    @app.task(name=TURN_TASK, queue=QUEUE)
    async def turn(run_id: str) -> None:
        await service.dispatcher.run_turn(run_id)  # type: ignore[attr-defined]

    stalled_after = max(30.0, 3 * settings.runs.lease_seconds)

    async def retry_stalled() -> None:
        # A job whose worker stopped sending heartbeats goes back to the queue; its run was
        # (or will be) taken over by the lease sweeper, so the retried job finds it claimed
        # or at rest and does nothing more.
        while True:
            await asyncio.sleep(stalled_after / 3)
            try:
                for job in await app.job_manager.get_stalled_jobs(
                    seconds_since_heartbeat=stalled_after
                ):
                    await app.job_manager.retry_job(job)
            except Exception as exc:
                log.warning("retrying stalled jobs failed: %s", exc)

    await service.start()
    log.info(
        "worker %s: executing turns from queue %r, %d at once",
        service.leases.owner,
        QUEUE,
        concurrency,
    )
    janitor = asyncio.create_task(retry_stalled(), name="callisto:stalled-jobs")
    try:
        async with app.open_async():
            await app.run_worker_async(
                queues=[QUEUE],
                concurrency=concurrency,
                delete_jobs="successful",
                install_signal_handlers=True,
                stalled_worker_timeout=stalled_after,
            )
    finally:
        janitor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await janitor
        await service.aclose()
        await writer.aclose()
        await providers.aclose()
        await service.events.aclose()
        await engine.dispose()
