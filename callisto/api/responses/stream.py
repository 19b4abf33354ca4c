"""Following a response's run: waiting for its end, and its SSE stream.

Each frame is ``event: <type>`` and ``data: <event>``; the stream ends with ``data: [DONE]``.
A resumed stream (``starting_after=N``) translates the run's log again from the response's
start and sends only events numbered above N. When the log is no longer kept (a finished
response, after the retention or a restart), or a later response continued the run, the events
are rebuilt from the stored output.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from callisto.api.responses.events import RESTING, Translator
from callisto.api.responses.wire import (
    FINISHED,
    Snapshot,
    read_snapshot,
    response_object,
    snapshot_object,
)
from callisto.api.streaming import KEEPALIVE_FRAME, ready_batches
from callisto.engine.events import RunEvent, encode
from callisto.engine.service import RunService
from callisto.store.responses_models import ResponseRow

log = logging.getLogger("callisto.api.responses")

DONE_FRAME = b"data: [DONE]\n\n"
KEEPALIVE_SECONDS = 2.0
"""Idle seconds between keepalive comments. Short on purpose: the Redis event log blocks on its
read for this long, and the Redis client gives up on a read after 5 seconds."""


def frame(event: dict[str, Any]) -> bytes:
    """Return the SSE frame of one response event: ``event:`` equals its ``type``."""
    return f"event: {event['type']}\ndata: {encode(event)}\n\n".encode()


async def snapshot(runs: RunService, row: ResponseRow) -> Snapshot:
    """Read the response's current state."""
    async with runs.sessions() as db:
        state: Snapshot = await db.run_sync(lambda sync: read_snapshot(sync, row))
        return state


async def wait_resting(runs: RunService, row: ResponseRow, within: float | None = None) -> None:
    """Return once the response's run rests (or after ``within`` seconds)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within):
            log = runs.events.read_from(row.run_id, row.start_seq, keepalive=KEEPALIVE_SECONDS)
            async for event in log:
                if event is not None and event.event in RESTING:
                    return


def opening_response(row: ResponseRow) -> dict[str, Any]:
    """Return the response as the stream's first events show it: no output yet."""
    return response_object(row, status="queued" if row.background else "in_progress", output=[])


async def response_frames(
    runs: RunService,
    row: ResponseRow,
    after: int = -1,
    *,
    at_rest: Callable[[], Awaitable[None]] | None = None,
) -> AsyncIterator[bytes]:
    """Yield the SSE frames of a response's events numbered above ``after``, then ``[DONE]``.

    ``at_rest`` is awaited once the run rests and its final state is read, before the last
    frames go out (a ``store: false`` response is deleted there).
    """
    translator = Translator(background=row.background)
    opening = opening_response(row)

    def frames(events: list[dict[str, Any]]) -> list[bytes]:
        return [frame(e) for e in events if e["sequence_number"] > after]

    try:
        first = frames(translator.opening(opening, row.start_seq))
        if first:
            yield b"".join(first)
        source = await _source(runs, row)
        async with contextlib.aclosing(ready_batches(source)) as batches:
            async for batch in batches:
                chunk: list[bytes] = []
                for event in batch:
                    if event is None:
                        chunk.append(KEEPALIVE_FRAME)
                        continue
                    chunk += frames(translator.translate(event, opening))
                    if event.event in RESTING:
                        final = snapshot_object(await snapshot(runs, row))
                        if at_rest is not None:
                            await at_rest()
                        chunk += frames(translator.closing(RESTING[event.event], final))
                        chunk.append(DONE_FRAME)
                        yield b"".join(chunk)
                        return
                if chunk:
                    yield b"".join(chunk)
    except Exception as exc:  # the stream already began: the client gets an error event
        log.exception("response stream %s failed", row.id)
        error = translator.event(
            "error",
            code="server_error",
            message=f"The stream failed: {type(exc).__name__}",
            param=None,
        )
        yield frame(error) + DONE_FRAME
        return
    yield DONE_FRAME


async def _source(runs: RunService, row: ResponseRow) -> AsyncIterator[RunEvent | None]:
    """Return the run's log from the response's start, or events rebuilt from the store.

    A response a later one continued is always rebuilt: the run's log goes on past it, and
    after a restart that log may hold only the later response's events.
    """
    if row.settled is not None:
        return _rebuilt(await snapshot(runs, row))
    if await runs.events.last_seq(row.run_id) > row.start_seq:
        return runs.events.read_from(row.run_id, row.start_seq, keepalive=KEEPALIVE_SECONDS)
    state = await snapshot(runs, row)
    if state.status not in FINISHED:
        return runs.events.read_from(row.run_id, row.start_seq, keepalive=KEEPALIVE_SECONDS)
    return _rebuilt(state)


async def _rebuilt(state: Snapshot) -> AsyncIterator[RunEvent | None]:
    """Yield run events that replay a finished response's output (its log is gone), numbered
    after the response's start."""
    seqs = itertools.count(state.row.start_seq + 1)
    calls = []
    yield RunEvent(next(seqs), "thread.run.in_progress", "{}")
    for item in state.output:
        if item["type"] == "message":
            text = item["content"][0]["text"] if item["content"] else ""
            yield RunEvent(next(seqs), "thread.message.created", encode({"id": item["id"]}))
            delta = {"content": [{"index": 0, "type": "text", "text": {"value": text}}]}
            data = encode({"id": item["id"], "delta": delta})
            yield RunEvent(next(seqs), "thread.message.delta", data)
            done = {"id": item["id"], "status": item["status"]}
            yield RunEvent(next(seqs), "thread.message.completed", encode(done))
        else:
            function = {"name": item["name"], "arguments": item["arguments"]}
            calls.append({"id": item["call_id"], "type": "function", "function": function})
    if calls:
        action = {"submit_tool_outputs": {"tool_calls": calls}}
        data = encode({"required_action": action})
        yield RunEvent(next(seqs), "thread.run.requires_action", data)
        return
    name = {
        "completed": "thread.run.completed",
        "incomplete": "thread.run.incomplete",
        "cancelled": "thread.run.cancelled",
    }.get(state.status, "thread.run.failed")
    yield RunEvent(next(seqs), name, "{}")
