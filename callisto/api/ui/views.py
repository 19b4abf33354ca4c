"""What the inspector's pages show, read from the store: threads, runs, steps, messages, timing.

Each function takes an async session and returns plain dictionaries for the templates.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callisto import telemetry
from callisto.engine.lifecycle import is_terminal
from callisto.store.models import MessageRow, RunRow, RunStepRow, ThreadRow
from callisto.store.projects import threads_of

THREADS_SHOWN = 50
RUNS_SHOWN = 500

PHASES = {
    "queued": "queued",
    "in_progress": "in progress",
    "requires_action": "waiting for tool outputs",
    "cancelling": "cancelling",
}
"""The waterfall's name for the time a run spends in each non-terminal status."""


@dataclass(slots=True)
class Filters:
    """The list page's filters; empty strings mean any."""

    status: str = ""
    model: str = ""


async def thread_list(
    db: AsyncSession, filters: Filters, project: str, *, models: bool
) -> dict[str, Any]:
    """Return the project's newest threads with their runs, and (with ``models``) the models
    to filter by.

    With a filter, only threads with a matching run are listed, with their matching runs.
    """
    runs_query = (
        select(RunRow)
        .where(RunRow.thread_id.in_(threads_of(project)))
        .order_by(RunRow.id.desc())
        .limit(RUNS_SHOWN)
    )
    if filters.status:
        runs_query = runs_query.where(RunRow.status == filters.status)
    if filters.model:
        runs_query = runs_query.where(RunRow.model == filters.model)
    if filters.status or filters.model:
        runs = list((await db.scalars(runs_query)).all())
        order = list(dict.fromkeys(r.thread_id for r in runs))[:THREADS_SHOWN]
        found = await db.scalars(select(ThreadRow).where(ThreadRow.id.in_(order)))
        by_id = {t.id: t for t in found}
        threads = [by_id[i] for i in order if i in by_id]
    else:
        threads_query = (
            select(ThreadRow)
            .where(ThreadRow.project_id == project)
            .order_by(ThreadRow.id.desc())
            .limit(THREADS_SHOWN)
        )
        threads = list((await db.scalars(threads_query)).all())
        ids = [t.id for t in threads]
        runs = list((await db.scalars(runs_query.where(RunRow.thread_id.in_(ids)))).all())
    runs_of: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        runs_of.setdefault(run.thread_id, []).append(run_summary(run))
    choices: list[str] = []
    if models:  # the whole page: not its refreshes, which do not show the filters
        of_project = RunRow.thread_id.in_(threads_of(project))
        query = select(RunRow.model).where(of_project).distinct().order_by(RunRow.model)
        choices = list(await db.scalars(query))
    return {
        "threads": [
            {"id": t.id, "created_at": t.created_at, "runs": runs_of.get(t.id, [])} for t in threads
        ],
        "models": choices,
    }


def run_summary(run: RunRow) -> dict[str, Any]:
    """Return the fields of a run that its row in a list shows."""
    return {
        "id": run.id,
        "thread_id": run.thread_id,
        "status": run.status,
        "model": run.model,
        "created_at": run.created_at,
        "tokens": (run.usage or {}).get("total_tokens", 0),
    }


async def thread_detail(db: AsyncSession, thread: ThreadRow) -> dict[str, Any]:
    """Return a thread's messages (oldest first) and runs (newest first)."""
    messages = await db.scalars(
        select(MessageRow).where(MessageRow.thread_id == thread.id).order_by(MessageRow.id)
    )
    runs = await db.scalars(
        select(RunRow).where(RunRow.thread_id == thread.id).order_by(RunRow.id.desc())
    )
    return {
        "thread": {"id": thread.id, "created_at": thread.created_at},
        "messages": [message_view(m) for m in messages],
        "runs": [run_summary(r) for r in runs],
    }


def message_view(message: MessageRow) -> dict[str, Any]:
    """Return a message's role, status, run and text."""
    texts = [
        str(part.get("text", {}).get("value", ""))
        for part in message.content or []
        if isinstance(part, dict) and part.get("type") == "text"
    ]
    return {
        "id": message.id,
        "role": message.role,
        "status": message.status,
        "run_id": message.run_id,
        "text": "\n".join(texts),
    }


async def run_detail(db: AsyncSession, run: RunRow) -> dict[str, Any]:
    """Return a run, its steps with their tool calls, its messages and its waterfall."""
    steps = await db.scalars(
        select(RunStepRow).where(RunStepRow.run_id == run.id).order_by(RunStepRow.id)
    )
    messages = await db.scalars(
        select(MessageRow).where(MessageRow.run_id == run.id).order_by(MessageRow.id)
    )
    pending = {
        c.get("id")
        for c in ((run.required_action or {}).get("submit_tool_outputs") or {}).get(
            "tool_calls", []
        )
    }
    return {
        "run": {
            **run_summary(run),
            "assistant_id": run.assistant_id,
            "started_at": run.started_at,
            "ended_at": run.completed_at or run.failed_at or run.cancelled_at,
            "usage": run.usage or {},
            "last_error": run.last_error,
            "incomplete_details": run.incomplete_details,
            "terminal": is_terminal(run.status),
        },
        "steps": [step_view(s, pending) for s in steps],
        "messages": [message_view(m) for m in messages],
        "waterfall": waterfall(run),
    }


def step_view(step: RunStepRow, pending: set[Any]) -> dict[str, Any]:
    """Return a step with its tool calls' names, arguments (pretty-printed) and outputs."""
    calls = []
    for call in (step.step_details or {}).get("tool_calls", []) or []:
        function = call.get("function") or {}
        calls.append(
            {
                "id": call.get("id"),
                "name": function.get("name"),
                "arguments": _pretty(function.get("arguments")),
                "output": function.get("output"),
                "pending": call.get("id") in pending,
            }
        )
    return {
        "id": step.id,
        "type": step.type,
        "status": step.status,
        "created_at": step.created_at,
        "last_error": step.last_error,
        "tool_calls": calls,
    }


def _pretty(arguments: Any) -> str:
    if not isinstance(arguments, str):
        return json.dumps(arguments, indent=2)
    try:
        return json.dumps(json.loads(arguments), indent=2, ensure_ascii=False)
    except ValueError:
        return arguments  # not JSON: shown as the model wrote it


def waterfall(run: RunRow, now: float | None = None) -> dict[str, Any]:
    """Return the phases of a run as bars: what it waited for, from when, for how long.

    From this process's timeline of the run's status changes where it has one (it started the
    run's first turn): each status's time, and within the turns each model call, from sending
    it to its last event (with when its first output came). Otherwise from the stored
    timestamps, in whole seconds: queued until started, then after its start until its end.
    """
    now = time.time() if now is None else now
    entries = telemetry.timeline(run.id)
    spans: list[tuple[str, float, float, str]] = []
    precise = bool(entries)
    if precise:
        for (status, start), nxt in zip(entries, [*entries[1:], None], strict=True):
            if status not in PHASES:
                break
            end = nxt[1] if nxt is not None else now
            spans.append((PHASES[status], start, max(start, end), ""))
        for call in telemetry.model_calls(run.id):
            note = (
                "no output"
                if call.first_output is None
                else (f"first output after {call.first_output - call.start:.3f} s")
            )
            if call.outcome != "ok":
                note += f", {call.outcome}"
            spans.append(("model call", call.start, call.end, note))
        spans.sort(key=lambda span: (span[1], span[0] == "model call"))
    else:
        started = run.started_at
        ended = run.completed_at or run.failed_at or run.cancelled_at
        if started is not None:
            spans.append(("queued", float(run.created_at), float(started), ""))
            spans.append(("after its start", float(started), float(ended or now), ""))
    if not spans:
        return {"bars": [], "precise": precise, "total": 0.0}
    origin = min(span[1] for span in spans)
    total = max(max(span[2] for span in spans) - origin, 1e-6)
    bars = [
        {
            "phase": phase,
            "seconds": end - start,
            "note": note,
            "left": 100 * (start - origin) / total,
            "width": max(0.5, 100 * (end - start) / total),
        }
        for phase, start, end, note in spans
    ]
    return {"bars": bars, "precise": precise, "total": total}
