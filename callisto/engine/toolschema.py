"""JSON Schemas of tools: resolved only inside themselves, validated at bounded cost.

A tool's ``parameters`` come from the client, and the model's arguments are checked against
them on the server. Two things in a schema could otherwise hurt the server:

* References. jsonschema's default resolution fetches any URL a ``$ref`` names (``http://``,
  ``file://``), which would let a client make the server read its own files or reach its
  network. A schema whose references point outside itself is refused when the tool arrives
  (:func:`external_reference`), and every validator is built on an empty registry that
  retrieves nothing (:func:`local_validator`), so even a schema stored before that check can
  never cause a fetch.
* Regular expressions. jsonschema matches ``pattern`` and ``patternProperties`` with Python's
  ``re``, a backtracking engine: ``^(a+)+$`` against 40 ``a`` and a ``!`` takes longer than
  anyone waits, and it holds the GIL the whole time, so no time budget or thread can cut it
  short. Every validator here matches with RE2 instead (``google-re2``), whose time is linear in
  the input. A pattern RE2 cannot compile (backreferences, lookaround) is refused on arrival
  (:func:`schema_problem`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import re2
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError
from referencing import Registry

# An empty registry whose retrieval fails: a reference that is not inside the schema itself
# cannot be resolved, and is never fetched.
_NO_RETRIEVAL: Registry[Any] = Registry()

MAX_SCHEMA_CHARS = 100_000
"""The largest ``parameters`` schema of one tool, as compact JSON."""

_REFERENCE_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")
# Keywords whose values are data, not schemas: a "$ref" inside them is not a reference.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})
# Keywords whose values map names to schemas.
_SCHEMA_MAP_KEYWORDS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
)

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is the client's error, not a log line
_RE2_OPTIONS.never_capture = True  # only "does it match" is asked


class UnusablePattern(ValueError):
    """A ``pattern`` (or ``patternProperties`` key) that RE2 cannot compile."""


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> Any:
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise UnusablePattern(str(reason)) from None


def pattern_matches(pattern: str, text: str) -> bool:
    """Return whether ``pattern`` matches somewhere in ``text``, in time linear in ``text``.

    Raises:
        UnusablePattern: RE2 cannot compile ``pattern``.
    """
    return _compiled(pattern).search(text) is not None


def _pointer_token(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _schema_objects(schema: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(pointer, object)`` for every schema object inside ``schema``.

    Values of data keywords (``enum``, ``const``, ...) are not schemas and are skipped. Walked
    without recursion, so a deeply nested schema cannot exhaust the stack.
    """
    stack: list[tuple[str, Any]] = [("", schema)]
    while stack:
        pointer, node = stack.pop()
        if isinstance(node, list):
            stack.extend((f"{pointer}/{i}", item) for i, item in enumerate(node))
            continue
        if not isinstance(node, dict):
            continue
        yield pointer, node
        for key, value in node.items():
            if key in _DATA_KEYWORDS:
                continue
            child = f"{pointer}/{_pointer_token(key)}"
            if key in _SCHEMA_MAP_KEYWORDS and isinstance(value, dict):
                stack.extend(
                    (f"{child}/{_pointer_token(str(name))}", sub) for name, sub in value.items()
                )
            elif isinstance(value, dict | list):
                stack.append((child, value))


def external_reference(schema: Any) -> tuple[str, str] | None:
    """Return the JSON pointer and value of the first reference that leaves ``schema``.

    A reference stays inside the schema when it is a fragment (``#``, ``#/$defs/x``,
    ``#anchor``).

    Returns:
        ``(pointer, reference)`` of the first external reference found, or ``None``.
    """
    for pointer, node in _schema_objects(schema):
        for keyword in _REFERENCE_KEYWORDS:
            ref = node.get(keyword)
            if isinstance(ref, str) and not ref.startswith("#"):
                return f"{pointer}/{_pointer_token(keyword)}", ref
    return None


def _patterns(pointer: str, node: dict[str, Any]) -> Iterator[tuple[str, str]]:
    pattern = node.get("pattern")
    if isinstance(pattern, str):
        yield f"{pointer}/pattern", pattern
    by_pattern = node.get("patternProperties")
    if isinstance(by_pattern, dict):
        for key in by_pattern:
            yield f"{pointer}/patternProperties/{_pointer_token(str(key))}", str(key)


def schema_problem(schema: dict[str, Any]) -> str | None:
    """Return why ``schema`` cannot be used to check arguments at bounded cost, or ``None``.

    Checked: its size (:data:`MAX_SCHEMA_CHARS`), that every pattern compiles in RE2, that
    ``unevaluatedProperties`` is not combined with ``patternProperties`` (jsonschema evaluates
    that pair with Python's backtracking ``re``), and that checking an empty object ends (a
    schema that refers to itself without consuming input recurses forever). The metaschema and
    references are checked by the caller.
    """
    size = len(json.dumps(schema, separators=(",", ":")))
    if size > MAX_SCHEMA_CHARS:
        return f"it is {size} characters long as JSON; the limit is {MAX_SCHEMA_CHARS}"
    unevaluated = pattern_keyed = False
    for pointer, node in _schema_objects(schema):
        unevaluated = unevaluated or "unevaluatedProperties" in node
        pattern_keyed = pattern_keyed or isinstance(node.get("patternProperties"), dict)
        for where, pattern in _patterns(pointer, node):
            try:
                _compiled(pattern)
            except UnusablePattern as exc:
                return (
                    f"the pattern at '{where}' cannot be used ({exc}); patterns are matched "
                    "in linear time, without backreferences or lookaround"
                )
    if unevaluated and pattern_keyed:
        return "'unevaluatedProperties' together with 'patternProperties' is not supported"
    try:
        for _ in local_validator(schema).iter_errors({}):
            pass
    except RecursionError:
        return "it refers to itself without end ('$ref' cycles that never reach a type)"
    return None


def _pattern(validator: Any, pattern: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if validator.is_type(instance, "string") and not pattern_matches(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, by_pattern: Any, instance: Any, schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in by_pattern.items():
        for name, value in instance.items():
            if pattern_matches(pattern, name):
                yield from validator.descend(value, subschema, path=name, schema_path=pattern)


def _additional_properties(
    validator: Any, additional: Any, instance: Any, schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    declared = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = [
        name
        for name in instance
        if name not in declared and not any(pattern_matches(p, name) for p in patterns)
    ]
    if validator.is_type(additional, "object"):
        for name in extras:
            yield from validator.descend(instance[name], additional, path=name)
    elif additional is False and extras:
        names = ", ".join(repr(name) for name in sorted(extras))
        verb = "was" if len(extras) == 1 else "were"
        yield ValidationError(f"Additional properties are not allowed ({names} {verb} unexpected)")


BoundedValidator = validators.extend(
    Draft202012Validator,
    {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
    },
)
"""Draft 2020-12 with every regular expression matched by RE2."""


def local_validator(schema: dict[str, Any]) -> Any:
    """Return a validator for ``schema`` that resolves references only inside it, matching
    patterns with RE2."""
    return BoundedValidator(schema, registry=_NO_RETRIEVAL)
