"""Check a call's arguments and turn them into what the function is called with.

Two binders share one shape: :class:`ModelBinder` for typed functions (a pydantic model, which
also builds the enum, dataclass and model values the function expects) and
:class:`SchemaBinder` for tools defined as dicts (a compiled ``jsonschema`` validator). Both are
built once per tool; validators are also cached per schema.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import jsonschema
import referencing
from pydantic import ValidationError

from callisto.tools._fast_accept import compile_fast_accept
from callisto.tools._function_schema import FunctionSchema
from callisto.tools._schema_walk import Schema

Bound = tuple[tuple[Any, ...], dict[str, Any]]


class ArgumentsInvalid(Exception):
    """The arguments break the schema.

    Attributes:
        errors: ``(field path, message)`` pairs, in field order.
    """

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path}: {message}" for path, message in errors))
        self.errors = errors


class Binder(Protocol):
    """Validates an arguments object and returns ``(args, kwargs)`` for the call."""

    def bind(self, arguments: Mapping[str, Any]) -> Bound:
        """Validate ``arguments``; raise :class:`ArgumentsInvalid` listing every error."""
        ...


def format_path(parts: Iterable[str | int]) -> str:
    """Render a location as ``items[0].name``; the arguments object itself is ``(arguments)``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(arguments)"


class ModelBinder:
    """Binds arguments through the pydantic model built from a function's signature.

    Args:
        schema: What :func:`describe_function` found.
        strict: Whether the model saw the strict schema, where an optional parameter is sent as
            ``null``; such a ``null`` then means "use the function's default".
    """

    def __init__(self, schema: FunctionSchema, *, strict: bool) -> None:
        self._model = schema.model
        self._parameters = schema.parameters
        self._null_means_default = frozenset(
            p.name for p in schema.parameters if strict and p.has_default and not p.accepts_none
        )

    def bind(self, arguments: Mapping[str, Any]) -> Bound:
        """Validate and convert ``arguments``; see :class:`Binder`."""
        if self._null_means_default:
            arguments = {
                key: value
                for key, value in arguments.items()
                if not (value is None and key in self._null_means_default)
            }
        try:
            values = self._model.model_validate(arguments)
        except ValidationError as exc:
            raise ArgumentsInvalid(
                [(format_path(error["loc"]), error["msg"]) for error in exc.errors()]
            ) from None
        given = values.model_fields_set
        args = tuple(getattr(values, p.field) for p in self._parameters if p.positional_only)
        # Only what the model sent is passed by keyword, so the function's own defaults apply.
        kwargs = {
            p.name: getattr(values, p.field)
            for p in self._parameters
            if not p.positional_only and p.field in given
        }
        return args, kwargs


class SchemaBinder:
    """Binds arguments of a dict-defined tool by JSON Schema validation only.

    Args:
        schema: The (normalised) JSON Schema of the arguments object.
    """

    def __init__(self, schema: Schema) -> None:
        self._validator = compiled_validator(schema)
        self._surely_valid = compile_fast_accept(schema)

    def bind(self, arguments: Mapping[str, Any]) -> Bound:
        """Validate ``arguments``; the handler is called with them as keywords."""
        if self._surely_valid is not None and self._surely_valid(arguments):
            return (), dict(arguments)
        errors = sorted(
            self._validator.iter_errors(arguments), key=lambda e: [str(p) for p in e.absolute_path]
        )
        if errors:
            raise ArgumentsInvalid([(format_path(e.absolute_path), e.message) for e in errors])
        return (), dict(arguments)


def compiled_validator(schema: Schema) -> Any:
    """Return a ready ``jsonschema`` validator for ``schema``, compiled once per distinct schema.

    Args:
        schema: A JSON Schema; equal schemas (by canonical JSON) share one validator.

    Returns:
        A validator instance of the draft the schema declares (2020-12 when it says nothing).
    """
    return _compile(json.dumps(schema, sort_keys=True, separators=(",", ":")))


@functools.lru_cache(maxsize=1024)
def _compile(canonical: str) -> Any:
    schema = json.loads(canonical)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(schema)
    # An empty registry: references resolve only inside the schema, and nothing is fetched.
    return cls(schema, registry=referencing.Registry())
