"""Durability with real processes: SIGKILL between steps and during one, input from another process.

Each run happens in ``workflow_child.py`` subprocesses; the functions log every call to a file,
so the test sees what ran in which process. Runs on SQLite, and on PostgreSQL when reachable.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from callisto.testing.databases import fresh_postgres_schema, postgres_unavailable_reason
from callisto.tools.workflow import PostgresCheckpoints, SQLiteCheckpoints, WorkflowRun

CHILD = Path(__file__).with_name("workflow_child.py")
LEASE = "3"  # seconds: a killed child's run can be resumed this long after it died
BUSY = "is being driven by another process"
BACKENDS = [b for b in os.environ.get("CALLISTO_TEST_BACKENDS", "sqlite,postgres").split(",") if b]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where the children checkpoint: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield str(tmp_path / "runs.db")
        return
    reason = postgres_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with fresh_postgres_schema() as url:
        yield url


class Children:
    """Starts workflow_child.py processes sharing one store and one call log."""

    def __init__(self, store: str, log: Path) -> None:
        self.store = store
        self.log = log

    def argv(self, workflow: str, *command: str) -> list[str]:
        return [sys.executable, str(CHILD), self.store, str(self.log), workflow, *command]

    def run(self, workflow: str, *command: str) -> dict[str, Any]:
        """Run one child to its end; return the trace it printed.

        While a killed child's lease has not run out, the new child is refused; it is tried
        again until the lease is over (a bound on waiting, not a timing assertion).
        """
        for _ in range(200):
            done = self.finish(workflow, *command)
            if done.returncode == 0 or BUSY not in done.stderr:
                break
            time.sleep(0.1)
        assert done.returncode == 0, done.stderr
        trace: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
        return trace

    def finish(self, workflow: str, *command: str) -> subprocess.CompletedProcess[str]:
        """Run one child to its end, whatever it does."""
        return subprocess.run(
            self.argv(workflow, *command),
            env={**os.environ, "WORKFLOW_LEASE": LEASE},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def kill_when_logged(
        self,
        line: str,
        workflow: str,
        *command: str,
        env: dict[str, str],
        meanwhile: Callable[[], None] = lambda: None,
    ) -> None:
        """Start a child, wait until ``line`` is in the log, call ``meanwhile``, SIGKILL it."""
        child = subprocess.Popen(
            self.argv(workflow, *command),
            env={**os.environ, "WORKFLOW_LEASE": LEASE, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            for _ in range(1200):  # at most a minute; not a timing assertion, a bound on waiting
                if line in self.lines():
                    break
                assert child.poll() is None, child.stderr.read() if child.stderr else ""
                time.sleep(0.05)
            else:
                pytest.fail(f"the child never logged {line!r}; log: {self.lines()}")
            meanwhile()
            child.send_signal(signal.SIGKILL)
            assert child.wait(timeout=30) == -signal.SIGKILL
        finally:
            if child.poll() is None:
                child.kill()
            if child.stderr is not None:
                child.stderr.close()

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


def stored(store: str, run_id: str) -> WorkflowRun:
    opened = (
        PostgresCheckpoints(store) if store.startswith("postgresql") else SQLiteCheckpoints(store)
    )
    with opened:
        run = opened.load_run(run_id)
    assert run is not None
    return run


@pytest.fixture
def children(store: str, tmp_path: Path) -> Children:
    return Children(store, tmp_path / "calls.log")


def test_killed_between_steps_resumes_without_rerunning_finished_steps(
    children: Children, store: str
) -> None:
    children.kill_when_logged(
        "paused after a", "chain", "start", "wf_between", env={"PAUSE_AFTER": "a"}
    )
    assert children.lines() == ["start a wf_between:a", "done a wf_between:a", "paused after a"]
    assert stored(store, "wf_between").status == "running"  # as the dead process left it

    trace = children.run("chain", "resume", "wf_between")

    assert trace["status"] == "completed"
    assert children.lines()[3:] == [
        "start b wf_between:b",
        "done b wf_between:b",
        "start c wf_between:c",
        "done c wf_between:c",
    ]
    assert [s["attempts"] for s in trace["steps"]] == [1, 1, 1]
    assert trace["steps"][2]["result"] == "s+a+b+c"


def test_killed_during_a_step_reruns_it_with_the_same_idempotency_key(
    children: Children, store: str
) -> None:
    refused: list[str] = []

    def resume_while_the_first_lives() -> None:
        done = children.finish("chain", "resume", "wf_during")
        refused.append(done.stderr if done.returncode else "it ran")

    children.kill_when_logged(
        "start b wf_during:b",
        "chain",
        "start",
        "wf_during",
        env={"PAUSE_IN": "b"},
        meanwhile=resume_while_the_first_lives,
    )
    assert BUSY in refused[0]  # two processes never drive one run
    interrupted = stored(store, "wf_during").steps["b"]
    assert (interrupted.status, interrupted.attempts) == ("running", 1)
    assert interrupted.arguments == {"value": "s+a"}

    trace = children.run("chain", "resume", "wf_during")

    assert trace["status"] == "completed"
    assert children.lines() == [
        "start a wf_during:a",
        "done a wf_during:a",
        "start b wf_during:b",  # the call the kill cut off
        "start b wf_during:b",  # the rerun, same key
        "done b wf_during:b",
        "start c wf_during:c",
        "done c wf_during:c",
    ]
    steps = {s["name"]: s for s in trace["steps"]}
    assert steps["b"]["attempts"] == 2 and steps["b"]["idempotency_key"] == "wf_during:b"
    assert steps["a"]["attempts"] == 1


def test_waiting_for_input_resumes_from_other_processes(children: Children, store: str) -> None:
    first = children.run("ask", "start", "wf_ask")
    assert (first["status"], first["question"]) == ("waiting_for_input", "Which size?")

    second = children.run("ask", "resume", "wf_ask", "L")
    assert (second["status"], second["question"]) == ("waiting_for_input", "Gift wrap?")

    third = children.run("ask", "resume", "wf_ask", "yes")
    assert third["status"] == "completed"
    assert [s["result"] for s in third["steps"]] == ["shirt in L", "yes+gift"]
    assert children.lines() == [
        "start size wf_ask:size",  # asked, stopped
        "start size wf_ask:size",  # rerun with the answer, same key
        "done size wf_ask:size",
        "start gift wf_ask:gift",
        "done gift wf_ask:gift",
    ]
