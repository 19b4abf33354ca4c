"""Tool calls coming in and results going out, with the stable error codes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Why a call produced no result. The values are stable: models and logs may rely on them."""

    FUNCTION_NOT_FOUND = "FUNCTION_NOT_FOUND"
    INVALID_JSON = "INVALID_JSON"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    TIMEOUT = "TIMEOUT"
    EXECUTION_ERROR = "EXECUTION_ERROR"
    RATE_LIMITED = "RATE_LIMITED"
    FORBIDDEN = "FORBIDDEN"


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call the model asked for.

    Attributes:
        id: The call id (``call_...``), echoed with the result; empty when there is none.
        name: The function name.
        arguments: The arguments as the model sent them: a JSON string, or an already parsed
            mapping.
    """

    id: str
    name: str
    arguments: str | Mapping[str, Any]

    @classmethod
    def from_any(cls, call: Any) -> ToolCall:
        """Read a call from an OpenAI SDK object, a dict, or a :class:`ToolCall`.

        Handles ``RequiredActionFunctionToolCall`` (Assistants), ``ChatCompletionMessageToolCall``
        and their dict forms ``{"id", "function": {"name", "arguments"}}``, and the flat
        ``{"id"|"call_id", "name", "arguments"}`` form.

        Args:
            call: The call in any of those shapes.

        Returns:
            The call.
        """
        if isinstance(call, ToolCall):
            return call
        data: Mapping[str, Any] = call if isinstance(call, Mapping) else _as_mapping(call)
        function = data.get("function")
        if function is not None and not isinstance(function, Mapping):
            function = _as_mapping(function)
        source: Mapping[str, Any] = function if function is not None else data
        arguments = source.get("arguments")
        return cls(
            id=str(data.get("id") or data.get("call_id") or ""),
            name=str(source.get("name") or ""),
            arguments="{}" if arguments is None or arguments == "" else arguments,
        )


def _as_mapping(obj: Any) -> Mapping[str, Any]:
    # SDK objects are pydantic models; anything else exposing the attributes works too.
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        result = dump()
        if isinstance(result, Mapping):
            return result
    return {
        key: getattr(obj, key)
        for key in ("id", "call_id", "name", "arguments", "function")
        if hasattr(obj, key)
    }


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The outcome of one call, ready to go back to the model.

    Attributes:
        call_id: The id of the call answered.
        name: The function called.
        output: The string submitted to the model: the serialised value, or for an error a JSON
            object ``{"error": {"code", "message"}}``.
        code: ``None`` on success, else why the call failed.
        message: For an error, what the model should fix.
        duration: Seconds spent, validation included.
        cached: Whether the output came from the result cache.
        value: The function's return value (``None`` for errors and cache hits).
    """

    call_id: str
    name: str
    output: str
    code: ErrorCode | None = None
    message: str | None = None
    duration: float = 0.0
    cached: bool = False
    value: Any = None

    @property
    def ok(self) -> bool:
        """Whether the call succeeded."""
        return self.code is None

    @classmethod
    def failure(
        cls, call: ToolCall, code: ErrorCode, message: str, *, duration: float = 0.0
    ) -> ToolResult:
        """Build the result of a failed call, with an output the model can read.

        Args:
            call: The call that failed.
            code: Why.
            message: What the model should fix.
            duration: Seconds spent.

        Returns:
            The result.
        """
        output = json.dumps({"error": {"code": code.value, "message": message}})
        return cls(call.id, call.name, output, code=code, message=message, duration=duration)

    def tool_output(self) -> dict[str, str]:
        """Return ``{"tool_call_id", "output"}`` for ``runs.submit_tool_outputs``."""
        return {"tool_call_id": self.call_id, "output": self.output}

    def chat_message(self) -> dict[str, str]:
        """Return the ``{"role": "tool", ...}`` message for Chat Completions."""
        return {"role": "tool", "tool_call_id": self.call_id, "content": self.output}
