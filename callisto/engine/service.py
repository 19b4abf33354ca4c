"""What the API asks of the engine: create runs, accept tool outputs, cancel, recover, expire."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy import update as sa_update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.exc import StaleDataError

from callisto.config import RunSettings
from callisto.engine.credentials import Credentials
from callisto.engine.dispatch import Dispatcher, EmbeddedDispatcher
from callisto.engine.events import EventLog, publish
from callisto.engine.leases import LeaseKeeper
from callisto.engine.lifecycle import transition
from callisto.engine.runner import Begin, TurnRunner, begin_turn
from callisto.engine.runsteps import settle_open_parts
from callisto.errors import ConflictingState, InvalidRequest, NotFound
from callisto.ids import PREFIXES, new_id
from callisto.providers.registry import ProviderRegistry
from callisto.store import audit, wire
from callisto.store.changes import active_run_query, add_thread, thread_or_404
from callisto.store.models import (
    ACTIVE_RUN_STATUSES,
    TERMINAL_RUN_STATUSES,
    AssistantRow,
    MessageRow,
    RunRow,
    RunStepRow,
    ThreadRow,
)
from callisto.store.projects import run_and_project, run_of_project
from callisto.store.writer import Writer, insert_row

log = logging.getLogger("callisto.engine")

# The advisory lock whose holder sweeps for the whole deployment: one per schema, since
# deployments may share a database in schemas of their own.
_TRY_SWEEPER_LOCK = text("SELECT pg_try_advisory_lock(hashtext(current_schema() || '/sweeper'))")


@dataclass(slots=True)
class RunParams:
    """The run parameters of a create request, as plain JSON values (``None`` = not given)."""

    assistant_id: str
    model: str | None = None
    instructions: str | None = None
    additional_instructions: str | None = None
    tools: list[Any] | None = None
    metadata: dict[str, Any] | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_prompt_tokens: int | None = None
    max_completion_tokens: int | None = None
    truncation_strategy: dict[str, Any] | None = None
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    response_format: Any = None


@dataclass(slots=True)
class Accepted:
    """A run just queued (created, or given its tool outputs).

    Attributes:
        run: The run. Its turn may already have begun: do not answer with it.
        queued: The run's wire form as queued, the answer to the request.
        start: The event sequence number the request's stream starts after.
    """

    run: RunRow
    queued: dict[str, Any]
    start: int


class RunService:
    """The engine's entry points, used by the API routes."""

    def __init__(
        self,
        sessions: async_sessionmaker[Any],
        writer: Writer,
        events: EventLog,
        providers: ProviderRegistry,
        settings: RunSettings,
        *,
        dispatch: str = "embedded",
        credentials: Credentials | None = None,
    ) -> None:
        """Wire the runner, dispatcher and sweeper together.

        Args:
            sessions: Async sessions, for reads.
            writer: The store writer: every change to a run goes through it.
            events: The event log.
            providers: The model providers.
            settings: The run settings.
            dispatch: ``embedded`` (this process executes turns) or ``queue`` (``callisto
                worker`` processes do; this process only enqueues them).
            credentials: Where request-given provider keys wait for their runs (in this
                process's memory when omitted).
        """
        self.sessions = sessions
        self.writer = writer
        self.events = events
        self.providers = providers
        self.settings = settings
        self.leases = LeaseKeeper(
            writer, seconds=settings.lease_seconds, interval=settings.heartbeat_interval
        )
        self.runner = TurnRunner(
            writer, events, providers, settings, self.leases, credentials, sessions=sessions
        )
        self.dispatcher: Dispatcher
        if dispatch == "queue":
            from callisto.engine.jobs import QueueDispatcher

            self.dispatcher = QueueDispatcher()
        else:
            self.dispatcher = EmbeddedDispatcher(self.runner, settings.max_concurrent)
        self._sweeper: asyncio.Task[None] | None = None
        self._deployment_load = 0

    # -- creating -----------------------------------------------------------------------

    async def create_run(
        self,
        thread_id: str,
        params: RunParams,
        *,
        project: str,
        thread: ThreadRow | None = None,
        extra_rows: list[MessageRow] | None = None,
        prelude: list[tuple[str, Any]] | None = None,
        dispatch: bool = True,
        internal_assistant: bool = False,
    ) -> Accepted:
        """Insert a ``queued`` run (and a new ``thread``, additional messages) in one transaction.

        Returns the run, as queued, and the event sequence number its stream starts after. With
        ``dispatch=False`` the run waits, ``queued``, until the caller hands it to
        ``self.dispatcher`` (Entities' flow: the model and its key come with a later request).
        The thread (a new one too) and the assistant must be ``project``'s, unless
        ``internal_assistant`` says the assistant is Callisto's own (the Responses API's).

        Raises:
            NotFound: The thread or assistant does not exist in ``project``.
            ConflictingState: The thread already has an active run.
        """

        # With a free slot, the transaction that queues the run also begins its turn: one
        # commit and no hand-off before the model is called.
        reserved = dispatch and await self.dispatcher.reserve("")

        def create(db: Session) -> tuple[RunRow, dict[str, Any], Begin | None]:
            if thread is not None:
                thread.project_id = project
                add_thread(db, thread, extra_rows or [])
            assistant = _assistant_of_new_run(
                db,
                None if thread is not None else thread_id,
                params.assistant_id,
                project=project,
                internal=internal_assistant,
            )
            if thread is None:
                db.add_all(extra_rows or [])
            run = self._new_run(thread_id, assistant, params)
            queued = wire.run(run)
            if dispatch:
                self.dispatcher.enqueue_in(db, run.id)
            begun = begin_turn(db, run, self.leases) if reserved else None
            insert_row(db, run)  # queued, or with its turn begun: one INSERT either way
            return run, queued, begun

        try:
            run, queued, begun = await self.writer.run(create, retry=True)
            make_transient_to_detached(run)  # as if loaded: the turn writes only its changes
        except IntegrityError:
            self._unreserve(reserved)
            active = await self.writer.run(
                lambda db: db.scalars(active_run_query(thread_id)).first()
            )
            raise ConflictingState(
                f"Thread {thread_id} already has an active run {active or ''}.".replace(" .", ".")
            ) from None
        except BaseException:
            self._unreserve(reserved)
            raise
        created = [*(prelude or []), ("thread.run.created", queued), ("thread.run.queued", queued)]
        await self._announce_and_hand_over(run.id, created, begun, dispatch)
        return Accepted(run, queued, 0)

    def _unreserve(self, reserved: bool) -> None:
        if reserved:
            self.dispatcher.release()

    async def _announce_and_hand_over(
        self, run_id: str, events: list[tuple[str, Any]], begun: Begin | None, dispatch: bool
    ) -> None:
        """Publish a committed change's events, then dispatch the run (with its turn already
        begun in a reserved slot, or to begin).

        The change is committed: the run is dispatched even when the event log fails (its
        streams miss those events, but the run neither strands nor keeps its slot).
        """
        try:
            await self._publish_committed(run_id, events + (begun.events if begun else []))
        finally:
            if dispatch:
                self.dispatcher.submit(run_id, begun)

    async def _publish_committed(self, run_id: str, events: list[tuple[str, Any]]) -> None:
        """Publish the events of a committed change; a failing event log is logged, not raised
        (the change stands, and the run goes on)."""
        try:
            await publish(self.events, run_id, events)
        except Exception as exc:
            log.warning("run %s: its events could not be published: %s", run_id, exc)

    def _new_run(self, thread_id: str, assistant: AssistantRow, p: RunParams) -> RunRow:
        now = time.time()
        model = p.model or assistant.model
        self.providers.split(model)  # refuses, with a 400, a model no provider serves
        instructions = p.instructions if p.instructions is not None else assistant.instructions
        if p.additional_instructions:
            instructions = (
                instructions + "\n\n" if instructions else ""
            ) + p.additional_instructions
        tools = p.tools if p.tools is not None else assistant.tools
        _check_tool_choice(p.tool_choice, tools)
        return RunRow(
            id=new_id(PREFIXES["run"]),
            thread_id=thread_id,
            assistant_id=assistant.id,
            created_at=int(now),
            status="queued",
            expires_at=int(now + self.settings.expires_after),
            expires_at_exact=now + self.settings.expires_after,
            model=model,
            instructions=instructions,
            tools=tools,
            metadata_=p.metadata or {},
            max_prompt_tokens=p.max_prompt_tokens,
            max_completion_tokens=p.max_completion_tokens,
            truncation_strategy=p.truncation_strategy or {"type": "auto", "last_messages": None},
            tool_choice=p.tool_choice if p.tool_choice is not None else "auto",
            parallel_tool_calls=True if p.parallel_tool_calls is None else p.parallel_tool_calls,
            response_format=p.response_format
            if p.response_format is not None
            else assistant.response_format or "auto",
            temperature=p.temperature if p.temperature is not None else assistant.temperature,
            top_p=p.top_p if p.top_p is not None else assistant.top_p,
        )

    # -- tool outputs -------------------------------------------------------------------

    async def submit_tool_outputs(
        self, thread_id: str, run_id: str, outputs: list[tuple[str, str]], *, project: str
    ) -> Accepted:
        """Store the outputs of every pending call and queue the run's next turn.

        Returns the run, as queued, and the event sequence number the continuation's stream
        starts after. The audit trail records the outputs, submitted by the request's caller
        (:data:`callisto.store.audit.SUBMITTER`).
        """

        reserved = await self.dispatcher.reserve(run_id)
        submitted_by = audit.SUBMITTER.get()

        def submit(
            db: Session,
        ) -> tuple[RunRow, RunStepRow | None, dict[str, Any] | None, Begin | None]:
            # The run, its thread's project and its open tool-calls step in one statement.
            found = db.execute(
                run_and_project(run_id, thread_id=thread_id)
                .add_columns(RunStepRow)
                .outerjoin(
                    RunStepRow,
                    (RunStepRow.run_id == RunRow.id)
                    & (RunStepRow.type == "tool_calls")
                    & (RunStepRow.status == "in_progress"),
                )
                .limit(1)
            ).first()
            if found is None or found[1] != project:
                raise _no_run(thread_id, run_id)
            run: RunRow = found[0]
            step: RunStepRow | None = found[2]
            if run.status != "requires_action":
                accepted = _accepted_step(db, run_id, outputs)
                if accepted is None:
                    raise ConflictingState(
                        f'Runs in status "{run.status}" do not accept tool outputs.'
                    )
                # A retry of a submission already taken (its answer was lost): the same answer.
                return run, accepted, None, None
            _check_outputs(run, outputs)
            by_id = dict(outputs)
            pending = run.required_action["submit_tool_outputs"]["tool_calls"]  # type: ignore[index]
            names = {c["id"]: c["function"]["name"] for c in pending}
            audit.record_outputs(db, run, names, outputs, submitted_by, project)
            if step is not None:
                details = dict(step.step_details)
                details["tool_calls"] = [
                    {**c, "function": {**c["function"], "output": by_id.get(c["id"])}}
                    for c in details.get("tool_calls", [])
                ]
                step.step_details = details
                step.status, step.completed_at = "completed", int(time.time())
            transition(run, "queued")
            queued = wire.run(run)
            self.dispatcher.enqueue_in(db, run_id)
            return run, step, queued, begin_turn(db, run, self.leases) if reserved else None

        try:
            run, step, queued, begun = await self.writer.run(submit, retry=True)
        except StaleDataError:
            self._unreserve(reserved)
            raise ConflictingState(
                f"Run {run_id} is no longer waiting for tool outputs (another request changed it)."
            ) from None
        except BaseException:
            self._unreserve(reserved)
            raise
        if queued is None:  # a repeated submission: ``step`` is the one that took it
            self._unreserve(reserved)
            assert step is not None
            return await self._replayed(run, step)
        try:
            start = await self.events.last_seq(run_id)
        except Exception:
            start = 0
        events = [("thread.run.step.completed", wire.run_step(step))] if step is not None else []
        events.append(("thread.run.queued", queued))
        await self._announce_and_hand_over(run_id, events, begun, True)
        return Accepted(run, queued, start)

    async def _replayed(self, run: RunRow, step: RunStepRow) -> Accepted:
        """Answer a repeated submission: the run as it is, its stream from that step's end."""
        start = 0
        with contextlib.suppress(Exception):
            start = last = await self.events.last_seq(run.id)
            marker = f'"id":"{step.id}"'
            if last:  # read the log up to its last event, never waiting for more
                async for event in self.events.read_from(run.id, 0):
                    if event is None or event.seq > last:
                        break
                    if event.event == "thread.run.step.completed" and marker in event.data:
                        start = event.seq - 1
                        break
                    if event.seq == last:
                        break
        return Accepted(run, wire.run(run), start)

    async def start_with(self, run_id: str, *, model: str, api_key: str | None) -> RunRow:
        """Start a run created without dispatch, with the model and provider key of a request.

        The model is set while the run's first turn has not started; the key is kept for the
        run's turns only (never shown, dropped when the run ends). A ``queued`` run is then
        dispatched; a run in any other state is returned as it is.
        """

        def choose(db: Session) -> RunRow:
            run = db.get(RunRow, run_id)
            if run is None:
                raise NotFound(f"No run found with id '{run_id}'.")
            if run.status == "queued" and run.started_at is None and run.model != model:
                run.model = model
            if run.status == "queued":
                self.dispatcher.enqueue_in(db, run_id)
            return run

        run = await self.writer.run(choose, retry=True)
        if api_key and run.status not in TERMINAL_RUN_STATUSES:
            await self.runner.credentials.put(run_id, api_key, ttl=self.settings.expires_after)
        if run.status == "queued":
            self.dispatcher.submit(run_id)
        return run

    # -- cancelling ---------------------------------------------------------------------

    async def cancel(self, thread_id: str, run_id: str, *, project: str) -> RunRow:
        """Move the run to ``cancelling``; its turn is stopped and it ends ``cancelled``."""

        def cancel(db: Session) -> RunRow:
            run = _run_of_thread(db, thread_id, run_id, project)
            if run.status not in ("queued", "in_progress", "requires_action"):
                raise ConflictingState(f"Cannot cancel run with status '{run.status}'.")
            transition(run, "cancelling")
            # Whoever holds the turn stops it (within a heartbeat); with no turn held, the
            # next turn settles the run as cancelled.
            self.dispatcher.enqueue_in(db, run_id)
            return run

        try:
            run = await self.writer.run(cancel, retry=True)
        except StaleDataError:
            raise ConflictingState(f"Run {run_id} changed while cancelling; try again.") from None
        await self._publish_committed(run_id, [("thread.run.cancelling", wire.run(run))])
        if not self.dispatcher.interrupt(run_id, "cancel"):
            self.dispatcher.submit(run_id)
        return run

    async def update_metadata(
        self, thread_id: str, run_id: str, metadata: dict[str, Any], *, project: str
    ) -> RunRow:
        """Replace the run's metadata.

        Written without the run's version check, and not counted as a change of the run: a
        turn in progress holds the run and must not be interrupted by a label (it writes only
        the columns it changes, never the metadata).
        """

        def update(db: Session) -> RunRow:
            run = _run_of_thread(db, thread_id, run_id, project)
            db.execute(
                sa_update(RunRow)
                .where(RunRow.id == run_id)
                .values(metadata_=metadata)
                .execution_options(synchronize_session=False)
            )
            db.refresh(run)
            return run

        return await self.writer.run(update, retry=True)

    async def delete_thread(self, thread_id: str, *, project: str) -> None:
        """Delete a thread with its messages, runs and steps; an active run is cancelled first.

        Its streams get ``thread.run.cancelled`` and end; a turn executing it stops (here at
        once, elsewhere at that process's next heartbeat, which finds the run gone). Cancelling
        rather than refusing: a client deleting a thread is done with it, and should not need a
        cancel and a wait first.

        Raises:
            NotFound: The thread does not exist in ``project``.
        """

        def delete(db: Session) -> dict[str, Any] | None:
            thread = thread_or_404(db, thread_id, project=project)
            run = db.scalars(
                select(RunRow).where(
                    RunRow.thread_id == thread_id, RunRow.status.in_(ACTIVE_RUN_STATUSES)
                )
            ).first()
            cancelled = None
            if run is not None:
                if run.status != "cancelling":
                    transition(run, "cancelling")
                transition(run, "cancelled")
                db.flush()
                cancelled = wire.run(run)
            db.delete(thread)
            return cancelled

        cancelled = await self.writer.run(delete, retry=True)
        if cancelled is not None:
            run_id = cancelled["id"]
            self.dispatcher.interrupt(run_id, "gone")
            await self.events.append(run_id, "thread.run.cancelled", cancelled)
            await self.events.close(run_id)

    def poll_after_ms(self) -> int:
        """Return how long poll helpers should wait: longer as more runs are in flight.

        The runs in flight are this process's own when it executes turns, and the whole
        deployment's (counted in the database each sweep interval) in an API-only process.
        """
        runs = self.settings
        active = self.dispatcher.active if self.dispatcher.executes else self._deployment_load
        return max(runs.poll_after_ms, min(runs.poll_after_max_ms, 2 * active))

    async def get_run(
        self, db: AsyncSession, thread_id: str, run_id: str, *, project: str
    ) -> RunRow:
        """Return the run, or raise a 404 if it is not a run of the project's thread."""
        return await db.run_sync(lambda sync: _run_of_thread(sync, thread_id, run_id, project))

    # -- background ---------------------------------------------------------------------

    async def start(self) -> None:
        """In a process that executes turns: resume runs whose process is gone, start the
        lease heartbeat and the sweeper (expiry and takeover). An API-only process
        counts the deployment's runs in flight, for the poll hint."""
        if not self.dispatcher.executes:
            self._sweeper = asyncio.create_task(self._count_load_forever(), name="callisto:load")
            return
        self.leases.start()
        await self.take_over()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="callisto:sweeper")

    async def _count_load_forever(self) -> None:
        query = select(func.count()).where(RunRow.status.in_(("queued", "in_progress")))
        while True:
            try:
                async with self.sessions() as db:
                    self._deployment_load = int(await db.scalar(query) or 0)
            except Exception as exc:  # the hint keeps its last value
                log.debug("counting runs in flight failed: %s", exc)
            await asyncio.sleep(self.settings.sweep_interval)

    async def take_over(self, now: float | None = None) -> list[str]:
        """Start the turns of runs whose executing process is gone; return their ids.

        A run is orphaned when it needs a turn (``queued``, ``in_progress``, ``cancelling``)
        and its lease has run out, or, ``queued`` with no lease, when it has waited longer than
        a lease without any process claiming it. A run another live process holds is left
        alone, so starting a second process (or one that then fails to bind its port) takes
        nothing from a live one.
        """
        now = time.time() if now is None else now
        stale = now - self.settings.lease_seconds
        query = select(RunRow.id).where(
            RunRow.status.in_(("queued", "in_progress", "cancelling")),
            ((RunRow.lease_until.is_not(None)) & (RunRow.lease_until < now))
            | ((RunRow.lease_until.is_(None)) & (RunRow.created_at < stale)),
        )
        async with self.sessions() as db:
            ids = [
                i for i in (await db.scalars(query)).all() if not self.dispatcher.is_executing(i)
            ]
        for run_id in ids:
            log.info("taking over run %s: the process executing it is gone", run_id)
            self.dispatcher.submit(run_id)
        return ids

    async def is_sweeper(self) -> bool:
        """Return whether this process sweeps for the deployment.

        On PostgreSQL one process at a time holds a session-level advisory lock on the
        writer's connection: it expires runs and takes over orphaned ones; when it dies (or
        its connection drops) the lock is released and the next process to ask takes over.
        On SQLite every process sweeps (one file, one machine).
        """
        if self.writer.engine.dialect.name != "postgresql":
            return True
        held = await self.writer.run(lambda db: db.scalar(_TRY_SWEEPER_LOCK), retry=True)
        return bool(held)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                if await self.is_sweeper():
                    await self.expire_due()
                    await self.take_over()
            except OperationalError as exc:  # the database is restarting, or unreachable
                log.warning("sweep failed (%s); retrying", str(exc.orig or exc).split("\n", 1)[0])
            except Exception:
                log.exception("sweep failed; retrying")
            await asyncio.sleep(self.settings.sweep_interval)

    async def expire_due(self, now: float | None = None) -> list[str]:
        """Expire every active run past ``expires_at``; return their ids."""
        now = time.time() if now is None else now
        live = ("queued", "in_progress", "requires_action")
        due = await self.writer.run(
            lambda db: db.scalars(
                select(RunRow.id).where(RunRow.status.in_(live), RunRow.expires_at_exact <= now)
            ).all()
        )
        expired: list[str] = []
        for run_id in due:

            def expire(db: Session, run_id: str = run_id) -> Any:
                run = db.get(RunRow, run_id)
                if run is None or run.status not in live:
                    return None
                # A turn executing anywhere (its lease is live) settles its own steps when its
                # heartbeat sees the expiry; otherwise they expire in this same transaction,
                # so no reader sees an expired run with a step still in progress.
                executing = (run.lease_until or 0.0) > now
                transition(run, "expired", now=now)
                changed = [] if executing else settle_open_parts(db, run, step_status="expired")
                return run, changed, executing

            # One transaction per run: a run that changed meanwhile is skipped, not retried.
            try:
                result = await self.writer.run(expire, retry=True)
            except StaleDataError:
                continue
            if result is None:
                continue
            run, changed, executing = result
            expired.append(run_id)
            if executing:
                # A turn here is interrupted at once; one elsewhere sees it at its heartbeat.
                self.dispatcher.interrupt(run_id, "expire")
                continue
            await publish(self.events, run_id, changed)
            await self.events.append(run_id, "thread.run.expired", wire.run(run))
            await self.events.close(run_id)
        return expired

    async def aclose(self) -> None:
        """Stop the sweeper and every turn (runs resume at the next start)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.dispatcher.aclose()
        await self.leases.aclose()
        await self.runner.credentials.aclose()


def _assistant_of_new_run(
    db: Session, thread_id: str | None, assistant_id: str, *, project: str, internal: bool
) -> AssistantRow:
    """Return the project's assistant of a run being created (Callisto's own one too when
    ``internal``); with ``thread_id``, check in the same statement that the project has that
    thread. Another project's objects answer as unknown ones.

    Raises:
        NotFound: The thread (checked first) or the assistant does not exist in the project.
    """
    if thread_id is None:
        assistant = db.get(AssistantRow, assistant_id)
    else:
        thread_exists = (
            select(ThreadRow.id)
            .where(ThreadRow.id == thread_id, ThreadRow.project_id == project)
            .exists()
        )
        found = db.execute(
            select(AssistantRow, thread_exists).where(AssistantRow.id == assistant_id)
        ).first()
        if found is None or not found[1]:
            thread_or_404(db, thread_id, project=project)  # the thread's 404 comes first
        assistant = found[0] if found is not None else None
    if assistant is None or (assistant.project_id != project and not internal):
        raise NotFound(f"No assistant found with id '{assistant_id}'.", param="assistant_id")
    return assistant


def _run_of_thread(db: Session, thread_id: str, run_id: str, project: str) -> RunRow:
    run = run_of_project(db, run_id, project, thread_id=thread_id)
    if run is None:
        raise _no_run(thread_id, run_id)
    return run


def _no_run(thread_id: str, run_id: str) -> NotFound:
    """The 404 of an unknown run; another project's run answers with it too, changing nothing."""
    return NotFound(f"No run found with id '{run_id}' in thread '{thread_id}'.")


def _accepted_step(db: Session, run_id: str, outputs: list[tuple[str, str]]) -> RunStepRow | None:
    """Return the completed tool-calls step that already holds exactly ``outputs``, if any."""
    given = dict(outputs)
    if len(given) != len(outputs):
        return None
    steps = db.scalars(
        select(RunStepRow).where(
            RunStepRow.run_id == run_id,
            RunStepRow.type == "tool_calls",
            RunStepRow.status == "completed",
        )
    )
    for step in steps:
        calls = step.step_details.get("tool_calls", [])
        held = {c["id"]: c.get("function", {}).get("output") for c in calls}
        if held == given:
            return step
    return None


def _check_outputs(run: RunRow, outputs: list[tuple[str, str]]) -> None:
    """Refuse tool outputs that are not exactly one per pending call."""
    pending = [c["id"] for c in run.required_action["submit_tool_outputs"]["tool_calls"]]  # type: ignore[index]
    given = [call_id for call_id, _ in outputs]
    duplicates = sorted({c for c in given if given.count(c) > 1})
    if duplicates:
        raise InvalidRequest(
            f"Tool outputs given more than once for call_ids {duplicates}.",
            param="tool_outputs",
        )
    if sorted(given) != sorted(pending):
        unknown = [c for c in given if c not in pending]
        detail = f" Unknown call_ids: {unknown}." if unknown else ""
        raise InvalidRequest(
            f"Expected tool outputs for call_ids {pending}, got {given}.{detail}",
            param="tool_outputs",
        )


def _check_tool_choice(choice: Any, tools: list[Any]) -> None:
    if not isinstance(choice, dict):
        return
    name = choice.get("function", {}).get("name")
    names = {t["function"]["name"] for t in tools if t.get("type") == "function"}
    if name not in names:
        raise InvalidRequest(
            f"tool_choice names function '{name}', which is not among the run's tools.",
            param="tool_choice",
        )
