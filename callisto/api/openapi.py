"""The OpenAPI document, made to tell the truth about what the API answers.

FastAPI's generated document says every operation with parameters may answer 422 with its own
body, and says nothing of what a route returns when the route returns plain dicts. The API
answers 400 in OpenAI's error shape instead, and its objects have a fixed wire shape
(``callisto.store.wire``). :func:`describe_responses` rewrites the document: 400, 401, 404 and
429 with the error schema on every operation, the object or list each Assistants API
operation returns, and ``text/event-stream`` on operations that stream. The fuzz test
(``tests/integration/test_security_fuzz.py``) checks real answers against it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}

_DOCUMENTED_ERRORS = {
    "400": "The request is malformed or breaks a rule of the API.",
    "401": "No valid API key (when the server has keys).",
    "404": "The object does not exist.",
    "429": "Over a rate or runs-in-flight limit; retry after `Retry-After` seconds.",
}

_STR = {"type": "string"}
_INT = {"type": "integer"}
_NULLABLE_STR = {"type": ["string", "null"]}
_NULLABLE_INT = {"type": ["integer", "null"]}
_NULLABLE_NUMBER = {"type": ["number", "null"]}
_NULLABLE_OBJECT = {"type": ["object", "null"]}
_ARRAY = {"type": "array"}
_OBJECT = {"type": "object"}
_ANY: dict[str, Any] = {}


def _wire_object(kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The schema of a stored object: every key is always sent (``null`` where unset)."""
    properties = {"id": _STR, "object": {"const": kind}, "created_at": _INT, **fields}
    return {"type": "object", "required": sorted(properties), "properties": properties}


_TIMESTAMPS = ("completed_at", "cancelled_at", "failed_at", "expires_at", "started_at")

OBJECT_SCHEMAS: dict[str, dict[str, Any]] = {
    "Assistant": _wire_object(
        "assistant",
        {
            "name": _NULLABLE_STR,
            "description": _NULLABLE_STR,
            "model": _STR,
            "instructions": _NULLABLE_STR,
            "tools": _ARRAY,
            "metadata": _OBJECT,
            "tool_resources": _ANY,
            "temperature": _NULLABLE_NUMBER,
            "top_p": _NULLABLE_NUMBER,
            "response_format": _ANY,
        },
    ),
    "Thread": _wire_object("thread", {"tool_resources": _ANY, "metadata": _OBJECT}),
    "Message": _wire_object(
        "thread.message",
        {
            "thread_id": _STR,
            "status": _STR,
            "incomplete_details": _NULLABLE_OBJECT,
            "completed_at": _NULLABLE_INT,
            "incomplete_at": _NULLABLE_INT,
            "role": {"enum": ["user", "assistant"]},
            "content": _ARRAY,
            "assistant_id": _NULLABLE_STR,
            "run_id": _NULLABLE_STR,
            "attachments": _ANY,
            "metadata": _OBJECT,
        },
    ),
    "Run": _wire_object(
        "thread.run",
        {
            "thread_id": _STR,
            "assistant_id": _STR,
            "status": {
                "enum": [
                    "queued",
                    "in_progress",
                    "requires_action",
                    "cancelling",
                    "cancelled",
                    "failed",
                    "completed",
                    "incomplete",
                    "expired",
                ]
            },
            "required_action": _NULLABLE_OBJECT,
            "last_error": _NULLABLE_OBJECT,
            **dict.fromkeys(_TIMESTAMPS, _NULLABLE_INT),
            "incomplete_details": _NULLABLE_OBJECT,
            "model": _STR,
            "instructions": _NULLABLE_STR,
            "tools": _ARRAY,
            "metadata": _OBJECT,
            "usage": _NULLABLE_OBJECT,
            "max_prompt_tokens": _NULLABLE_INT,
            "max_completion_tokens": _NULLABLE_INT,
            "truncation_strategy": _ANY,
            "tool_choice": _ANY,
            "parallel_tool_calls": _ANY,
            "response_format": _ANY,
            "temperature": _NULLABLE_NUMBER,
            "top_p": _NULLABLE_NUMBER,
            "reasoning_effort": _NULLABLE_STR,
        },
    ),
    "RunStep": _wire_object(
        "thread.run.step",
        {
            "assistant_id": _STR,
            "thread_id": _STR,
            "run_id": _STR,
            "type": {"enum": ["message_creation", "tool_calls"]},
            "status": _STR,
            "step_details": _OBJECT,
            "last_error": _NULLABLE_OBJECT,
            "expired_at": _NULLABLE_INT,
            "cancelled_at": _NULLABLE_INT,
            "failed_at": _NULLABLE_INT,
            "completed_at": _NULLABLE_INT,
            "metadata": _ANY,
            "usage": _NULLABLE_OBJECT,
        },
    ),
    "ToolEvent": _wire_object(
        "audit.tool_event",
        {
            "event": {"enum": ["tool_call.handed_out", "tool_output.received"]},
            "thread_id": _STR,
            "run_id": _STR,
            "tool_call_id": _STR,
            "tool": _STR,
            "arguments": _NULLABLE_STR,
            "output": _NULLABLE_STR,
            "submitted_by": _NULLABLE_STR,
        },
    ),
}


def _list_of(name: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["object", "data", "first_id", "last_id", "has_more"],
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "items": {"$ref": f"#/components/schemas/{name}"}},
            "first_id": _NULLABLE_STR,
            "last_id": _NULLABLE_STR,
            "has_more": {"type": "boolean"},
        },
    }


def _deleted(kind: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["id", "object", "deleted"],
        "properties": {"id": _STR, "object": {"const": kind}, "deleted": {"const": True}},
    }


# What each Assistants API operation answers with 200: (method, path) -> schema name.
_A = "/v1/assistants"
_T = "/v1/threads/{thread_id}"
_M = _T + "/messages"
_R = _T + "/runs/{run_id}"
RESPONSES: dict[tuple[str, str], str] = {
    ("post", _A): "Assistant",
    ("get", _A): "AssistantList",
    ("get", _A + "/{assistant_id}"): "Assistant",
    ("post", _A + "/{assistant_id}"): "Assistant",
    ("delete", _A + "/{assistant_id}"): "AssistantDeleted",
    ("post", "/v1/threads"): "Thread",
    ("get", _T): "Thread",
    ("post", _T): "Thread",
    ("delete", _T): "ThreadDeleted",
    ("post", _M): "Message",
    ("get", _M): "MessageList",
    ("get", _M + "/{message_id}"): "Message",
    ("post", _M + "/{message_id}"): "Message",
    ("delete", _M + "/{message_id}"): "MessageDeleted",
    ("post", _T + "/runs"): "Run",
    ("post", "/v1/threads/runs"): "Run",
    ("get", _T + "/runs"): "RunList",
    ("get", _R): "Run",
    ("post", _R): "Run",
    ("post", _R + "/submit_tool_outputs"): "Run",
    ("post", _R + "/cancel"): "Run",
    ("get", _R + "/steps"): "RunStepList",
    ("get", _R + "/steps/{step_id}"): "RunStep",
    ("get", "/v1/audit/tool_events"): "ToolEventList",
}

_SCHEMAS: dict[str, dict[str, Any]] = {
    **OBJECT_SCHEMAS,
    "AssistantList": _list_of("Assistant"),
    "MessageList": _list_of("Message"),
    "RunList": _list_of("Run"),
    "RunStepList": _list_of("RunStep"),
    "ToolEventList": _list_of("ToolEvent"),
    "AssistantDeleted": _deleted("assistant.deleted"),
    "ThreadDeleted": _deleted("thread.deleted"),
    "MessageDeleted": _deleted("thread.message.deleted"),
    "Error": ERROR_SCHEMA,
}

# Operations that always answer with a server-sent event stream.
_ALWAYS_STREAMING = ("/events", "/entities/v1/completions")


def _streams(path: str, operation: dict[str, Any], components: dict[str, Any]) -> bool:
    """Whether an operation may answer with a server-sent event stream: it always does, or its
    body has a ``stream`` flag."""
    if path.endswith(_ALWAYS_STREAMING):
        return True
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    ref = body.get("schema", {}).get("$ref", "")
    model = components.get(ref.rsplit("/", 1)[-1], {}) if ref else {}
    return "stream" in model.get("properties", {})


def _describe(path: str, method: str, operation: dict[str, Any], components: Any) -> None:
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for status, description in _DOCUMENTED_ERRORS.items():
        responses.setdefault(status, {"description": description, "content": error})
    ok = responses.setdefault("200", {"description": "Successful Response"})
    content = ok.setdefault("content", {})
    returned = RESPONSES.get((method, path))
    if returned is not None:
        content["application/json"] = {"schema": {"$ref": f"#/components/schemas/{returned}"}}
    if _streams(path, operation, components):
        # No schema: events are JSON objects of several shapes, ended by "[DONE]".
        content["text/event-stream"] = {}


def describe_responses(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI document describe what the API really answers (see the module)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components.update(_SCHEMAS)
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                _describe(path, method, operation, components)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
