"""A response as a run: choose its thread, write its input, and start or continue the run.

A response runs on a thread: a conversation's, the previous response's (when it is the latest
on its thread), or a new internal one (the previous response's context copied when the chain
forks). Input items become thread messages and completed tool steps; outputs for the calls of
a run resting at ``requires_action`` continue that run through ``submit_tool_outputs``.
Otherwise the engine creates a run; when tool steps must be written before its first turn reads
the history, the run is held (``dispatch=False``) until they are, then started.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy import update as sa_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callisto.api.responses.items import (
    Plan,
    body,
    plan_input,
    round_step,
    step_calls,
    thread_items,
)
from callisto.api.responses.request import (
    ASSISTANT_ID,
    new_row,
    response_format,
    run_params,
    run_tools,
)
from callisto.api.responses.rounds import (
    adopt_rounds,
    observe_thread,
    thread_steps,
    waiting_rounds,
)
from callisto.api.responses.schemas import (
    InputItem,
    ResponseCreate,
)
from callisto.api.responses.wire import find_response, usage_between
from callisto.engine.service import RunParams, RunService
from callisto.errors import ConflictingState, InvalidRequest, NotFound
from callisto.ids import PREFIXES, new_id
from callisto.store.models import (
    ACTIVE_RUN_STATUSES,
    INTERNAL_PROJECT,
    AssistantRow,
    MessageRow,
    RunRow,
    ThreadRow,
)
from callisto.store.projects import owned
from callisto.store.responses_models import ResponseRow

CONVERSATION_PREFIX = "conv_"

_items = TypeAdapter(list[InputItem])


@dataclass(slots=True)
class Started:
    """A response whose run is queued: its row (as written) and the run's id."""

    row: ResponseRow
    thread_is_new: bool


class ResponseRuns:
    """Starts and continues responses on the engine's runs."""

    def __init__(self, runs: RunService) -> None:
        """Use ``runs`` (the engine's service) for every run change."""
        self.runs = runs
        self._assistant_ready = False

    async def _ensure_assistant(self) -> None:
        if self._assistant_ready:
            return

        def ensure(db: Session) -> None:
            if db.get(AssistantRow, ASSISTANT_ID) is None:
                db.add(
                    AssistantRow(
                        id=ASSISTANT_ID,
                        project_id=INTERNAL_PROJECT,  # runs of every project name it
                        created_at=int(time.time()),
                        name="Responses API (internal)",
                        description="Runs of the Responses API name this assistant.",
                        model="offline/responses",
                        instructions=None,
                        tools=[],
                        metadata_={},
                        response_format="auto",
                    )
                )
                db.flush()

        with contextlib.suppress(IntegrityError):  # another request made it first
            await self.runs.writer.run(ensure)
        self._assistant_ready = True

    async def start(self, request: ResponseCreate, project: str) -> Started:
        """Write a response's input and queue its run, in ``project``; return its row.

        Raises:
            InvalidRequest: The request breaks a rule (see the messages).
            NotFound: The conversation does not exist in ``project``.
        """
        conversation = request.conversation_id()
        if conversation is not None and request.previous_response_id is not None:
            raise InvalidRequest(
                "previous_response_id cannot be used together with conversation.",
                param="previous_response_id",
            )
        if request.background and request.store is False:
            raise InvalidRequest("background mode requires store=true.", param="background")
        self.runs.providers.split(request.model)  # a 400 for a model no provider serves
        echoed, tools, choice = run_tools(request)
        text, fmt = response_format(request)
        await self._ensure_assistant()
        if conversation is None and request.previous_response_id is None:
            ready = _prepare(None, request, None, project)  # a new thread: nothing to read
        else:
            ready = await self.runs.writer.run(
                lambda db: _prepare(db, request, conversation, project)
            )
        plan = ready.plan
        row = new_row(
            request, ready.thread_id, ready.begins, ready.echo, echoed, text, project=project
        )
        params = run_params(request, tools, choice, fmt, plan)
        if ready.waiting is not None:
            await self._continue(row, ready.waiting, plan)
            return Started(row, False)
        await self._create(row, params, ready)
        return Started(row, ready.fresh)

    async def _continue(self, row: ResponseRow, run_id: str, plan: Plan) -> None:
        """Give a waiting run its outputs: the response continues the run."""
        row.id = new_id("resp_")
        row.run_id = run_id
        row.start_seq = await self.runs.events.last_seq(run_id)

        def write(db: Session) -> None:
            run = db.get(RunRow, run_id)
            row.usage_base = dict(run.usage) if run is not None and run.usage else None
            _close_previous(db, row, continued=True)
            db.add(row)

        await self.runs.writer.run(write)
        try:
            await self.runs.submit_tool_outputs(
                row.thread_id, run_id, plan.outputs, project=row.project_id
            )
        except BaseException:
            await self.runs.writer.run(lambda db: _undo(db, row))
            raise

    async def _create(self, row: ResponseRow, params: RunParams, ready: _Prepared) -> None:
        """Create the response's run and write its row.

        A run whose history needs tool steps written first (calls in the input, or waiting in
        the conversation) is held until they are; any other starts at once, its turn begun in
        the transaction that creates it when a slot is free.
        """
        plan = ready.plan
        rounds = [*plan.rounds, *([plan.external] if plan.external is not None else [])]
        hold = bool(rounds) or ready.waiting_rounds
        row.id = new_id("resp_")
        run_id = row.run_id = await self._create_run(row, params, ready, dispatch=not hold)

        def write(db: Session) -> None:
            _close_previous(db, row, continued=False)
            db.add(row)
            if hold:
                adopt_rounds(db, row.thread_id, run_id, ASSISTANT_ID)
                db.add_all(round_step(r, run_id, row.thread_id, ASSISTANT_ID) for r in rounds)
            # A response waiting for function outputs waits as long as the client likes.
            # (Not the run's versioned update: a turn already running holds the run.)
            db.execute(
                sa_update(RunRow)
                .where(RunRow.id == run_id)
                .values(expires_at=None, expires_at_exact=None)
                .execution_options(synchronize_session=False)
            )

        try:
            await self.runs.writer.run(write)
        except BaseException:
            await self.runs.cancel(row.thread_id, run_id, project=row.project_id)
            raise
        if hold:
            await self.runs.start_with(run_id, model=params.model or row.model, api_key=None)

    async def _create_run(
        self, row: ResponseRow, params: RunParams, ready: _Prepared, *, dispatch: bool
    ) -> str:
        thread = None
        if ready.fresh:
            thread = ThreadRow(
                id=row.thread_id,
                project_id=row.project_id,
                created_at=row.created_at,
                metadata_={},
                tool_resources=None,
            )
        for attempt in (1, 2):
            try:
                accepted = await self.runs.create_run(
                    row.thread_id,
                    params,
                    project=row.project_id,
                    thread=thread,
                    extra_rows=ready.plan.messages,
                    dispatch=dispatch,
                    internal_assistant=True,
                )
                return accepted.run.id
            except ConflictingState:
                raise ConflictingState(_busy(row)) from None
            except NotFound as exc:
                if exc.param != "assistant_id" or attempt == 2:
                    raise
                # A client deleted the internal assistant through the Assistants API.
                self._assistant_ready = False
                await self._ensure_assistant()
        raise AssertionError("unreachable")


@dataclass(slots=True)
class _Prepared:
    """Where a response runs and what its input becomes.

    Attributes:
        thread_id: The thread (new when ``fresh``).
        fresh: The thread is new, made with the response's run.
        begins: An id body made before the input's rows (:attr:`ResponseRow.begins`).
        plan: The input as rows (after a forked chain's copied context).
        echo: The response's own input items, as ``input_items`` lists them.
        waiting: The run that waits for the outputs this input gives, if any.
        waiting_rounds: The conversation has calls added as items that no run owns yet.
    """

    thread_id: str
    fresh: bool
    begins: str
    plan: Plan
    echo: list[dict[str, Any]]
    waiting: str | None
    waiting_rounds: bool = False


def _prepare(
    db: Session | None, request: ResponseCreate, conversation: str | None, project: str
) -> _Prepared:
    """Choose the thread and plan the input (one transaction; ``db`` is ``None`` when the
    response has neither a conversation nor a previous response: its thread is new).

    Raises:
        InvalidRequest: No input, outputs for calls nobody made, a thread busy or waiting for
            other outputs.
        NotFound: The conversation does not exist in ``project``.
    """
    previous, thread_id, prefix = (
        _choose_thread(db, request, conversation, project) if db is not None else (None, None, [])
    )
    fresh = thread_id is None
    if db is not None and thread_id is not None:
        observe_thread(db, thread_id)
    begins = body(new_id("resp_"))  # before the input's rows: the end of the previous window
    thread_id = thread_id or new_id(PREFIXES["thread"])
    items, copied = _with_context(prefix, request.input if request.input is not None else [])
    plan = plan_input(items, thread_id)
    if len(plan.echo) == copied:
        raise InvalidRequest("input is required.", param="input")
    waiting = None
    if db is not None and not fresh:
        waiting = _waiting_run(db, thread_id, plan, conversation, previous)
    if plan.external is not None and waiting is None:
        _fill_external(db, thread_id, plan)
    rounds = conversation is not None and db is not None and bool(waiting_rounds(db, thread_id))
    return _Prepared(thread_id, fresh, begins, plan, plan.echo[copied:], waiting, rounds)


def _with_context(
    prefix: list[dict[str, Any]], items: str | Sequence[InputItem]
) -> tuple[str | Sequence[InputItem], int]:
    """Return the input after the items copied from a forked chain, and how many were copied.

    A copied output of a call is left out when the input answers that call again.
    """
    if not prefix:
        return items, 0
    given = (
        _items.validate_python([{"role": "user", "content": items}])
        if isinstance(items, str)
        else list(items)
    )
    answered = {i.call_id for i in given if i.type == "function_call_output"}
    kept = [
        i
        for i in prefix
        if not (i.get("type") == "function_call_output" and i["call_id"] in answered)
    ]
    return [*_items.validate_python(kept), *given], len(kept)


def _busy(row: ResponseRow) -> str:
    if row.conversation_id:
        return (
            f"Conversation {row.conversation_id} already has a response in progress; "
            "wait for it to finish."
        )
    return f"Response {row.previous_response_id} is still in progress; wait for it to finish."


def _choose_thread(
    db: Session, request: ResponseCreate, conversation: str | None, project: str
) -> tuple[str | None, str | None, list[dict[str, Any]]]:
    """Return the previous response's id, the thread to continue (``None``: a new one) and
    the items to copy first (a forked chain), all of ``project``."""
    if conversation is not None:
        thread = owned(db, ThreadRow, conversation, project)
        if thread is None or not conversation.startswith(CONVERSATION_PREFIX):
            raise NotFound(
                f"Conversation with id '{conversation}' not found.", param="conversation"
            )
        return None, conversation, []
    if request.previous_response_id is None:
        return None, None, []
    try:
        previous = find_response(db, request.previous_response_id, project)
    except NotFound:
        raise InvalidRequest(
            f"Previous response with id '{request.previous_response_id}' not found.",
            param="previous_response_id",
        ) from None
    if previous.ends is None and previous.conversation_id is None:
        return previous.id, previous.thread_id, []
    # The chain forks (or left a conversation): its context is copied to a new thread.
    return previous.id, None, _items_until(db, previous)


def _items_until(db: Session, previous: ResponseRow) -> list[dict[str, Any]]:
    messages = db.scalars(
        select(MessageRow).where(MessageRow.thread_id == previous.thread_id).order_by(MessageRow.id)
    )
    end = previous.ends
    kept = []
    for key, item in thread_items(messages, thread_steps(db, previous.thread_id)):
        if end is not None and key[0] >= end:
            break
        kept.append({k: v for k, v in item.items() if k not in ("id", "status")})
    return kept


def _waiting_run(
    db: Session, thread_id: str, plan: Plan, conversation: str | None, previous: str | None
) -> str | None:
    """Return the thread's run waiting for these outputs, ``None`` when the thread is idle.

    Raises:
        InvalidRequest: The thread's run waits for outputs this input does not give, or the
            thread has a response in progress.
    """
    run = db.scalars(
        select(RunRow).where(RunRow.thread_id == thread_id, RunRow.status.in_(ACTIVE_RUN_STATUSES))
    ).first()
    if run is None:
        return None
    if run.status != "requires_action":
        what = f"Conversation {conversation}" if conversation else f"Response {previous}"
        raise ConflictingState(f"{what} already has a response in progress; wait for it to finish.")
    pending = [c["id"] for c in (run.required_action or {})["submit_tool_outputs"]["tool_calls"]]
    _answers_from_echoed_calls(plan, pending)
    given = [call_id for call_id, _ in plan.outputs]
    missing = [c for c in pending if c not in given]
    if missing:
        raise InvalidRequest(f"No tool output found for function call {missing[0]}.", param="input")
    if not plan.only_outputs or sorted(given) != sorted(pending):
        raise InvalidRequest(
            "The previous response is waiting for its function call outputs: send exactly one "
            "function_call_output item per call, and nothing else, to continue it.",
            param="input",
        )
    return run.id


def _answers_from_echoed_calls(plan: Plan, pending: list[str]) -> None:
    """Take the outputs of rounds that only repeat the waiting calls (a client that sends the
    previous response's ``function_call`` items back with their outputs) as plain outputs."""
    for round_ in list(plan.rounds):
        if all(call["id"] in pending for call in round_.calls):
            plan.rounds.remove(round_)
            plan.outputs += [(c["id"], c["function"]["output"]) for c in round_.calls]


def _fill_external(db: Session | None, thread_id: str, plan: Plan) -> None:
    """Find the calls that ``plan.outputs`` answer among the thread's earlier tool steps."""
    assert plan.external is not None
    steps = thread_steps(db, thread_id, any_status=True) if db is not None else []
    known = {c["id"]: c for step in steps for c in step_calls(step)}
    for call_id, output in plan.outputs:
        call = known.get(call_id)
        if call is None:
            raise InvalidRequest(
                f"No tool call found for function call output with call_id {call_id}.",
                param="input",
            )
        plan.external.calls.append(
            {
                "id": call_id,
                "type": "function",
                "function": {**call["function"], "output": output},
            }
        )


def _close_previous(db: Session, row: ResponseRow, *, continued: bool) -> None:
    """End the window of the thread's latest response at this one's start."""
    latest = db.scalars(
        select(ResponseRow)
        .where(ResponseRow.thread_id == row.thread_id, ResponseRow.ends.is_(None))
        .order_by(ResponseRow.id.desc())
        .limit(1)
    ).first()
    if latest is None:
        return
    latest.ends = row.begins
    if continued and latest.run_id == row.run_id:
        run = db.get(RunRow, row.run_id)
        usage = run.usage if run is not None else None
        latest.settled = {"status": "completed", "usage": usage_between(usage, latest.usage_base)}


def _undo(db: Session, row: ResponseRow) -> None:
    """Remove a response whose run refused its outputs; reopen the window it closed."""
    stored = db.get(ResponseRow, row.id)
    if stored is not None:
        db.delete(stored)
    latest = db.scalars(
        select(ResponseRow)
        .where(ResponseRow.thread_id == row.thread_id, ResponseRow.ends == row.begins)
        .limit(1)
    ).first()
    if latest is not None:
        latest.ends, latest.settled = None, None
