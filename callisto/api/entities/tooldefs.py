"""Entities tools: function definitions with ids, mapped onto Callisto assistants' tools.

Entities keeps tools as objects of their own (``POST /v1/tools``) that are then associated
with assistants. Callisto keeps an assistant's function tools on the assistant, as the
Assistants API does. A tool's Entities id is therefore derived from its definition, so the
same definition has the same id wherever it is stored, and an assistant's tools can be listed
with ids without a table of their own.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import ValidationError

from callisto.api.schemas import MAX_TOOLS, FunctionTool, dump
from callisto.errors import InvalidRequest

TOOL_ID_PREFIX = "tool_"


def function_tool(definition: Any, *, param: str = "function") -> dict[str, Any]:
    """Return a Callisto function tool from an Entities function definition.

    Entities nests definitions in several ways (``{"name", ...}``, ``{"function": {...}}``,
    ``{"type": "function", "function": {...}}``); all become
    ``{"type": "function", "function": {...}}``, validated as the Assistants API validates it.

    Raises:
        InvalidRequest: The definition is not a valid function definition.
    """
    fn = definition
    while isinstance(fn, dict) and isinstance(fn.get("function"), dict):
        fn = fn["function"]
    if not isinstance(fn, dict):
        raise InvalidRequest("A function tool needs a definition object.", param=param)
    try:
        tool = FunctionTool.model_validate({"type": "function", "function": fn})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidRequest(
            f"Invalid function definition: {first.get('msg', 'invalid')}.", param=param
        ) from None
    result: dict[str, Any] = dump(tool)
    return result


def function_tools(tools: list[Any] | None) -> list[dict[str, Any]]:
    """Return the function tools among Entities tool specs; platform tools are left out.

    Callisto runs no platform tools (code interpreter, web search, ...): an assistant offers the
    model only the functions its client executes.
    """
    out: list[dict[str, Any]] = []
    for spec in tools or []:
        if isinstance(spec, dict) and spec.get("type", "function") == "function":
            tool = function_tool(spec, param="tools")
            if any(t["function"]["name"] == tool["function"]["name"] for t in out):
                raise InvalidRequest(
                    f"Two tools are named '{tool['function']['name']}'; function names must "
                    "be unique.",
                    param="tools",
                )
            out.append(tool)
    if len(out) > MAX_TOOLS:
        raise InvalidRequest(f"An assistant may have at most {MAX_TOOLS} tools.", param="tools")
    return out


def tool_id(tool: dict[str, Any]) -> str:
    """Return the Entities id of a Callisto function tool: a digest of its definition."""
    canonical = json.dumps(tool["function"], sort_keys=True, separators=(",", ":"))
    return TOOL_ID_PREFIX + hashlib.sha256(canonical.encode()).hexdigest()[:24]


def entities_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """Return the Entities wire form of a function tool (``ToolRead``)."""
    fn = dict(tool["function"])
    # The SDK's ToolFunction accepts a definition only when it names a description.
    fn.setdefault("description", "")
    return {
        "id": tool_id(tool),
        "type": "function",
        "name": fn["name"],
        "function": {"function": fn},
    }


def with_tool(tools: list[Any], tool: dict[str, Any]) -> list[Any]:
    """Return ``tools`` with ``tool`` added, replacing a function of the same name."""
    name = tool["function"]["name"]
    kept = [t for t in tools if not (t.get("type") == "function" and t["function"]["name"] == name)]
    if len(kept) >= MAX_TOOLS:
        raise InvalidRequest(f"An assistant may have at most {MAX_TOOLS} tools.")
    return [*kept, tool]


def without_tool(tools: list[Any], entities_id: str) -> list[Any]:
    """Return ``tools`` without the function tool whose Entities id is ``entities_id``."""
    return [t for t in tools if not (t.get("type") == "function" and tool_id(t) == entities_id)]
