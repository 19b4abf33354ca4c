"""Tool calls are checked against the offered tools before they reach the client."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from callisto.engine.toolcheck import check_calls
from callisto.providers.base import ToolCall, ToolSpec

WEATHER = ToolSpec(
    name="get_weather",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
        "required": ["city"],
        "additionalProperties": False,
    },
)
NO_ARGS = ToolSpec(name="now", parameters={"type": "object", "properties": {}})


def check(name: str, arguments: str) -> tuple[list[ToolCall], list[str]]:
    valid, problems = check_calls(
        [ToolCall(id="call_1", name=name, arguments=arguments)], (WEATHER, NO_ARGS)
    )
    return valid, [p.message for p in problems]


def test_valid_call_passes_unchanged() -> None:
    valid, problems = check("get_weather", '{"city": "Oslo", "days": 2}')
    assert problems == [] and valid[0].arguments == '{"city": "Oslo", "days": 2}'


def test_empty_arguments_become_an_empty_object() -> None:
    valid, problems = check("now", "")
    assert problems == [] and valid[0].arguments == "{}"


def test_unknown_tool_names_the_offered_ones() -> None:
    _, [problem] = check("get_wether", "{}")
    assert "get_wether" in problem and "get_weather" in problem


def test_invalid_json_and_non_object() -> None:
    _, [problem] = check("get_weather", '{"city": ')
    assert "not valid JSON" in problem
    _, [problem] = check("get_weather", '["Oslo"]')
    assert "must be a JSON object" in problem


def test_schema_violations_name_the_field() -> None:
    _, [problem] = check("get_weather", '{"city": "Oslo", "days": 0}')
    assert "days" in problem
    _, [problem] = check("get_weather", '{"town": "Oslo"}')
    assert "city" in problem or "town" in problem


def test_good_siblings_survive_a_bad_call() -> None:
    calls = [
        ToolCall(id="a", name="get_weather", arguments='{"city": "A"}'),
        ToolCall(id="b", name="nope", arguments="{}"),
    ]
    valid, problems = check_calls(calls, (WEATHER,))
    assert [c.id for c in valid] == ["a"] and [p.call.id for p in problems] == ["b"]


def test_a_stored_external_reference_is_never_fetched(tmp_path: Any) -> None:
    # A schema stored before external references were refused: the check reports it and
    # neither reaches the listener nor reads the file.
    secret = tmp_path / "secret.json"
    secret.write_text('{"x": {"type": "integer", "description": "s3cr3t"}}')
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(0.05)
        port = listener.getsockname()[1]
        for ref in (f"http://127.0.0.1:{port}/s.json#/x", f"file://{secret}#/x"):
            spec = ToolSpec(
                name="f", parameters={"type": "object", "properties": {"a": {"$ref": ref}}}
            )
            valid, problems = check_calls(
                [ToolCall(id="c", name="f", arguments='{"a": 1}')], (spec,)
            )
            assert valid == [] and "cannot be resolved" in problems[0].message
            assert "s3cr3t" not in problems[0].message
        with pytest.raises(TimeoutError):
            listener.accept()
