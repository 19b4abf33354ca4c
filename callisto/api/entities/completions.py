"""Entities ``POST /v1/completions``: start or continue a run with a model, and stream its text.

The SDK's ``stream_chunks(provider, model)`` posts here with the ids of the thread, run and
assistant, and the model provider's key in the body. The model string routes to a configured
provider (``hyperbolic/deepseek-ai/DeepSeek-V3`` -> provider ``hyperbolic``); the key is used
for this run's model calls only, held in memory by the runner and dropped when the run ends.

The answer is a stream of ``data: {"type": "content", "content": "..."}`` lines read from the
run's event log, ending with ``data: [DONE]`` when the run waits on a tool call (after a
``{"type": "function_call", ...}`` line per call) or ends. Each stream picks up where the
run's previous one stopped, so the stream after the tool outputs carries the answer even when
the run finished before it was asked for.

Problems with the run (an unknown id, ids that do not belong together, a model no provider
serves, a run already streamed to its end, a run that fails) come as one
``{"type": "error", "message": "..."}`` line: the SDK yields it to the caller, whereas it
swallows an HTTP error status on this call into a log line.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from starlette.responses import StreamingResponse

from callisto.api.deps import Session, State
from callisto.api.entities.memory import EntitiesMemory, Memory
from callisto.api.entities.schemas import CompletionRequest
from callisto.api.streaming import END_EVENTS, KEEPALIVE_SECONDS
from callisto.engine.events import EventLog
from callisto.engine.lifecycle import is_terminal
from callisto.errors import CallistoError, InvalidRequest
from callisto.providers.registry import ProviderRegistry
from callisto.store.models import RunRow

router = APIRouter(tags=["entities"])

DONE_LINE = b"data: [DONE]\n\n"
RUN_ENDINGS = {
    "thread.run.cancelled": "The run was cancelled.",
    "thread.run.expired": "The run expired before it finished.",
}


def _line(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _streaming(lines: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(
        lines,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def error_stream(message: str, run_id: str | None) -> StreamingResponse:
    """Return a stream of one Entities error line and ``[DONE]``."""

    async def lines() -> AsyncIterator[bytes]:
        yield _line({"type": "error", "message": message, "run_id": run_id})
        yield DONE_LINE

    return _streaming(lines())


def resolve_model(providers: ProviderRegistry, provider: str, model: str) -> str:
    """Return the Callisto model string for an Entities ``(provider, model)`` pair.

    ``hyperbolic/deepseek-ai/DeepSeek-V3`` already names its provider; a bare model is given
    the provider's name as prefix (provider names are matched in lower case).

    Raises:
        InvalidRequest: Neither names a configured provider.
    """
    prefix, sep, rest = model.partition("/")
    if sep and rest and prefix.lower() in providers.names:
        return f"{prefix.lower()}/{rest}"
    name = provider.strip().lower()
    if name in providers.names:
        return f"{name}/{model}"
    raise InvalidRequest(
        f"Provider '{provider}' (model '{model}') is not configured on this Callisto server; "
        f"configured: {', '.join(providers.names)}. Configure it as "
        f"CALLISTO_PROVIDERS__{name.upper() or 'NAME'}__BASE_URL.",
        param="provider",
    )


async def latest_turn_start(events: EventLog, run_id: str) -> int:
    """Return the sequence number after which the run's latest turn begins (its last
    ``thread.run.queued`` event), or 0 when the log holds nothing of it."""
    last = await events.last_seq(run_id)
    start = 0
    if last == 0:
        return 0
    async for event in events.read_from(run_id, 0):
        if event is None:
            continue
        if event.event == "thread.run.queued":
            start = event.seq
        if event.seq >= last:
            break
    return start


def _delta_text(data: str) -> str:
    delta = json.loads(data).get("delta", {})
    return "".join(
        part.get("text", {}).get("value", "")
        for part in delta.get("content", [])
        if part.get("type") == "text"
    )


def _calls(data: str) -> list[dict[str, Any]]:
    required = json.loads(data).get("required_action") or {}
    calls: list[dict[str, Any]] = required.get("submit_tool_outputs", {}).get("tool_calls", [])
    return calls


def _event_lines(event: str, data: str, run_id: str) -> list[bytes]:
    if event == "thread.message.delta":
        text = _delta_text(data)
        return [_line({"type": "content", "content": text, "run_id": run_id})] if text else []
    if event == "thread.run.requires_action":
        return [
            _line(
                {
                    "type": "function_call",
                    "id": call["id"],
                    "name": call["function"]["name"],
                    "arguments": call["function"]["arguments"],
                    "run_id": run_id,
                }
            )
            for call in _calls(data)
        ]
    if event == "thread.run.failed":
        error = json.loads(data).get("last_error") or {}
        message = error.get("message", "The run failed.")
        return [
            _line(
                {"type": "error", "message": message, "code": error.get("code"), "run_id": run_id}
            )
        ]
    if event in RUN_ENDINGS:
        return [_line({"type": "error", "message": RUN_ENDINGS[event], "run_id": run_id})]
    return []


async def run_lines(
    events: EventLog, memory: EntitiesMemory, run_id: str, after: int
) -> AsyncIterator[bytes]:
    """Yield the Entities lines of a run's events after ``after``, up to its next resting point."""
    async for event in events.read_from(run_id, after, keepalive=KEEPALIVE_SECONDS):
        if event is None:
            yield b": keepalive\n\n"
            continue
        for line in _event_lines(event.event, event.data, run_id):
            yield line
        if event.event in END_EVENTS:
            memory.mark_streamed(run_id, event.seq)
            break
    yield DONE_LINE


async def _check_run(db: Session, body: CompletionRequest) -> RunRow:
    run = await db.get(RunRow, body.run_id, populate_existing=True)
    if run is None:
        raise InvalidRequest(f"No run found with id '{body.run_id}'.", param="run_id")
    if run.thread_id != body.thread_id:
        raise InvalidRequest(
            f"Run {run.id} belongs to thread {run.thread_id}, not {body.thread_id}.",
            param="thread_id",
        )
    if run.assistant_id != body.assistant_id:
        raise InvalidRequest(
            f"Run {run.id} belongs to assistant {run.assistant_id}, not {body.assistant_id}.",
            param="assistant_id",
        )
    return run


def _nothing_left(run: RunRow) -> str:
    if run.status == "requires_action":
        return (
            f"Run {run.id} is waiting for tool outputs: send them to POST /v1/messages/tools "
            "(runs.poll_and_execute_action does), then stream again."
        )
    return (
        f"Run {run.id} has already ended ({run.status}) and its reply was streamed; "
        "add a message and create a new run to continue the conversation."
    )


@router.post("/completions")
async def completions(
    body: CompletionRequest, db: Session, state: State, memory: Memory
) -> StreamingResponse:
    """Start (or continue) a run with the given model and stream it in Entities' lines."""
    events = state.runs.events
    try:
        run = await _check_run(db, body)
        model = resolve_model(state.runs.providers, body.provider, body.model)
    except CallistoError as exc:
        return error_stream(exc.message, body.run_id)
    after = memory.streamed_to.get(run.id)
    if after is None:
        after = await latest_turn_start(events, run.id)
    resting = run.status == "requires_action" or is_terminal(run.status)
    if resting and after >= await events.last_seq(run.id):
        return error_stream(_nothing_left(run), run.id)
    # Before its first turn, this request chooses the run's model; its key serves the run.
    await state.runs.start_with(run.id, model=model, api_key=body.api_key)
    return _streaming(run_lines(events, memory, run.id, after))
