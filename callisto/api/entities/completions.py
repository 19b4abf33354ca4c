"""Entities ``POST /v1/completions``: start or continue a run with a model, and stream it.

Both SDK generations post here with the ids of the thread, run and assistant, the model and
the model provider's key. The seed-era SDK (1.36) also names a ``provider``; the current one
(1.113) does not, and may ask for ``stream: false``. The model string routes as Callisto routes
models (``hyperbolic/deepseek-ai/DeepSeek-V3`` -> provider ``hyperbolic``); the key serves
this run's model calls only, and is dropped when the run ends.

The answer is a stream of ``data: {...}`` lines read from the run's event log, ending with
``data: [DONE]`` when the run waits on tool calls or ends:

- ``{"type": "content", "content": "..."}`` per text delta;
- per tool call the run waits on, once its action is saved: ``{"type": "function_call", ...}``
  (what the seed-era SDK reads) and ``{"type": "tool_call_manifest", "run_id", "action_id",
  "tool_call_id", "tool", "args"}`` (what the current SDK turns into a ``ToolCallRequestEvent``);
- ``{"type": "error", "message": "..."}`` when the run fails, is cancelled or expires.

Each stream picks up where the run's previous one stopped (the position is kept in the
database, so any process can serve the next request): the stream after the tool outputs
carries the continuation even when the run moved on before it was asked for, and a stream of a
run still waiting on calls without outputs names them again.

Problems found before the run starts (an unknown id, ids that do not belong together, a model
no provider serves, a run already streamed to its end) are answered by generation: the seed-era
SDK swallows an HTTP error status on this call into a log line, so it gets one ``error`` line;
the current SDK raises on one, so it gets the 4xx in OpenAI's error shape. ``stream: false``
answers ``{run_id, content, type: "content", model, elapsed_s}`` at the run's next resting
point, or the run's error as an HTTP error.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session as SyncSession
from starlette.responses import JSONResponse, StreamingResponse

from callisto.api.deps import Project, ServerState, State
from callisto.api.entities import actions
from callisto.api.entities.routes_runs import load_run, waiting_actions
from callisto.api.entities.schemas import CompletionRequest
from callisto.api.streaming import END_EVENTS, KEEPALIVE_SECONDS
from callisto.engine.events import EventLog, RunEvent
from callisto.engine.lifecycle import is_terminal
from callisto.errors import CallistoError, ConflictingState, InvalidRequest
from callisto.providers.registry import ProviderRegistry
from callisto.store.entities_models import EntitiesActionRow, EntitiesStreamRow
from callisto.store.models import RunRow

router = APIRouter(tags=["entities"])

DONE_LINE = b"data: [DONE]\n\n"
KEEPALIVE_LINE = b": keepalive\n\n"
RUN_ENDINGS = {
    "thread.run.cancelled": ("cancelled", "The run was cancelled."),
    "thread.run.expired": ("expired", "The run expired before it finished."),
}


class RunFailed(CallistoError):
    """A run asked for with ``stream: false`` failed; its ``last_error`` is the message."""

    status_code = 502
    error_type = "server_error"


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


def resolve_model(providers: ProviderRegistry, provider: str | None, model: str) -> str:
    """Return the Callisto model string for an Entities model (and seed-era provider name).

    ``hyperbolic/deepseek-ai/DeepSeek-V3`` names its provider. Without a provider name (the
    current SDK) any other model goes where Callisto sends models without a configured prefix:
    the default provider. With one (the seed-era SDK), a bare model gets it as prefix
    (provider names are matched in lower case).

    Raises:
        InvalidRequest: No configured provider serves the model.
    """
    prefix, sep, rest = model.partition("/")
    if sep and rest and prefix.lower() in providers.names:
        return f"{prefix.lower()}/{rest}"
    if provider is None:
        providers.split(model)  # refuses a model when no default provider is configured
        return model
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


async def stream_start(state: ServerState, run_id: str) -> int:
    """Return the event sequence number this run's next Entities stream starts after."""
    events = state.runs.events
    async with state.sessions() as db:
        kept = await db.get(EntitiesStreamRow, run_id)
    # A position past the log's end is from before a restart emptied the log.
    if kept is not None and kept.streamed_to <= await events.last_seq(run_id):
        position: int = kept.streamed_to
        return position
    return await latest_turn_start(events, run_id)


def mark_streamed(db: SyncSession, *, run_id: str, seq: int) -> None:
    """Keep that the run's Entities streams have gone up to event ``seq``."""
    row = db.get(EntitiesStreamRow, run_id)
    if row is None:
        db.add(EntitiesStreamRow(run_id=run_id, streamed_to=seq))
    else:
        row.streamed_to = seq


def _save_round(db: SyncSession, *, run_id: str, event: RunEvent) -> list[EntitiesActionRow]:
    """Save the actions of a ``requires_action`` event's calls, and that it was streamed."""
    rows = actions.save_actions(db, run_id=run_id, calls=_calls(event.data))
    mark_streamed(db, run_id=run_id, seq=event.seq)
    return rows


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


def call_chunks(row: EntitiesActionRow) -> list[dict[str, Any]]:
    """Return the stream lines of one action: the seed-era and the current SDK's."""
    legacy = {
        "type": "function_call",
        "id": row.tool_call_id,
        "name": row.tool_name,
        "arguments": row.arguments,
        "run_id": row.run_id,
    }
    return [legacy, actions.manifest(row)]


def _event_chunks(event: str, data: str, run_id: str) -> list[dict[str, Any]]:
    if event == "thread.message.delta":
        text = _delta_text(data)
        return [{"type": "content", "content": text, "run_id": run_id}] if text else []
    if event == "thread.run.failed":
        error = json.loads(data).get("last_error") or {}
        message = error.get("message", "The run failed.")
        code = error.get("code")
        return [
            {
                "type": "error",
                "message": message,
                "code": code,
                "status": "failed",
                "run_id": run_id,
            }
        ]
    if event in RUN_ENDINGS:
        status, message = RUN_ENDINGS[event]
        return [{"type": "error", "message": message, "status": status, "run_id": run_id}]
    return []


async def run_chunks(
    state: ServerState, run_id: str, after: int
) -> AsyncIterator[dict[str, Any] | None]:
    """Yield the Entities chunks of a run's events after ``after``, up to its next resting point.

    ``None`` stands for an idle stretch (a keepalive). A tool call's lines come only after its
    action is saved, in the same transaction as the stream's new position.
    """
    writer = state.runs.writer
    async for event in state.runs.events.read_from(run_id, after, keepalive=KEEPALIVE_SECONDS):
        if event is None:
            yield None
            continue
        if event.event == "thread.run.requires_action":
            rows = await writer.run(partial(_save_round, run_id=run_id, event=event))
            for row in rows:
                if row.output is None:
                    for chunk in call_chunks(row):
                        yield chunk
            return
        for chunk in _event_chunks(event.event, event.data, run_id):
            yield chunk
        if event.event in END_EVENTS:
            await writer.run(partial(mark_streamed, run_id=run_id, seq=event.seq), durable=False)
            return


async def _outstanding(state: ServerState, run_id: str, project: str) -> list[EntitiesActionRow]:
    """Return the actions of the run's waiting calls that have no output yet."""
    async with state.sessions() as db:
        _, rows = await waiting_actions(state, db, run_id, project)
    return rows


async def _check_run(state: ServerState, body: CompletionRequest, project: str) -> RunRow:
    async with state.sessions() as db:
        run = await load_run(db, body.run_id, project)
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


def _nothing_left(run: RunRow) -> ConflictingState:
    if run.status == "requires_action":
        return ConflictingState(
            f"Run {run.id} is waiting for tool outputs that already arrived; try again."
        )
    return ConflictingState(
        f"Run {run.id} has already ended ({run.status}) and its reply was streamed; "
        "add a message and create a new run to continue the conversation."
    )


async def _sse(chunks: AsyncIterator[dict[str, Any] | None]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        yield KEEPALIVE_LINE if chunk is None else _line(chunk)
    yield DONE_LINE


async def _replay(rows: list[EntitiesActionRow]) -> AsyncIterator[dict[str, Any] | None]:
    for row in rows:
        for chunk in call_chunks(row):
            yield chunk


async def _answer(
    chunks: AsyncIterator[dict[str, Any] | None], run_id: str, model: str
) -> JSONResponse:
    """Return the ``stream: false`` answer: the run's text up to its next resting point."""
    started = time.monotonic()
    text: list[str] = []
    async for chunk in chunks:
        if chunk is None:
            continue
        if chunk["type"] == "error":
            if chunk["status"] == "failed":
                raise RunFailed(chunk["message"], code=chunk.get("code"))
            raise ConflictingState(chunk["message"])
        if chunk["type"] == "content":
            text.append(chunk["content"])
    return JSONResponse(
        {
            "run_id": run_id,
            "content": "".join(text),
            "type": "content",
            "model": model,
            "elapsed_s": round(time.monotonic() - started, 3),
        }
    )


async def _chunks_for(
    state: ServerState, body: CompletionRequest, project: str
) -> AsyncIterator[dict[str, Any] | None]:
    """Check the request (the run must be the project's), start the run if it waits to be,
    and return its chunks to send."""
    run = await _check_run(state, body, project)
    model = resolve_model(state.runs.providers, body.provider, body.model)
    after = await stream_start(state, run.id)
    resting = run.status == "requires_action" or is_terminal(run.status)
    if resting and after >= await state.runs.events.last_seq(run.id):
        waiting = (
            await _outstanding(state, run.id, project) if run.status == "requires_action" else []
        )
        if not waiting:
            raise _nothing_left(run)
        return _replay(waiting)
    # Before its first turn, this request chooses the run's model; its key serves the run.
    await state.runs.start_with(run.id, model=model, api_key=body.api_key)
    return run_chunks(state, run.id, after)


@router.post("/completions")
async def completions(body: CompletionRequest, state: State, project: Project) -> Any:
    """Start (or continue) a run with the given model; stream it, or answer its text."""
    try:
        chunks = await _chunks_for(state, body, project)
    except CallistoError as exc:
        if body.provider is None:
            raise  # the current SDK raises on an HTTP error status
        return error_stream(exc.message, body.run_id)
    if not body.stream:
        return await _answer(chunks, body.run_id, body.model)
    return _streaming(_sse(chunks))
