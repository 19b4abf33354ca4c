"""Run a workflow: ready steps concurrently (bounded), every call through the toolkit's executor,
each step's start and end checkpointed, resumable after a crash or a question.

A step is *ready* when every dependency has finished. Then, in order: a skipped dependency skips
it (unless it sets ``run_if_skipped``), a false condition skips it, an unanswered ``ask`` makes
it wait for input; otherwise it runs. A step that fails for good (after its retries and
fallback) stops new steps from starting; the ones running finish, and the run fails with the
step's error. A step waiting for input blocks only its dependents; the run rests in
``waiting_for_input`` once nothing else can go on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from callisto.ids import new_id
from callisto.tools.executor import ToolExecutor
from callisto.tools.workflow._lease import Lease
from callisto.tools.workflow._steps import StepExecution
from callisto.tools.workflow.definition import CompiledStep, Workflow
from callisto.tools.workflow.errors import (
    ExpressionError,
    WorkflowDefinitionError,
    WorkflowStateError,
)
from callisto.tools.workflow.models import ArgumentChooser
from callisto.tools.workflow.records import (
    FINISHED,
    StepRecord,
    StepStatus,
    WorkflowRun,
    WorkflowStatus,
)
from callisto.tools.workflow.retry import NO_RETRY, RetryPolicy
from callisto.tools.workflow.store import CheckpointStore, SQLiteCheckpoints

DEFAULT_STORE = "workflows.db"
EventCallback = Callable[[WorkflowRun, StepRecord], object]
_UNSET: Any = object()


class WorkflowRunner:
    """Starts and resumes runs of one workflow.

    Args:
        workflow: The workflow.
        store: Where runs are checkpointed: a store, or the path of a SQLite file
            (``workflows.db`` in the working directory by default).
        executor: Runs the calls (carrying gates, audit, metrics, timeouts); by default a
            plain executor over the workflow's toolbox. Its toolbox must hold every step's
            function.
        model: Chooses arguments the bindings leave open (:class:`ChatArguments`,
            :class:`AssistantArguments`); needed only when some step leaves a required
            parameter unbound.
        max_concurrency: Most steps running at once.
        max_steps: Most function calls in a run, retries and fallbacks included.
        deadline: Seconds a run may spend running, over all the processes that run it (time
            spent resting, waiting for input or dead, is not counted).
        retry: The retry policy of steps that set none.
        argument_retries: Times the model is asked again when its arguments are refused.
        caller: Who the calls run for (allowlists, rate limits, audit).
        on_event: Called with the run and the step's record after each step checkpoint.
        lease: Seconds the claim of a driving process lasts unless renewed (it is renewed
            every third of that while the process works); after a crash, the run can be
            resumed once this much time has passed.

    Raises:
        WorkflowDefinitionError: The executor lacks a step's function.
    """

    def __init__(
        self,
        workflow: Workflow,
        *,
        store: CheckpointStore | str | Path = DEFAULT_STORE,
        executor: ToolExecutor | None = None,
        model: ArgumentChooser | None = None,
        max_concurrency: int = 4,
        max_steps: int = 100,
        deadline: float | None = None,
        retry: RetryPolicy = NO_RETRY,
        argument_retries: int = 2,
        caller: str | None = None,
        on_event: EventCallback | None = None,
        lease: float = 30.0,
    ) -> None:
        if max_concurrency < 1 or max_steps < 1 or lease <= 0:
            raise ValueError("max_concurrency and max_steps must be at least 1, lease above 0")
        self.workflow = workflow
        self.store = SQLiteCheckpoints(store) if isinstance(store, str | Path) else store
        self._owns_executor = executor is None
        self.executor = executor if executor is not None else ToolExecutor(workflow.toolbox)
        self.model = model
        self.max_concurrency = max_concurrency
        self.max_steps = max_steps
        self.deadline = deadline
        self.retry = retry
        self.argument_retries = argument_retries
        self.caller = caller
        self.on_event = on_event
        self.lease = lease
        self._check_setup()

    def _check_setup(self) -> None:
        problems = [
            f"the executor's toolbox has no function {part.tool.name!r}"
            for part in self._parts()
            if self.executor.toolbox.get(part.tool.name) is None
        ]
        if problems:
            raise WorkflowDefinitionError(self.workflow.name, problems)

    def _check_model(self) -> None:
        problems = [
            f"{part.name!r} leaves arguments of {part.tool.name} to the model, "
            "but the runner has no model"
            for part in self._parts()
            if part.needs_model and self.model is None
        ]
        if problems:
            raise WorkflowDefinitionError(self.workflow.name, problems)

    def _parts(self) -> list[CompiledStep]:
        """Every step and fallback."""
        steps = self.workflow.compiled.values()
        return [*steps, *(s.fallback for s in steps if s.fallback is not None)]

    # --- the public calls ----------------------------------------------------------------------

    async def start(
        self,
        request: str = "",
        *,
        inputs: Mapping[str, Any] | None = None,
        workflow_id: str | None = None,
    ) -> WorkflowRun:
        """Start a run and drive it until it completes, fails or waits for input.

        Args:
            request: The user's request (context for the model).
            inputs: Data for expressions, as ``inputs``.
            workflow_id: The run's id; a new one when ``None``.

        Returns:
            The run as it rests.

        Raises:
            WorkflowStateError: ``workflow_id`` is taken.
            WorkflowDefinitionError: A step leaves arguments to the model and there is none.
        """
        self._check_model()
        run = WorkflowRun(
            id=workflow_id or new_id("wf_"),
            workflow=self.workflow.name,
            request=request,
            inputs=dict(inputs or {}),
        )
        self._add_missing_records(run)
        self.store.create_run(run)
        async with Lease(self.store, run.id, self.lease) as lease:
            return await self._drive(run, lease)

    async def resume(
        self, workflow_id: str, *, input: Any = _UNSET, step: str | None = None
    ) -> WorkflowRun:
        """Continue a run: after its process died, or with the input it waits for.

        Finished steps are not run again; a step that was running is run again with the
        arguments and idempotency key it had. A finished run is returned as it is.

        Args:
            workflow_id: The run.
            input: The answer to the question the run waits on.
            step: Which waiting step the input is for, when several wait.

        Returns:
            The run as it rests.

        Raises:
            WorkflowStateError: No such run, it belongs to another workflow, another process
                drives it, or an input is given and no (or more than one, without ``step``)
                step waits.
            WorkflowDefinitionError: A step leaves arguments to the model and there is none.
        """
        self.get(workflow_id)  # it exists, and is a run of this workflow
        async with Lease(self.store, workflow_id, self.lease) as lease:
            run = self.get(workflow_id)  # as the last process to hold the lease left it
            if input is not _UNSET:
                self._answer(run, input, step, lease)
            if run.status in (WorkflowStatus.COMPLETED, WorkflowStatus.FAILED):
                return run
            self._check_model()
            return await self._drive(run, lease)

    def start_sync(self, request: str = "", **options: Any) -> WorkflowRun:
        """Blocking :meth:`start`, for programs without an event loop."""
        return asyncio.run(self.start(request, **options))

    def resume_sync(self, workflow_id: str, **options: Any) -> WorkflowRun:
        """Blocking :meth:`resume`, for programs without an event loop."""
        return asyncio.run(self.resume(workflow_id, **options))

    def get(self, workflow_id: str) -> WorkflowRun:
        """The run as last checkpointed.

        Raises:
            WorkflowStateError: No such run, or it belongs to another workflow.
        """
        run = self.store.load_run(workflow_id)
        if run is None:
            raise WorkflowStateError(f"there is no workflow run {workflow_id!r}")
        if run.workflow != self.workflow.name:
            raise WorkflowStateError(
                f"run {workflow_id!r} belongs to workflow {run.workflow!r}, "
                f"not {self.workflow.name!r}"
            )
        self._add_missing_records(run)
        return run

    def close(self) -> None:
        """Close the store, and the executor when the runner made it."""
        self.store.close()
        if self._owns_executor:
            self.executor.close()

    def __enter__(self) -> WorkflowRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- driving -------------------------------------------------------------------------------

    def _add_missing_records(self, run: WorkflowRun) -> None:
        stored = run.steps
        run.steps = {
            name: stored.get(name) or StepRecord(name, function=self.workflow.step(name).tool.name)
            for name in self.workflow.order
        }

    def _answer(self, run: WorkflowRun, value: Any, step: str | None, lease: Lease) -> None:
        waiting = [r for r in run.waiting if step is None or r.name == step]
        if len(waiting) != 1:
            names = ", ".join(r.name for r in run.waiting) or "none"
            raise WorkflowStateError(
                f"input needs exactly one waiting step (name it with step=); waiting: {names}"
            )
        record = waiting[0]
        record.answer, record.answered, record.question = value, True, None
        record.status = StepStatus.PENDING
        if not self.store.save_step(run.id, record, lease.owner):
            raise lease.lost_error()

    async def _drive(self, run: WorkflowRun, lease: Lease) -> WorkflowRun:
        run.status, run.error = WorkflowStatus.RUNNING, None
        session = _Session(self, run, lease)
        if not self.store.save_run(run, lease.owner):
            raise lease.lost_error()
        remaining = None if self.deadline is None else max(self.deadline - run.elapsed, 0.0)
        try:
            async with asyncio.timeout(remaining):
                await session.schedule()
        except TimeoutError:
            session.fail_interrupted("DEADLINE_EXCEEDED", "the run's deadline passed")
            run.error = f"the deadline of {self.deadline:g} s passed"
        if lease.lost:
            raise lease.lost_error()
        session.conclude()
        return run


class _Session:
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
        written = store.save_step(run.id, record, owner)
        if not written or (ended and not store.save_run(run, owner)):
            raise self.lease.lost_error()
        if self.runner.on_event is not None:
            self.runner.on_event(run, record)

    def tick(self) -> None:
        self.run.elapsed = self.elapsed_before + (time.monotonic() - self.started)

    async def schedule(self) -> None:
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

    def namespace(self, name: str, record: StepRecord | None = None) -> dict[str, Any]:
        """What expressions of step ``name`` read."""
        steps = self.run.steps
        owner = record or steps[name]
        results = {
            a: steps[a].result if steps[a].status is StepStatus.SUCCEEDED else None
            for a in self.workflow.ancestors[name]
        }
        return {
            "request": self.run.request,
            "inputs": self.run.inputs,
            "results": results,
            "input": owner.answer,
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
