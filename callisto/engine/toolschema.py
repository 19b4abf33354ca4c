"""JSON Schemas of tools, resolved only inside themselves.

A tool's ``parameters`` come from the client. jsonschema's default reference resolution fetches
any URL a ``$ref`` names (``http://``, ``file://``), which would let a client make the server
read its own files or reach its network. So references are checked twice: a schema whose
references point outside itself is refused when the tool arrives (:func:`external_reference`),
and every validator is built on an empty registry that retrieves nothing (:func:`local_validator`),
so even a schema stored before that check can never cause a fetch.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry

# An empty registry whose retrieval fails: a reference that is not inside the schema itself
# cannot be resolved, and is never fetched.
_NO_RETRIEVAL: Registry[Any] = Registry()

_REFERENCE_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")
# Keywords whose values are data, not schemas: a "$ref" inside them is not a reference.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})
# Keywords whose values map names to schemas.
_SCHEMA_MAP_KEYWORDS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
)


def _pointer_token(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def external_reference(schema: Any) -> tuple[str, str] | None:
    """Return the JSON pointer and value of the first reference that leaves ``schema``.

    A reference stays inside the schema when it is a fragment (``#``, ``#/$defs/x``,
    ``#anchor``). Walked without recursion, so a deeply nested schema cannot exhaust the stack.

    Returns:
        ``(pointer, reference)`` of the first external reference found, or ``None``.
    """
    stack: list[tuple[str, Any]] = [("", schema)]
    while stack:
        pointer, node = stack.pop()
        if isinstance(node, list):
            stack.extend((f"{pointer}/{i}", item) for i, item in enumerate(node))
            continue
        if not isinstance(node, dict):
            continue
        for keyword in _REFERENCE_KEYWORDS:
            ref = node.get(keyword)
            if isinstance(ref, str) and not ref.startswith("#"):
                return f"{pointer}/{_pointer_token(keyword)}", ref
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
    return None


def local_validator(schema: dict[str, Any]) -> Draft202012Validator:
    """Return a validator for ``schema`` that resolves references only inside it."""
    return Draft202012Validator(schema, registry=_NO_RETRIEVAL)
