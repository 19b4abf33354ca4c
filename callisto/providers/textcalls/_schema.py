"""Typing argument values that a model wrote as raw text (qwen3 xml, glm, minimax).

Those formats carry every value as text between tags; the tool's JSON Schema says what the value
was meant to be. A value that does not fit its declared type stays a string, so the engine's
schema validation can report it to the model instead of Callisto guessing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from callisto.providers.base import ToolSpec

from ._json import loads_whole

# Definitions written for other systems (BFCL, Java/JS tool sets) use these names.
_TYPE_ALIASES = {
    "dict": "object",
    "hashmap": "object",
    "map": "object",
    "float": "number",
    "double": "number",
    "long": "integer",
    "int": "integer",
    "tuple": "array",
    "list": "array",
    "arraylist": "array",
    "str": "string",
    "char": "string",
    "bool": "boolean",
}
_INTEGER = re.compile(r"[+-]?\d+")


def property_schema(tool: ToolSpec | None, name: str) -> dict[str, Any] | None:
    """Return the JSON Schema of argument ``name`` of ``tool``, if it declares one."""
    if tool is None:
        return None
    props = tool.parameters.get("properties")
    if not isinstance(props, dict):
        return None
    schema = props.get(name)
    return schema if isinstance(schema, dict) else None


def schema_types(schema: dict[str, Any] | None) -> list[str]:
    """Return the types a schema allows, normalised, most specific first (``string`` last)."""
    if not schema:
        return []
    raw = schema.get("type")
    found: list[str] = []
    if isinstance(raw, str):
        found.append(raw)
    elif isinstance(raw, list):
        found.extend(t for t in raw if isinstance(t, str))
    for key in ("anyOf", "oneOf"):
        for sub in schema.get(key) or ():
            if isinstance(sub, dict):
                found.extend(schema_types(sub))
    if not found and "enum" in schema:
        found.extend(_enum_types(schema["enum"]))
    types = [_TYPE_ALIASES.get(t.lower(), t.lower()) for t in found]
    ordered = [t for t in dict.fromkeys(types) if t != "string"]
    return ordered + (["string"] if "string" in types else [])


def _enum_types(values: Any) -> list[str]:
    names = {bool: "boolean", int: "integer", float: "number", str: "string"}
    return [names[type(v)] for v in values or () if type(v) in names]


def coerce_text(raw: str, schema: dict[str, Any] | None) -> Any:
    """Convert ``raw`` to the first type of ``schema`` it fits; otherwise keep the string.

    Args:
        raw: The value exactly as written between the tags.
        schema: The argument's JSON Schema, if the tool declares the argument.
    """
    text = raw.strip()
    for kind in schema_types(schema):
        if kind == "string":
            return raw
        convert = _CONVERTERS.get(kind)
        if convert is None:
            continue
        try:
            return convert(text)
        except ValueError:
            continue
    return raw


def _to_integer(text: str) -> int:
    if _INTEGER.fullmatch(text):
        return int(text)
    number = float(text)
    if not number.is_integer():
        raise ValueError(text)
    return int(number)


def _to_number(text: str) -> int | float:
    if _INTEGER.fullmatch(text):
        return int(text)
    number = float(text)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(text)  # JSON has no NaN or infinity
    return number


def _to_boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise ValueError(text)


def _to_null(text: str) -> None:
    if text.lower() in ("null", "none"):
        return None
    raise ValueError(text)


def _to_container(kind: type) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        value = _container(text)
        if isinstance(value, str):
            # Quoted once more: "{'key': 'value'}" or a JSON text given as a JSON string.
            value = _container(value)
        if not isinstance(value, kind):
            raise ValueError(text)
        return value

    return convert


def _container(text: str) -> Any:
    try:
        return loads_whole(text)
    except ValueError:
        if '\\"' not in text:
            raise
    # JSON written with its quotes escaped, as inside a JSON string: [{\"id\": 1}] (GLM).
    return loads_whole(json.loads(f'"{text.strip()}"'))


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "integer": _to_integer,
    "number": _to_number,
    "boolean": _to_boolean,
    "null": _to_null,
    "object": _to_container(dict),
    "array": _to_container(list),
}


def text_value(value: Any) -> str:
    """Write an argument value as tag formats carry it: strings raw, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def tool_for_arguments(arguments: str, tools: Sequence[ToolSpec]) -> str | None:
    """Return the one tool a call with these arguments can be meant for, or ``None``.

    For a call whose text does not say which function it calls (kimi's odd call ids): the only
    tool offered, or else the only one whose schema the arguments fit, every argument being
    one the tool declares. Two tools that fit are never guessed between.
    """
    if len(tools) == 1:
        return tools[0].name
    try:
        args = loads_whole(arguments) if arguments.strip() else {}
    except ValueError:
        return None
    if not isinstance(args, dict):
        return None
    fits = [t.name for t in tools if _fits(args, t)]
    return fits[0] if len(fits) == 1 else None


def _fits(args: dict[str, Any], tool: ToolSpec) -> bool:
    props = tool.parameters.get("properties")
    declared = props if isinstance(props, dict) else {}
    if any(key not in declared for key in args):
        return False
    from callisto.engine.toolschema import local_validator  # jsonschema: only when needed

    try:
        return bool(local_validator(tool.parameters).is_valid(args))
    except Exception:  # a schema jsonschema cannot use fits nothing
        return False
