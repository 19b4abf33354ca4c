"""A process that runs one workflow, for the durability tests (which SIGKILL it).

Usage: ``python workflow_child.py STORE LOG WORKFLOW start|resume ID [INPUT]``

- ``STORE``: a SQLite file path, or a ``postgresql://`` URL.
- ``LOG``: each function appends ``start STEP KEY`` when called and ``done STEP KEY`` when it
  returns, so the test sees which calls happened, in every process.
- ``WORKFLOW``: ``chain`` (a -> b -> c, all bound) or ``ask`` (``size`` asks inside its
  function, then ``gift`` asks as a step).
- ``PAUSE_IN=STEP``: that step's function, once started, blocks forever (killed mid-step).
- ``PAUSE_AFTER=STEP``: once that step's success is checkpointed, the process blocks forever
  (killed between steps).
- ``WORKFLOW_LEASE``: seconds of the runner's lease on the run.

It prints the run's trace as JSON on its last line.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from callisto.tools import tool
from callisto.tools.workflow import (
    Step,
    StepRecord,
    Workflow,
    WorkflowRun,
    WorkflowRunner,
    ask_for_input,
    current_step,
)

STORE, LOG, WORKFLOW, COMMAND, RUN_ID = sys.argv[1:6]
INPUT = sys.argv[6] if len(sys.argv) > 6 else None


def log(line: str) -> None:
    with Path(LOG).open("a", encoding="utf-8") as out:
        out.write(line + "\n")


def block_forever() -> None:
    threading.Event().wait()


@tool
def work(value: str) -> str:
    """Do one step's work, logging the call."""
    context = current_step()
    log(f"start {context.step} {context.idempotency_key}")
    if os.environ.get("PAUSE_IN") == context.step:
        block_forever()
    log(f"done {context.step} {context.idempotency_key}")
    return value + "+" + context.step


@tool
def choose_size(value: str) -> str:
    """Ask for the size inside the function."""
    context = current_step()
    log(f"start {context.step} {context.idempotency_key}")
    size = ask_for_input("Which size?")
    log(f"done {context.step} {context.idempotency_key}")
    return f"{value} in {size}"


def workflow() -> Workflow:
    if WORKFLOW == "chain":
        return Workflow(
            "chain",
            [
                Step("a", work, bind={"value": "inputs.start"}),
                Step("b", work, depends_on=["a"], bind={"value": "results.a"}),
                Step("c", work, depends_on=["b"], bind={"value": "results.b"}),
            ],
        )
    return Workflow(
        "ask",
        [
            Step("size", choose_size, bind={"value": "inputs.item"}),
            Step("gift", work, depends_on=["size"], ask="Gift wrap?", bind={"value": "input"}),
        ],
    )


def pause_after(run: WorkflowRun, record: StepRecord) -> None:
    if os.environ.get("PAUSE_AFTER") == record.name and record.status == "succeeded":
        log(f"paused after {record.name}")
        block_forever()


def main() -> None:
    lease = float(os.environ.get("WORKFLOW_LEASE", "30"))
    with WorkflowRunner(workflow(), store=STORE, on_event=pause_after, lease=lease) as runner:
        if COMMAND == "start":
            run = runner.start_sync("", inputs={"start": "s", "item": "shirt"}, workflow_id=RUN_ID)
        elif INPUT is None:
            run = runner.resume_sync(RUN_ID)
        else:
            run = runner.resume_sync(RUN_ID, input=INPUT)
    print(run.to_json())


if __name__ == "__main__":
    main()
