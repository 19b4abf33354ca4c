"""The run timeline behind the log's durations and the inspector's waterfall."""

from __future__ import annotations

import logging

import pytest

from callisto import telemetry
from callisto.api.ui.views import waterfall
from callisto.engine.lifecycle import transition
from callisto.ids import new_id
from callisto.store.models import RunRow


def _run(status: str, *, started_at: int | None = None) -> RunRow:
    return RunRow(
        id=new_id("run_"),
        thread_id="thread_x",
        model="fake/m",
        status=status,
        created_at=1_000,
        started_at=started_at,
        usage={"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    )


def test_a_run_seen_from_its_first_turn_has_an_exact_timeline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = _run("queued")
    with caplog.at_level(logging.INFO, logger="callisto.runs"):
        transition(run, "in_progress")
        transition(run, "requires_action")
    statuses = [status for status, _ in telemetry.timeline(run.id)]
    assert statuses == ["queued", "in_progress", "requires_action"]
    first, second = (r for r in caplog.records if getattr(r, "run_id", None) == run.id)
    assert first.duration_s is not None and second.duration_s is not None  # type: ignore[attr-defined]
    assert "7 tokens" in second.getMessage()
    bars = waterfall(run)
    assert bars["precise"] is True
    assert [b["phase"] for b in bars["bars"]] == [
        "queued",
        "in progress",
        "waiting for tool outputs",
    ]


def test_a_run_begun_elsewhere_has_no_timeline_and_an_unknown_duration(
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = _run("requires_action", started_at=1_001)
    with caplog.at_level(logging.INFO, logger="callisto.runs"):
        transition(run, "queued")
    assert telemetry.timeline(run.id) == []
    (line,) = (r for r in caplog.records if getattr(r, "run_id", None) == run.id)
    assert line.duration_s is None  # type: ignore[attr-defined]
    assert "requires_action -> queued after ?" in line.getMessage()
    # The waterfall falls back to the stored whole seconds.
    run.completed_at = 1_003
    bars = waterfall(run, now=2_000)
    assert bars["precise"] is False
    assert [(b["phase"], b["seconds"]) for b in bars["bars"]] == [
        ("queued", 1.0),
        ("after its start", 2.0),
    ]
