"""The Entities V1 wire shapes of Callisto's rows, as ``projectdavid_common`` validates them.

Every key the SDK's response models require is present, with the type they require: Entities
keeps ``instructions``, ``tool_choice`` and ``response_format`` as strings, ``last_error`` and
``incomplete_details`` of a run as strings, and a message's content as plain text.
"""

from __future__ import annotations

import json
from typing import Any

from callisto.api.entities.status import entities_status
from callisto.api.entities.tooldefs import entities_tool
from callisto.engine.prompt import message_text
from callisto.store.entities_models import EntitiesActionRow, EntitiesAssistantRow
from callisto.store.models import AssistantRow, MessageRow, RunRow, ThreadRow

# Entities runs belong to a user; Callisto has API keys, not users.
USER_ID = "user_callisto"


def thread(row: ThreadRow) -> dict[str, Any]:
    """Return an Entities thread (``ThreadRead``)."""
    return {
        "id": row.id,
        "object": "thread",
        "created_at": row.created_at,
        "meta_data": row.metadata_ or {},
        "tool_resources": row.tool_resources or {},
    }


def message(row: MessageRow) -> dict[str, Any]:
    """Return an Entities message (``MessageRead``): content as plain text."""
    return {
        "id": row.id,
        "object": "thread.message",
        "created_at": row.created_at,
        "thread_id": row.thread_id,
        "role": row.role,
        "content": message_text(row.content),
        "assistant_id": row.assistant_id,
        "run_id": row.run_id,
        "status": row.status,
        "completed_at": row.completed_at,
        "incomplete_at": row.incomplete_at,
        "incomplete_details": row.incomplete_details,
        "attachments": row.attachments or [],
        "meta_data": row.metadata_ or {},
        "tool_id": None,
        "tool_call_id": None,
        "sender_id": None,
    }


def tool_message(action: EntitiesActionRow, run: RunRow) -> dict[str, Any]:
    """Return the tool message an action's output was sent as (``MessageRead``, role tool).

    Callisto keeps a tool output on the run's tool-call step, as the Assistants API does, and
    on the action; this is how Entities reads it back.
    """
    return {
        "id": action.output_message_id,
        "object": "thread.message",
        "created_at": action.output_at,
        "thread_id": run.thread_id,
        "run_id": run.id,
        "assistant_id": run.assistant_id,
        "role": "tool",
        "tool_id": action.id,
        "tool_call_id": action.tool_call_id,
        "content": action.output,
        "status": "completed",
        "completed_at": action.output_at,
        "incomplete_at": None,
        "incomplete_details": None,
        "attachments": [],
        "meta_data": {},
        "sender_id": None,
    }


def _text(value: Any, default: str) -> str:
    if value is None:
        return default
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("type"), str) and len(value) == 1:
        return str(value["type"])
    return json.dumps(value, separators=(",", ":"))


def run(row: RunRow, actions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Return an Entities run (valid as both ``Run`` and ``RunReadDetailed``).

    Args:
        row: The run.
        actions: Its actions still waiting for an output (``embedded_action`` shapes).
    """
    expires_at = row.expires_at
    if expires_at is None:
        # Ended runs have no expiry on the Assistants API; Entities' Run requires an integer.
        expires_at = int(row.expires_at_exact) if row.expires_at_exact else row.created_at
    strategy = row.truncation_strategy or {}
    return {
        "id": row.id,
        "object": "run",
        "user_id": USER_ID,
        "assistant_id": row.assistant_id,
        "thread_id": row.thread_id,
        "status": entities_status(row.status),
        "created_at": row.created_at,
        "expires_at": expires_at,
        "started_at": row.started_at,
        "cancelled_at": row.cancelled_at,
        "failed_at": row.failed_at,
        "completed_at": row.completed_at,
        "incomplete_details": (row.incomplete_details or {}).get("reason"),
        "last_error": (row.last_error or {}).get("message"),
        "required_action": "submit_tool_outputs" if row.required_action else None,
        "instructions": row.instructions or "",
        "model": row.model,
        "meta_data": row.metadata_ or {},
        "max_completion_tokens": row.max_completion_tokens,
        "max_prompt_tokens": row.max_prompt_tokens,
        "parallel_tool_calls": row.parallel_tool_calls,
        "response_format": _text(row.response_format, "auto"),
        "tool_choice": _text(row.tool_choice, "auto"),
        "tools": [entities_tool(t) for t in row.tools or [] if t.get("type") == "function"],
        "truncation_strategy": strategy.get("type") if strategy.get("type") == "auto" else None,
        "usage": row.usage,
        "temperature": row.temperature if row.temperature is not None else 1.0,
        "top_p": row.top_p if row.top_p is not None else 1.0,
        "tool_resources": {},
        "actions": actions or [],
    }


def assistant(row: AssistantRow, settings: EntitiesAssistantRow | None) -> dict[str, Any]:
    """Return an Entities assistant (``AssistantRead`` of both SDK generations).

    Args:
        row: The assistant.
        settings: Its Entities settings; defaults for an assistant made elsewhere.
    """
    return {
        "id": row.id,
        "object": "assistant",
        "user_id": USER_ID,
        "created_at": row.created_at,
        "name": row.name or "",
        "description": row.description,
        "model": row.model,
        "instructions": row.instructions,
        "tools": row.tools or [],
        "tool_resources": row.tool_resources,
        "meta_data": row.metadata_ or {},
        "temperature": row.temperature if row.temperature is not None else 1.0,
        "top_p": row.top_p if row.top_p is not None else 1.0,
        "response_format": _text(row.response_format, "auto"),
        "vector_stores": [],
        "webhook_url": None,
        "max_tokens": settings.max_tokens if settings else None,
        "max_turns": settings.max_turns if settings else 1,
        "agent_mode": settings.agent_mode if settings else False,
        "decision_telemetry": settings.decision_telemetry if settings else False,
        # Callisto runs no platform tools: these are always off (a request for them is refused).
        "web_access": False,
        "deep_research": False,
        "engineer": False,
    }
