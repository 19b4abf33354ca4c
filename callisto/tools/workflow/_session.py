"""One process driving one run: which steps are ready, the tasks in flight, checkpoints."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from callisto.tools.workflow._lease import Lease
from callisto.tools.workflow._steps import StepExecution
from callisto.tools.workflow.errors import ExpressionError
from callisto.tools.workflow.records import (
    FINISHED,
    StepRecord,
    StepStatus,
    WorkflowRun,
    WorkflowStatus,
)

if TYPE_CHECKING:
    from callisto.tools.workflow.runner import WorkflowRunner


class Session:
    """One process driving one run: the tasks in flight and what is ready."""

    def __init__(self, runner: WorkflowRunner, run: WorkflowRun, lease: Lease) -> None:
        self.runner = runner
        self.run = run
        self.lease = lease
        self.workflow = runner.workflow
        self.tasks: dict[asyncio.Task[None], str] = {}
        self.stopping = False
        self.started = time.monotonic()
        self.elapsed_before = run.elapsed

    def checkpoint(self, record: StepRecord, *, ended: bool = False) -> None:
        """Store one step's state (and the run's header when the step ended), then report it.

        Raises:
            WorkflowStateError: Another process took the run over (this one lost its lease).
        """
        run, store, owner = self.run, self.runner.store, self.lease.owner
        run.updated_at = time.time()
        if not store.save_step(run.id, record, owner, run=run if ended else None):
            raise self.lease.lost_error()
        if self.runner.on_event is not None:
            self.runner.on_event(run, record)

    def tick(self) -> None:
        """Bring the run's running time up to now."""
        self.run.elapsed = self.elapsed_before + (time.monotonic() - self.started)

    async def schedule(self) -> None:
        """Start ready steps (at most ``max_concurrency`` at once) until none is left."""
        try:
            while True:
                self.stopping = self.stopping or self.lease.lost
                free = self.runner.max_concurrency - len(self.tasks)
                for name in [] if self.stopping else self.ready()[:free]:
                    execution = StepExecution(self, name)
                    self.tasks[asyncio.create_task(execution.run())] = name
                if not self.tasks:
                    return
                done, _ = await asyncio.wait(self.tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    name = self.tasks.pop(task)
                    task.result()
                    if self.run.steps[name].status is StepStatus.FAILED:
                        self.stopping = True
        finally:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

    def ready(self) -> list[str]:
        """Steps to start now, settling skips, conditions and questions on the way."""
        ready = []
        steps = self.run.steps
        for name in self.workflow.order:
            record = steps[name]
            if name in self.tasks.values() or record.status in FINISHED:
                continue
            if record.status is StepStatus.RUNNING:  # interrupted: its checks passed before
                ready.append(name)
                continue
            dependencies = [steps[d] for d in self.workflow.step(name).step.depends_on]
            if record.status is not StepStatus.PENDING or any(
                d.status not in FINISHED for d in dependencies
            ):
                continue
            if any(d.status is StepStatus.FAILED for d in dependencies):
                continue
            if self._settle(name, record, dependencies):
                ready.append(name)
        return ready

    def _settle(self, name: str, record: StepRecord, dependencies: list[StepRecord]) -> bool:
        """Skip, fail or park a step whose dependencies are done; ``True`` when it should run."""
        compiled = self.workflow.step(name)
        skipped = [d.name for d in dependencies if d.status is StepStatus.SKIPPED]
        if skipped and not compiled.step.run_if_skipped:
            self.end(record, StepStatus.SKIPPED, reason=f"{', '.join(skipped)} was skipped")
            return False
        if compiled.condition is not None:
            try:
                holds = bool(compiled.condition.evaluate(self.namespace(name)))
            except ExpressionError as exc:
                self.end(record, StepStatus.FAILED, error=("CONDITION_ERROR", str(exc)))
                self.stopping = True
                return False
            if not holds:
                reason = f"condition {compiled.condition.source!r} is false"
                self.end(record, StepStatus.SKIPPED, reason=reason)
                return False
        if compiled.step.ask is not None and not record.answered:
            record.status, record.question = StepStatus.WAITING_FOR_INPUT, compiled.step.ask
            self.tick()
            self.checkpoint(record, ended=True)
            return False
        return True

    def namespace(self, name: str) -> dict[str, Any]:
        """What expressions of step ``name`` (and of its fallback) read."""
        steps = self.run.steps
        results = {
            a: steps[a].result if steps[a].status is StepStatus.SUCCEEDED else None
            for a in self.workflow.ancestors[name]
        }
        return {
            "request": self.run.request,
            "inputs": self.run.inputs,
            "results": results,
            "input": steps[name].answer,
        }

    def end(
        self,
        record: StepRecord,
        status: StepStatus,
        *,
        reason: str | None = None,
        error: tuple[str, str] | None = None,
    ) -> None:
        """Finish a step and checkpoint it."""
        record.status, record.reason = status, reason
        if error is not None:
            record.error = {"code": error[0], "message": error[1]}
        record.finished_at = time.time()
        self.tick()
        self.checkpoint(record, ended=True)

    def fail_interrupted(self, code: str, message: str) -> None:
        """Fail the steps cut off mid-way (by the deadline)."""
        for record in self.run.steps.values():
            if record.status is StepStatus.RUNNING:
                self.end(record, StepStatus.FAILED, error=(code, message))

    def conclude(self) -> None:
        """Set the run's status from its steps and checkpoint it."""
        run = self.run
        records = list(run.steps.values())
        failed = [r for r in records if r.status is StepStatus.FAILED]
        if failed:
            run.status = WorkflowStatus.FAILED
            first = failed[0]
            error = first.error or {"code": "FAILED", "message": ""}
            run.error = (
                run.error or f"step {first.name!r} failed: {error['code']}: {error['message']}"
            )
        elif run.waiting:
            run.status = WorkflowStatus.WAITING_FOR_INPUT
        elif all(r.status in FINISHED for r in records):
            run.status = WorkflowStatus.COMPLETED
        else:
            run.status = WorkflowStatus.FAILED
            run.error = run.error or "the run stopped with steps that can never run"
        self.tick()
        run.updated_at = time.time()
        if not self.runner.store.save_run(run, self.lease.owner):
            raise self.lease.lost_error()
