"""Rewrite a JSON Schema into the subset OpenAI's strict mode accepts.

Strict mode wants every object closed (``additionalProperties: false``), every property listed
in ``required`` (an optional one becomes a union with ``null``), and only a small set of
keywords. Constraints strict mode can't carry (``minimum``, ``pattern``, ...) move into the
description, so the model still learns them; the toolkit's own validator keeps enforcing them.
"""

from __future__ import annotations

import json
from typing import Any

from callisto.tools._schema_walk import Schema, map_schema

# Keywords strict mode accepts, kept as they are.
_ALLOWED = frozenset(
    {
        "$defs",
        "$ref",
        "additionalProperties",
        "anyOf",
        "const",
        "description",
        "enum",
        "items",
        "properties",
        "required",
        "type",
    }
)
# Keywords strict mode refuses that still tell the model something: said in words instead.
_DESCRIBED = {
    "default": "default {}",
    "exclusiveMaximum": "less than {}",
    "exclusiveMinimum": "greater than {}",
    "format": "format {}",
    "maxItems": "at most {} items",
    "maxLength": "at most {} characters",
    "maximum": "at most {}",
    "minItems": "at least {} items",
    "minLength": "at least {} characters",
    "minimum": "at least {}",
    "multipleOf": "a multiple of {}",
    "pattern": "matching {}",
    "uniqueItems": "unique items: {}",
}


def to_strict(schema: Schema) -> tuple[Schema, list[str]]:
    """Rewrite ``schema`` (with refs already inlined) for OpenAI's strict mode.

    Args:
        schema: An object schema for a function's arguments.

    Returns:
        The strict schema and the problems that strict mode can't express (free-form objects,
        tuples, values of any type). An empty problem list means the schema is usable.
    """
    problems: list[str] = []

    def rewrite(node: Schema) -> Schema:
        node = _fold_combinators(node)
        if node.get("type") == "object" or "properties" in node:
            node = _close_object(node, problems)
        if "prefixItems" in node:
            problems.append("tuples (fixed-length arrays) are not supported in strict mode")
        return _drop_unsupported(node)

    return map_schema(schema, rewrite), problems


def _fold_combinators(node: Schema) -> Schema:
    if "oneOf" in node:
        # For the model, "exactly one" and "at least one" read the same; strict mode has anyOf.
        node["anyOf"] = node.pop("oneOf") + node.get("anyOf", [])
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
        del node["allOf"]
        node = {**all_of[0], **node}
    return node


def _close_object(node: Schema, problems: list[str]) -> Schema:
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and extra:
        problems.append(
            "objects with free-form keys (dict[str, ...]) are not supported in strict mode"
        )
    properties: dict[str, Any] = node.get("properties", {})
    required = set(node.get("required", []))
    node["properties"] = {
        name: sub if name in required else _nullable(name, sub, problems)
        for name, sub in properties.items()
    }
    node["required"] = list(properties)
    node["additionalProperties"] = False
    return node


def _nullable(name: str, schema: Any, problems: list[str]) -> Any:
    """Let an optional property be ``null``: strict mode lists every property as required."""
    if not isinstance(schema, dict):
        return schema
    node = dict(schema)
    if "anyOf" in node:
        if {"type": "null"} not in node["anyOf"]:
            node["anyOf"] = [*node["anyOf"], {"type": "null"}]
    elif isinstance(node.get("type"), str):
        if node["type"] != "null":
            node["type"] = [node["type"], "null"]
    elif isinstance(node.get("type"), list):
        if "null" not in node["type"]:
            node["type"] = [*node["type"], "null"]
    elif "$ref" in node:
        return {"anyOf": [node, {"type": "null"}]}
    else:
        problems.append(f"property {name!r} accepts any type, which strict mode can't express")
        return node
    if isinstance(node.get("enum"), list) and None not in node["enum"]:
        node["enum"] = [*node["enum"], None]
    return node


def _drop_unsupported(node: Schema) -> Schema:
    notes = [
        _DESCRIBED[key].format(json.dumps(node[key], default=str))
        for key in sorted(node)
        # A null default says nothing the nullable type doesn't already say.
        if key in _DESCRIBED and not (key == "default" and node[key] is None)
    ]
    kept = {key: value for key, value in node.items() if key in _ALLOWED}
    if notes:
        said = "; ".join(notes)
        description = kept.get("description")
        kept["description"] = f"{description} ({said})" if description else f"({said})"
    return kept
