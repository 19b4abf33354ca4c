"""The wire shape of stored objects: every key the Assistants API v2 sends, ``null`` where unset."""

from __future__ import annotations

from typing import Any

from callisto.store.models import (
    TERMINAL_RUN_STATUSES,
    AssistantRow,
    MessageRow,
    RunRow,
    RunStepRow,
    ThreadRow,
)


def assistant(row: AssistantRow) -> dict[str, Any]:
    """Return the wire form of an assistant."""
    return {
        "id": row.id,
        "object": "assistant",
        "created_at": row.created_at,
        "name": row.name,
        "description": row.description,
        "model": row.model,
        "instructions": row.instructions,
        "tools": row.tools,
        "metadata": row.metadata_,
        "tool_resources": row.tool_resources,
        "temperature": row.temperature,
        "top_p": row.top_p,
        "response_format": row.response_format,
    }


def thread(row: ThreadRow) -> dict[str, Any]:
    """Return the wire form of a thread."""
    return {
        "id": row.id,
        "object": "thread",
        "created_at": row.created_at,
        "tool_resources": row.tool_resources,
        "metadata": row.metadata_,
    }


def message(row: MessageRow) -> dict[str, Any]:
    """Return the wire form of a message."""
    return {
        "id": row.id,
        "object": "thread.message",
        "created_at": row.created_at,
        "thread_id": row.thread_id,
        "status": row.status,
        "incomplete_details": row.incomplete_details,
        "completed_at": row.completed_at,
        "incomplete_at": row.incomplete_at,
        "role": row.role,
        "content": row.content,
        "assistant_id": row.assistant_id,
        "run_id": row.run_id,
        "attachments": row.attachments,
        "metadata": row.metadata_,
    }


def run(row: RunRow) -> dict[str, Any]:
    """Return the wire form of a run."""
    return {
        "id": row.id,
        "object": "thread.run",
        "created_at": row.created_at,
        "thread_id": row.thread_id,
        "assistant_id": row.assistant_id,
        "status": row.status,
        "required_action": row.required_action,
        "last_error": row.last_error,
        "expires_at": row.expires_at,
        "started_at": row.started_at,
        "cancelled_at": row.cancelled_at,
        "failed_at": row.failed_at,
        "completed_at": row.completed_at,
        "incomplete_details": row.incomplete_details,
        "model": row.model,
        "instructions": row.instructions,
        "tools": row.tools,
        "metadata": row.metadata_,
        # Usage is reported once the run is over, as the API does.
        "usage": row.usage if row.status in TERMINAL_RUN_STATUSES else None,
        "max_prompt_tokens": row.max_prompt_tokens,
        "max_completion_tokens": row.max_completion_tokens,
        "truncation_strategy": row.truncation_strategy,
        "tool_choice": row.tool_choice,
        "parallel_tool_calls": row.parallel_tool_calls,
        "response_format": row.response_format,
        "temperature": row.temperature,
        "top_p": row.top_p,
        "reasoning_effort": None,
    }


PROVIDER_DATA = "provider_data"
"""The key under which a stored tool call keeps its provider's data; never on the wire."""


REASONING = "reasoning"
"""The key under which a tool step keeps the reasoning its calls came with; never on the wire."""


def step_details(details: dict[str, Any]) -> dict[str, Any]:
    """Return a step's details as the API shows them: without reasoning or provider data."""
    if REASONING in details:
        details = {k: v for k, v in details.items() if k != REASONING}
    calls = details.get("tool_calls")
    if not calls or not any(PROVIDER_DATA in c for c in calls):
        return details
    return {
        **details,
        "tool_calls": [{k: v for k, v in c.items() if k != PROVIDER_DATA} for c in calls],
    }


def run_step(row: RunStepRow) -> dict[str, Any]:
    """Return the wire form of a run step."""
    return {
        "id": row.id,
        "object": "thread.run.step",
        "created_at": row.created_at,
        "assistant_id": row.assistant_id,
        "thread_id": row.thread_id,
        "run_id": row.run_id,
        "type": row.type,
        "status": row.status,
        "step_details": step_details(row.step_details),
        "last_error": row.last_error,
        "expired_at": row.expired_at,
        "cancelled_at": row.cancelled_at,
        "failed_at": row.failed_at,
        "completed_at": row.completed_at,
        "metadata": row.metadata_,
        "usage": row.usage,
    }
