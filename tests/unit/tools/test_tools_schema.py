"""@tool: JSON Schema from signatures, type hints and docstrings; strict mode; errors at once."""

from __future__ import annotations

import dataclasses
import enum
from typing import Annotated, Any, Literal

import annotated_types
import jsonschema
import pytest
from pydantic import BaseModel, Field

from callisto.tools import Tool, ToolSignatureError, tool
from callisto.tools._arguments import ArgumentsInvalid


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


@dataclasses.dataclass
class Point:
    lat: float
    lon: float


class Filters(BaseModel):
    tags: list[str] = []
    limit: int = 10


DEFAULT_FILTERS = Filters()


class Tree(BaseModel):
    value: int
    children: list[Tree] = []


def props(t: Tool[..., Any]) -> dict[str, Any]:
    return t.definition.parameters["properties"]  # type: ignore[no-any-return]


def test_plain_types_defaults_and_required() -> None:
    @tool
    def f(a: str, b: int, c: float = 1.5, d: bool = False, e: list[int] | None = None) -> None:
        """Summary line."""

    schema = f.definition.parameters
    assert schema["type"] == "object"
    assert schema["required"] == ["a", "b"]
    assert props(f)["a"] == {"type": "string"}
    assert props(f)["b"] == {"type": "integer"}
    assert props(f)["c"] == {"type": "number", "default": 1.5}
    assert props(f)["d"]["type"] == "boolean"
    assert {"type": "null"} in props(f)["e"]["anyOf"]
    assert f.definition.description == "Summary line."
    assert f.definition.name == "f"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_literal_enum_and_annotated_constraints() -> None:
    @tool
    def f(
        mode: Literal["fast", "slow"],
        unit: Unit,
        days: Annotated[int, Field(ge=1, le=7, description="How many days")],
        ratio: Annotated[float, annotated_types.Gt(0), annotated_types.Lt(1)] = 0.5,
        code: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "LAX",
    ) -> None:
        """Doc."""

    p = props(f)
    assert p["mode"]["enum"] == ["fast", "slow"]
    assert p["unit"]["enum"] == ["celsius", "fahrenheit"]
    assert "$ref" not in str(f.definition.parameters)  # enum definitions are inlined
    assert (p["days"]["minimum"], p["days"]["maximum"]) == (1, 7)
    assert p["days"]["description"] == "How many days"
    assert (p["ratio"]["exclusiveMinimum"], p["ratio"]["exclusiveMaximum"]) == (0, 1)
    assert p["code"]["pattern"] == "^[A-Z]{3}$"


def test_models_and_dataclasses_are_inlined_and_bound_to_instances() -> None:
    @tool
    def f(where: Point, filters: Filters | None = None) -> None:
        """Doc."""

    p = props(f)
    assert p["where"]["properties"]["lat"] == {"type": "number"}
    assert "$defs" not in f.definition.parameters
    args, kwargs = f.bind({"where": {"lat": 1, "lon": 2}, "filters": {"tags": ["a"]}})
    assert args == ()
    assert kwargs["where"] == Point(1.0, 2.0)
    assert kwargs["filters"] == Filters(tags=["a"])


def test_recursive_model_keeps_defs() -> None:
    @tool
    def f(tree: Tree) -> None:
        """Doc."""

    schema = f.definition.parameters
    assert "Tree" in schema["$defs"]
    assert schema["properties"]["tree"]["properties"]["value"] == {"type": "integer"}
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate({"tree": {"value": 1, "children": [{"value": 2}]}}, schema)


def test_property_named_title_is_not_stripped() -> None:
    @tool
    def f(title: str, type: str, schema: str = "x") -> None:
        """Doc."""

    assert set(props(f)) == {"title", "type", "schema"}
    assert f.bind({"title": "t", "type": "y"}) == ((), {"title": "t", "type": "y"})


GOOGLE = """Get the weather.

    Longer explanation.

    Args:
        city: The city name.
        days: Number of days.
    """
NUMPY = """Get the weather.

    Longer explanation.

    Parameters
    ----------
    city : str
        The city name.
    days : int
        Number of days.
    """
SPHINX = """Get the weather.

    Longer explanation.

    :param city: The city name.
    :param days: Number of days.
    """


@pytest.mark.parametrize("doc", [GOOGLE, NUMPY, SPHINX], ids=["google", "numpy", "sphinx"])
def test_docstring_styles(doc: str) -> None:
    def get_weather(city: str, days: int = 1) -> str:
        return city

    get_weather.__doc__ = doc
    t = Tool.from_function(get_weather)
    assert t.definition.description == "Get the weather.\n\nLonger explanation."
    assert props(t)["city"]["description"] == "The city name."
    assert props(t)["days"]["description"] == "Number of days."


def test_options_override_name_and_description() -> None:
    @tool(name="lookup", description="Find things.", timeout=2, deterministic=True)
    def f(q: str) -> str:
        """Ignored."""
        return q

    assert f.definition.name == "lookup"
    assert f.definition.description == "Find things."
    assert (f.timeout, f.deterministic) == (2, True)
    assert f("x") == "x"  # still calls like the function


async def test_async_function_is_detected() -> None:
    @tool
    async def f(x: int) -> int:
        """Doc."""
        return x

    assert f.is_async
    assert await f(3) == 3


def test_methods_and_positional_only() -> None:
    class Service:
        def lookup(self, key: str, /, verbose: bool = False) -> str:
            """Look up."""
            return key

    t = Tool.from_function(Service().lookup)
    assert set(props(t)) == {"key", "verbose"}
    assert t.bind({"key": "k"}) == (("k",), {})


class Opaque:
    """Not a type pydantic can describe."""


def test_all_problems_reported_at_once() -> None:
    def bad(a, *args: int, b: Opaque, c: int, **kwargs: str) -> None:  # type: ignore[no-untyped-def]
        """Doc."""

    with pytest.raises(ToolSignatureError) as info:
        tool(bad)
    problems = info.value.problems
    assert len(problems) == 4
    text = str(info.value)
    for fragment in ("'a' has no type annotation", "*args", "**kwargs", "'b': unsupported type"):
        assert fragment in text
    assert isinstance(info.value, TypeError)


def test_unresolvable_forward_reference() -> None:
    def f(x: Missing) -> None:  # type: ignore[name-defined]  # noqa: F821
        """Doc."""

    with pytest.raises(ToolSignatureError, match="'Missing' can't be resolved"):
        tool(f)


def test_validation_errors_name_every_field_path() -> None:
    @tool
    def f(where: Point, days: Annotated[int, Field(le=7)], tags: list[str]) -> None:
        """Doc."""

    with pytest.raises(ArgumentsInvalid) as info:
        f.bind({"where": {"lat": "north"}, "days": 9, "tags": ["a", 3], "extra": 1})
    paths = [path for path, _ in info.value.errors]
    assert paths == ["where.lat", "where.lon", "days", "tags[1]", "extra"]


# --- strict mode -------------------------------------------------------------------------


def _assert_strict(schema: Any) -> None:
    """Walk the schema: every object closed, every property required, no refused keywords."""
    allowed = {"type", "properties", "required", "additionalProperties", "items", "enum"}
    allowed |= {"const", "anyOf", "description", "$ref", "$defs"}
    if isinstance(schema, dict):
        if schema.get("type") == "object" or "properties" in schema:
            assert schema["additionalProperties"] is False
            assert sorted(schema["required"]) == sorted(schema["properties"])
        assert set(schema) <= allowed, set(schema) - allowed
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                _assert_strict(schema[key])
        for sub in schema.get("properties", {}).values():
            _assert_strict(sub)
        for sub in schema.get("anyOf", []):
            _assert_strict(sub)
        for sub in schema.get("$defs", {}).values():
            _assert_strict(sub)


def test_strict_schema_follows_openai_rules() -> None:
    @tool(strict=True)
    def f(
        city: str,
        unit: Unit = Unit.CELSIUS,
        days: Annotated[int, Field(ge=1, le=7)] = 1,
        where: Point | None = None,
        filters: Filters = DEFAULT_FILTERS,
        note: str | None = None,
    ) -> None:
        """Doc.

        Args:
            days: Days ahead.
        """

    schema = f.definition.parameters
    _assert_strict(schema)
    assert f.definition.strict is True
    assert f.definition.openai_tool()["function"]["strict"] is True
    p = schema["properties"]
    assert p["unit"]["type"] == ["string", "null"] and None in p["unit"]["enum"]
    assert p["days"]["type"] == ["integer", "null"]
    assert "at least 1" in p["days"]["description"] and "at most 7" in p["days"]["description"]
    assert p["city"] == {"type": "string"}  # required stays non-nullable


def test_strict_null_means_default() -> None:
    @tool(strict=True)
    def f(city: str, days: int = 3, note: str | None = "n") -> tuple[int, str | None]:
        """Doc."""
        return days, note

    _, kwargs = f.bind({"city": "x", "days": None, "note": None})
    assert kwargs == {"city": "x", "note": None}  # days falls back; note really accepts None


def test_strict_refuses_what_it_cannot_express() -> None:
    def f(scores: dict[str, int], pair: tuple[int, str], anything: Any = None) -> None:
        """Doc."""

    with pytest.raises(ToolSignatureError) as info:
        tool(strict=True)(f)
    text = str(info.value)
    assert "free-form keys" in text and "tuples" in text and "any type" in text
    tool(f)  # the same function is fine outside strict mode
