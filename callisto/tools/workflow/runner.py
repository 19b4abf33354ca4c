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
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from callisto.ids import new_id
from callisto.tools.executor import ToolExecutor
from callisto.tools.workflow._lease import Lease
from callisto.tools.workflow._session import Session
from callisto.tools.workflow.definition import CompiledStep, Workflow
from callisto.tools.workflow.errors import (
    WorkflowDefinitionError,
    WorkflowStateError,
)
from callisto.tools.workflow.models import ArgumentChooser
from callisto.tools.workflow.records import (
    StepRecord,
    StepStatus,
    WorkflowRun,
    WorkflowStatus,
)
from callisto.tools.workflow.retry import NO_RETRY, RetryPolicy
from callisto.tools.workflow.store import CheckpointStore, open_store

DEFAULT_STORE = "workflows.db"
EventCallback = Callable[[WorkflowRun, StepRecord], object]
_UNSET: Any = object()


class WorkflowRunner:
    """Starts and resumes runs of one workflow.

    Args:
        workflow: The workflow.
        store: Where runs are checkpointed: a store, a ``postgresql://`` URL, or the path of a
            SQLite file (``workflows.db`` in the working directory by default). The runner
            closes it in :meth:`close`.
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
        self.store = open_store(store) if isinstance(store, str | Path) else store
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
            definition=self.workflow.fingerprint,
        )
        self._add_missing_records(run)
        self.store.create_run(run)
        async with Lease(self.store, run.id, self.lease) as lease:
            return await self._drive(run, lease)

    async def resume(
        self,
        workflow_id: str,
        *,
        input: Any = _UNSET,
        step: str | None = None,
        changed_definition: bool = False,
    ) -> WorkflowRun:
        """Continue a run: after its process died, or with the input it waits for.

        Finished steps are not run again; a step that was running is run again with the
        arguments and idempotency key it had. A finished run is returned as it is.

        Args:
            workflow_id: The run.
            input: The answer to the question the run waits on.
            step: Which waiting step the input is for, when several wait.
            changed_definition: Resume even though the workflow's steps changed since the run
                started (see :attr:`Workflow.fingerprint`); steps that no longer exist are
                dropped from the run, new ones start pending.

        Returns:
            The run as it rests.

        Raises:
            WorkflowStateError: No such run, it belongs to another workflow, its definition
                changed, another process drives it, or an input is given and no (or more
                than one, without ``step``) step waits.
            WorkflowDefinitionError: A step leaves arguments to the model and there is none.
        """
        self.get(workflow_id)  # it exists, and is a run of this workflow
        async with Lease(self.store, workflow_id, self.lease) as lease:
            run = self.get(workflow_id)  # as the last process to hold the lease left it
            finished = run.status in (WorkflowStatus.COMPLETED, WorkflowStatus.FAILED)
            if finished and input is _UNSET:
                return run
            if run.definition != self.workflow.fingerprint and not changed_definition:
                raise WorkflowStateError(
                    f"the steps of workflow {run.workflow!r} changed since run {run.id!r} "
                    "started; resume it with changed_definition=True to go on anyway"
                )
            if input is not _UNSET:
                self._answer(run, input, step, lease)  # refuses a finished run: none waits
            self._check_model()
            run.definition = self.workflow.fingerprint
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
        session = Session(self, run, lease)
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
