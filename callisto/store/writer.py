"""Group commit: the engine's transactions, batched, on one connection in one thread.

Every change to a run (creating it, starting and ending a turn, the rows of a reply, tool
outputs, cancelling, expiring) is a *transaction function*: a plain function of a synchronous
ORM :class:`~sqlalchemy.orm.Session`. :meth:`Writer.run` queues one and waits for its result.
One task drains the queue: whatever is queued when the database becomes free runs as one
batch, in one database transaction, each function inside its own savepoint. On PostgreSQL the
batch runs on a worker thread (the database answers over the network). On SQLite it runs on
the event loop itself: SQLite answers in microseconds, and the batch begins by taking the write
lock without waiting; only when another connection holds the lock does the batch go to the
thread and wait there, so the loop never waits for a lock. So:

- at concurrency 1 a change costs one commit (and, on PostgreSQL, one thread hand-off), not an
  async session's dozen awaits per statement;
- under load, hundreds of runs share one commit, and the event loop never waits on the
  database pool (which is how 1,000 runs in flight ran out of connections before);
- a function that raises (a version conflict, a bad request found while reading) rolls back
  only its savepoint: its caller gets the exception, the rest of the batch commits.

A function's result is returned once the batch has committed: the engine publishes an event
only after the state it announces is durable. Rows a function returns are detached and fully
loaded, so the caller reads them freely; rows a caller changed while detached can be passed
to a later function, which re-attaches them with ``session.add`` and so writes only what
changed (with the run's optimistic version check).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache, lru_cache, partial
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import (
    ColumnDefault,
    ColumnElement,
    Connection,
    Engine,
    Insert,
    Table,
    bindparam,
    insert,
    select,
    text,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, make_transient_to_detached

from callisto import telemetry
from callisto.errors import CallistoError
from callisto.store.database import SQLITE_BUSY_TIMEOUT_MS
from callisto.store.models import Base

T = TypeVar("T")
Transaction = Callable[[Session], T]
"""A transaction function: reads and changes rows through the session; the writer commits."""

log = logging.getLogger("callisto.store")


class Transactions(Protocol):
    """Whatever runs transaction functions: the :class:`Writer`, or a fenced view of it."""

    async def run(self, transaction: Transaction[T], *, durable: bool = True) -> T:
        """Run ``transaction`` and return its result once committed."""
        ...

    async def insert(self, rows: Sequence[Base], *, durable: bool = True) -> None:
        """Insert new ``rows`` in one transaction; once committed they are detached rows."""
        ...


_Outcome = tuple[bool, Any]


class WriterClosed(CallistoError):
    """The writer was closed (the server is stopping)."""

    status_code = 503


class Writer:
    """Runs transaction functions in batches, one batch per database transaction.

    Args:
        engine: A synchronous engine (see :func:`callisto.store.database.create_sync_engine`).
        max_batch: The most functions one transaction carries.
    """

    def __init__(self, engine: Engine, *, max_batch: int = 256) -> None:
        """Create a writer over ``engine``; :meth:`start` starts it."""
        self.engine = engine
        self.max_batch = max_batch
        self._queue: list[tuple[Transaction[Any], asyncio.Future[Any], bool, bool]] = []
        self._relaxed = engine.dialect.name == "postgresql"
        self._inline = engine.dialect.name == "sqlite"
        self._waits = True
        self._wake = asyncio.Event()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="callisto-writer")
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._connection: Connection | None = None
        self._reader: Connection | None = None
        # Counters: batches committed, functions run, seconds the connection was busy.
        self.batches = 0
        self.transactions = 0
        self.busy_seconds = 0.0

    def start(self) -> None:
        """Start draining the queue (call from the event loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._drain(), name="callisto:writer")

    async def run(
        self, transaction: Transaction[T], *, durable: bool = True, retry: bool = False
    ) -> T:
        """Run ``transaction`` in the next batch and return its result once committed.

        ``durable=False`` marks a change that a restart would redo anyway (a turn's start, the
        rows of a reply being streamed): on PostgreSQL a batch of only such changes commits
        without waiting for the WAL flush (``synchronous_commit = off``). A crash of the
        database can lose it, never reorder it: a later durable commit flushes it too.

        ``retry=True`` marks a function that may simply run again when the database picks it
        as a deadlock's victim or refuses it for a serialization conflict (another process's
        batch locked the same rows in another order): it reads what it changes, and closes
        over no rows changed outside it. It runs up to three times.

        Raises:
            Exception: Whatever the function raised (its savepoint was rolled back), or the
                error that stopped the whole batch from committing.
        """
        if self._closing:
            raise WriterClosed("The server is shutting down.")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((transaction, future, durable, retry))
        self._wake.set()
        return await future

    async def _drain(self) -> None:
        """Run batches until the queue is empty and the writer is closing."""
        loop = asyncio.get_running_loop()
        while not self._closing or self._queue:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
                functions = [(fn, retry) for fn, _, _, retry in batch]
                relaxed = self._relaxed and not any(durable for _, _, durable, _ in batch)
                try:
                    # SQLite answers in microseconds and never waits here (see _execute):
                    # the batch runs on the loop, unless another writer holds the lock (or
                    # there is no connection yet: connecting may wait for it too).
                    inline = self._inline and self._connection is not None
                    outcomes = self._execute(functions, relaxed) if inline else None
                    if outcomes is None:
                        outcomes = await loop.run_in_executor(
                            self._thread, self._execute_waiting, functions, relaxed
                        )
                except Exception as exc:  # the batch did not commit: every caller hears why
                    log.warning("a batch of %d transactions failed: %s", len(batch), exc)
                    outcomes = [(False, exc)] * len(batch)
                for (_, future, _, _), (ok, value) in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)

    def _execute(
        self, functions: list[tuple[Transaction[Any], bool]], relaxed: bool, *, wait: bool = False
    ) -> list[_Outcome] | None:
        """Run ``functions`` in one transaction; ``None`` when SQLite is locked and ``wait``
        is false (nothing ran)."""
        # The connection stays open between batches (no checkout or ping per batch); a batch
        # that fails as a whole drops it, and the next batch connects afresh.
        started = time.perf_counter()
        connection = self._connect(wait)
        try:
            try:
                # On SQLite this is BEGIN IMMEDIATE: it takes the write lock before any function
                # runs, or, not waiting, fails and leaves nothing to undo.
                connection.begin()
            except OperationalError as exc:
                if wait or not _is_locked(exc):
                    raise
                return None
            if relaxed:
                connection.execute(_ASYNC_COMMIT)
            if len(functions) == 1:
                # Alone in its transaction: no savepoint needed; the writer commits.
                function, retry = functions[0]
                outcomes = [_outcome(function, partial(Session, bind=connection, **_ALONE), retry)]
            else:
                # Each function in its own savepoint: the session begins one on the shared
                # transaction, releases it on commit, rolls back to it on failure.
                outcomes = []
                for fn, retry in functions:
                    savepoint = partial(Session, bind=connection, **_SAVEPOINT)
                    outcomes.append(_outcome(fn, savepoint, retry))
                    _raise_if_disconnected(outcomes[-1])
            _raise_if_disconnected(outcomes[-1])
            if connection.in_transaction():  # a lone function that failed rolled it back
                connection.commit()
        except Exception:
            # The batch did not commit (a lost connection fails every function in it: none of
            # them was saved, so each caller may simply try again). The next batch connects
            # afresh.
            self._connection = None
            connection.invalidate()
            raise
        if any(not ok and isinstance(value, DBAPIError) for ok, value in outcomes):
            # A function met a database error (a deadlock, say): start the next batch on a
            # fresh connection rather than on one that may be in a bad state.
            self._connection = None
            connection.invalidate()
        self.batches += 1
        self.transactions += len(functions)
        self.busy_seconds += time.perf_counter() - started
        telemetry.writer_batch(len(functions), time.perf_counter() - started)
        return outcomes

    def _execute_waiting(
        self, functions: list[tuple[Transaction[Any], bool]], relaxed: bool
    ) -> list[_Outcome]:
        outcomes = self._execute(functions, relaxed, wait=True)
        assert outcomes is not None  # a batch that waits for the lock is never turned away
        return outcomes

    def _connect(self, wait: bool) -> Connection:
        """Return the writer's connection, waiting for SQLite's lock (up to its busy timeout)
        or not."""
        if self._connection is None:
            self._connection = self.engine.connect()
            self._waits = True  # the busy timeout set when it connected
        if self._inline and self._waits != wait:
            timeout = SQLITE_BUSY_TIMEOUT_MS if wait else 0
            self._connection.connection.driver_connection.execute(  # type: ignore[union-attr]
                f"PRAGMA busy_timeout={timeout}"
            )
            self._waits = wait
        return self._connection

    async def insert(self, rows: Sequence[Base], *, durable: bool = True) -> None:
        """Insert new ``rows`` with one INSERT each, without the ORM's unit of work.

        Once committed, the rows are detached as if loaded: a later transaction function
        re-attaches one with ``session.add`` and writes only what it changed.
        """

        def add(db: Session) -> None:
            for row in rows:
                insert_row(db, row)

        await self.run(add, durable=durable)
        for row in rows:
            make_transient_to_detached(row)

    @property
    def reads_inline(self) -> bool:
        """Whether :meth:`read` may be used: on SQLite."""
        return self._inline

    def read(self, function: Transaction[T]) -> T:
        """Run a function that only reads, at once, on a connection of its own (SQLite only).

        In WAL mode a read never waits for a writer, and SQLite answers in microseconds: the
        event loop runs it directly, with no thread hand-off, in autocommit (each statement
        sees what was committed when it ran).
        """
        if not self._inline:
            raise RuntimeError("Writer.read is for SQLite; read through an async session")
        if self._reader is None:
            self._reader = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        with Session(bind=self._reader, **_READ) as db:
            return function(db)

    async def aclose(self) -> None:
        """Finish what is queued, then stop and release the connection and the thread."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        self._thread.shutdown(wait=True)
        for connection in (self._connection, self._reader):
            if connection is not None:
                connection.close()
        self.engine.dispose()


_ASYNC_COMMIT = text("SET LOCAL synchronous_commit TO OFF")
# A lone function's session joins the writer's transaction and may roll it back; the writer
# commits it.
_ALONE: dict[str, Any] = {"expire_on_commit": False, "join_transaction_mode": "rollback_only"}
_READ: dict[str, Any] = {"expire_on_commit": False}
_SAVEPOINT: dict[str, Any] = {
    "expire_on_commit": False,
    "join_transaction_mode": "create_savepoint",
}


def insert_row(
    db: Session,
    row: Base,
    *,
    only_if: ColumnElement[bool] | None = None,
    params: Mapping[str, Any] | None = None,
) -> bool:
    """Insert a new ORM ``row`` with one Core INSERT; return whether it was inserted.

    With ``only_if``, the INSERT takes its values from a SELECT with that condition, so the row
    goes in only when the condition holds, in the same statement. Build the condition once,
    with its values as bound parameters given in ``params``: the statement is then built
    once per table and set of columns, not per row. The row's Python-side
    defaults are applied to it, and each of its columns is set (None included), so that
    :func:`~sqlalchemy.orm.make_transient_to_detached` leaves nothing to load. None is left
    out of the INSERT: the column is NULL, as the ORM writes it.
    """
    mapper = sa_inspect(type(row))
    values: dict[str, Any] = {}
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        value = getattr(row, prop.key)
        if value is None and isinstance(column.default, ColumnDefault):
            value = column.default.arg if column.default.is_scalar else column.default.arg(None)
        setattr(row, prop.key, value)
        if value is not None:
            values[column.name] = value
    table = cast(Table, mapper.local_table)
    if only_if is None:
        # One INSERT construct per table, its values as parameters: SQLAlchemy's compiled
        # cache then finds it without building a statement and its cache key for each row.
        db.execute(_insert_into(table), values)
        return True
    result = db.execute(_insert_if(table, tuple(values), only_if), {**values, **(params or {})})
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


@cache
def _insert_into(table: Table) -> Insert:
    """Return the INSERT construct of ``table``, built once."""
    return insert(table)


@lru_cache(maxsize=64)  # bounded: a caller may build its condition anew for each row
def _insert_if(table: Table, columns: tuple[str, ...], only_if: ColumnElement[bool]) -> Insert:
    """Return ``INSERT INTO table (columns) SELECT :column, ... WHERE only_if``, built once."""
    chosen = select(*(bindparam(name, type_=table.c[name].type) for name in columns))
    statement = insert(table).from_select(list(columns), chosen.where(only_if))
    return statement.execution_options(preserve_rowcount=True)  # else PostgreSQL's may read -1


def _raise_if_disconnected(outcome: _Outcome) -> None:
    """Raise the error of a function that lost the connection: the whole batch is lost."""
    ok, value = outcome
    if not ok and isinstance(value, DBAPIError) and value.connection_invalidated:
        raise value


# PostgreSQL's deadlock victim and serialization failure: the same transaction may succeed.
_CONFLICTS = frozenset({"40P01", "40001"})
_ATTEMPTS = 3


def _is_locked(exc: OperationalError) -> bool:
    """Whether SQLite refused the write lock because another connection holds it."""
    return "database is locked" in str(exc.orig)


def _is_conflict(exc: Exception) -> bool:
    return isinstance(exc, OperationalError) and getattr(exc.orig, "sqlstate", None) in _CONFLICTS


def _outcome(
    function: Transaction[Any], new_session: Callable[[], Session], retry: bool
) -> _Outcome:
    """Run one transaction function in a new session and commit it, or roll it back.

    A ``retry`` function that lost a deadlock runs again in a fresh session.
    """
    for attempt in range(1, _ATTEMPTS + 1):
        session = new_session()
        try:
            value = function(session)
            session.commit()
            return True, value
        except Exception as exc:
            session.rollback()
            if not (retry and attempt < _ATTEMPTS and _is_conflict(exc)):
                return False, exc
            log.info(
                "a transaction lost a deadlock; running it again (attempt %d): %s",
                attempt + 1,
                str(exc).split("\n", 1)[0],
            )
        finally:
            session.close()  # detaches the rows, loaded, for the caller
    raise AssertionError("unreachable")  # pragma: no cover
