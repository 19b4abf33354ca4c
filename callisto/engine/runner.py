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
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from callisto.config import RunSettings
from callisto.engine.events import EventLog
from callisto.engine.lifecycle import is_terminal, transition
from callisto.engine.prompt import build_request, history
from callisto.engine.replies import ReplyRecorder
from callisto.engine.retry import RetryPolicy
from callisto.engine.runsteps import settle_open_parts
from callisto.engine.toolcheck import CallProblem, check_calls
from callisto.errors import CallistoError, ProviderError
from callisto.providers.base import (
    ChatMessage,
    ChatRequest,
    Finish,
    Provider,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from callisto.providers.registry import ProviderRegistry
from callisto.store import wire
from callisto.store.models import RunRow, RunStepRow

log = logging.getLogger("callisto.engine")


class RunInterrupted(Exception):
    """The run changed under the runner (cancelled, expired): stop the turn quietly."""


class TurnRunner:
    """Executes turns of runs. Stateless between turns: everything lives in the database."""

    def __init__(
        self,
        sessions: async_sessionmaker[Any],
        events: EventLog,
        providers: ProviderRegistry,
        settings: RunSettings,
    ) -> None:
        """Create a runner over the given store, event log and providers."""
        self.sessions = sessions
        self.events = events
        self.providers = providers
        self.settings = settings
        # Per-run provider keys given with a request (Entities' streaming call): kept in
        # memory only, never written to the database, dropped when the run ends (a run waiting
        # for tool outputs keeps its key: its next turn starts as soon as they arrive).
        self.credentials: dict[str, str] = {}

    async def execute(self, run_id: str) -> None:
        """Run the next turn of ``run_id`` if it is waiting for one.

        A ``queued`` run starts; an ``in_progress`` run (left by a process that died) restarts
        its turn; a ``cancelling`` run is finished as ``cancelled``. Others are left alone.
        """
        async with self.sessions() as db:
            run = await db.get(RunRow, run_id)
            if run is None:
                return
            if run.status == "cancelling":
                await self._settle(db, run)
                return
            if run.status == "in_progress":
                await settle_open_parts(db, run, step_status="failed")
                await db.commit()
            elif run.status != "queued":
                return
        try:
            await self._start(run_id)
            await self._turn(run_id)
        except RunInterrupted:
            await self.settle(run_id)
        except ProviderError as exc:
            await self.fail(run_id, exc.run_error_code, f"The model provider failed: {exc.message}")
        except CallistoError as exc:
            await self.fail(run_id, "server_error", exc.message)

    async def _start(self, run_id: str) -> None:
        async with self.sessions() as db:
            run = await db.get(RunRow, run_id, populate_existing=True)
            if run is None or run.status != "queued":
                return
            transition(run, "in_progress")
            await self._commit(db)
        await self.events.append(run.id, "thread.run.in_progress", wire.run(run))

    async def _turn(self, run_id: str) -> None:
        async with self.sessions() as db:
            run = await self._load(db, run_id)
            conversation = await history(db, run)
        provider, model = self.providers.resolve(run.model)
        name, _ = self.providers.split(run.model)
        retry = RetryPolicy(max_retries=self.providers.settings_for(name).max_retries)
        repairs = 0
        while True:
            request = build_request(run, conversation, model)
            if run_id in self.credentials:
                request = dataclasses.replace(request, api_key=self.credentials[run_id])
            recorder = ReplyRecorder(self.sessions, self.events, run)
            try:
                usage, finish = await self._stream(provider, request, recorder, retry)
            except BaseException:
                # Keep the text already streamed: the settled message event must carry it.
                await asyncio.shield(recorder.save_partial_text())
                raise
            run = await self._add_usage(run_id, usage)
            calls = recorder.tool_calls()
            if not run.parallel_tool_calls:
                calls = calls[:1]
            valid, problems = check_calls(calls, request.tools)
            if problems and repairs < self.settings.tool_call_retries:
                repairs += 1
                await self._refuse_round(run, recorder, problems)
                conversation = conversation + self._repair_messages(
                    recorder, calls, valid, problems
                )
                continue
            if problems:
                await self._finish_message(run_id, recorder, None)
                detail = "; ".join(p.message for p in problems)
                await self.fail(
                    run_id,
                    "server_error",
                    f"The model made invalid tool calls {repairs + 1} times in a row. Last: {detail}",
                    step=recorder.tool_step,
                )
                return
            await self._end_turn(run_id, recorder, valid, finish)
            return

    async def _load(self, db: AsyncSession, run_id: str) -> RunRow:
        run = await db.get(RunRow, run_id, populate_existing=True)
        if run is None or run.status != "in_progress":
            raise RunInterrupted(run_id)
        return run

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
            try:
                stream = provider.stream(request)
                # Closing explicitly: an early exit (cancel) ends the provider's HTTP stream at
                # once instead of when the generator is garbage-collected.
                async with _closing(stream):
                    async for event in stream:
                        if isinstance(event, TextDelta):
                            started = True
                            await recorder.on_text(event.text)
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
                await asyncio.sleep(delay)

    async def _add_usage(self, run_id: str, usage: Usage | None) -> RunRow:
        async with self.sessions() as db:
            run = await self._load(db, run_id)
            if usage is not None:
                total = dict(run.usage or {"prompt_tokens": 0, "completion_tokens": 0})
                total["prompt_tokens"] = total.get("prompt_tokens", 0) + usage.prompt_tokens
                total["completion_tokens"] = (
                    total.get("completion_tokens", 0) + usage.completion_tokens
                )
                total["total_tokens"] = total["prompt_tokens"] + total["completion_tokens"]
                run.usage = total
                await self._commit(db)
            return run

    async def _commit(self, db: AsyncSession) -> None:
        try:
            await db.commit()
        except StaleDataError:
            # Someone else (cancel, the sweeper) changed the run first: their change wins.
            await db.rollback()
            raise RunInterrupted from None

    async def _refuse_round(
        self, run: RunRow, recorder: ReplyRecorder, problems: list[CallProblem]
    ) -> None:
        await self._finish_message(run.id, recorder, None)
        if recorder.tool_step is None:
            return
        async with self.sessions() as db:
            step = await db.merge(recorder.tool_step)
            step.status, step.failed_at = "failed", int(time.time())
            step.last_error = {
                "code": "server_error",
                "message": "; ".join(p.message for p in problems),
            }
            step.step_details = _step_details(recorder.tool_calls(), None)
            await db.commit()
        await self.events.append(run.id, "thread.run.step.failed", wire.run_step(step))

    @staticmethod
    def _repair_messages(
        recorder: ReplyRecorder,
        calls: list[ToolCall],
        valid: list[ToolCall],
        problems: list[CallProblem],
    ) -> list[ChatMessage]:
        messages: list[ChatMessage] = []
        text = "".join(recorder.text)
        messages.append(
            ChatMessage(role="assistant", content=text or None, tool_calls=tuple(calls))
        )
        refused = {p.call.id: p.message for p in problems}
        for call in calls:
            reason = refused.get(call.id)
            content = (
                f"Error: {reason} Call the tool again with corrected arguments."
                if reason
                else "Not run: another call in the same reply was invalid. Repeat it with the corrected call."
            )
            messages.append(
                ChatMessage(role="tool", content=content, tool_call_id=call.id, name=call.name)
            )
        return messages

    async def _finish_message(
        self, run_id: str, recorder: ReplyRecorder, incomplete_reason: str | None
    ) -> None:
        if recorder.message is None:
            return
        async with self.sessions() as db:
            await recorder.finish_message(db, incomplete_reason=incomplete_reason)
            await db.commit()
        await recorder.publish_message_finished()

    async def _end_turn(
        self, run_id: str, recorder: ReplyRecorder, calls: list[ToolCall], finish: str
    ) -> None:
        async with self.sessions() as db:
            run = await self._load(db, run_id)
            incomplete = self._incomplete_reason(run, finish)
            await recorder.finish_message(db, incomplete_reason=incomplete)
            if calls and incomplete is None:
                assert recorder.tool_step is not None
                step = await db.merge(recorder.tool_step)
                step.step_details = _step_details(calls, None)
                run.required_action = {
                    "type": "submit_tool_outputs",
                    "submit_tool_outputs": {"tool_calls": _step_details(calls, None)["tool_calls"]},
                }
                for call in run.required_action["submit_tool_outputs"]["tool_calls"]:
                    del call["function"]["output"]
                transition(run, "requires_action")
            elif incomplete is not None:
                run.incomplete_details = {"reason": incomplete}
                await settle_open_parts(db, run, step_status="failed")
                transition(run, "incomplete")
            else:
                transition(run, "completed")
            await self._commit(db)
        await recorder.publish_message_finished()
        event = {"requires_action": "thread.run.requires_action"}.get(
            run.status, f"thread.run.{run.status}"
        )
        await self.events.append(run.id, event, wire.run(run))
        if is_terminal(run.status):
            await self._close(run.id)

    @staticmethod
    def _incomplete_reason(run: RunRow, finish: str) -> str | None:
        usage = run.usage or {}
        if (
            run.max_prompt_tokens is not None
            and usage.get("prompt_tokens", 0) > run.max_prompt_tokens
        ):
            return "max_prompt_tokens"
        if finish == "length":
            return "max_completion_tokens"
        return None

    async def fail(
        self, run_id: str, code: str, message: str, step: RunStepRow | None = None
    ) -> None:
        """End the run ``failed`` with ``last_error`` ``{code, message}``."""
        async with self.sessions() as db:
            run = await db.get(RunRow, run_id, populate_existing=True)
            if run is None or is_terminal(run.status):
                return
            run.last_error = {"code": code, "message": message}
            changed = await settle_open_parts(db, run, step_status="failed", error=run.last_error)
            transition(run, "failed")
            try:
                await db.commit()
            except StaleDataError:
                await db.rollback()
                await self.settle(run_id)
                return
        for name, data in changed:
            await self.events.append(run_id, name, data)
        await self.events.append(run_id, "thread.run.failed", wire.run(run))
        await self._close(run_id)

    async def settle(self, run_id: str) -> None:
        """Bring a run whose turn was stopped to rest: ``cancelling`` -> ``cancelled``;
        an ``expired`` run gets its open steps expired. Publishes the events."""
        async with self.sessions() as db:
            run = await db.get(RunRow, run_id, populate_existing=True)
            if run is not None:
                await self._settle(db, run)

    async def _settle(self, db: AsyncSession, run: RunRow) -> None:
        if run.status == "cancelling":
            changed = await settle_open_parts(db, run, step_status="cancelled")
            transition(run, "cancelled")
        elif run.status == "expired":
            changed = await settle_open_parts(db, run, step_status="expired")
        else:
            return
        await db.commit()
        for name, data in changed:
            await self.events.append(run.id, name, data)
        await self.events.append(run.id, f"thread.run.{run.status}", wire.run(run))
        await self._close(run.id)

    async def _close(self, run_id: str) -> None:
        # The run is over: forget its request-given provider key, then close its log.
        self.credentials.pop(run_id, None)
        await self.events.close(run_id)


@contextlib.asynccontextmanager
async def _closing(stream: AsyncIterator[Any]) -> AsyncIterator[None]:
    try:
        yield
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def _step_details(calls: list[ToolCall], outputs: dict[str, str] | None) -> dict[str, Any]:
    return {
        "type": "tool_calls",
        "tool_calls": [
            {
                "id": c.id,
                "type": "function",
                "function": {
                    "name": c.name,
                    "arguments": c.arguments,
                    "output": (outputs or {}).get(c.id),
                },
            }
            for c in calls
        ],
    }
