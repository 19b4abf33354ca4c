"""The store writer: batches, savepoints, durability and recovery, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callisto.errors import NotFound
from callisto.store.database import create_sync_engine
from callisto.store.models import ThreadRow
from callisto.store.writer import Writer, WriterClosed


def _thread(thread_id: str) -> ThreadRow:
    return ThreadRow(id=thread_id, created_at=0, metadata_={}, tool_resources=None)


def _count(prefix: str):  # type: ignore[no-untyped-def]
    def count(db: Session) -> int:
        return int(db.scalar(select(func.count()).where(ThreadRow.id.like(f"{prefix}%"))) or 0)

    return count


async def test_concurrent_changes_share_commits(
    writer: Writer, request: pytest.FixtureRequest
) -> None:
    prefix = f"thread_batch_{request.node.callspec.id}_"
    before = writer.batches
    ids = [f"{prefix}{i}" for i in range(200)]
    await asyncio.gather(*(writer.run(lambda db, i=i: db.add(_thread(i))) for i in ids))
    assert await writer.run(_count(prefix)) == 200
    # 200 changes queued at once need far fewer than 200 transactions.
    assert writer.batches - before < 50


async def test_a_failing_function_rolls_back_only_itself(
    writer: Writer, request: pytest.FixtureRequest
) -> None:
    prefix = f"thread_iso_{request.node.callspec.id}_"
    await writer.run(lambda db: db.add(_thread(prefix + "taken")))

    def missing(db: Session) -> None:
        db.add(_thread(prefix + "half"))
        db.flush()
        raise NotFound("no such thing")

    results = await asyncio.gather(
        writer.run(lambda db: db.add(_thread(prefix + "a"))),
        writer.run(lambda db: db.add(_thread(prefix + "taken"))),  # duplicate key
        writer.run(missing),
        writer.run(lambda db: db.add(_thread(prefix + "b"))),
        return_exceptions=True,
    )
    assert results[0] is None and results[3] is None
    assert isinstance(results[1], IntegrityError)
    assert isinstance(results[2], NotFound)
    names = await writer.run(
        lambda db: sorted(db.scalars(select(ThreadRow.id).where(ThreadRow.id.like(prefix + "%"))))
    )
    # The duplicate and the half-done function left nothing; the others committed.
    assert names == [prefix + "a", prefix + "b", prefix + "taken"]


async def test_rows_come_back_detached_and_loaded(
    writer: Writer, request: pytest.FixtureRequest
) -> None:
    thread_id = f"thread_rows_{request.node.callspec.id}"
    await writer.run(lambda db: db.add(_thread(thread_id)))
    row = await writer.run(lambda db: db.get(ThreadRow, thread_id))
    assert row is not None and row.metadata_ == {}
    # Changed while detached, then re-attached by a later function: only that change is written.
    row.metadata_ = {"k": "v"}
    await writer.run(lambda db: db.add(row))
    again = await writer.run(lambda db: db.get(ThreadRow, thread_id))
    assert again is not None and again.metadata_ == {"k": "v"}


async def test_relaxed_commits_only_when_every_change_allows_it(
    writer: Writer, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("synchronous_commit is a PostgreSQL setting")

    def setting(db: Session) -> str:
        return str(db.scalar(text("SHOW synchronous_commit")))

    assert await writer.run(setting, durable=False) == "off"
    assert await writer.run(setting) == "on"
    # In one batch, a durable change makes the whole commit durable.
    mixed = await asyncio.gather(writer.run(setting, durable=False), writer.run(setting))
    assert mixed == ["on", "on"]


async def test_a_lost_connection_fails_one_batch_then_recovers(
    writer: Writer, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("needs a server connection to cut")
    pid = await writer.run(lambda db: db.scalar(text("SELECT pg_backend_pid()")))
    engine = create_sync_engine(database_url)
    with engine.connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        other.commit()
    engine.dispose()
    with pytest.raises(Exception, match=r"terminat|closed|connection"):
        await writer.run(lambda db: db.scalar(text("SELECT 1")))
    assert await writer.run(lambda db: db.scalar(text("SELECT 1"))) == 1


async def test_closed_writer_refuses_new_work(database_url: str) -> None:
    w = Writer(create_sync_engine(database_url))
    w.start()
    pending = asyncio.ensure_future(w.run(lambda db: db.scalar(text("SELECT 1"))))
    await asyncio.sleep(0)  # queued
    await w.aclose()
    assert await pending == 1  # queued before the close: finished, not dropped
    with pytest.raises(WriterClosed):
        await w.run(lambda db: None)


async def test_a_deadlock_victim_marked_retry_runs_again(
    writer: Writer, database_url: str, request: pytest.FixtureRequest
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer: no deadlock between two")
    prefix = f"thread_dl_{request.node.callspec.id}_"
    first, second = prefix + "a", prefix + "b"
    await writer.run(lambda db: db.add_all([_thread(first), _thread(second)]))
    other = Writer(create_sync_engine(database_url))
    other.start()
    both_locked = threading.Barrier(2, timeout=10)
    attempts = {"one": 0, "two": 0}

    def lock_in_order(name: str, ids: tuple[str, str]):  # type: ignore[no-untyped-def]
        def change(db: Session) -> str:
            attempts[name] += 1
            db.execute(text("UPDATE threads SET metadata = '{}' WHERE id = :id"), {"id": ids[0]})
            if attempts[name] == 1:
                both_locked.wait()  # each holds its first row: the second updates deadlock
            db.execute(text("UPDATE threads SET metadata = '{}' WHERE id = :id"), {"id": ids[1]})
            return name

        return change

    try:
        done = await asyncio.gather(
            writer.run(lock_in_order("one", (first, second)), retry=True),
            other.run(lock_in_order("two", (second, first)), retry=True),
        )
    finally:
        await other.aclose()
    assert done == ["one", "two"]
    # A victim ran again (its retry can meet the other's waiting update and deadlock once more,
    # so each may have run twice).
    assert sum(attempts.values()) >= 3 and max(attempts.values()) <= 3


async def test_a_sqlite_writer_waits_off_the_loop_while_another_holds_the_lock(
    writer: Writer, database_url: str, request: pytest.FixtureRequest
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's write lock")
    prefix = f"thread_lock_{request.node.callspec.id}_"
    path = database_url.removeprefix("sqlite:///")
    await writer.run(lambda db: None)  # connected (and the database in WAL mode)
    # Twice: after waiting once, the writer still never waits on the loop.
    for attempt in ("a", "b"):
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        change = asyncio.ensure_future(
            writer.run(lambda db, a=attempt: db.add(_thread(prefix + a)))
        )
        # The loop stays free while the writer waits for the lock: this sleep ends, and the
        # other connection can commit (were the writer waiting on the loop, it would give up
        # with "database is locked" first).
        await asyncio.sleep(0.2)
        assert not change.done()
        other.execute("COMMIT")
        other.close()
        await change
    assert await writer.run(_count(prefix)) == 2
