"""Entities actions: a run's pending tool calls, saved as rows any API process can serve.

An action is saved when a run first waits on its call: by the stream that is about to send its
``tool_call_manifest`` line, or by whichever request asks for the run's actions first. Its id
is the call's id with ``act_`` for ``call_``, so every process saving the same call agrees on
it, and an output sent with either id finds it. The client reports progress with
``PUT /v1/actions/{id}`` and sends the output with ``POST /v1/messages/tools``; once every call
of the round has an output, the run is given them all and its next turn starts.

Everything here that changes rows is a transaction function for the store writer.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callisto.api.entities.tooldefs import tool_id
from callisto.errors import ConflictingState, InvalidRequest, NotFound
from callisto.ids import PREFIXES, new_id
from callisto.store.changes import thread_or_404
from callisto.store.entities_models import EntitiesActionRow
from callisto.store.models import RunRow
from callisto.store.projects import run_of_project

ACTION_PREFIX = "act_"
ACTION_STATUSES = frozenset(
    {"pending", "processing", "completed", "failed", "expired", "cancelled", "retrying"}
)
FINISHED_STATUSES = frozenset({"completed", "failed", "expired", "cancelled"})
# Keys of an action embedded in a run: projectdavid_common 0.19.0's ActionRead forbids any
# other, and both SDK generations read runs with it embedded.
EMBEDDED_KEYS = (
    "id",
    "run_id",
    "tool_id",
    "tool_name",
    "triggered_at",
    "expires_at",
    "is_processed",
    "processed_at",
    "status",
    "function_args",
    "result",
)


def action_id(call_or_action_id: str) -> str:
    """Return the action id of a tool call id (``call_X`` -> ``act_X``); others unchanged."""
    if call_or_action_id.startswith(PREFIXES["call"]):
        return ACTION_PREFIX + call_or_action_id.removeprefix(PREFIXES["call"])
    return call_or_action_id


def pending_calls(run: RunRow) -> list[dict[str, Any]]:
    """Return the tool calls a run waits on (none unless it requires action)."""
    if run.status != "requires_action" or not run.required_action:
        return []
    calls: list[dict[str, Any]] = run.required_action["submit_tool_outputs"]["tool_calls"]
    return calls


def parsed_arguments(arguments: str) -> dict[str, Any]:
    """Return a call's arguments (JSON text) as an object (Entities sends them parsed)."""
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


def action_status(row: EntitiesActionRow, run: RunRow | None) -> str:
    """Return an action's status: the client's report, or how its run ended without its output."""
    if run is None or row.output is not None or row.status in FINISHED_STATUSES:
        return row.status
    if run.status in ("expired", "cancelled"):
        return run.status
    if run.status in ("completed", "failed", "incomplete"):
        return "cancelled"  # the run ended without this call's output
    return row.status


def action_read(row: EntitiesActionRow, run: RunRow | None = None) -> dict[str, Any]:
    """Return an action as the current SDK's strict ``ActionRead`` (no other key allowed)."""
    tool = next(
        (
            t
            for t in (run.tools if run is not None else None) or []
            if t.get("type") == "function" and t["function"]["name"] == row.tool_name
        ),
        None,
    )
    return {
        "id": row.id,
        "run_id": row.run_id,
        "tool_id": tool_id(tool) if tool is not None else None,
        "tool_name": row.tool_name,
        "tool_call_id": row.tool_call_id,
        "turn_index": row.turn_index,
        "decision": None,
        "confidence_score": None,
        "triggered_at": _iso(row.triggered_at),
        "expires_at": _iso(run.expires_at_exact) if run is not None else None,
        "is_processed": row.output is not None or row.status in FINISHED_STATUSES,
        "processed_at": _iso(row.processed_at),
        "status": action_status(row, run),
        "function_args": parsed_arguments(row.arguments),
        "result": row.result,
    }


def embedded_action(row: EntitiesActionRow, run: RunRow) -> dict[str, Any]:
    """Return an action as a run embeds it (keys both SDK generations accept)."""
    full = action_read(row, run)
    return {key: full[key] for key in EMBEDDED_KEYS}


def pending_entry(row: EntitiesActionRow) -> dict[str, Any]:
    """Return an action as ``GET /v1/actions/pending/{run_id}`` lists it."""
    return {
        "action_id": row.id,
        "tool_name": row.tool_name,
        "tool_call_id": row.tool_call_id,
        "function_arguments": parsed_arguments(row.arguments),
        "run_id": row.run_id,
        "status": row.status,
    }


def manifest(row: EntitiesActionRow) -> dict[str, Any]:
    """Return the ``tool_call_manifest`` stream line of an action."""
    return {
        "type": "tool_call_manifest",
        "run_id": row.run_id,
        "action_id": row.id,
        "tool_call_id": row.tool_call_id,
        "tool": row.tool_name,
        "args": parsed_arguments(row.arguments),
    }


# -- transaction functions --------------------------------------------------------------


def _actions_of_calls(db: Session, call_ids: list[str]) -> dict[str, EntitiesActionRow]:
    query = select(EntitiesActionRow).where(EntitiesActionRow.tool_call_id.in_(call_ids))
    return {row.tool_call_id: row for row in db.scalars(query)}


def save_actions(
    db: Session, *, run_id: str, calls: list[dict[str, Any]]
) -> list[EntitiesActionRow]:
    """Save an action for each of ``calls`` (a round of the run's calls) that has none yet.

    Returns the round's actions in the calls' order. Another process saving the same round
    at the same time is harmless: the ids agree, and the loser reads the winner's rows.
    """
    call_ids = [c["id"] for c in calls]
    existing = _actions_of_calls(db, call_ids)
    missing = [c for c in calls if c["id"] not in existing]
    if missing:
        if existing:
            turn = next(iter(existing.values())).turn_index
        else:
            last = db.scalar(
                select(func.max(EntitiesActionRow.turn_index)).where(
                    EntitiesActionRow.run_id == run_id
                )
            )
            turn = 0 if last is None else last + 1
        now = time.time()
        try:
            with db.begin_nested():
                db.add_all(
                    EntitiesActionRow(
                        id=action_id(c["id"]),
                        run_id=run_id,
                        tool_call_id=c["id"],
                        tool_name=c["function"]["name"],
                        arguments=c["function"]["arguments"] or "{}",
                        turn_index=turn,
                        status="pending",
                        triggered_at=now,
                        submitted=False,
                    )
                    for c in missing
                )
        except IntegrityError:
            pass  # saved meanwhile by another process: read below
        existing = _actions_of_calls(db, call_ids)
    return [existing[c] for c in call_ids]


def run_actions(db: Session, run_id: str) -> tuple[RunRow, list[EntitiesActionRow]]:
    """Return the run and the actions of the calls it waits on, saving any not yet saved.

    Raises:
        NotFound: No such run.
    """
    run = db.get(RunRow, run_id)
    if run is None:
        raise NotFound(f"No run found with id '{run_id}'.")
    calls = pending_calls(run)
    return run, save_actions(db, run_id=run_id, calls=calls) if calls else []


def action_of_project(
    db: Session, action: str, project: str
) -> tuple[EntitiesActionRow, RunRow] | None:
    """Return the action (named by its id or its call's) and its run, when the run is the
    project's; ``None`` otherwise, as for an unknown id."""
    row = db.get(EntitiesActionRow, action_id(action))
    run = run_of_project(db, row.run_id, project) if row is not None else None
    return (row, run) if row is not None and run is not None else None


def update_action(
    db: Session, action: str, status: str, result: dict[str, Any] | None, project: str
) -> dict[str, Any]:
    """Set an action's status (and result) as the client reports it; return its ActionRead.

    Raises:
        NotFound: No such action in ``project``.
    """
    found = action_of_project(db, action, project)
    if found is None:
        raise NotFound(
            f"No action found with id '{action}'. Actions are named in the run's "
            "tool_call_manifest lines and in GET /v1/actions/pending/{run_id}.",
            param="action_id",
        )
    row, run = found
    row.status = status
    if result is not None:
        row.result = result
    if status in FINISHED_STATUSES and row.processed_at is None:
        row.processed_at = time.time()
    return action_read(row, run)


def _waiting_run(db: Session, thread_id: str) -> RunRow:
    query = select(RunRow).where(RunRow.thread_id == thread_id, RunRow.status == "requires_action")
    run = db.scalars(query.limit(1)).first()
    if run is None:
        raise ConflictingState(f"No run of thread {thread_id} is waiting for tool outputs.")
    return run


def record_output(
    db: Session, thread_id: str, tool_id: str, content: str, project: str
) -> tuple[RunRow, EntitiesActionRow, list[tuple[str, str]] | None]:
    """Keep the output of one call of the thread's waiting run.

    ``tool_id`` names the action (or its call). Returns the run, the action, and, when this
    output completes the round, every output of the round, which the caller hands to the run
    (the round is marked handed over here, so exactly one request does it).

    Raises:
        ConflictingState: No run of the thread waits, or the call already has an output.
        NotFound: The thread is not the project's, or the waiting run has no such call.
    """
    thread_or_404(db, thread_id, project=project)
    run = _waiting_run(db, thread_id)
    calls = pending_calls(run)
    save_actions(db, run_id=run.id, calls=calls)
    # Lock the round's rows: of two outputs arriving at once, the second sees the first.
    round_query = (
        select(EntitiesActionRow)
        .where(EntitiesActionRow.tool_call_id.in_([c["id"] for c in calls]))
        .with_for_update()
        .execution_options(populate_existing=True)  # the locked rows as committed, not as read
    )
    rows = {row.id: row for row in db.scalars(round_query)}
    row = rows.get(action_id(tool_id))
    if row is None:
        raise NotFound(
            f"No pending action '{tool_id}' on run {run.id}; it waits on {sorted(rows)}.",
            param="tool_id",
        )
    if row.output is not None:
        raise ConflictingState(f"Action {row.id} already has an output.", param="tool_id")
    row.output = content
    row.output_at = int(time.time())
    row.output_message_id = new_id(PREFIXES["message"])
    # An output completes the call unless the client says otherwise (execute() reports
    # "failed" after sending a failing handler's error; poll_and_execute_action reports nothing).
    if row.status in ("pending", "processing"):
        row.status = "completed"
    if row.processed_at is None:
        row.processed_at = time.time()
    done = all(r.output is not None for r in rows.values())
    if not done or any(r.submitted for r in rows.values()):
        return run, row, None
    for r in rows.values():
        r.submitted = True
    by_call = {r.tool_call_id: r.output or "" for r in rows.values()}
    return run, row, [(c["id"], by_call[c["id"]]) for c in calls]


def check_status(status: str) -> str:
    """Return ``status`` if it is an Entities action status.

    Raises:
        InvalidRequest: It is not.
    """
    if status not in ACTION_STATUSES:
        raise InvalidRequest(
            f"Action status '{status}' is not one of {sorted(ACTION_STATUSES)}.", param="status"
        )
    return status
