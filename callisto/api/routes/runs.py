"""``/v1/threads/{thread_id}/runs`` and ``/v1/threads/runs``: runs, tool outputs, cancel, steps."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from callisto.api.deps import Listing, Project, Session, State, get_or_404, list_response
from callisto.api.routes.assistants import dump_response_format, dump_tools
from callisto.api.routes.messages import new_message_row
from callisto.api.routes.threads import new_thread
from callisto.api.schemas import (
    RunCreate,
    RunFields,
    RunUpdate,
    SubmitToolOutputs,
    ThreadAndRunCreate,
    dump,
)
from callisto.api.streaming import stream_run
from callisto.engine.lifecycle import is_terminal
from callisto.engine.service import RunParams
from callisto.errors import NotFound
from callisto.store import wire
from callisto.store.models import RunRow, RunStepRow, ThreadRow
from callisto.store.projects import owned

router = APIRouter(tags=["runs"])

Include = Annotated[list[str] | None, Query(alias="include[]")]


def _params(body: RunFields, additional_instructions: str | None = None) -> RunParams:
    return RunParams(
        assistant_id=body.assistant_id,
        model=body.model,
        instructions=body.instructions,
        additional_instructions=additional_instructions,
        tools=dump_tools(body.tools) if body.tools is not None else None,
        metadata=body.metadata,
        temperature=body.temperature,
        top_p=body.top_p,
        max_prompt_tokens=body.max_prompt_tokens,
        max_completion_tokens=body.max_completion_tokens,
        truncation_strategy=dump(body.truncation_strategy),
        tool_choice=dump(body.tool_choice)
        if not isinstance(body.tool_choice, str)
        else body.tool_choice,
        parallel_tool_calls=body.parallel_tool_calls,
        response_format=dump_response_format(body.response_format)
        if body.response_format is not None
        else None,
    )


def run_response(state: State, run: RunRow | dict[str, Any], response: Response) -> dict[str, Any]:
    """Return a run's wire form; a run still moving tells the SDK to poll again soon."""
    data = run if isinstance(run, dict) else wire.run(run)
    if not is_terminal(data["status"]):
        response.headers["openai-poll-after-ms"] = str(state.runs.poll_after_ms())
    return data


@router.post("/threads/{thread_id}/runs")
async def create_run(
    thread_id: str,
    body: RunCreate,
    state: State,
    response: Response,
    project: Project,
    include: Include = None,
) -> Any:
    """Create a run on a thread (streamed with ``stream: true``)."""
    now = int(time.time())
    extra = [new_message_row(thread_id, m, now) for m in body.additional_messages or []]
    accepted = await state.runs.create_run(
        thread_id, _params(body, body.additional_instructions), project=project, extra_rows=extra
    )
    if body.stream:
        return stream_run(state, accepted.run.id, accepted.start)
    return run_response(state, accepted.queued, response)


@router.post("/threads/runs")
async def create_thread_and_run(
    body: ThreadAndRunCreate, state: State, response: Response, project: Project
) -> Any:
    """Create a thread and a run on it in one request (one transaction)."""
    thread, messages = new_thread(body.thread, project)
    if body.tool_resources is not None:
        thread.tool_resources = body.tool_resources
    accepted = await state.runs.create_run(
        thread.id,
        _params(body),
        project=project,
        thread=thread,
        extra_rows=messages,
        prelude=[("thread.created", wire.thread(thread))],
    )
    if body.stream:
        return stream_run(state, accepted.run.id, accepted.start)
    return run_response(state, accepted.queued, response)


@router.get("/threads/{thread_id}/runs")
async def list_runs(thread_id: str, db: Session, listing: Listing, project: Project) -> Any:
    """List a thread's runs."""
    await get_or_404(db, ThreadRow, thread_id, "thread", project)
    return await list_response(
        db, select(RunRow).where(RunRow.thread_id == thread_id), RunRow.id, listing, wire.run
    )


@router.get("/threads/{thread_id}/runs/{run_id}")
async def retrieve_run(
    thread_id: str, run_id: str, db: Session, state: State, response: Response, project: Project
) -> Any:
    """Retrieve a run."""
    run = await state.runs.get_run(db, thread_id, run_id, project=project)
    return run_response(state, run, response)


@router.post("/threads/{thread_id}/runs/{run_id}")
async def update_run(
    thread_id: str,
    run_id: str,
    body: RunUpdate,
    db: Session,
    state: State,
    response: Response,
    project: Project,
) -> Any:
    """Update a run's metadata."""
    if "metadata" not in body.model_fields_set:
        run = await state.runs.get_run(db, thread_id, run_id, project=project)
        return run_response(state, run, response)
    run = await state.runs.update_metadata(thread_id, run_id, body.metadata or {}, project=project)
    return run_response(state, run, response)


@router.post("/threads/{thread_id}/runs/{run_id}/submit_tool_outputs")
async def submit_tool_outputs(
    thread_id: str,
    run_id: str,
    body: SubmitToolOutputs,
    state: State,
    response: Response,
    project: Project,
) -> Any:
    """Submit the outputs of every pending tool call; the run continues."""
    outputs = [(o.tool_call_id, o.output) for o in body.tool_outputs]
    accepted = await state.runs.submit_tool_outputs(thread_id, run_id, outputs, project=project)
    if body.stream:
        return stream_run(state, run_id, accepted.start)
    return run_response(state, accepted.queued, response)


@router.post("/threads/{thread_id}/runs/{run_id}/cancel")
async def cancel_run(
    thread_id: str, run_id: str, state: State, response: Response, project: Project
) -> Any:
    """Cancel a run: it moves to ``cancelling`` now and to ``cancelled`` shortly."""
    return run_response(
        state, await state.runs.cancel(thread_id, run_id, project=project), response
    )


@router.get("/threads/{thread_id}/runs/{run_id}/steps")
async def list_run_steps(
    thread_id: str,
    run_id: str,
    db: Session,
    state: State,
    listing: Listing,
    project: Project,
    include: Include = None,
) -> Any:
    """List a run's steps."""
    await state.runs.get_run(db, thread_id, run_id, project=project)
    return await list_response(
        db,
        select(RunStepRow).where(RunStepRow.run_id == run_id),
        RunStepRow.id,
        listing,
        wire.run_step,
    )


@router.get("/threads/{thread_id}/runs/{run_id}/steps/{step_id}")
async def retrieve_run_step(
    thread_id: str,
    run_id: str,
    step_id: str,
    db: Session,
    project: Project,
    include: Include = None,
) -> Any:
    """Retrieve a run step."""
    step = await db.get(RunStepRow, step_id)
    if (
        step is None
        or step.run_id != run_id
        or step.thread_id != thread_id
        or await db.run_sync(lambda sync: owned(sync, ThreadRow, thread_id, project)) is None
    ):
        raise NotFound(f"No run step found with id '{step_id}' in run '{run_id}'.")
    return wire.run_step(step)
