"""A fast "is this surely valid?" check for the common subset of JSON Schema.

``jsonschema`` takes ~35 us to validate even a three-field object, far over our 20 us budget
per call. Most tool schemas use a small subset (types, properties, required, enums of strings,
numeric and length bounds, items), so for those we compile a plain Python predicate once. It is
only ever used to *accept*: when it says no, or the schema uses anything outside the subset,
``jsonschema`` decides and writes the error messages. So the predicate must never accept what
``jsonschema`` would refuse; a false "no" only costs time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

# Keywords that never affect validity (``format`` is an annotation unless a checker is given).
_ANNOTATIONS = frozenset(
    {"$comment", "default", "deprecated", "description", "examples", "format", "readOnly", "title",
     "writeOnly"}
)  # fmt: skip
_SUPPORTED = _ANNOTATIONS | {
    "additionalProperties",
    "enum",
    "exclusiveMaximum",
    "exclusiveMinimum",
    "items",
    "maxItems",
    "maxLength",
    "maximum",
    "minItems",
    "minLength",
    "minimum",
    "properties",
    "required",
    "type",
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPES: dict[str, Check] = {
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: _is_number(v) and (isinstance(v, int) or float(v).is_integer()),
    "null": lambda v: v is None,
    "number": _is_number,
    "object": lambda v: isinstance(v, dict),
    "string": lambda v: isinstance(v, str),
}


class _Unsupported(Exception):
    """The schema uses something the fast path doesn't cover."""


def compile_fast_accept(schema: Any) -> Check | None:
    """Compile ``schema`` into a predicate that is true only for valid values.

    Args:
        schema: A JSON Schema.

    Returns:
        The predicate, or ``None`` when the schema uses something outside the subset.
    """
    try:
        return _compile(schema)
    except _Unsupported:
        return None


def _compile(schema: Any) -> Check:
    if not isinstance(schema, dict) or not set(schema) <= _SUPPORTED:
        raise _Unsupported
    builders = (_type_check, _enum_check, _number_checks, _length_checks, _object_check)
    checks = [check for build in (*builders, _array_check) if (check := build(schema)) is not None]
    return lambda value: all(check(value) for check in checks)


def _type_check(schema: dict[str, Any]) -> Check | None:
    declared = schema.get("type")
    if declared is None:
        return None
    names = declared if isinstance(declared, list) else [declared]
    if not all(isinstance(n, str) and n in _TYPES for n in names):
        raise _Unsupported
    tests = [_TYPES[n] for n in names]
    return tests[0] if len(tests) == 1 else lambda v: any(t(v) for t in tests)


def _enum_check(schema: dict[str, Any]) -> Check | None:
    if "enum" not in schema:
        return None
    options = schema["enum"]
    # Only string enums: equality between bools and numbers differs from JSON Schema's.
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise _Unsupported
    allowed = frozenset(options)
    return lambda v: isinstance(v, str) and v in allowed


def _number_checks(schema: dict[str, Any]) -> Check | None:
    bounds: list[tuple[Callable[[Any, Any], bool], Any]] = []
    comparisons: tuple[tuple[str, Callable[[Any, Any], bool]], ...] = (
        ("minimum", lambda v, b: v >= b),
        ("maximum", lambda v, b: v <= b),
        ("exclusiveMinimum", lambda v, b: v > b),
        ("exclusiveMaximum", lambda v, b: v < b),
    )
    for key, test in comparisons:
        if key in schema:
            if not _is_number(schema[key]):
                raise _Unsupported
            bounds.append((test, schema[key]))
    if not bounds:
        return None
    # Bounds apply to numbers only; other values pass them (the type check is separate).
    return lambda v: not _is_number(v) or all(test(v, b) for test, b in bounds)


def _length_checks(schema: dict[str, Any]) -> Check | None:
    limits: list[tuple[type[str] | type[list[Any]], str, Callable[[int, int], bool]]] = [
        (str, "minLength", lambda n, b: n >= b),
        (str, "maxLength", lambda n, b: n <= b),
        (list, "minItems", lambda n, b: n >= b),
        (list, "maxItems", lambda n, b: n <= b),
    ]
    active = [(kind, schema[key], test) for kind, key, test in limits if key in schema]
    if not active:
        return None
    if not all(isinstance(bound, int) and not isinstance(bound, bool) for _, bound, _ in active):
        raise _Unsupported

    def check(value: Any) -> bool:
        return all(not isinstance(value, kind) or test(len(value), b) for kind, b, test in active)

    return check


def _object_check(schema: dict[str, Any]) -> Check | None:
    if not {"properties", "required", "additionalProperties"} & set(schema):
        return None
    properties = schema.get("properties", {})
    required = schema.get("required", [])
    extra = schema.get("additionalProperties", True)
    if not isinstance(properties, dict) or not isinstance(required, list):
        raise _Unsupported
    if not (isinstance(extra, dict) or extra in (True, False)):
        raise _Unsupported
    compiled = {name: _compile(sub) for name, sub in properties.items()}
    extra_check = _compile(extra) if isinstance(extra, dict) else None
    needed = tuple(required)

    def check(value: Any) -> bool:
        if not isinstance(value, dict):
            return True
        if any(name not in value for name in needed):
            return False
        for key, item in value.items():
            sub = compiled.get(key)
            if sub is not None:
                if not sub(item):
                    return False
            elif extra is False or (extra_check is not None and not extra_check(item)):
                return False
        return True

    return check


def _array_check(schema: dict[str, Any]) -> Check | None:
    if "items" not in schema:
        return None
    item_check = _compile(schema["items"])
    return lambda v: not isinstance(v, list) or all(item_check(item) for item in v)
