"""Turn a Python function's signature, type hints and docstring into a pydantic model.

Pydantic does the type work (``Literal``, enums, ``Annotated`` constraints, models,
dataclasses, optionals); this module only gathers the parameters, reads the docstring (Google,
numpy or Sphinx style, via ``docstring_parser``) and collects *every* problem before failing.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import docstring_parser
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from pydantic.errors import PydanticSchemaGenerationError, PydanticUserError
from pydantic.fields import FieldInfo

from callisto.tools._schema_walk import Schema, inline_refs, strip_titles

# A parameter is stored under a safe field name and reached by its real name through the alias,
# so parameters called ``schema`` or ``model_config`` can't clash with BaseModel attributes.
_FIELD_PREFIX = "p"


@dataclass(frozen=True, slots=True)
class Parameter:
    """One parameter of the function, as the validator will fill it.

    Attributes:
        name: The parameter's name in the signature (and in the arguments object).
        field: The field name in the arguments model.
        positional_only: Whether it must be passed by position.
        has_default: Whether the function has a default for it.
        accepts_none: Whether ``None`` is a valid value for its type.
    """

    name: str
    field: str
    positional_only: bool
    has_default: bool
    accepts_none: bool


@dataclass(frozen=True, slots=True)
class FunctionSchema:
    """What :func:`describe_function` learned about a function.

    Attributes:
        description: The docstring's summary and body, or ``None``.
        model: The pydantic model of the arguments object.
        parameters: The parameters, in signature order.
        json_schema: The arguments' JSON Schema with ``$ref`` inlined and titles dropped.
    """

    description: str | None
    model: type[BaseModel]
    parameters: tuple[Parameter, ...]
    json_schema: Schema


def describe_function(
    function: Callable[..., Any], name: str
) -> tuple[FunctionSchema | None, list[str]]:
    """Build the arguments model and JSON Schema of ``function``.

    Args:
        function: A plain function, bound method or other callable with a signature.
        name: The tool name, used to name the generated model.

    Returns:
        ``(schema, [])`` on success, or ``(None, problems)`` listing every unsupported part.
    """
    problems: list[str] = []
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError) as exc:
        return None, [f"its signature can't be read: {exc}"]
    hints = _resolve_hints(function, signature, problems)

    docs = docstring_parser.parse(inspect.getdoc(function) or "")
    param_docs = {p.arg_name: p.description for p in docs.params if p.description}
    fields: dict[str, Any] = {}
    parameters: list[Parameter] = []
    for index, param in enumerate(signature.parameters.values()):
        field_name = f"{_FIELD_PREFIX}{index}"
        spec = _field_for(param, hints, param_docs.get(param.name), problems)
        if spec is None:
            continue
        annotation, info, accepts_none = spec
        fields[field_name] = (annotation, info)
        parameters.append(
            Parameter(
                name=param.name,
                field=field_name,
                positional_only=param.kind is inspect.Parameter.POSITIONAL_ONLY,
                has_default=param.default is not inspect.Parameter.empty,
                accepts_none=accepts_none,
            )
        )
    if problems:
        return None, problems

    model = create_model(
        f"{name}_arguments",
        __config__=ConfigDict(extra="forbid", populate_by_name=False),
        **fields,
    )
    json_schema = inline_refs(strip_titles(model.model_json_schema(by_alias=True)))
    return (
        FunctionSchema(
            description=_description(docs),
            model=model,
            parameters=tuple(parameters),
            json_schema=json_schema,
        ),
        [],
    )


def _resolve_hints(
    function: Callable[..., Any], signature: inspect.Signature, problems: list[str]
) -> dict[str, Any]:
    """Evaluate each parameter's annotation on its own, so one bad hint doesn't hide the rest."""
    target = inspect.unwrap(function)
    namespace = getattr(target, "__globals__", {})
    hints: dict[str, Any] = {}
    for param in signature.parameters.values():
        annotation = param.annotation
        if annotation is inspect.Parameter.empty:
            continue
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, namespace)  # what typing.get_type_hints does too
            except Exception as exc:  # NameError, SyntaxError, ...: all reported the same way
                problems.append(
                    f"parameter {param.name!r}: annotation {param.annotation!r} can't be resolved "
                    f"({exc}); types used in tool signatures must be importable at module level"
                )
                continue
        hints[param.name] = annotation
    return hints


def _field_for(
    param: inspect.Parameter,
    hints: dict[str, Any],
    doc: str | None,
    problems: list[str],
) -> tuple[Any, FieldInfo, bool] | None:
    """Return ``(annotation, FieldInfo, accepts_none)`` for one parameter, or note why not."""
    if param.kind is inspect.Parameter.VAR_POSITIONAL:
        problems.append(f"*{param.name}: variable positional arguments can't be named by a model")
        return None
    if param.kind is inspect.Parameter.VAR_KEYWORD:
        problems.append(f"**{param.name}: variable keyword arguments have no schema")
        return None
    if param.name not in hints:
        if param.annotation is inspect.Parameter.empty:
            problems.append(f"parameter {param.name!r} has no type annotation")
        return None
    annotation = hints[param.name]
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(annotation)
        adapter.json_schema()
    except (PydanticSchemaGenerationError, PydanticUserError, TypeError, ValueError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        problems.append(f"parameter {param.name!r}: unsupported type {annotation!r} ({first_line})")
        return None

    kwargs: dict[str, Any] = {"alias": param.name}
    if doc and not _has_own_description(annotation):
        kwargs["description"] = doc
    if param.default is not inspect.Parameter.empty:
        kwargs["default"] = param.default
    return annotation, Field(**kwargs), _accepts_none(adapter)


def _has_own_description(annotation: Any) -> bool:
    """Whether ``Annotated[..., Field(description=...)]`` already describes the parameter."""
    return any(
        isinstance(meta, FieldInfo) and meta.description
        for meta in getattr(annotation, "__metadata__", ())
    )


def _accepts_none(adapter: TypeAdapter[Any]) -> bool:
    try:
        adapter.validate_python(None)
    except Exception:  # pydantic raises ValidationError, custom validators may raise anything
        return False
    return True


def _description(docs: docstring_parser.Docstring) -> str | None:
    parts = [part for part in (docs.short_description, docs.long_description) if part]
    return "\n\n".join(parts) or None
