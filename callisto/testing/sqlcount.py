"""Count the SQL a process sends: transactions and statements, by kind, for tests and benchmarks.

Counts are deterministic, unlike timings, so a test may bound them::

    with SqlCounter(database_url).listening() as counter:
        ...  # drive a conversation
    assert counter.snapshot()["statements"] <= 20

The engines of one database are counted (the store writer's and the API's reads), through
SQLAlchemy's events: ``begin`` (a transaction, unless in autocommit), ``commit``, and
``before_cursor_execute`` (a statement sent to the database; a SAVEPOINT or SQLite's
``BEGIN IMMEDIATE`` is one too).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import URL, make_url

__all__ = ["KINDS", "SqlCounter"]

KINDS = ("SELECT", "INSERT", "UPDATE", "DELETE")


class SqlCounter:
    """Counts transactions and statements of the process's SQLAlchemy engines.

    Args:
        database_url: Count only engines of this database (the same file, or the same
            PostgreSQL database and options, whatever the driver); every engine when omitted.
        show: Print each statement as it is counted.
    """

    def __init__(self, database_url: str | None = None, *, show: bool = False) -> None:
        """Start at zero; :meth:`listening` attaches the listeners."""
        self.counts: Counter[str] = Counter()
        self.show = show
        self._database = None if database_url is None else _database_of(make_url(database_url))
        self._lock = threading.Lock()

    def _counted(self, conn: Connection, key: str, shown: str) -> bool:
        if self._database is not None and _database_of(conn.engine.url) != self._database:
            return False
        with self._lock:
            self.counts[key] += 1
        if self.show:
            print("    ", " ".join(shown.split())[:150])
        return True

    def _statement(self, conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        if self._counted(conn, "statements", statement):
            word = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
            with self._lock:
                self.counts[word if word in KINDS else "other"] += 1

    def _begin(self, conn: Connection) -> None:
        # In autocommit no transaction begins (the reads of a turn's history run so).
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            self._counted(conn, "transactions", "BEGIN")

    @contextmanager
    def listening(self) -> Iterator[SqlCounter]:
        """Count while inside the block."""
        hooks: list[tuple[str, Callable[..., object]]] = [
            ("before_cursor_execute", self._statement),
            ("begin", self._begin),
            ("commit", lambda conn: self._counted(conn, "commits", "COMMIT")),
        ]
        for name, hook in hooks:
            event.listen(Engine, name, hook)
        try:
            yield self
        finally:
            for name, hook in hooks:
                event.remove(Engine, name, hook)

    def snapshot(self) -> Counter[str]:
        """Return a copy of the counts so far."""
        with self._lock:
            return Counter(self.counts)


def _database_of(url: URL) -> tuple[str | None, str | None, int | None, str]:
    return url.database, url.host, url.port, repr(sorted(url.query.items()))
