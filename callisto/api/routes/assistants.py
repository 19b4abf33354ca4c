"""``/v1/assistants``: create, list, retrieve, update, delete."""

from __future__ import annotations

import time
from typing import Any, Protocol

from fastapi import APIRouter, Response
from sqlalchemy import delete, select

from callisto.api.deps import Listing, Project, Session, State, get_or_404, list_response
from callisto.api.schemas import AssistantCreate, AssistantUpdate, dump
from callisto.ids import PREFIXES, new_id
from callisto.store import wire
from callisto.store.models import AssistantRow

router = APIRouter(prefix="/assistants", tags=["assistants"])


class AssistantBody(Protocol):
    """The fields of a create body that an assistant row keeps as given.

    Both the Assistants and the Entities create bodies have them; tools, metadata and
    ``response_format`` each API translates in its own way.
    """

    @property
    def name(self) -> str | None: ...
    @property
    def description(self) -> str | None: ...
    @property
    def model(self) -> str: ...
    @property
    def instructions(self) -> str | None: ...
    @property
    def tool_resources(self) -> dict[str, Any] | None: ...
    @property
    def temperature(self) -> float | None: ...
    @property
    def top_p(self) -> float | None: ...


def new_assistant_row(
    assistant_id: str,
    body: AssistantBody,
    *,
    project: str,
    tools: list[Any],
    metadata: dict[str, Any],
    response_format: Any,
) -> AssistantRow:
    """Build the row for a new assistant (not yet added to a session)."""
    return AssistantRow(
        id=assistant_id,
        project_id=project,
        created_at=int(time.time()),
        name=body.name,
        description=body.description,
        model=body.model,
        instructions=body.instructions,
        tools=tools,
        metadata_=metadata,
        tool_resources=body.tool_resources,
        temperature=body.temperature,
        top_p=body.top_p,
        response_format=response_format,
    )


@router.post("")
async def create_assistant(
    body: AssistantCreate, db: Session, state: State, project: Project
) -> dict[str, Any]:
    """Create an assistant; its model must route to a configured provider."""
    state.runs.providers.split(body.model)
    row = new_assistant_row(
        new_id(PREFIXES["assistant"]),
        body,
        project=project,
        tools=dump_tools(body.tools),
        metadata=body.metadata or {},
        response_format=dump_response_format(body.response_format),
    )
    db.add(row)
    await db.commit()
    return wire.assistant(row)


@router.get("")
async def list_assistants(db: Session, listing: Listing, project: Project) -> Any:
    """List the project's assistants, newest first by default."""
    query = select(AssistantRow).where(AssistantRow.project_id == project)
    return await list_response(db, query, AssistantRow.id, listing, wire.assistant)


@router.get("/{assistant_id}")
async def retrieve_assistant(assistant_id: str, db: Session, project: Project) -> dict[str, Any]:
    """Retrieve an assistant."""
    return wire.assistant(await get_or_404(db, AssistantRow, assistant_id, "assistant", project))


@router.post("/{assistant_id}")
async def update_assistant(
    assistant_id: str, body: AssistantUpdate, db: Session, state: State, project: Project
) -> Any:
    """Update the fields given in the body; others keep their values."""
    row = await get_or_404(db, AssistantRow, assistant_id, "assistant", project)
    given = body.model_fields_set
    if body.model is not None:
        state.runs.providers.split(body.model)
    for field in ("name", "description", "model", "instructions", "tool_resources"):
        if field in given:
            setattr(row, field, getattr(body, field))
    for field in ("temperature", "top_p"):
        if field in given:
            setattr(row, field, getattr(body, field))
    if "tools" in given:
        row.tools = dump_tools(body.tools)
    if "metadata" in given:
        row.metadata_ = body.metadata or {}
    if "response_format" in given:
        row.response_format = dump_response_format(body.response_format)
    await db.commit()
    return wire.assistant(row)


@router.delete("/{assistant_id}")
async def delete_assistant(
    assistant_id: str, db: Session, response: Response, project: Project
) -> Any:
    """Delete an assistant. Its threads and runs stay."""
    await get_or_404(db, AssistantRow, assistant_id, "assistant", project)
    await db.execute(delete(AssistantRow).where(AssistantRow.id == assistant_id))
    await db.commit()
    return {"id": assistant_id, "object": "assistant.deleted", "deleted": True}


def dump_tools(tools: list[Any] | None) -> list[Any]:
    """Return tools as wire JSON (empty list when none)."""
    return [dump(t) for t in tools] if tools else []


def dump_response_format(value: Any) -> Any:
    """Return ``response_format`` as wire JSON, ``"auto"`` when unset."""
    if value is None or value == "auto":
        return "auto"
    return dump(value)
