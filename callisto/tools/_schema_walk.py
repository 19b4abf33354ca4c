"""Walk a JSON Schema's subschemas, knowing which keywords hold schemas and which hold data.

Every schema rewrite in the toolkit (title stripping, ``$ref`` inlining, strict mode, loose
definitions) goes through here, so none of them mistakes a property *named* ``title`` or
``type`` for the keyword.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Schema = dict[str, Any]

# Keywords whose value is one schema.
_SINGLE = (
    "additionalItems",
    "additionalProperties",
    "contains",
    "else",
    "if",
    "items",
    "not",
    "propertyNames",
    "then",
    "unevaluatedItems",
    "unevaluatedProperties",
)
# Keywords whose value maps names to schemas.
_MAPS = ("$defs", "definitions", "dependentSchemas", "patternProperties", "properties")
# Keywords whose value is a list of schemas (``items`` too, in its old tuple form).
_LISTS = ("allOf", "anyOf", "items", "oneOf", "prefixItems")


def map_schema(schema: Schema, rewrite: Callable[[Schema], Schema]) -> Schema:
    """Rebuild ``schema`` bottom-up, passing every (sub)schema through ``rewrite``.

    Children are rewritten before their parent, so ``rewrite`` sees finished subschemas. The
    input is never modified; boolean schemas (``true``/``false``) are left alone.

    Args:
        schema: The schema to rewrite.
        rewrite: Takes a schema dict (a fresh copy, safe to change) and returns its replacement.

    Returns:
        The rewritten schema.
    """
    node = dict(schema)
    for key in _SINGLE:
        value = node.get(key)
        if isinstance(value, dict):
            node[key] = map_schema(value, rewrite)
    for key in _MAPS:
        value = node.get(key)
        if isinstance(value, dict):
            node[key] = {
                name: map_schema(sub, rewrite) if isinstance(sub, dict) else sub
                for name, sub in value.items()
            }
    for key in _LISTS:
        value = node.get(key)
        if isinstance(value, list):
            node[key] = [
                map_schema(sub, rewrite) if isinstance(sub, dict) else sub for sub in value
            ]
    return rewrite(node)


def strip_titles(schema: Schema) -> Schema:
    """Drop the ``title`` keyword everywhere; pydantic adds one per field and models ignore it."""

    def drop(node: Schema) -> Schema:
        if isinstance(node.get("title"), str):
            del node["title"]
        return node

    return map_schema(schema, drop)


def inline_refs(schema: Schema) -> Schema:
    """Replace local ``#/$defs/...`` references by the definitions they point at.

    Many models (and some providers) handle ``$ref`` badly, so definitions are inlined. A
    recursive definition can't be inlined: its references stay and only the definitions still
    referenced are kept under ``$defs``.

    Args:
        schema: A schema whose definitions live in its top-level ``$defs``.

    Returns:
        The schema with every non-recursive reference inlined.
    """
    defs: dict[str, Schema] = dict(schema.get("$defs", {}))
    body = {key: value for key, value in schema.items() if key != "$defs"}
    kept: set[str] = set()

    def resolve(node: Any, stack: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [resolve(item, stack) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            if name in stack or name not in defs:
                kept.add(name)
                return node
            siblings = {key: value for key, value in node.items() if key != "$ref"}
            target = resolve(defs[name], (*stack, name))
            return {**target, **resolve(siblings, stack)}
        return {key: resolve(value, stack) for key, value in node.items()}

    result: Schema = resolve(body, ())
    kept_defs: dict[str, Schema] = {}
    # A kept definition may itself reference other recursive ones: repeat until none is new.
    while pending := sorted(name for name in kept - kept_defs.keys() if name in defs):
        for name in pending:
            # Resolved with itself on the stack, so its self-references stay references.
            kept_defs[name] = resolve(defs[name], (name,))
    if kept_defs:
        result["$defs"] = kept_defs
    return result
