"""Drive an Assistants run to the end: execute every ``requires_action`` and submit outputs.

Two ways to wait, both with the official SDK: polling (``create_and_poll``,
``submit_tool_outputs_and_poll``) and streaming (``runs.stream``,
``submit_tool_outputs_stream``, no polling, text deltas forwarded as they come). Async twins
take an ``AsyncOpenAI`` client.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from callisto.tools._driving import (
    TERMINAL_STATUSES,
    TextCallback,
    executor_for,
    pending_calls,
    poll_options,
    quiet_assistants_deprecation,
    text_of_event,
    tool_outputs,
)
from callisto.tools.errors import MaxRoundsExceeded, ToolLoopError
from callisto.tools.executor import ToolExecutor
from callisto.tools.results import ToolResult
from callisto.tools.toolbox import Toolbox


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """How a run ended.

    Attributes:
        run: The final ``Run`` (``status`` is terminal).
        messages: The messages the run added to the thread, oldest first.
        tool_results: Every tool result submitted, in order.
    """

    run: Any
    messages: list[Any]
    tool_results: list[ToolResult] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The text of the run's assistant messages, joined by blank lines."""
        texts = [
            part.text.value
            for message in self.messages
            if getattr(message, "role", None) == "assistant"
            for part in message.content
            if getattr(part, "type", None) == "text"
        ]
        return "\n\n".join(texts)


def run_until_done(
    client: Any,
    thread_id: str,
    assistant_id: str | None,
    tools: Toolbox | ToolExecutor,
    *,
    run_id: str | None = None,
    stream: bool = False,
    on_text: TextCallback | None = None,
    caller: str | None = None,
    max_rounds: int = 20,
    poll_interval_ms: int | None = None,
    **run_params: Any,
) -> RunOutcome:
    """Create a run (or take ``run_id``) and answer its tool calls until it ends.

    Every ``requires_action`` is answered by executing all its calls in parallel and
    submitting the outputs; failed calls are submitted too, as error outputs the model can act
    on.

    Args:
        client: An ``openai.OpenAI`` client (base URL pointed at Callisto).
        thread_id: The thread.
        assistant_id: The assistant; may be ``None`` with ``run_id``.
        tools: The toolbox, or an executor carrying policies.
        run_id: Continue this existing run instead of creating one.
        stream: Stream events instead of polling.
        on_text: Called with each text delta (streaming only).
        caller: Who the calls run for (allowlists, rate limits, audit).
        max_rounds: Most ``requires_action`` rounds answered; past it the run is cancelled.
        poll_interval_ms: Polling interval; by default the server's hint, else 1 s.
        **run_params: More ``runs.create`` parameters (``instructions``, ``tools``, ...).

    Returns:
        The final run and its messages.

    Raises:
        MaxRoundsExceeded: The run still wanted tools after ``max_rounds`` rounds.
        ToolLoopError: A stream ended without a run.
    """
    quiet_assistants_deprecation()
    runs = client.beta.threads.runs
    polling = poll_options(poll_interval_ms)
    create = {"thread_id": thread_id, "assistant_id": assistant_id, **run_params}

    def start() -> Any:
        if run_id is not None:
            run = runs.retrieve(run_id, thread_id=thread_id)
            if run.status == "requires_action":
                return run
            return runs.poll(run.id, thread_id, **polling)
        if stream:
            return _consume(runs.stream(**create), on_text)
        return runs.create_and_poll(**create, **polling)

    def submit(run: Any, results: list[ToolResult]) -> Any:
        submission = _submit_arguments(thread_id, run, results)
        if stream:
            return _consume(runs.submit_tool_outputs_stream(**submission), on_text)
        return runs.submit_tool_outputs_and_poll(**submission, **polling)

    run = start()
    submitted: list[ToolResult] = []
    with executor_for(tools) as executor:
        for rounds in itertools.count():
            if run.status != "requires_action":
                break
            if rounds >= max_rounds:
                runs.cancel(run.id, thread_id=thread_id)
                raise _too_many_rounds(run, max_rounds)
            batch = executor.execute_all_sync(pending_calls(run), caller=caller)
            submitted += batch
            run = submit(run, batch)
    messages = list(client.beta.threads.messages.list(thread_id, run_id=run.id, order="asc"))
    return RunOutcome(run=run, messages=messages, tool_results=submitted)


def _consume(manager: Any, on_text: TextCallback | None) -> Any:
    """Read one event stream to its end; forward text deltas; return the last run seen."""
    with manager as events:
        for event in events:
            _forward_text(event, on_text)
        run = events.current_run
    return _require_run(run)


async def async_run_until_done(
    client: Any,
    thread_id: str,
    assistant_id: str | None,
    tools: Toolbox | ToolExecutor,
    *,
    run_id: str | None = None,
    stream: bool = False,
    on_text: TextCallback | None = None,
    caller: str | None = None,
    max_rounds: int = 20,
    poll_interval_ms: int | None = None,
    **run_params: Any,
) -> RunOutcome:
    """:func:`run_until_done` for an ``openai.AsyncOpenAI`` client; same arguments.

    Tools run concurrently on the caller's event loop (sync tools in the executor's threads).
    """
    quiet_assistants_deprecation()
    runs = client.beta.threads.runs
    polling = poll_options(poll_interval_ms)
    create = {"thread_id": thread_id, "assistant_id": assistant_id, **run_params}

    async def start() -> Any:
        if run_id is not None:
            run = await runs.retrieve(run_id, thread_id=thread_id)
            if run.status == "requires_action":
                return run
            return await runs.poll(run.id, thread_id, **polling)
        if stream:
            return await _consume_async(runs.stream(**create), on_text)
        return await runs.create_and_poll(**create, **polling)

    async def submit(run: Any, results: list[ToolResult]) -> Any:
        submission = _submit_arguments(thread_id, run, results)
        if stream:
            return await _consume_async(runs.submit_tool_outputs_stream(**submission), on_text)
        return await runs.submit_tool_outputs_and_poll(**submission, **polling)

    run = await start()
    submitted: list[ToolResult] = []
    with executor_for(tools) as executor:
        for rounds in itertools.count():
            if run.status != "requires_action":
                break
            if rounds >= max_rounds:
                await runs.cancel(run.id, thread_id=thread_id)
                raise _too_many_rounds(run, max_rounds)
            batch = await executor.execute_all(pending_calls(run), caller=caller)
            submitted += batch
            run = await submit(run, batch)
    page = client.beta.threads.messages.list(thread_id, run_id=run.id, order="asc")
    messages = [message async for message in page]
    return RunOutcome(run=run, messages=messages, tool_results=submitted)


async def _consume_async(manager: Any, on_text: TextCallback | None) -> Any:
    async with manager as events:
        async for event in events:
            _forward_text(event, on_text)
        run = events.current_run
    return _require_run(run)


def _submit_arguments(thread_id: str, run: Any, results: list[ToolResult]) -> dict[str, Any]:
    """The arguments of ``submit_tool_outputs`` (polled or streamed) answering ``run``."""
    return {"thread_id": thread_id, "run_id": run.id, "tool_outputs": tool_outputs(results)}


def _forward_text(event: Any, on_text: TextCallback | None) -> None:
    """Give ``on_text`` the text fragments of a stream event, in order."""
    if on_text is not None:
        for text in text_of_event(event):
            on_text(text)


def _too_many_rounds(run: Any, max_rounds: int) -> MaxRoundsExceeded:
    return MaxRoundsExceeded(f"run {run.id} still wanted tools after {max_rounds} rounds", last=run)


def _require_run(run: Any) -> Any:
    if run is None:
        raise ToolLoopError("the event stream ended before any run event")
    if run.status not in TERMINAL_STATUSES and run.status != "requires_action":
        raise ToolLoopError(
            f"the event stream ended with run {run.id} still {run.status}", last=run
        )
    return run
