"""JSON Schema to the Gemini API's ``Schema``: the OpenAPI subset it accepts for parameters.

Gemini answers 400 to keywords outside its subset (``additionalProperties``, ``$schema``,
``strict``, ``$ref``, ...), so a tool schema written for OpenAI must be rewritten rather than
passed through: references are inlined, ``oneOf`` becomes ``anyOf``, ``allOf`` is merged, a
``null`` type becomes ``nullable``, ``const`` becomes a one-value ``enum``, and what has no
equivalent is dropped.
"""

from __future__ import annotations

from typing import Any

__all__ = ["to_gemini_schema"]

_KEPT = frozenset(
    {
        "title",
        "description",
        "nullable",
        "maxItems",
        "minItems",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "default",
        "minimum",
        "maximum",
        "propertyOrdering",
    }
)
_FORMATS = {
    "STRING": {"enum", "date-time"},
    "NUMBER": {"float", "double"},
    "INTEGER": {"int32", "int64"},
}
_MAX_REF_DEPTH = 8


def to_gemini_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a JSON Schema into the subset Gemini accepts.

    Args:
        schema: A JSON Schema (the ``parameters`` of a tool).

    Returns:
        An equivalent Gemini ``Schema`` as far as one exists; constraints Gemini cannot express
        are dropped, since the server validates arguments against the original schema anyway.
    """
    definitions = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    return _convert(schema, definitions, 0)


def _convert(schema: Any, definitions: dict[str, Any], depth: int) -> dict[str, Any]:
    if not isinstance(schema, dict):
        return {}
    schema = _resolve(schema, definitions, depth)
    if depth > _MAX_REF_DEPTH:
        # A recursive schema cannot be inlined; past the limit any object is accepted.
        return {"type": "OBJECT"}
    out: dict[str, Any] = {k: v for k, v in schema.items() if k in _KEPT}
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(alternatives, list):
        return _alternatives(out, alternatives, definitions, depth)
    types = schema.get("type")
    if isinstance(types, list):
        if "null" in types:
            out["nullable"] = True
        rest = [t for t in types if t != "null"]
        if len(rest) > 1:
            out["anyOf"] = [_convert({**schema, "type": t}, definitions, depth) for t in rest]
            return out
        types = rest[0] if rest else None
    if isinstance(types, str):
        out["type"] = types.upper()
    _enum(out, schema)
    if "format" in schema and schema["format"] in _FORMATS.get(out.get("type", ""), ()):
        out["format"] = schema["format"]
    _children(out, schema, definitions, depth)
    return out


def _children(
    out: dict[str, Any], schema: dict[str, Any], definitions: dict[str, Any], depth: int
) -> None:
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {
            name: _convert(sub, definitions, depth + 1)
            for name, sub in schema["properties"].items()
        }
        required = [r for r in schema.get("required", []) if r in out["properties"]]
        if required:
            out["required"] = required
        out.setdefault("type", "OBJECT")
    items = schema.get("items")
    if isinstance(items, list):
        items = items[0] if items else {}
    if isinstance(items, dict):
        out["items"] = _convert(items, definitions, depth + 1)
        out.setdefault("type", "ARRAY")


def _resolve(schema: dict[str, Any], definitions: dict[str, Any], depth: int) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and depth <= _MAX_REF_DEPTH:
        target = definitions.get(ref.rsplit("/", 1)[-1], {})
        # Keywords beside $ref (a description, say) override the referenced schema's.
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    parts = schema.get("allOf")
    if isinstance(parts, list):
        merged: dict[str, Any] = {}
        for part in parts:
            if isinstance(part, dict):
                part = _resolve(part, definitions, depth + 1)
                merged.update(part)
                if "properties" in part:
                    merged["properties"] = {
                        **merged.get("properties", {}),
                        **part["properties"],
                    }
        schema = {**merged, **{k: v for k, v in schema.items() if k != "allOf"}}
    return schema


def _alternatives(
    out: dict[str, Any], alternatives: list[Any], definitions: dict[str, Any], depth: int
) -> dict[str, Any]:
    options = [a for a in alternatives if not (isinstance(a, dict) and a.get("type") == "null")]
    if len(options) < len(alternatives):
        out["nullable"] = True
    converted = [_convert(a, definitions, depth + 1) for a in options]
    if len(converted) == 1:
        # `X or null` is the common case (Optional[X]); Gemini says it as X with nullable.
        return {**converted[0], **out}
    out["anyOf"] = converted
    return out


def _enum(out: dict[str, Any], schema: dict[str, Any]) -> None:
    values = schema.get("enum")
    if "const" in schema:
        values = [schema["const"]]
    # Gemini takes enums of strings only; other enums are left to the server's validation.
    if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
        out["enum"] = values
        out["type"] = "STRING"
