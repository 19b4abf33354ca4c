"""Entities ``/v1/assistants`` and ``/v1/tools``: assistants are Callisto's assistants, and an
Entities tool associated with one becomes one of its function tools."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as SyncSession

from callisto.api.deps import Project, Session, State, get_or_404
from callisto.api.entities import wire
from callisto.api.entities.actions import ACTION_PREFIX
from callisto.api.entities.schemas import AssistantCreate, AssistantUpdate, ToolCreate
from callisto.api.entities.tooldefs import (
    TOOL_ID_PREFIX,
    entities_tool,
    function_tool,
    function_tools,
    tool_id,
    with_tool,
    without_tool,
)
from callisto.api.responses.request import ASSISTANT_ID as RESPONSES_ASSISTANT_ID
from callisto.api.routes.assistants import new_assistant_row
from callisto.errors import InvalidRequest, NotFound
from callisto.ids import PREFIXES, new_id
from callisto.store.entities_models import EntitiesAssistantRow, EntitiesToolRow
from callisto.store.models import AssistantRow, RunRow, ThreadRow
from callisto.store.projects import owned

router = APIRouter(tags=["entities"])


def _response_format(value: str | None) -> Any:
    formats: dict[str | None, Any] = {
        None: "auto",
        "auto": "auto",
        "text": {"type": "text"},
        "json_object": {"type": "json_object"},
    }
    if value not in formats:
        raise InvalidRequest(
            f"response_format '{value}' is not one of 'auto', 'text', 'json_object'.",
            param="response_format",
        )
    return formats[value]


PLATFORM_FLAGS = ("web_access", "deep_research", "engineer")
SETTINGS = ("max_turns", "agent_mode", "decision_telemetry", "max_tokens")
# Prefixes of the ids of every other kind of object: an assistant's id chosen by the client
# must not look like one (``asst_`` is an assistant's own prefix).
FOREIGN_PREFIXES = (
    *(p for kind, p in PREFIXES.items() if kind != "assistant"),
    ACTION_PREFIX,
    TOOL_ID_PREFIX,
)


def _refuse_unsupported(body: AssistantCreate | AssistantUpdate) -> None:
    if isinstance(body, AssistantUpdate) and body.vector_stores:
        raise InvalidRequest("Callisto keeps no vector stores.", param="vector_stores")
    for flag in PLATFORM_FLAGS:
        if getattr(body, flag):
            raise InvalidRequest(
                f"'{flag}' asks for a platform tool; Callisto runs no platform tools, only "
                "functions your client executes.",
                param=flag,
            )
    if body.webhook_url:
        raise InvalidRequest(
            "Callisto sends no webhooks: leave 'webhook_url' unset.", param="webhook_url"
        )


def _check_chosen_id(db: SyncSession, assistant_id: str) -> None:
    """Refuse a client-chosen id that names, or looks like the id of, an existing object."""
    if assistant_id.startswith(FOREIGN_PREFIXES):
        raise InvalidRequest(
            f"The id '{assistant_id}' has the prefix of another kind of object; choose an id "
            f"that starts with none of {', '.join(FOREIGN_PREFIXES)}.",
            param="id",
        )
    if assistant_id == RESPONSES_ASSISTANT_ID:
        raise InvalidRequest(
            f"The id '{assistant_id}' is Callisto's own; choose another.", param="id"
        )
    for kind, model in (("assistant", AssistantRow), ("thread", ThreadRow), ("run", RunRow)):
        if db.get(model, assistant_id) is not None:
            raise InvalidRequest(
                f"The id '{assistant_id}' is already the id of a{'n' if kind[0] == 'a' else ''} "
                f"{kind}; choose another.",
                param="id",
            )


async def _settings_of(db: Session, ids: list[str]) -> dict[str, EntitiesAssistantRow]:
    query = select(EntitiesAssistantRow).where(EntitiesAssistantRow.assistant_id.in_(ids))
    return {row.assistant_id: row for row in await db.scalars(query)}


async def _read(db: Session, row: AssistantRow) -> dict[str, Any]:
    return wire.assistant(row, (await _settings_of(db, [row.id])).get(row.id))


@router.post("/assistants")
async def create_assistant(body: AssistantCreate, state: State, project: Project) -> dict[str, Any]:
    """Create an assistant; its function tools are offered to the model, platform tools are not.

    An id chosen by the client (e.g. ``default``) is kept, unless an object has it already.
    """
    _refuse_unsupported(body)
    state.runs.providers.split(body.model)  # the model must route to a configured provider
    row = new_assistant_row(
        body.id or new_id(PREFIXES["assistant"]),
        body,
        project=project,
        tools=function_tools(body.tools),
        metadata=body.meta_data or {},
        response_format=_response_format(body.response_format),
    )
    settings = EntitiesAssistantRow(
        assistant_id=row.id, **{name: getattr(body, name) for name in SETTINGS}
    )

    def create(db: SyncSession) -> None:
        if body.id:
            _check_chosen_id(db, body.id)
        db.add(row)
        db.flush()
        db.add(settings)

    try:
        await state.runs.writer.run(create)
    except IntegrityError:
        raise InvalidRequest(
            f"The id '{row.id}' is already taken; choose another.", param="id"
        ) from None
    return wire.assistant(row, settings)


@router.get("/assistants")
async def list_assistants(db: Session, project: Project) -> list[dict[str, Any]]:
    """List the project's assistants, oldest first (Entities answers with a plain list)."""
    query = select(AssistantRow).where(AssistantRow.project_id == project)
    rows = (await db.scalars(query.order_by(AssistantRow.created_at))).all()
    settings = await _settings_of(db, [r.id for r in rows])
    return [wire.assistant(r, settings.get(r.id)) for r in rows]


@router.get("/assistants/{assistant_id}")
async def retrieve_assistant(assistant_id: str, db: Session, project: Project) -> dict[str, Any]:
    """Retrieve an assistant."""
    row = await get_or_404(db, AssistantRow, assistant_id, "assistant", project)
    return await _read(db, row)


@router.put("/assistants/{assistant_id}")
async def update_assistant(
    assistant_id: str, body: AssistantUpdate, state: State, project: Project
) -> Any:
    """Update the fields given (tools too: the function tools among them replace its tools)."""
    _refuse_unsupported(body)
    if body.model is not None:
        state.runs.providers.split(body.model)
    given = body.model_fields_set
    tools = function_tools(body.tools) if body.tools is not None else None
    response_format = (
        _response_format(body.response_format) if body.response_format is not None else None
    )

    def update(db: SyncSession) -> tuple[AssistantRow, EntitiesAssistantRow | None]:
        row = owned(db, AssistantRow, assistant_id, project)
        if row is None:
            raise NotFound(f"No assistant found with id '{assistant_id}'.")
        for name in ("name", "description", "model", "instructions", "temperature", "top_p"):
            if name in given and (name != "model" or body.model is not None):
                setattr(row, name, getattr(body, name))
        if "meta_data" in given:
            row.metadata_ = body.meta_data or {}
        if tools is not None:
            row.tools = tools
        if response_format is not None:
            row.response_format = response_format
        settings = db.get(EntitiesAssistantRow, assistant_id)
        changes = {n: getattr(body, n) for n in SETTINGS if n in given}
        changes = {n: v for n, v in changes.items() if v is not None or n == "max_tokens"}
        if changes:
            if settings is None:
                settings = EntitiesAssistantRow(assistant_id=assistant_id, max_turns=1)
                db.add(settings)
            for name, value in changes.items():
                setattr(settings, name, value)
        return row, settings

    row, settings = await state.runs.writer.run(update)
    return wire.assistant(row, settings)


@router.delete("/assistants/{assistant_id}")
async def delete_assistant(assistant_id: str, state: State, project: Project) -> dict[str, Any]:
    """Delete an assistant (its runs stay). The SDK's ``permanent`` flag changes nothing."""

    def delete(db: SyncSession) -> None:
        row = owned(db, AssistantRow, assistant_id, project)
        if row is None:
            raise NotFound(f"No assistant found with id '{assistant_id}'.")
        settings = db.get(EntitiesAssistantRow, assistant_id)
        if settings is not None:
            db.delete(settings)
            db.flush()
        db.delete(row)

    await state.runs.writer.run(delete)
    return {"id": assistant_id, "object": "assistant.deleted", "deleted": True}


@router.post("/tools")
async def create_tool(body: ToolCreate, state: State, project: Project) -> dict[str, Any]:
    """Create a function tool, to be associated with assistants.

    Kept until deleted with its definition; the same definition always gets the same id.
    """
    if body.type != "function":
        raise InvalidRequest(
            f"Callisto runs no '{body.type}' tools: only functions, executed by your client.",
            param="type",
        )
    tool = function_tool(body.function or {}, param="function")
    if tool["function"]["name"] != body.name:
        raise InvalidRequest(
            f"The tool is named '{body.name}' but its function '{tool['function']['name']}'.",
            param="name",
        )
    row = EntitiesToolRow(
        project_id=project, id=tool_id(tool), created_at=int(time.time()), tool=tool
    )

    def keep(db: SyncSession) -> None:
        if db.get(EntitiesToolRow, (project, row.id)) is None:
            db.add(row)

    with contextlib.suppress(IntegrityError):  # the same definition, kept meanwhile
        await state.runs.writer.run(keep)
    return entities_tool(tool)


async def _find_tool(db: Session, entities_id: str, project: str) -> dict[str, Any]:
    kept = await db.get(EntitiesToolRow, (project, entities_id))
    if kept is not None:
        return kept.tool
    query = select(AssistantRow.tools).where(AssistantRow.project_id == project)
    for tools in (await db.scalars(query)).all():
        for candidate in tools or []:
            if candidate.get("type") == "function" and tool_id(candidate) == entities_id:
                return dict(candidate)
    raise NotFound(f"No tool found with id '{entities_id}'.")


@router.get("/tools/{entities_id}")
async def retrieve_tool(entities_id: str, db: Session, project: Project) -> dict[str, Any]:
    """Retrieve a tool."""
    return entities_tool(await _find_tool(db, entities_id, project))


@router.post("/assistants/{assistant_id}/tools/{entities_id}")
async def associate_tool(
    assistant_id: str, entities_id: str, db: Session, state: State, project: Project
) -> dict[str, Any]:
    """Give an assistant a tool (a function of the same name is replaced)."""
    tool = await _find_tool(db, entities_id, project)
    await state.runs.writer.run(
        lambda sync: _change_tools(
            sync, assistant_id, project, lambda tools: with_tool(tools, tool)
        )
    )
    return {"message": f"Tool {entities_id} associated with assistant {assistant_id}."}


@router.delete("/assistants/{assistant_id}/tools/{entities_id}")
async def disassociate_tool(
    assistant_id: str, entities_id: str, state: State, project: Project
) -> dict[str, Any]:
    """Take a tool away from an assistant."""
    await state.runs.writer.run(
        lambda sync: _change_tools(
            sync, assistant_id, project, lambda t: without_tool(t, entities_id)
        )
    )
    return {"message": f"Tool {entities_id} disassociated from assistant {assistant_id}."}


def _change_tools(
    db: SyncSession, assistant_id: str, project: str, change: Callable[[list[Any]], list[Any]]
) -> None:
    row = owned(db, AssistantRow, assistant_id, project)
    if row is None:
        raise NotFound(f"No assistant found with id '{assistant_id}'.")
    row.tools = change(list(row.tools or []))


@router.get("/assistants/{assistant_id}/tools")
async def list_assistant_tools(assistant_id: str, db: Session, project: Project) -> dict[str, Any]:
    """List an assistant's function tools (``{"tools": [...]}``)."""
    row = await get_or_404(db, AssistantRow, assistant_id, "assistant", project)
    return {"tools": [entities_tool(t) for t in row.tools or [] if t.get("type") == "function"]}
