"""Entities ``/v1/assistants`` and ``/v1/tools``: assistants are Callisto's assistants, and an
Entities tool associated with one becomes one of its function tools."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from callisto.api.deps import Session, State, get_or_404
from callisto.api.entities import wire
from callisto.api.entities.memory import Memory
from callisto.api.entities.schemas import AssistantCreate, AssistantUpdate, ToolCreate
from callisto.api.entities.tooldefs import (
    entities_tool,
    function_tool,
    function_tools,
    tool_id,
    with_tool,
    without_tool,
)
from callisto.api.routes.assistants import new_assistant_row
from callisto.errors import ConflictingState, InvalidRequest, NotFound
from callisto.ids import PREFIXES, new_id
from callisto.store.models import AssistantRow

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


@router.post("/assistants")
async def create_assistant(body: AssistantCreate, db: Session, state: State) -> dict[str, Any]:
    """Create an assistant; its function tools are offered to the model, platform tools are not.

    Its model must route to a configured provider.
    """
    state.runs.providers.split(body.model)
    assistant_id = body.id or new_id(PREFIXES["assistant"])
    if await db.get(AssistantRow, assistant_id) is not None:
        raise ConflictingState(f"An assistant with id '{assistant_id}' already exists.")
    row = new_assistant_row(
        assistant_id,
        body,
        tools=function_tools(body.tools),
        metadata=body.meta_data or {},
        response_format=_response_format(body.response_format),
    )
    db.add(row)
    await db.commit()
    return wire.assistant(row)


@router.get("/assistants")
async def list_assistants(db: Session) -> list[dict[str, Any]]:
    """List every assistant, oldest first (Entities answers with a plain list)."""
    rows = (await db.scalars(select(AssistantRow).order_by(AssistantRow.created_at))).all()
    return [wire.assistant(r) for r in rows]


@router.get("/assistants/{assistant_id}")
async def retrieve_assistant(assistant_id: str, db: Session) -> dict[str, Any]:
    """Retrieve an assistant."""
    return wire.assistant(await get_or_404(db, AssistantRow, assistant_id, "assistant"))


@router.put("/assistants/{assistant_id}")
async def update_assistant(
    assistant_id: str, body: AssistantUpdate, db: Session, state: State
) -> Any:
    """Update the fields given; tools change through ``/assistants/{id}/tools/{tool_id}``."""
    row = await get_or_404(db, AssistantRow, assistant_id, "assistant")
    if body.model is not None:
        state.runs.providers.split(body.model)
    given = body.model_fields_set
    for name in ("name", "description", "model", "instructions", "temperature", "top_p"):
        if name in given and (name != "model" or body.model is not None):
            setattr(row, name, getattr(body, name))
    if "meta_data" in given:
        row.metadata_ = body.meta_data or {}
    await db.commit()
    return wire.assistant(row)


@router.delete("/assistants/{assistant_id}")
async def delete_assistant(assistant_id: str, db: Session) -> dict[str, Any]:
    """Delete an assistant; its threads and runs stay."""
    row = await get_or_404(db, AssistantRow, assistant_id, "assistant")
    await db.delete(row)
    await db.commit()
    return {"id": assistant_id, "object": "assistant.deleted", "deleted": True}


@router.post("/tools")
async def create_tool(body: ToolCreate, memory: Memory) -> dict[str, Any]:
    """Create a function tool, to be associated with assistants.

    Held in this process until associated; the same definition always gets the same id.
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
    memory.tools[tool_id(tool)] = tool
    return entities_tool(tool)


async def _find_tool(db: Session, memory: Memory, entities_id: str) -> dict[str, Any]:
    tool = memory.tools.get(entities_id)
    if tool is not None:
        return tool
    for tools in (await db.scalars(select(AssistantRow.tools))).all():
        for candidate in tools or []:
            if candidate.get("type") == "function" and tool_id(candidate) == entities_id:
                memory.tools[entities_id] = candidate
                return dict(candidate)
    raise NotFound(f"No tool found with id '{entities_id}'.")


@router.get("/tools/{entities_id}")
async def retrieve_tool(entities_id: str, db: Session, memory: Memory) -> dict[str, Any]:
    """Retrieve a tool."""
    return entities_tool(await _find_tool(db, memory, entities_id))


@router.post("/assistants/{assistant_id}/tools/{entities_id}")
async def associate_tool(
    assistant_id: str, entities_id: str, db: Session, memory: Memory
) -> dict[str, Any]:
    """Give an assistant a tool (a function of the same name is replaced)."""
    row = await get_or_404(db, AssistantRow, assistant_id, "assistant")
    tool = await _find_tool(db, memory, entities_id)
    row.tools = with_tool(row.tools or [], tool)
    await db.commit()
    return {"message": f"Tool {entities_id} associated with assistant {assistant_id}."}


@router.delete("/assistants/{assistant_id}/tools/{entities_id}")
async def disassociate_tool(assistant_id: str, entities_id: str, db: Session) -> dict[str, Any]:
    """Take a tool away from an assistant."""
    row = await get_or_404(db, AssistantRow, assistant_id, "assistant")
    row.tools = without_tool(row.tools or [], entities_id)
    await db.commit()
    return {"message": f"Tool {entities_id} disassociated from assistant {assistant_id}."}


@router.get("/assistants/{assistant_id}/tools")
async def list_assistant_tools(assistant_id: str, db: Session) -> dict[str, Any]:
    """List an assistant's function tools (``{"tools": [...]}``)."""
    row = await get_or_404(db, AssistantRow, assistant_id, "assistant")
    return {"tools": [entities_tool(t) for t in row.tools or [] if t.get("type") == "function"]}
