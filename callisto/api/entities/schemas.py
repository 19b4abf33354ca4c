"""Request bodies of the Entities V1 endpoints, as the ``projectdavid`` SDK sends them.

The SDK sends whole Pydantic models of its own, with many keys Callisto does not use
(``object``, ``created_at``, ``status`` of a run being created, ...): unknown keys are ignored,
not refused, so every SDK release's payload is accepted. What Callisto stores is checked as
the Assistants API checks it (metadata limits, no NUL characters).
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, field_validator

from callisto.api.schemas import Instructions, Strict, check_metadata


class Lenient(Strict):
    """Base of Entities bodies: unknown keys ignored; unstorable values still refused."""

    model_config = ConfigDict(extra="ignore")


class WithMetaData(Lenient):
    """A body with Entities' ``meta_data`` map, stored as Callisto ``metadata``."""

    meta_data: dict[str, Any] | None = None

    @field_validator("meta_data")
    @classmethod
    def _limits(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_metadata(value)


class ThreadCreate(WithMetaData):
    """``POST /v1/threads``; participants are accepted and ignored (Callisto has no users)."""

    participant_ids: list[str] | None = None


class MessageCreate(WithMetaData):
    """``POST /v1/messages`` and ``POST /v1/messages/tools``."""

    content: str
    thread_id: str
    assistant_id: str | None = None
    role: str = "user"
    tool_id: str | None = None
    tool_call_id: str | None = None
    sender_id: str | None = None
    is_last_chunk: bool = False


class RunCreate(WithMetaData):
    """``POST /v1/runs``. The SDK fills every field; see ``routes_runs.run_params``."""

    id: str | None = None
    assistant_id: str
    thread_id: str
    instructions: Instructions = None
    model: str | None = None
    tool_choice: str | None = None
    parallel_tool_calls: bool | None = None
    response_format: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)


class CompletionRequest(WithMetaData):
    """``POST /v1/completions``: start or continue a run with a model, and stream it.

    The seed-era SDK (1.36) names a ``provider``; the current one (1.113) does not, and may ask
    for one JSON answer with ``stream: false``. ``meta_data`` is accepted and not kept.
    """

    provider: str | None = None
    model: str = Field(min_length=1, max_length=256)
    api_key: str | None = Field(default=None, repr=False)
    thread_id: str
    message_id: str | None = None
    run_id: str
    assistant_id: str
    content: str | None = None
    stream: bool = True


class AssistantCreate(WithMetaData):
    """``POST /v1/assistants``; an ``id`` chosen by the client (e.g. ``default``) is kept."""

    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    name: str = Field(default="", max_length=256)
    description: str | None = Field(default=None, max_length=512)
    model: str = Field(min_length=1, max_length=256)
    instructions: Instructions = None
    tools: list[Any] | None = None
    tool_resources: dict[str, Any] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    response_format: str | None = None
    # The current SDK's assistant settings (1.113); the seed-era SDK sends none of them.
    max_tokens: int | None = Field(default=None, ge=1)
    max_turns: int = Field(default=1, ge=1)
    agent_mode: bool = False
    decision_telemetry: bool = False
    web_access: bool = False
    deep_research: bool = False
    engineer: bool = False
    webhook_url: str | None = None


class AssistantUpdate(WithMetaData):
    """``PUT /v1/assistants/{id}``: the fields given change (tools too, as the current SDK sends
    them); ``users`` is accepted and ignored (Callisto has no users)."""

    name: str | None = Field(default=None, max_length=256)
    description: str | None = Field(default=None, max_length=512)
    model: str | None = Field(default=None, min_length=1, max_length=256)
    instructions: Instructions = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    tools: list[Any] | None = None
    response_format: str | None = None
    vector_stores: list[str] | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_turns: int | None = Field(default=None, ge=1)
    agent_mode: bool | None = None
    decision_telemetry: bool | None = None
    web_access: bool | None = None
    deep_research: bool | None = None
    engineer: bool | None = None
    webhook_url: str | None = None


class ActionUpdate(Lenient):
    """``PUT /v1/actions/{id}``: the status of a tool call as the client reports it."""

    status: str
    result: dict[str, Any] | None = None


class ToolCreate(Lenient):
    """``POST /v1/tools``: ``{name, type, function: {function: {...}}}``."""

    name: str
    type: str = "function"
    function: dict[str, Any] | None = None
