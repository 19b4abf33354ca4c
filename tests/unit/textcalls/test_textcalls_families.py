"""Every family, on the same list of situations: no call, calls, odd values, broken calls."""

from __future__ import annotations

import json

import pytest
from textcall_cases import ALL_TYPES, CASE_IDS, CASES, TOOLS, TRICKY_CITY, FamilyCase

from callisto.providers.textcalls import ParseResult, get_family, parse_text


def parse(case: FamilyCase, text: str, family: str | None = None) -> ParseResult:
    return parse_text(text, get_family(family or case.family), TOOLS)


def named_args(result: ParseResult) -> list[tuple[str, object]]:
    return [(c.name, json.loads(c.arguments)) for c in result.calls]


FAMILIES = pytest.mark.parametrize("case", CASES, ids=CASE_IDS)


@FAMILIES
def test_no_call_is_plain_content(case: FamilyCase) -> None:
    text = "The weather in Paris is mild; {braces} and [brackets] stay text. <b>ok</b>"
    result = parse(case, text)
    assert result.content == text
    assert result.calls == ()
    assert result.rejected == ()


@FAMILIES
def test_one_call(case: FamilyCase) -> None:
    result = parse(case, case.write([("get_weather", {"city": "Paris", "days": 3})]))
    assert named_args(result) == [("get_weather", {"city": "Paris", "days": 3})]
    assert result.content.strip() == ""
    assert result.calls[0].id


@FAMILIES
def test_parallel_calls_keep_their_order(case: FamilyCase) -> None:
    calls = [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {}),
        ("get_weather", {"city": "Oslo"}),
    ]
    result = parse(case, case.write(calls))
    assert named_args(result) == calls
    assert len({c.id for c in result.calls}) == 3


@FAMILIES
def test_all_json_types(case: FamilyCase) -> None:
    result = parse(case, case.write([("search", ALL_TYPES)]))
    assert named_args(result) == [("search", ALL_TYPES)]


@FAMILIES
def test_no_arguments_give_empty_object(case: FamilyCase) -> None:
    result = parse(case, case.write([("get_time", {})]))
    assert [(c.name, c.arguments) for c in result.calls] == [("get_time", "{}")]


@FAMILIES
def test_text_around_the_call_is_content(case: FamilyCase) -> None:
    before = "Let me check that for you.\n" if case.text_before else ""
    text = before + case.write([("get_weather", {"city": "Paris"})]) + "\nOne moment."
    result = parse(case, text)
    assert named_args(result) == [("get_weather", {"city": "Paris"})]
    assert result.content.split() == (before + "One moment.").split()


@FAMILIES
def test_escaped_quotes_and_unicode_survive(case: FamilyCase) -> None:
    result = parse(case, case.write([("get_weather", {"city": TRICKY_CITY})]))
    assert named_args(result) == [("get_weather", {"city": TRICKY_CITY})]
    assert "Zürich 東京 😀" in result.calls[0].arguments  # UTF-8, not \\u escapes


@FAMILIES
def test_broken_call_keeps_good_sibling(case: FamilyCase) -> None:
    result = parse(case, case.broken_beside_good)
    assert named_args(result) == [("get_time", {})]
    assert result.rejected, "the broken call is reported"
    assert all(r.reason == "malformed" for r in result.rejected)
    assert "get_weather" not in result.content


@FAMILIES
def test_unknown_tool_is_not_a_call(case: FamilyCase) -> None:
    text = case.write([("launch_rockets", {"target": "moon"})])
    result = parse(case, text)
    assert result.calls == ()
    if case.weak:
        # Ordinary-looking text that names no offered tool is the model's answer.
        assert result.content == text
    else:
        assert "launch_rockets" not in result.content
        assert [(r.reason, r.name) for r in result.rejected] == [("unknown_tool", "launch_rockets")]


@FAMILIES
def test_unknown_tool_beside_known_one(case: FamilyCase) -> None:
    result = parse(case, case.write([("launch_rockets", {}), ("get_time", {})]))
    assert named_args(result) == [("get_time", {})]
    assert "launch_rockets" not in result.content
    assert [r.name for r in result.rejected] == ["launch_rockets"]


@FAMILIES
def test_auto_detects_the_family(case: FamilyCase) -> None:
    calls = [("get_weather", {"city": TRICKY_CITY}), ("search", ALL_TYPES)]
    result = parse(case, case.write(calls), family="auto")
    assert named_args(result) == calls


@FAMILIES
def test_no_tools_offered_means_no_calls(case: FamilyCase) -> None:
    text = case.write([("get_time", {})])
    result = parse_text(text, get_family(case.family), tools=())
    assert result.calls == ()


@FAMILIES
def test_unchecked_names_when_tools_unknown(case: FamilyCase) -> None:
    result = parse_text(case.write([("anything", {"x": 1})]), get_family(case.family), None)
    assert [c.name for c in result.calls] == ["anything"]
