"""The run lifecycle table and the one function that applies it."""

from __future__ import annotations

import pytest

from callisto.engine.lifecycle import TRANSITIONS, IllegalTransition, is_terminal, transition
from callisto.store.models import ACTIVE_RUN_STATUSES, TERMINAL_RUN_STATUSES, RunRow

ALL = sorted(TRANSITIONS)


def make_run(status: str) -> RunRow:
    return RunRow(
        id="run_x", status=status, expires_at=1000, started_at=None, required_action={"x": 1}
    )


@pytest.mark.parametrize("start", ALL)
@pytest.mark.parametrize("to", ALL)
def test_every_pair_follows_the_table(start: str, to: str) -> None:
    run = make_run(start)
    if to in TRANSITIONS[start]:
        transition(run, to, now=500)
        assert run.status == to
    else:
        with pytest.raises(IllegalTransition):
            transition(run, to, now=500)
        assert run.status == start


def test_terminal_statuses_have_no_way_out() -> None:
    for status in TERMINAL_RUN_STATUSES:
        assert is_terminal(status) and not TRANSITIONS[status]
    for status in ACTIVE_RUN_STATUSES:
        assert not is_terminal(status) and TRANSITIONS[status]


def test_stamps_and_cleanup() -> None:
    run = make_run("queued")
    transition(run, "in_progress", now=10)
    assert run.started_at == 10
    transition(run, "requires_action", now=11)
    transition(run, "queued", now=12)
    assert run.required_action is None
    transition(run, "in_progress", now=13)
    assert run.started_at == 10  # a resumed run keeps its first start
    transition(run, "completed", now=14)
    assert run.completed_at == 14 and run.expires_at is None


@pytest.mark.parametrize(
    ("path", "stamp"), [(["cancelling", "cancelled"], "cancelled_at"), (["failed"], "failed_at")]
)
def test_terminal_stamps(path: list[str], stamp: str) -> None:
    run = make_run("queued")
    for status in path:
        transition(run, status, now=99)
    assert getattr(run, stamp) == 99
