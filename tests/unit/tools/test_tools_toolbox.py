"""Toolbox: typed and dict tools, the wire shapes, and normalising loose (BFCL) definitions."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from callisto.tools import (
    ErrorCode,
    Toolbox,
    ToolCall,
    ToolDefinition,
    ToolDefinitionError,
    ToolExecutor,
    normalize_schema,
    tool,
)

# Shapes as they appear in the Berkeley Function Calling Leaderboard's data files.
BFCL_PYTHON = {
    "name": "math.hypot",
    "description": "Calculate the Euclidean norm.",
    "parameters": {
        "type": "dict",
        "properties": {
            "x": {"type": "integer", "description": "The x-coordinate."},
            "y": {"type": "float", "description": "The y-coordinate."},
            "point": {"type": "tuple", "items": {"type": "float"}, "description": "A point."},
            "meta": {"type": "dict", "properties": {"note": {"type": "any"}}},
            "whatever": {"type": "any", "description": "Anything."},
        },
        "required": ["x", "y"],
    },
}
BFCL_JAVA = {
    "name": "SessionManager.getLoginAttempts",
    "description": "Java function.",
    "parameters": {
        "type": "dict",
        "properties": {
            "userId": {"type": "String"},
            "limit": {"type": "long"},
            "ratio": {"type": "double"},
            "options": {"type": "HashMap", "description": "Map of options."},
            "ids": {"type": "ArrayList", "items": {"type": "long"}},
            "active": {"type": "Boolean"},
            "initial": {"type": "char"},
            "custom": {"type": "Widget", "description": "A widget."},
        },
        "required": ["userId"],
    },
}


def test_normalises_bfcl_python_types_recursively() -> None:
    schema = normalize_schema(BFCL_PYTHON["parameters"])  # type: ignore[arg-type]
    jsonschema.Draft202012Validator.check_schema(schema)
    p = schema["properties"]
    assert schema["type"] == "object"
    assert p["y"]["type"] == "number"
    assert p["point"] == {"type": "array", "items": {"type": "number"}, "description": "A point."}
    assert p["meta"]["type"] == "object" and "type" not in p["meta"]["properties"]["note"]
    assert p["whatever"] == {"description": "Anything."}
    assert BFCL_PYTHON["parameters"]["type"] == "dict"  # type: ignore[index]  # input untouched


def test_normalises_java_and_js_type_names() -> None:
    p = normalize_schema(BFCL_JAVA["parameters"])["properties"]  # type: ignore[arg-type]
    assert {k: v.get("type") for k, v in p.items()} == {
        "userId": "string",
        "limit": "integer",
        "ratio": "number",
        "options": "object",
        "ids": "array",
        "active": "boolean",
        "initial": "string",
        "custom": None,
    }
    assert p["ids"]["items"] == {"type": "integer"}
    assert p["custom"]["description"] == "A widget. (type: Widget)"


def test_type_lists_are_mapped_and_deduplicated() -> None:
    schema = normalize_schema(
        {"type": "dict", "properties": {"n": {"type": ["float", "double", "null"]}}}
    )
    assert schema["properties"]["n"]["type"] == ["number", "null"]


def test_dict_tools_in_all_common_shapes() -> None:
    box = Toolbox()
    box.add_definition(BFCL_PYTHON, lambda **kw: kw["x"])
    box.add_definition(
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                "strict": True,
            },
        },
        lambda city: city,
    )
    box.add_definition({"type": "function", "name": "flat", "parameters": {}}, lambda: "f")
    assert box.names == ["math_hypot", "get_weather", "flat"]
    assert "math.hypot" in box and box.get("math.hypot") is box.get("math_hypot")
    tools = box.openai_tools()
    assert tools[0]["function"]["parameters"]["type"] == "object"
    assert tools[1]["function"]["strict"] is True and "strict" not in tools[0]["function"]
    assert box.responses_tools(["flat"]) == [
        {"type": "function", "name": "flat", "parameters": {"type": "object", "properties": {}}}
    ]


def test_dict_tool_calls_validate_and_dispatch_by_either_name() -> None:
    box = Toolbox()
    box.add_definition(BFCL_JAVA, lambda **kw: {"got": kw})
    with ToolExecutor(box) as ex:
        ok, bad, missing = ex.execute_all_sync(
            [
                ToolCall("1", "SessionManager.getLoginAttempts", '{"userId": "u", "ids": [1, 2]}'),
                ToolCall("2", "SessionManager_getLoginAttempts", '{"userId": 5, "ratio": "x"}'),
                ToolCall("3", "SessionManager_getLoginAttempts", "{}"),
            ]
        )
    assert json.loads(ok.output) == {"got": {"userId": "u", "ids": [1, 2]}}
    assert bad.code is ErrorCode.VALIDATION_ERROR
    assert "userId: 5 is not of type 'string'" in bad.message  # type: ignore[operator]
    assert "ratio: 'x' is not of type 'number'" in bad.message  # type: ignore[operator]
    assert "'userId' is a required property" in missing.message  # type: ignore[operator]


def test_bad_definitions_are_refused() -> None:
    box = Toolbox()
    with pytest.raises(ToolDefinitionError, match="needs a name"):
        box.add_definition({"parameters": {}}, lambda: None)
    with pytest.raises(ToolDefinitionError, match="invalid parameters schema"):
        box.add_definition({"name": "x", "parameters": {"type": "object", "required": 3}}, print)
    with pytest.raises(ToolDefinitionError, match="must be callable"):
        box.add_definition({"name": "x"}, "not callable")  # type: ignore[arg-type]


def test_typed_functions_and_duplicates() -> None:
    @tool
    def alpha(x: int) -> int:
        """Alpha."""
        return x

    def beta(y: str) -> str:
        """Beta."""
        return y

    box = Toolbox([alpha, beta])
    assert box.names == ["alpha", "beta"] and len(box) == 2
    assert [t.name for t in box] == ["alpha", "beta"]
    with pytest.raises(ToolDefinitionError, match="already"):
        box.add(alpha)
    box.remove("alpha")
    assert "alpha" not in box
    defn = box.definitions()[0]
    assert isinstance(defn, ToolDefinition)
    assert box.openai_tools() == [
        {
            "type": "function",
            "function": {
                "name": "beta",
                "description": "Beta.",
                "parameters": {
                    "type": "object",
                    "properties": {"y": {"type": "string"}},
                    "required": ["y"],
                    "additionalProperties": False,
                },
            },
        }
    ]
    with pytest.raises(KeyError):
        box.openai_tools(["nope"])


def test_toolbox_add_works_as_decorator() -> None:
    box = Toolbox()

    @box.add
    def gamma(z: float) -> float:
        """Gamma."""
        return z

    assert box.get("gamma") is gamma
    assert gamma(2.0) == 2.0


def test_definition_round_trip() -> None:
    d = ToolDefinition("f", "Does f.", {"type": "object", "properties": {}}, strict=None)
    spec: dict[str, Any] = d.openai_tool()
    assert spec == {
        "type": "function",
        "function": {"name": "f", "description": "Does f.", "parameters": d.parameters},
    }
