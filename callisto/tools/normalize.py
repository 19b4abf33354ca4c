"""Accept tool definitions written as dicts, including loose real-world ones.

OpenAI's function format passes through. Definitions written for other systems, such as the
Berkeley Function Calling Leaderboard's (``"type": "dict"``, ``float``, ``tuple``, ``any``, and
Java/JavaScript names like ``String``, ``long``, ``HashMap``, ``ArrayList``), are rewritten into
valid JSON Schema, recursively, instead of being rejected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import jsonschema

from callisto.tools._schema_walk import Schema, map_schema
from callisto.tools.definition import ToolDefinition
from callisto.tools.errors import ToolDefinitionError

# Loose type names (lower-cased) and their JSON Schema type; None means "any type".
_TYPE_NAMES: dict[str, str | None] = {
    "any": None,
    "array": "array",
    "arraylist": "array",
    "bool": "boolean",
    "boolean": "boolean",
    "char": "string",
    "dict": "object",
    "double": "number",
    "float": "number",
    "hashmap": "object",
    "int": "integer",
    "integer": "integer",
    "list": "array",
    "long": "integer",
    "map": "object",
    "null": "null",
    "number": "number",
    "object": "object",
    "str": "string",
    "string": "string",
    "tuple": "array",
}
# The function names OpenAI accepts.
_VALID_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def normalize_schema(schema: Mapping[str, Any]) -> Schema:
    """Rewrite loose type names into JSON Schema types, at every depth.

    ``dict``/``HashMap`` become ``object``, ``float``/``double`` ``number``, ``tuple``/
    ``ArrayList`` ``array``, ``long`` ``integer``, ``String``/``char`` ``string``, ``Boolean``
    ``boolean``; ``any`` (or an unknown name) removes the type constraint, and an unknown name is
    kept in the description so the model still reads it.

    Args:
        schema: A parameters schema, valid JSON Schema or not.

    Returns:
        A new schema; the input is not modified.
    """
    return map_schema(dict(schema), _normalize_node)


def _normalize_node(node: Schema) -> Schema:
    declared = node.get("type")
    if declared is None:
        return node
    names = declared if isinstance(declared, list) else [declared]
    mapped: list[str] = []
    for name in names:
        if not isinstance(name, str):
            continue
        known = name.lower() in _TYPE_NAMES
        json_type = _TYPE_NAMES.get(name.lower())
        if json_type is None:
            # "any", or a type name we don't know: either way, no constraint on the value.
            del node["type"]
            if not known:
                note = f"(type: {name})"
                node["description"] = (
                    f"{node['description']} {note}" if node.get("description") else note
                )
            return node
        if json_type not in mapped:
            mapped.append(json_type)
    node["type"] = mapped[0] if len(mapped) == 1 else mapped
    return node


def safe_function_name(name: str) -> str:
    """Return ``name`` made acceptable to OpenAI (``[A-Za-z0-9_-]``, at most 64 characters).

    BFCL names such as ``math.factorial`` become ``math_factorial``.
    """
    if _VALID_NAME.match(name):
        return name
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64]
    return cleaned or "function"


def definition_from_dict(raw: Mapping[str, Any], *, strict: bool | None = None) -> ToolDefinition:
    """Read a tool definition dict in any of the common shapes.

    Accepted: ``{"type": "function", "function": {...}}`` (Assistants and Chat Completions),
    the flat Responses shape ``{"type": "function", "name": ...}``, and a bare
    ``{"name", "description", "parameters"}`` (BFCL and most other datasets).

    Args:
        raw: The definition.
        strict: Overrides the definition's own ``strict`` flag when given.

    Returns:
        The definition with a safe name and a normalised, valid parameters schema.

    Raises:
        ToolDefinitionError: No name, or a schema that is still invalid after normalising.
    """
    inner = raw.get("function")
    function: Mapping[str, Any] = inner if isinstance(inner, Mapping) else raw
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise ToolDefinitionError(f"a tool definition needs a name: {dict(raw)!r:.200}")
    parameters = normalize_schema(
        function.get("parameters") or {"type": "object", "properties": {}}
    )
    parameters.setdefault("type", "object")
    try:
        jsonschema.Draft202012Validator.check_schema(parameters)
    except jsonschema.SchemaError as exc:
        raise ToolDefinitionError(
            f"tool {name!r}: invalid parameters schema: {exc.message}"
        ) from None
    flag = function.get("strict") if strict is None else strict
    return ToolDefinition(
        name=safe_function_name(name),
        description=function.get("description") or None,
        parameters=parameters,
        strict=flag if isinstance(flag, bool) else None,
    )
