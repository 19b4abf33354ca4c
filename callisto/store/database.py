"""Database URLs, engines and migrations.

Users write plain URLs (``sqlite:///data/callisto.db``, ``postgresql://user@host/db``); this
module picks the drivers: aiosqlite or psycopg (async) for the server, pysqlite or psycopg
(sync) for Alembic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy import create_engine as create_sync_engine_
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from callisto.errors import InvalidRequest


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise InvalidRequest(f"Invalid database URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise InvalidRequest(
            f"Unsupported database '{backend}': use sqlite:///PATH or postgresql://..."
        )
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        # Each connection would get its own empty database: the server uses several.
        raise InvalidRequest("An in-memory SQLite database cannot be used: give a file path.")
    return parsed


def async_url(url: str) -> URL:
    """Return ``url`` with the async driver Callisto uses for its backend."""
    parsed = _parse(url)
    driver = "aiosqlite" if parsed.get_backend_name() == "sqlite" else "psycopg"
    return parsed.set(drivername=f"{parsed.get_backend_name()}+{driver}")


def sync_url(url: str) -> URL:
    """Return ``url`` with the sync driver Alembic uses for its backend."""
    parsed = _parse(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return parsed.set(drivername="sqlite")
    return parsed.set(drivername="postgresql+psycopg")


def ensure_sqlite_folder(url: str) -> None:
    """Create the folder of a SQLite database file, so a first start just works."""
    parsed = _parse(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long a SQLite connection waits for another's write lock before failing."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers go on while a writer commits; busy_timeout waits for the lock
    # instead of failing at once; foreign keys make ON DELETE CASCADE work.
    # Setting the journal mode fails at once, busy timeout or not, while another connection
    # writes: set it only on a database not yet in WAL mode.
    cursor.execute("PRAGMA journal_mode")
    if cursor.fetchone()[0] != "wal":
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """Create the async engine for ``url``.

    Args:
        url: A plain database URL.
        pool_size: Connections kept open (PostgreSQL).
    """
    ensure_sqlite_folder(url)
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        engine = create_async_engine(target)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        target, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True
    )


def create_sync_engine(url: str) -> Engine:
    """Create the synchronous engine of the engine's writer (:mod:`callisto.store.writer`).

    One connection: the writer runs one transaction at a time (on SQLite a second one reads in
    autocommit). On SQLite each transaction begins ``IMMEDIATE`` (it takes the write lock at once, so a transaction that reads before
    it writes never finds its snapshot stale) and savepoints work, which pysqlite's own
    transaction handling would break.
    """
    ensure_sqlite_folder(url)
    target = sync_url(url)
    if target.get_backend_name() != "sqlite":
        return create_sync_engine_(target, pool_size=1, max_overflow=0, pool_pre_ping=True)
    # Two connections: the writer's, and one for reads on the event loop (Writer.read).
    engine = create_sync_engine_(target, pool_size=2, max_overflow=0)

    def connect(dbapi_connection: Any, record: Any) -> None:
        _sqlite_pragmas(dbapi_connection, record)
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself, below

    def begin(connection: Connection) -> None:
        if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    event.listen(engine, "connect", connect)
    event.listen(engine, "begin", begin)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    """Return the session factory used everywhere: no expiry on commit, so rows stay usable."""
    return async_sessionmaker(engine, expire_on_commit=False)


def check_connection(url: str) -> None:
    """Connect to the database at ``url`` once (creating a SQLite file's folder), or raise.

    Raises:
        sqlalchemy.exc.DBAPIError: The database refused or could not be reached.
        OSError: The SQLite file's folder could not be created.
    """
    ensure_sqlite_folder(url)
    engine = create_sync_engine_(sync_url(url), poolclass=NullPool)
    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()


def run_migrations(url: str) -> None:
    """Bring the database at ``url`` to the newest schema with Alembic (sync, at start)."""
    from alembic import command
    from alembic.config import Config

    ensure_sqlite_folder(url)
    here = Path(__file__).parent
    config = Config()
    config.set_main_option("script_location", str(here / "migrations"))
    config.attributes["sqlalchemy_url"] = sync_url(url)
    command.upgrade(config, "head")
