"""Entities ``/v1/runs``, ``/v1/actions`` and ``/v1/messages/tools``: runs are Callisto's runs
(the Assistants API sees them too), actions are their pending tool calls, and a tool message
is the output of one call.

A run created here waits, ``queued``, for ``POST /v1/completions``, which names the model and
may carry the provider's key. Entities sends tool outputs one call at a time; they are kept on
the actions (``callisto.api.entities.actions``) until every pending call of the round has one,
and then the run's next turn starts at once.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callisto.api.deps import (
    Listing,
    Project,
    ServerState,
    Session,
    State,
    get_or_404,
    list_response,
)
from callisto.api.entities import actions, wire
from callisto.api.entities.schemas import ActionUpdate, MessageCreate, RunCreate
from callisto.engine.service import RunParams
from callisto.errors import InvalidRequest, NotFound
from callisto.providers.registry import ProviderRegistry
from callisto.store.entities_models import EntitiesActionRow
from callisto.store.models import RunRow, ThreadRow
from callisto.store.projects import run_of_project, threads_of

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


async def load_run(db: AsyncSession, run_id: str, project: str) -> RunRow:
    """Return the project's run with ``run_id`` (fresh from the database) or raise a 404."""
    run = await db.run_sync(lambda sync: run_of_project(sync, run_id, project))
    if run is None:
        raise NotFound(f"No run found with id '{run_id}'.")
    return run


async def waiting_actions(
    state: ServerState, db: AsyncSession, run_id: str, project: str
) -> tuple[RunRow, list[EntitiesActionRow]]:
    """Return the project's run and its actions still waiting for an output.

    Reads first; only a run whose waiting calls have no saved actions yet goes to the writer.
    """
    run = await load_run(db, run_id, project)
    calls = actions.pending_calls(run)
    if not calls:
        return run, []
    ids = [actions.action_id(c["id"]) for c in calls]
    query = select(EntitiesActionRow).where(EntitiesActionRow.id.in_(ids))
    rows = list((await db.scalars(query)).all())
    if len(rows) < len(ids):
        run, rows = await state.runs.writer.run(lambda sync: actions.run_actions(sync, run_id))
    order = {action_id: index for index, action_id in enumerate(ids)}
    rows.sort(key=lambda r: order.get(r.id, len(order)))
    return run, [r for r in rows if r.output is None]


@router.post("/runs")
async def create_run(body: RunCreate, state: State, project: Project) -> Any:
    """Create a run that waits for ``POST /v1/completions`` to start it.

    The id the SDK made up is not kept: the run gets a Callisto id (sortable, like every id
    here), which the SDK reads back from this response and uses from then on.
    """
    accepted = await state.runs.create_run(
        body.thread_id, run_params(body, state.runs.providers), project=project, dispatch=False
    )
    return wire.run(accepted.run)


@router.get("/runs")
async def list_all_runs(db: Session, listing: Listing, project: Project) -> Any:
    """List the project's runs (``RunListResponse``); the SDK asks ``order=asc`` unless told
    otherwise."""
    query = select(RunRow).where(RunRow.thread_id.in_(threads_of(project)))
    return await list_response(db, query, RunRow.id, listing, wire.run)


@router.get("/threads/{thread_id}/runs")
async def list_runs(thread_id: str, db: Session, listing: Listing, project: Project) -> Any:
    """List a thread's runs (``RunListResponse``); the SDK asks ``order=asc`` by default."""
    await get_or_404(db, ThreadRow, thread_id, "thread", project)
    query = select(RunRow).where(RunRow.thread_id == thread_id)
    return await list_response(db, query, RunRow.id, listing, wire.run)


@router.get("/runs/{run_id}")
async def retrieve_run(run_id: str, db: Session, state: State, project: Project) -> Any:
    """Retrieve a run, with its actions still waiting for an output."""
    run, rows = await waiting_actions(state, db, run_id, project)
    return wire.run(run, [actions.embedded_action(r, run) for r in rows])


@router.post("/runs/{run_id}/cancel")
async def cancel_run(run_id: str, db: Session, state: State, project: Project) -> Any:
    """Cancel a run."""
    run = await load_run(db, run_id, project)
    return wire.run(await state.runs.cancel(run.thread_id, run_id, project=project))


@router.get("/actions/pending/{run_id}")
async def pending_actions(
    run_id: str, db: Session, state: State, project: Project
) -> list[dict[str, Any]]:
    """List the run's tool calls still waiting for an output, oldest first."""
    _, rows = await waiting_actions(state, db, run_id, project)
    return [actions.pending_entry(r) for r in rows]


@router.get("/actions/{action_id}")
async def retrieve_action(action_id: str, db: Session, project: Project) -> dict[str, Any]:
    """Retrieve an action (``ActionRead``)."""
    found = await db.run_sync(lambda sync: actions.action_of_project(sync, action_id, project))
    if found is None:
        raise NotFound(f"No action found with id '{actions.action_id(action_id)}'.")
    return actions.action_read(*found)


@router.put("/actions/{action_id}")
async def update_action(
    action_id: str, body: ActionUpdate, state: State, project: Project
) -> dict[str, Any]:
    """Set an action's status (``processing``, ``completed``, ``failed``, ...) and result.

    The status is the client's report; the run moves on when the call's output arrives.
    """
    status = actions.check_status(body.status)
    return await state.runs.writer.run(
        lambda db: actions.update_action(db, action_id, status, body.result, project)
    )


@router.post("/messages/tools")
async def submit_tool_output(body: MessageCreate, state: State, project: Project) -> dict[str, Any]:
    """Take the output of one pending call; the run continues once every call has one.

    ``tool_id`` names the action (or its call id). The output is stored on the action and, when
    the round is complete, on the run's tool-call step, as the Assistants API stores it; the
    answer is Entities' tool message, which ``GET /v1/messages/{id}`` reads back.
    """
    if not body.tool_id:
        raise InvalidRequest("A tool output needs 'tool_id': the action id.", param="tool_id")
    tool_id = body.tool_id
    run, action, outputs = await state.runs.writer.run(
        lambda db: actions.record_output(db, body.thread_id, tool_id, body.content, project)
    )
    if outputs is not None:
        await state.runs.submit_tool_outputs(run.thread_id, run.id, outputs, project=project)
    message = wire.tool_message(action, run)
    message["meta_data"] = body.meta_data or {}
    message["sender_id"] = body.sender_id
    return message
