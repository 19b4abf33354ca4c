"""Entities ``/v1/runs``, ``/v1/actions`` and ``/v1/messages/tools``: runs are Callisto's runs
(the Assistants API sees them too), actions are their pending tool calls, and a tool message
is the output of one call.

A run created here waits, ``queued``, for ``POST /v1/completions``, which names the model and
may carry the provider's key. Entities sends tool outputs one call at a time; Callisto takes
them when every pending call of the round has one, and the run's next turn starts at once.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callisto.api.deps import Session, State
from callisto.api.entities import wire
from callisto.api.entities.memory import Memory
from callisto.api.entities.schemas import MessageCreate, RunCreate
from callisto.engine.service import RunParams
from callisto.errors import ConflictingState, InvalidRequest, NotFound
from callisto.ids import PREFIXES, new_id
from callisto.providers.registry import ProviderRegistry
from callisto.store.models import RunRow

router = APIRouter(tags=["entities"])

# Values the SDK's create_run always sends when its caller gave none: they say nothing.
SDK_PLACEHOLDER_MODEL = "gpt-4"


def routed_model(providers: ProviderRegistry, model: str | None) -> str | None:
    """Return ``model`` if it names a configured provider (``name/model``) or is a configured
    alias, else ``None``."""
    if not model or model == SDK_PLACEHOLDER_MODEL:
        return None
    prefix, sep, rest = model.partition("/")
    routed = (
        sep and rest and prefix.lower() in providers.names
    ) or model.lower() in providers.aliases
    return model if routed else None


def run_params(body: RunCreate, providers: ProviderRegistry) -> RunParams:
    """Map an Entities run onto Callisto's run parameters.

    The SDK fills every field of its run model, mostly with placeholders: model ``gpt-4``,
    ``tool_choice: "none"``, empty instructions, ``max_prompt_tokens: 500``. Those would
    stop the model calling tools or cut its prompt, and Entities ignored them, so the
    assistant's settings apply instead; the model comes with ``POST /v1/completions``.
    One tool call per turn (the SDK's ``parallel_tool_calls: false``) matches its flow, which
    handles one action per poll.
    """
    tool_choice = body.tool_choice if body.tool_choice in ("auto", "required") else None
    return RunParams(
        assistant_id=body.assistant_id,
        model=routed_model(providers, body.model),
        instructions=body.instructions or None,
        metadata=body.meta_data or None,
        temperature=body.temperature,
        top_p=body.top_p,
        tool_choice=tool_choice,
        parallel_tool_calls=body.parallel_tool_calls,
    )


async def load_run(db: AsyncSession, run_id: str) -> RunRow:
    """Return the run with ``run_id`` (fresh from the database) or raise a 404."""
    run = await db.get(RunRow, run_id, populate_existing=True)
    if run is None:
        raise NotFound(f"No run found with id '{run_id}'.")
    return run


def _answered(memory: Memory, run_id: str) -> frozenset[str]:
    return frozenset(memory.outputs.get(run_id, {}))


@router.post("/runs")
async def create_run(body: RunCreate, state: State) -> Any:
    """Create a run that waits for ``POST /v1/completions`` to start it.

    The id the SDK made up is not kept: the run gets a Callisto id (sortable, like every id
    here), which the SDK reads back from this response and uses from then on.
    """
    accepted = await state.runs.create_run(
        body.thread_id, run_params(body, state.runs.providers), dispatch=False
    )
    return wire.run(accepted.run)


@router.get("/runs/{run_id}")
async def retrieve_run(run_id: str, db: Session, memory: Memory) -> Any:
    """Retrieve a run, with its pending actions."""
    return wire.run(await load_run(db, run_id), answered=_answered(memory, run_id))


@router.post("/runs/{run_id}/cancel")
async def cancel_run(run_id: str, db: Session, state: State) -> Any:
    """Cancel a run."""
    run = await load_run(db, run_id)
    return wire.run(await state.runs.cancel(run.thread_id, run_id))


@router.get("/actions/pending/{run_id}")
async def pending_actions(run_id: str, db: Session, memory: Memory) -> list[dict[str, Any]]:
    """List the run's tool calls still waiting for an output, oldest first."""
    run = await load_run(db, run_id)
    answered = _answered(memory, run_id)
    return [
        {
            "action_id": call["id"],
            "tool_name": call["function"]["name"],
            "function_arguments": wire.call_arguments(call),
            "run_id": run_id,
            "status": "pending",
        }
        for call in wire.pending_calls(run)
        if call["id"] not in answered
    ]


async def _waiting_run(db: AsyncSession, thread_id: str, call_id: str) -> RunRow:
    query = select(RunRow).where(RunRow.thread_id == thread_id, RunRow.status == "requires_action")
    run = (await db.scalars(query.limit(1))).first()
    if run is None:
        raise ConflictingState(f"No run of thread {thread_id} is waiting for tool outputs.")
    await db.refresh(run)
    if call_id not in {c["id"] for c in wire.pending_calls(run)}:
        raise NotFound(f"No pending action '{call_id}' on run {run.id}.", param="tool_id")
    return run


@router.post("/messages/tools")
async def submit_tool_output(
    body: MessageCreate, db: Session, state: State, memory: Memory
) -> dict[str, Any]:
    """Take the output of one pending call; the run continues once every call has one.

    The output is stored on the run's tool-call step, as the Assistants API stores it, not as
    a thread message; the answer has the shape of Entities' tool message.
    """
    if not body.tool_id:
        raise InvalidRequest("A tool output needs 'tool_id': the action id.", param="tool_id")
    run = await _waiting_run(db, body.thread_id, body.tool_id)
    received = memory.outputs.setdefault(run.id, {})
    received[body.tool_id] = body.content
    pending = [c["id"] for c in wire.pending_calls(run)]
    if all(call_id in received for call_id in pending):
        outputs = [(call_id, received[call_id]) for call_id in pending]
        await state.runs.submit_tool_outputs(run.thread_id, run.id, outputs)
        memory.outputs.pop(run.id, None)
    now = int(time.time())
    return {
        "id": new_id(PREFIXES["message"]),
        "object": "thread.message",
        "created_at": now,
        "thread_id": run.thread_id,
        "run_id": run.id,
        "assistant_id": run.assistant_id,
        "role": "tool",
        "tool_id": body.tool_id,
        "content": body.content,
        "status": "completed",
        "completed_at": now,
        "incomplete_at": None,
        "incomplete_details": None,
        "attachments": [],
        "meta_data": body.meta_data or {},
        "sender_id": body.sender_id,
    }
