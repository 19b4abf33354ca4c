"""Fencing: a turn whose run was taken over writes nothing, whatever its transaction does.

The lease's own deadline is still live in these tests (the process was not frozen): only the
database can refuse the old turn's writes, through its token.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callisto.engine.leases import Fenced, FencedWriter, Lease, claim
from callisto.ids import new_id
from callisto.store.models import RunRow, RunStepRow, ThreadRow
from callisto.store.writer import Writer


def _run(thread_id: str) -> RunRow:
    return RunRow(
        id=new_id("run_"),
        thread_id=thread_id,
        assistant_id="asst_x",
        created_at=int(time.time()),
        status="in_progress",
        model="fake/m",
        tools=[],
        metadata_={},
        truncation_strategy={"type": "auto"},
        tool_choice="auto",
        response_format="auto",
    )


async def _claimed(writer: Writer, owner: str) -> tuple[RunRow, Lease]:
    """A new run claimed by ``owner``: the owner's copy of it and its lease."""

    def start(db: Session) -> tuple[RunRow, Lease]:
        thread = ThreadRow(id=new_id("thread_"), created_at=0, metadata_={})
        db.add(thread)
        db.flush()
        run = _run(thread.id)
        db.add(run)
        lease = claim(db, run, owner, seconds=60)
        assert lease is not None
        return run, lease

    return await writer.run(start)


async def _taken_over(writer: Writer) -> tuple[RunRow, Lease]:
    """A run claimed by process ``old`` (its copy and lease returned), then by ``new``."""
    run, lease = await _claimed(writer, "old")

    def take_over(db: Session) -> None:
        fresh = db.get(RunRow, run.id)
        assert fresh is not None
        fresh.lease_until = 0.0  # as if the old process's lease ran out
        db.flush()
        assert claim(db, fresh, "new", seconds=60) is not None

    await writer.run(take_over)
    return run, lease


def _change_the_copy(run: RunRow) -> Callable[[Session], None]:
    def change(db: Session) -> None:
        db.add(run)
        run.usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}

    return change


def _change_a_fresh_read(run_id: str) -> Callable[[Session], None]:
    def change(db: Session) -> None:
        row = db.get(RunRow, run_id)
        assert row is not None
        row.last_error = {"code": "server_error", "message": "late"}

    return change


def _step(run: RunRow) -> RunStepRow:
    return RunStepRow(
        id=new_id("step_"),
        run_id=run.id,
        thread_id=run.thread_id,
        assistant_id=run.assistant_id,
        created_at=0,
        type="tool_calls",
        status="in_progress",
        step_details={"type": "tool_calls", "tool_calls": []},
    )


def _add_a_step(run: RunRow) -> Callable[[Session], None]:
    def add(db: Session) -> None:
        db.add(_step(run))

    return add


@pytest.mark.parametrize("write", ["copy", "fresh", "add", "insert"])
async def test_a_taken_over_turn_writes_nothing(writer: Writer, write: str) -> None:
    run, lease = await _taken_over(writer)
    run_id = run.id
    fenced = FencedWriter(writer, lease)
    with pytest.raises(Fenced):
        if write == "insert":  # the reply's rows: INSERT ... SELECT, fenced in the statement
            await fenced.insert([_step(run), _step(run)])
        else:
            transactions: dict[str, Callable[[Session], Any]] = {
                "copy": _change_the_copy(run),
                "fresh": _change_a_fresh_read(run.id),
                "add": _add_a_step(run),
            }
            await fenced.run(transactions[write])

    # (The old turn's copy of the run was expired by the rollback: read by id.)
    def read(db: Session) -> tuple[Any, ...]:
        row = db.get(RunRow, run_id)
        assert row is not None
        steps = db.scalars(select(RunStepRow.id).where(RunStepRow.run_id == run_id)).all()
        return row.lease_owner, row.usage, row.last_error, list(steps)

    assert await writer.run(read) == ("new", None, None, [])


async def test_the_holder_s_writes_go_through(writer: Writer) -> None:
    run, lease = await _claimed(writer, "only")
    fenced = FencedWriter(writer, lease)
    await fenced.run(_change_the_copy(run))
    await fenced.run(_add_a_step(run))
    await fenced.run(_change_a_fresh_read(run.id))
    step = _step(run)
    await fenced.insert([step, _step(run)])
    # Inserted and detached as if loaded: a later change writes only what changed.
    assert step.metadata_ == {} and step.completed_at is None

    def complete(db: Session) -> None:
        db.add(step)
        step.status, step.completed_at = "completed", 1

    await fenced.run(complete)

    def read(db: Session) -> tuple[Any, ...]:
        row = db.get(RunRow, run.id)
        assert row is not None and row.usage is not None and row.last_error is not None
        steps = db.scalars(select(RunStepRow).where(RunStepRow.run_id == run.id)).all()
        return sorted((s.status, s.metadata_, s.last_error) for s in steps)

    assert await writer.run(read) == [
        ("completed", {}, None),
        ("in_progress", {}, None),
        ("in_progress", {}, None),
    ]
