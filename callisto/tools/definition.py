"""What the model sees of a tool: its name, description and JSON Schema of arguments."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """A function as offered to a model, in OpenAI's terms.

    This is apart from :class:`callisto.tools.Tool` (the callable) on purpose: a definition can be
    sent, stored and compared without anything to call behind it.

    Attributes:
        name: The function name the model will call.
        description: What the function does, for the model.
        parameters: The JSON Schema of the arguments object.
        strict: ``True`` when ``parameters`` follows OpenAI's strict-mode rules; ``None`` to
            leave the flag out of the wire format.
    """

    name: str
    description: str | None = None
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None

    def function_spec(self) -> dict[str, Any]:
        """Return the inner ``function`` object: ``{name, description?, parameters, strict?}``."""
        spec: dict[str, Any] = {"name": self.name}
        if self.description:
            spec["description"] = self.description
        spec["parameters"] = self.parameters
        if self.strict is not None:
            spec["strict"] = self.strict
        return spec

    def openai_tool(self) -> dict[str, Any]:
        """Return ``{"type": "function", "function": {...}}``.

        The same shape serves ``assistants.create(tools=...)``, ``runs.create(tools=...)`` and
        ``chat.completions.create(tools=...)``.
        """
        return {"type": "function", "function": self.function_spec()}

    def responses_tool(self) -> dict[str, Any]:
        """Return the flat shape of the Responses API: ``{"type": "function", "name", ...}``."""
        return {"type": "function", **self.function_spec()}
