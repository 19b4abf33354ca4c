"""The turn runner: one model turn of a run, from ``queued`` to its next resting state.

A turn builds the prompt, streams the provider (retrying failures that happen before the first
token), relays the reply as events, checks any tool calls (asking the model to correct bad ones,
a bounded number of times), and ends the run ``requires_action``, ``completed``, ``incomplete``
or ``failed``. State is written before its event is published.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from callisto import telemetry
from callisto.config import RunSettings
from callisto.engine.credentials import Credentials, MemoryCredentials
from callisto.engine.events import EventLog, publish
from callisto.engine.leases import FencedEvents, FencedWriter, Lease, LeaseKeeper, release
from callisto.engine.lifecycle import is_terminal, transition
from callisto.engine.prompt import build_request, history
from callisto.engine.replies import ReplyRecorder
from callisto.engine.retry import RetryPolicy
from callisto.engine.runsteps import remove_open_parts, settle_open_parts
from callisto.engine.toolcheck import CallProblem, check_calls_off_loop, repair_messages
from callisto.errors import CallistoError, ProviderError, ProviderTimeout
from callisto.providers.base import (
    ChatMessage,
    ChatRequest,
    Finish,
    Provider,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from callisto.providers.registry import ProviderRegistry
from callisto.store import audit, wire
from callisto.store.models import RunRow
from callisto.store.writer import Transaction, Transactions, Writer

T = TypeVar("T")

log = logging.getLogger("callisto.engine")


class RunInterrupted(Exception):
    """The run changed under the runner (cancelled, expired): stop the turn quietly."""


@dataclass(slots=True)
class Begin:
    """What a turn starts from: the run (``None``: nothing to do) and the model's view.

    ``events`` are published by whoever ran the transaction that began the turn.
    """

    run: RunRow | None
    events: list[tuple[str, Any]] = field(default_factory=list)
    settled: bool = False
    lease: Lease | None = None


@dataclass(slots=True)
class _Turn:
    """What one turn writes through: the store and the event log, fenced by its lease."""

    writer: Transactions
    events: EventLog


class TurnRunner:
    """Executes turns of runs. Stateless between turns: everything lives in the database.

    Each phase of a turn is one transaction function run by the store's :class:`Writer`
    (start the turn and read the history; create a reply's rows; end the turn), and its
    events are published once that transaction has committed.
    """

    def __init__(
        self,
        writer: Writer,
        events: EventLog,
        providers: ProviderRegistry,
        settings: RunSettings,
        leases: LeaseKeeper,
        credentials: Credentials | None = None,
        *,
        sessions: async_sessionmaker[Any],
    ) -> None:
        """Create a runner over the given store writer, event log, providers and leases.

        ``sessions`` read a thread's history, outside the writer's transactions.
        """
        self.sessions = sessions
        self.writer = writer
        self.events = events
        self.providers = providers
        self.settings = settings
        self.leases = leases
        # Provider keys given with a request (Entities' streaming call): never written to
        # the database, dropped when the run ends (a run waiting for tool outputs keeps its
        # key: its next turn starts as soon as they arrive).
        self.credentials: Credentials = credentials or MemoryCredentials()

    async def execute(self, run_id: str, begun: Begin | None = None) -> None:
        """Run the next turn of ``run_id`` if it is waiting for one.

        A ``queued`` run starts; an ``in_progress`` run (left by a process that died) restarts
        its turn; a ``cancelling`` run is finished as ``cancelled``. Others are left alone.
        With ``begun``, the turn was already started (and announced) by the transaction that
        queued the run (:func:`begin_turn`).
        """
        begin = begun
        if begin is None:
            try:
                begin = await self.writer.run(
                    lambda db: load_turn(db, run_id, self.leases), durable=False, retry=True
                )
            except StaleDataError:
                return  # changed meanwhile (cancelled, expired, claimed): its changer goes on
            await publish(self.events, run_id, begin.events)
        if begin.settled:
            await self._close(run_id)
        if begin.run is None or begin.settled or begin.lease is None:
            return
        lease = begin.lease
        self.leases.hold(lease)
        turn = _Turn(FencedWriter(self.writer, lease), FencedEvents(self.events, lease))
        try:
            # Read outside the writer's serial transaction: a long thread delays no other write.
            conversation = await self._history(begin.run)
            await self._turn(begin.run, conversation, turn)
        except RunInterrupted:
            await self.settle(run_id)
        except ProviderError as exc:
            message = f"The model provider failed: {exc.message}"
            await self.fail(run_id, exc.run_error_code, message, turn=turn)
        except CallistoError as exc:
            await self.fail(run_id, "server_error", exc.message, turn=turn)
        finally:
            self.leases.drop(run_id)

    async def _history(self, run: RunRow) -> list[ChatMessage]:
        limit = self.settings.history_max_messages
        if self.writer.reads_inline:  # SQLite: on the loop, no hand-off to a driver's thread
            return self.writer.read(lambda db: history(db, run, max_messages=limit))
        async with self.sessions() as db:
            # In autocommit: its reads see each its own snapshot, as under PostgreSQL's READ
            # COMMITTED (and pysqlite's reads) anyway, without a BEGIN and a ROLLBACK.
            await db.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            conversation: list[ChatMessage] = await db.run_sync(
                lambda sync: history(sync, run, max_messages=limit)
            )
            return conversation

    @staticmethod
    async def _write(turn: _Turn, transaction: Transaction[T]) -> T:
        """Run a transaction that changes the run; a version conflict interrupts the turn."""
        try:
            return await turn.writer.run(transaction)
        except StaleDataError:
            # Someone else (cancel, the sweeper) changed the run first: their change wins.
            raise RunInterrupted from None

    @telemetry.traced_turn
    async def _turn(self, run: RunRow, conversation: list[ChatMessage], turn: _Turn) -> None:
        provider, model = self.providers.resolve(run.model)
        name, _ = self.providers.split(run.model)
        retry = RetryPolicy(max_retries=self.providers.settings_for(name).max_retries)
        repairs = 0
        while True:
            request = build_request(run, conversation, model)
            api_key = await self.credentials.get(run.id)
            if api_key is not None:
                request = dataclasses.replace(request, api_key=api_key)
            recorder = ReplyRecorder(turn.writer, turn.events, run)
            try:
                usage, finish = await self._stream(provider, request, recorder, retry)
            except BaseException:
                # Keep the text already streamed: the settled message event must carry it.
                await asyncio.shield(recorder.save_partial_text())
                raise
            _add_usage(run, usage)
            calls = recorder.tool_calls()
            if not run.parallel_tool_calls:
                calls = calls[:1]
            valid, problems = await check_calls_off_loop(calls, request.tools)
            if problems and repairs < self.settings.tool_call_retries:
                repairs += 1
                telemetry.tool_call_repaired(run.model)
                await self._refuse_round(turn, run, recorder, problems)
                repair = repair_messages("".join(recorder.text), calls, problems)
                repair[0] = dataclasses.replace(repair[0], reasoning=recorder.reasoning())
                conversation = conversation + repair
                continue
            if problems:
                detail = "; ".join(p.message for p in problems)
                await self.fail(
                    run.id,
                    "server_error",
                    f"The model made invalid tool calls {repairs + 1} times in a row. Last: {detail}",
                    recorder=recorder,
                    run=run,
                    turn=turn,
                )
                return
            await self._end_turn(turn, run, recorder, valid, finish)
            return

    @telemetry.traced_provider_call
    async def _stream(
        self,
        provider: Provider,
        request: ChatRequest,
        recorder: ReplyRecorder,
        retry: RetryPolicy,
    ) -> tuple[Usage | None, str]:
        attempt = 0
        while True:
            started = False
            usage: Usage | None = None
            finish = "stop"
            loop = asyncio.get_running_loop()
            whole = loop.time() + self.settings.model_call_timeout
            deadline = asyncio.timeout_at(
                min(whole, loop.time() + self.settings.first_token_timeout)
            )
            try:
                stream = provider.stream(request)
                # Closing explicitly: an early exit (cancel) ends the provider's HTTP stream at
                # once instead of when the generator is garbage-collected. The deadlines count
                # the model's events, so keep-alive bytes extend neither.
                async with _closing(stream), _model_deadline(deadline, self.settings):
                    async for event in stream:
                        if not started and isinstance(event, _OUTPUT):
                            deadline.reschedule(whole)
                        if isinstance(event, TextDelta):
                            started = True
                            await recorder.on_text(event.text)
                        elif isinstance(event, ReasoningDelta):
                            recorder.on_reasoning(event.text)
                        elif isinstance(event, ToolCallDelta):
                            started = True
                            await recorder.on_tool_call(event)
                        elif isinstance(event, Usage):
                            usage = event
                        elif isinstance(event, Finish):
                            finish = event.reason
                return usage, finish
            except ProviderError as exc:
                attempt += 1
                delay = None if started else retry.delay_for(attempt, exc)
                if delay is None:
                    raise
                log.warning(
                    "provider call failed (%s); retry %d in %.2fs", exc.message, attempt, delay
                )
                recorder.thoughts.clear()  # the retry reasons afresh
                await asyncio.sleep(delay)

    async def _refuse_round(
        self, turn: _Turn, run: RunRow, recorder: ReplyRecorder, problems: list[CallProblem]
    ) -> None:
        step = recorder.tool_step
        error = {"code": "server_error", "message": "; ".join(p.message for p in problems)}
        details = _step_details(recorder.tool_calls(), None, recorder.reasoning())

        def refuse(db: Session) -> None:
            db.add(run)  # writes the usage so far, checking the run's version
            recorder.finish_message(db, incomplete_reason=None)
            if step is not None:
                db.add(step)
                step.status, step.failed_at = "failed", int(time.time())
                step.last_error, step.step_details = error, details

        await self._write(turn, refuse)
        await recorder.publish_message_finished()
        if step is not None:
            await turn.events.append(run.id, "thread.run.step.failed", wire.run_step(step))

    async def _end_turn(
        self, turn: _Turn, run: RunRow, recorder: ReplyRecorder, calls: list[ToolCall], finish: str
    ) -> None:
        def end(db: Session) -> None:
            db.add(run)
            release(run)
            incomplete = _incomplete_reason(run, finish)
            recorder.finish_message(db, incomplete_reason=incomplete)
            if calls and incomplete is None:
                assert recorder.tool_step is not None
                step = recorder.tool_step
                db.add(step)
                step.step_details = _step_details(calls, None, recorder.reasoning())
                pending = _step_details(calls, None)["tool_calls"]
                for call in pending:
                    del call["function"]["output"]
                    call.pop(wire.PROVIDER_DATA, None)
                run.required_action = {
                    "type": "submit_tool_outputs",
                    "submit_tool_outputs": {"tool_calls": pending},
                }
                transition(run, "requires_action")
                audit.record_calls(db, run, pending)
            elif incomplete is not None:
                run.incomplete_details = {"reason": incomplete}
                settle_open_parts(db, run, step_status="failed")
                transition(run, "incomplete")
            else:
                transition(run, "completed")

        await self._write(turn, end)
        await recorder.publish_message_finished()
        event = {"requires_action": "thread.run.requires_action"}.get(
            run.status, f"thread.run.{run.status}"
        )
        await self.events.append(run.id, event, wire.run(run))
        if is_terminal(run.status):
            await self._close(run.id)

    async def fail(
        self,
        run_id: str,
        code: str,
        message: str,
        *,
        recorder: ReplyRecorder | None = None,
        run: RunRow | None = None,
        turn: _Turn | None = None,
    ) -> None:
        """End the run ``failed`` with ``last_error`` ``{code, message}``.

        With ``run`` (the runner's own copy, carrying this turn's usage) and ``recorder`` (whose
        message is completed first), the turn's last reply is kept as it was streamed. With
        ``turn``, the write is fenced by the turn's lease.
        """
        writer: Transactions = self.writer if turn is None else turn.writer
        error = {"code": code, "message": message}

        def fail(db: Session) -> tuple[RunRow | None, list[tuple[str, Any]]]:
            row = run
            if row is None:
                row = db.get(RunRow, run_id)
            else:
                db.add(row)
            if row is None or is_terminal(row.status):
                return None, []
            if recorder is not None:
                recorder.finish_message(db, incomplete_reason=None)
            row.last_error = error
            changed = settle_open_parts(db, row, step_status="failed", error=error)
            transition(row, "failed")
            release(row)
            return row, changed

        try:
            failed, changed = await writer.run(fail)
        except StaleDataError:
            await self.settle(run_id)
            return
        if failed is None:
            return
        if recorder is not None:
            await recorder.publish_message_finished()
        await publish(self.events, run_id, changed)
        await self.events.append(run_id, "thread.run.failed", wire.run(failed))
        await self._close(run_id)

    async def settle(self, run_id: str) -> None:
        """Bring a run whose turn was stopped to rest: ``cancelling`` -> ``cancelled``;
        an ``expired`` run gets its open steps expired. Publishes the events."""

        def settle(db: Session) -> list[tuple[str, Any]] | None:
            run = db.get(RunRow, run_id)
            return None if run is None else _settle(db, run)

        events = await self.writer.run(settle, retry=True)
        if events is not None:
            await publish(self.events, run_id, events)
            await self._close(run_id)

    async def _close(self, run_id: str) -> None:
        # The run is over: forget its request-given provider key, then close its log.
        await self.credentials.drop(run_id)
        await self.events.close(run_id)


def load_turn(db: Session, run_id: str, leases: LeaseKeeper) -> Begin:
    """Load the run and begin its turn (a transaction function)."""
    run = db.get(RunRow, run_id)
    return Begin(None) if run is None else begin_turn(db, run, leases)


def begin_turn(db: Session, run: RunRow, leases: LeaseKeeper) -> Begin:
    """Claim the run's turn, start it (``queued`` -> ``in_progress``) and read the model's view.

    For use inside a transaction function; the caller publishes the returned events. A run
    whose turn another live process holds is left to it (``Begin(None)``).
    """
    if run.status not in ("queued", "in_progress", "cancelling"):
        return Begin(None)
    lease = leases.claim(db, run)
    if lease is None:
        return Begin(None)
    if run.status == "cancelling":
        return Begin(run, events=_settle(db, run) or [], settled=True)
    events: list[tuple[str, Any]] = []
    if run.status == "in_progress":
        # Left by a process that stopped mid-turn: the turn restarts from the history before it.
        remove_open_parts(db, run)
    elif run.status == "queued":
        # No flush: the caller's commit writes the claim and the start in one statement (with
        # a run just created, in its INSERT), and checks the version; events wait for it.
        transition(run, "in_progress")
        events.append(("thread.run.in_progress", wire.run(run)))
    return Begin(run, events, lease=lease)


def _settle(db: Session, run: RunRow) -> list[tuple[str, Any]] | None:
    """Finish a stopped run's parts; return the events to publish (``None``: nothing to do)."""
    if run.status == "cancelling":
        changed = settle_open_parts(db, run, step_status="cancelled")
        transition(run, "cancelled")
    elif run.status == "expired":
        changed = settle_open_parts(db, run, step_status="expired")
    else:
        return None
    release(run)
    db.flush()
    return [*changed, (f"thread.run.{run.status}", wire.run(run))]


def _add_usage(run: RunRow, usage: Usage | None) -> None:
    if usage is None:
        return
    total = dict(run.usage or {"prompt_tokens": 0, "completion_tokens": 0})
    total["prompt_tokens"] = total.get("prompt_tokens", 0) + usage.prompt_tokens
    total["completion_tokens"] = total.get("completion_tokens", 0) + usage.completion_tokens
    total["total_tokens"] = total["prompt_tokens"] + total["completion_tokens"]
    run.usage = total


_OUTPUT = (TextDelta, ReasoningDelta, ToolCallDelta)
"""Events that show the model is answering: the first one ends the first-token deadline."""


def _incomplete_reason(run: RunRow, finish: str) -> str | None:
    usage = run.usage or {}
    if run.max_prompt_tokens is not None and usage.get("prompt_tokens", 0) > run.max_prompt_tokens:
        return "max_prompt_tokens"
    if finish == "length":
        return "max_completion_tokens"
    return None


@contextlib.asynccontextmanager
async def _model_deadline(deadline: asyncio.Timeout, settings: RunSettings) -> AsyncIterator[None]:
    """Apply ``deadline`` to a model call; its expiry becomes a :class:`ProviderTimeout`."""
    try:
        async with deadline:
            yield
    except TimeoutError:
        raise ProviderTimeout(
            f"the model sent no output within {settings.first_token_timeout:g} s, or did not "
            f"finish within {settings.model_call_timeout:g} s"
        ) from None


@contextlib.asynccontextmanager
async def _closing(stream: AsyncIterator[Any]) -> AsyncIterator[None]:
    try:
        yield
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def _step_details(
    calls: list[ToolCall], outputs: dict[str, str] | None, reasoning: str | None = None
) -> dict[str, Any]:
    return {
        "type": "tool_calls",
        # Stored for the models that want it back (see callisto.providers.replay); never shown.
        **({wire.REASONING: reasoning} if reasoning else {}),
        "tool_calls": [
            {
                "id": c.id,
                "type": "function",
                "function": {
                    "name": c.name,
                    "arguments": c.arguments,
                    "output": (outputs or {}).get(c.id),
                },
                # Stored with the call for the provider's next request; wire forms drop it.
                **({wire.PROVIDER_DATA: c.provider_data} if c.provider_data else {}),
            }
            for c in calls
        ],
    }
