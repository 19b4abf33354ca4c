"""Tool schemas are checked at bounded cost: RE2 for every pattern, limits on arrival."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from callisto.api.schemas import MAX_JSON_DEPTH, AssistantCreate, unstorable_value
from callisto.engine.toolcheck import check_calls, check_calls_off_loop
from callisto.engine.toolschema import MAX_SCHEMA_CHARS, local_validator, schema_problem
from callisto.providers.base import ToolCall, ToolSpec
from tests.integration.helpers import function_tool, nested_schema

# Python's backtracking re needs about 2**n steps for n "a"s and a "!" against this pattern.
CATASTROPHIC = "^(a+)+$"
EVIL_INPUT = "a" * 64 + "!"


def errors(schema: dict[str, Any], instance: Any) -> list[str]:
    return [e.message for e in local_validator(schema).iter_errors(instance)]


def test_catastrophic_pattern_is_matched_in_linear_time() -> None:
    schema = {"type": "string", "pattern": CATASTROPHIC}
    assert errors(schema, EVIL_INPUT) == [f"{EVIL_INPUT!r} does not match {CATASTROPHIC!r}"]
    assert errors(schema, "aaaa") == []


def test_catastrophic_property_patterns_are_matched_in_linear_time() -> None:
    schema = {
        "type": "object",
        "patternProperties": {CATASTROPHIC: {"type": "integer"}},
        "additionalProperties": False,
    }
    assert errors(schema, {"aaa": 1}) == []
    assert errors(schema, {"aaa": "x"}) == ["'x' is not of type 'integer'"]
    assert errors(schema, {EVIL_INPUT: 1}) == [
        f"Additional properties are not allowed ({EVIL_INPUT!r} was unexpected)"
    ]


def test_property_names_and_additional_schemas_still_apply() -> None:
    schema = {
        "type": "object",
        "properties": {"id": {"type": "string"}},
        "propertyNames": {"pattern": "^[a-z]+$"},
        "additionalProperties": {"type": "number"},
    }
    assert errors(schema, {"id": "x", "n": 2}) == []
    assert errors(schema, {"id": "x", "n": "two"}) == ["'two' is not of type 'number'"]
    assert errors(schema, {"ID": 1}) == ["'ID' does not match '^[a-z]+$'"]


def test_search_semantics_are_unanchored_like_json_schema() -> None:
    assert errors({"pattern": "b"}, "abc") == []
    assert errors({"pattern": "^b"}, "abc") != []


async def test_model_arguments_with_a_catastrophic_pattern_are_refused_promptly() -> None:
    spec = ToolSpec(
        name="lookup",
        parameters={
            "type": "object",
            "properties": {"code": {"type": "string", "pattern": CATASTROPHIC}},
        },
    )
    call = ToolCall(id="call_1", name="lookup", arguments='{"code": "' + EVIL_INPUT + '"}')
    valid, problems = await check_calls_off_loop([call], (spec,))
    assert valid == [] and "does not match" in problems[0].message


def test_a_stored_schema_with_an_unusable_pattern_is_reported_not_raised() -> None:
    # Schemas stored before patterns were checked on arrival may hold a backreference.
    spec = ToolSpec(name="old", parameters={"type": "string", "pattern": r"(a)\1"})
    valid, problems = check_calls([ToolCall(id="c", name="old", arguments='"aa"')], (spec,))
    assert valid == [] and problems  # a JSON string is not an object either way
    spec = ToolSpec(
        name="old", parameters={"type": "object", "properties": {"x": {"pattern": r"(a)\1"}}}
    )
    valid, problems = check_calls([ToolCall(id="c", name="old", arguments='{"x": "aa"}')], (spec,))
    assert valid == [] and "cannot be checked" in problems[0].message


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        ({"type": "string", "pattern": r"(a)\1"}, "pattern at '/pattern'"),
        ({"patternProperties": {"(?=x)": {}}}, "pattern at '/patternProperties/(?=x)'"),
        ({"$ref": "#"}, "refers to itself"),
        (
            {
                "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}},
                "$ref": "#/$defs/a",
            },
            "refers to itself",
        ),
        (
            {"unevaluatedProperties": False, "patternProperties": {"^a": {}}},
            "unevaluatedProperties",
        ),
        ({"enum": ["x" * MAX_SCHEMA_CHARS]}, "the limit is"),
    ],
)
def test_unusable_schemas_are_named(schema: dict[str, Any], words: str) -> None:
    problem = schema_problem(schema)
    assert problem is not None and words in problem


def test_usable_schemas_pass() -> None:
    schema = {
        "type": "object",
        "properties": {"code": {"type": "string", "pattern": r"^[A-Z]{3}\d+$"}},
        "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}}},
        "patternProperties": {"^x-": {"type": "string"}},
    }
    assert schema_problem(schema) is None


def refusal(**body: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        AssistantCreate.model_validate({"model": "m", **body})
    return str(caught.value)


def test_tools_are_limited_on_arrival() -> None:
    assert "levels deep" in refusal(tools=[function_tool(parameters=nested_schema(100))])
    assert "at most 128" in refusal(tools=[function_tool(f"f{i}") for i in range(129)])
    assert "two tools are named 'f'" in refusal(tools=[function_tool(), function_tool()])
    assert "String should match pattern" in refusal(tools=[function_tool("has space")])
    assert "not a valid JSON Schema" in refusal(tools=[function_tool(parameters={"type": 5})])
    AssistantCreate.model_validate(
        {"model": "m", "tools": [function_tool(f"f{i}") for i in range(128)]}
    )
    AssistantCreate.model_validate(
        {"model": "m", "tools": [function_tool(parameters=nested_schema(MAX_JSON_DEPTH // 2 - 4))]}
    )


def test_a_schema_nested_to_the_limit_can_be_validated() -> None:
    # The depth limit keeps jsonschema's recursion (several frames per level) far from Python's.
    schema = nested_schema(MAX_JSON_DEPTH)
    instance: Any = "x"
    for _ in range(MAX_JSON_DEPTH):
        instance = [instance]
    assert errors(schema, instance) == []


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"a": "x\ud800y"}, "lone surrogate"),
        ({"\udfff": 1}, "lone surrogate"),
        (["x\x00"], "NUL"),
        ({"n": float("nan")}, "not finite"),
        ([[[[]]]], None),
    ],
)
def test_unstorable_values(value: Any, words: str | None) -> None:
    problem = unstorable_value(value)
    assert (problem is None) if words is None else (problem is not None and words in problem)


def test_depth_limit_is_exact() -> None:
    at_limit: Any = []
    for _ in range(MAX_JSON_DEPTH - 1):
        at_limit = [at_limit]
    assert unstorable_value(at_limit) is None
    problem = unstorable_value([at_limit])
    assert problem is not None and re.search(r"more than \d+ levels deep", problem)


async def test_large_arguments_are_checked_in_a_worker_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    from callisto.engine import toolcheck

    handed_off: list[int] = []
    to_thread = asyncio.to_thread

    async def counting(func: Any, /, *args: Any) -> Any:
        handed_off.append(1)
        return await to_thread(func, *args)

    monkeypatch.setattr(toolcheck.asyncio, "to_thread", counting)
    spec = ToolSpec(
        name="note",
        parameters={
            "type": "object",
            "properties": {"text": {"type": "string", "pattern": CATASTROPHIC}},
        },
    )
    small = ToolCall(id="a", name="note", arguments='{"text": "aaa"}')
    large = ToolCall(id="b", name="note", arguments='{"text": "' + "a" * 5000 + '!"}')
    valid, problems = await check_calls_off_loop([small], (spec,))
    assert valid == [small] and problems == [] and handed_off == []
    valid, problems = await check_calls_off_loop([large], (spec,))
    assert valid == [] and "does not match" in problems[0].message and handed_off == [1]
