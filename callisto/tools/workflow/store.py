"""Durable checkpoints of workflow runs: a SQLite file by default, PostgreSQL for shared use.

Each checkpoint is one statement in its own transaction, committed before the runner goes on,
so whatever a crash interrupts, the store holds every step's last recorded state. Records are
kept as JSON text in two tables, ``callisto_workflow_runs`` and ``callisto_workflow_steps``,
created when the store opens.

A process drives a run only while it holds the run's *lease* (an owner and an expiry time on the
run's row, renewed as it works), so two processes never drive one run at once; the lease of a
process that died runs out by itself. A process's writes land only while it holds the lease,
so one that stalled past it and was replaced can't overwrite its successor's records. Expiry times come from the clocks of the machines
involved, so those should agree to well within the lease.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from callisto.tools.workflow.errors import WorkflowStateError
from callisto.tools.workflow.records import StepRecord, WorkflowRun, WorkflowStatus

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS callisto_workflow_runs ("
    " id TEXT PRIMARY KEY, workflow TEXT NOT NULL, status TEXT NOT NULL, record TEXT NOT NULL,"
    " owner TEXT, lease_until DOUBLE PRECISION)",
    "CREATE TABLE IF NOT EXISTS callisto_workflow_steps ("
    " run_id TEXT NOT NULL, step TEXT NOT NULL, status TEXT NOT NULL, record TEXT NOT NULL,"
    " PRIMARY KEY (run_id, step))",
)
_INSERT_RUN = (
    "INSERT INTO callisto_workflow_runs (id, workflow, status, record) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (id) DO NOTHING"
)
# Writes of a driving process only land while it holds the run's lease (see claim).
_UPDATE_RUN = "UPDATE callisto_workflow_runs SET status = ?, record = ? WHERE id = ? AND owner = ?"
_UPSERT_STEP = (
    "INSERT INTO callisto_workflow_steps (run_id, step, status, record) SELECT ?, ?, ?, ?"
    " WHERE EXISTS (SELECT 1 FROM callisto_workflow_runs WHERE id = ? AND owner = ?)"
    " ON CONFLICT (run_id, step) DO UPDATE SET status = excluded.status, record = excluded.record"
)
_CLAIM = (
    "UPDATE callisto_workflow_runs SET owner = ?, lease_until = ?"
    " WHERE id = ? AND (owner IS NULL OR owner = ? OR lease_until < ?)"
)
_RELEASE = (
    "UPDATE callisto_workflow_runs SET owner = NULL, lease_until = NULL WHERE id = ? AND owner = ?"
)
_SELECT_RUN = "SELECT record FROM callisto_workflow_runs WHERE id = ?"
_SELECT_STEPS = "SELECT record FROM callisto_workflow_steps WHERE run_id = ?"


class CheckpointStore(Protocol):
    """Where runs and their steps are checkpointed; every write is durable when it returns."""

    def create_run(self, run: WorkflowRun) -> None:
        """Record a new run (without steps).

        Raises:
            WorkflowStateError: A run with that id exists.
        """
        ...

    def save_run(self, run: WorkflowRun, owner: str) -> bool:
        """Record the run's status and header, if ``owner`` holds its lease; say whether."""
        ...

    def save_step(
        self, run_id: str, record: StepRecord, owner: str, *, run: WorkflowRun | None = None
    ) -> bool:
        """Record one step's state, if ``owner`` holds the run's lease; say whether.

        With ``run``, the run's status and header are recorded in the same transaction.
        """
        ...

    def load_run(self, run_id: str) -> WorkflowRun | None:
        """The run with its step records, or ``None`` when there is none."""
        ...

    def claim(self, run_id: str, owner: str, seconds: float) -> bool:
        """Take (or renew) the lease on a run for ``seconds``; ``False`` if another holds it."""
        ...

    def release(self, run_id: str, owner: str) -> None:
        """Give the lease up, if ``owner`` holds it."""
        ...

    def run_ids(self, statuses: Iterable[WorkflowStatus] = ()) -> list[str]:
        """The ids of the runs in ``statuses`` (all runs when empty)."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


class _SqlCheckpoints:
    """The checkpoint store on a DB-API connection; subclasses open it and set the paramstyle."""

    _placeholder = "?"

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._lock = threading.Lock()
        for statement in _SCHEMA:
            self._execute(statement)

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._lock:
            return self._statement(sql, params)

    def _statement(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self._placeholder != "?":
            sql = sql.replace("?", self._placeholder)
        return self._connection.execute(sql, tuple(params))

    def create_run(self, run: WorkflowRun) -> None:
        """See :class:`CheckpointStore`."""
        header = json.dumps(run.header())
        params = (run.id, run.workflow, run.status.value, header)
        if self._execute(_INSERT_RUN, params).rowcount != 1:
            raise WorkflowStateError(f"a workflow run with id {run.id!r} already exists")

    def save_run(self, run: WorkflowRun, owner: str) -> bool:
        """See :class:`CheckpointStore`."""
        return bool(self._execute(_UPDATE_RUN, _run_params(run, owner)).rowcount == 1)

    def save_step(
        self, run_id: str, record: StepRecord, owner: str, *, run: WorkflowRun | None = None
    ) -> bool:
        """See :class:`CheckpointStore`."""
        data = json.dumps(record.to_dict())
        params = (run_id, record.name, record.status.value, data, run_id, owner)
        if run is None:
            return bool(self._execute(_UPSERT_STEP, params).rowcount == 1)
        with self._lock:  # one transaction, one commit (one sync to disk) for both rows
            self._statement("BEGIN")
            try:
                written = self._statement(_UPSERT_STEP, params).rowcount == 1
                written = (
                    written and self._statement(_UPDATE_RUN, _run_params(run, owner)).rowcount == 1
                )
            except BaseException:
                self._statement("ROLLBACK")
                raise
            self._statement("COMMIT" if written else "ROLLBACK")
        return bool(written)

    def load_run(self, run_id: str) -> WorkflowRun | None:
        """See :class:`CheckpointStore`."""
        row = self._execute(_SELECT_RUN, (run_id,)).fetchone()
        if row is None:
            return None
        records = [
            StepRecord.from_dict(json.loads(r[0]))
            for r in self._execute(_SELECT_STEPS, (run_id,)).fetchall()
        ]
        return WorkflowRun.from_header(json.loads(row[0]), {r.name: r for r in records})

    def claim(self, run_id: str, owner: str, seconds: float) -> bool:
        """See :class:`CheckpointStore`."""
        now = time.time()
        return bool(self._execute(_CLAIM, (owner, now + seconds, run_id, owner, now)).rowcount == 1)

    def release(self, run_id: str, owner: str) -> None:
        """See :class:`CheckpointStore`."""
        self._execute(_RELEASE, (run_id, owner))

    def run_ids(self, statuses: Iterable[WorkflowStatus] = ()) -> list[str]:
        """See :class:`CheckpointStore`."""
        wanted = [WorkflowStatus(s).value for s in statuses]
        sql = "SELECT id FROM callisto_workflow_runs"
        if wanted:
            sql += " WHERE status IN (" + ", ".join("?" for _ in wanted) + ")"
        return [row[0] for row in self._execute(sql + " ORDER BY id", wanted).fetchall()]

    def close(self) -> None:
        """See :class:`CheckpointStore`."""
        with self._lock:
            self._connection.close()

    def __enter__(self) -> _SqlCheckpoints:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _run_params(run: WorkflowRun, owner: str) -> tuple[str, str, str, str]:
    return (run.status.value, json.dumps(run.header()), run.id, owner)


class SQLiteCheckpoints(_SqlCheckpoints):
    """Checkpoints in a SQLite file (stdlib ``sqlite3``), in WAL mode.

    Several processes may open the same file; each write waits up to ``timeout`` seconds for
    another's lock.

    Args:
        path: The database file; created with its directory when missing.
        timeout: Seconds a write waits for the file's lock.
        synchronous: ``"FULL"`` (the default): every commit is on disk before the runner goes
            on, so checkpoints survive a power loss too. ``"NORMAL"``: commits survive the
            death of the process (what resuming needs) but the last ones may be lost if the
            machine itself goes down; an order of magnitude faster on most disks.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        timeout: float = 30.0,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError("synchronous must be 'FULL' or 'NORMAL'")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        connection = sqlite3.connect(
            path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={synchronous}")
        super().__init__(connection)


class PostgresCheckpoints(_SqlCheckpoints):
    """Checkpoints in PostgreSQL (``psycopg``), for runs shared by several machines.

    Args:
        conninfo: A ``postgresql://`` URL or libpq connection string.
    """

    _placeholder = "%s"

    def __init__(self, conninfo: str) -> None:
        import psycopg  # only needed by those who choose PostgreSQL

        super().__init__(psycopg.connect(conninfo, autocommit=True))


def open_store(location: str | Path) -> CheckpointStore:
    """The store at ``location``: PostgreSQL for a ``postgresql://`` URL, else a SQLite file."""
    text = str(location)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresCheckpoints(text)
    return SQLiteCheckpoints(location)
