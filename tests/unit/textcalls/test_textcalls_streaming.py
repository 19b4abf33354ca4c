# ruff: noqa: RUF001  (DeepSeek's DSML tokens really are spelled with full-width bars)
"""Streaming gives what whole-text parsing gives, however the reply is cut into pieces."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textcall_cases import (
    ALL_TYPES,
    CASE_IDS,
    CASES,
    TOOLS,
    TRICKY_CITY,
    FamilyCase,
    feed_in_pieces,
)

from callisto.providers.base import TextDelta, ToolCallDelta
from callisto.providers.textcalls import TextCallParser, get_family, parse_text

SETTINGS = settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def replies(case: FamilyCase) -> list[str]:
    before = "Checking <now> [1] {x} `code`.\n" if case.text_before else ""
    return [
        before + case.write([("get_weather", {"city": TRICKY_CITY}), ("get_time", {})]) + " ok",
        case.write([("search", ALL_TYPES)]),
        case.broken_beside_good,
        case.write([("launch_rockets", {"x": 1}), ("get_time", {})]),
        "No call here, only <tags>, [TOOL and ``` fences ``` and {braces}.",
    ]


def streamed(family: str, text: str, cuts: list[int]) -> tuple[str, list[Any], list[Any]]:
    """Parse ``text`` fed in pieces cut at ``cuts``; check the event protocol on the way."""
    parser = TextCallParser(get_family(family), TOOLS)
    events = feed_in_pieces(parser, text, cuts)
    content = "".join(e.text for e in events if isinstance(e, TextDelta))
    calls = [e for e in events if isinstance(e, ToolCallDelta)]
    assert [c.index for c in calls] == list(range(len(calls)))
    assert all(c.id and c.name for c in calls)
    named = [(c.name, json.loads(c.arguments)) for c in calls]
    rejected = [(r.reason, r.name, r.text) for r in parser.rejected]
    return content, named, rejected


def whole(family: str, text: str) -> tuple[str, list[Any], list[Any]]:
    result = parse_text(text, get_family(family), TOOLS)
    named = [(c.name, json.loads(c.arguments)) for c in result.calls]
    return result.content, named, [(r.reason, r.name, r.text) for r in result.rejected]


FAMILIES_AND_AUTO = [(c, f) for c in CASES for f in (c.family, "auto")]
IDS = [f"{c.family}-as-{f}" for c, f in FAMILIES_AND_AUTO]


@pytest.mark.parametrize(("case", "family"), FAMILIES_AND_AUTO, ids=IDS)
@SETTINGS
@given(data=st.data())
def test_random_splits_match_whole_text(case: FamilyCase, family: str, data: st.DataObject) -> None:
    for text in replies(case):
        cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=25))
        assert streamed(family, text, cuts) == whole(family, text)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_one_character_at_a_time(case: FamilyCase) -> None:
    for text in replies(case):
        cuts = list(range(len(text)))
        assert streamed(case.family, text, cuts) == whole(case.family, text)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_content_never_holds_call_text(case: FamilyCase) -> None:
    for text in replies(case)[:2]:
        content, named, _ = streamed(case.family, text, list(range(0, len(text), 3)))
        assert named
        for fragment in ("get_weather", "get_time", "search", "Zürich", '"name"'):
            assert fragment not in content


def test_possible_marker_is_held_back_until_known() -> None:
    parser = TextCallParser(get_family("hermes"), TOOLS)
    assert parser.feed("Hello <tool") == [TextDelta("Hello ")]
    assert parser.feed("_ca") == []
    assert parser.feed('ll>{"name": "get_time"') == []
    call, text = parser.feed("}</tool_call> bye")
    assert isinstance(call, ToolCallDelta)
    assert (call.index, call.name, call.arguments) == (0, "get_time", "{}")
    assert text == TextDelta(" bye")


def test_held_back_text_is_released_when_it_diverges() -> None:
    parser = TextCallParser(get_family("hermes"), TOOLS)
    assert parser.feed("a <tool") == [TextDelta("a ")]
    assert parser.feed("box>") == [TextDelta("<toolbox>")]
    assert parser.finish() == []


def test_held_back_tail_is_released_at_the_end() -> None:
    parser = TextCallParser(get_family("auto"), TOOLS)
    assert parser.feed("see [TOOL") == [TextDelta("see ")]
    assert parser.finish() == [TextDelta("[TOOL")]


def test_call_events_arrive_when_the_call_closes() -> None:
    parser = TextCallParser(get_family("hermes"), TOOLS)
    assert parser.feed('<tool_call>{"name": "get_time", "arguments": {}}') == []
    events = parser.feed("</tool_call>")
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, ToolCallDelta)
    assert (event.index, event.name, event.arguments) == (0, "get_time", "{}")
    assert event.id is not None and event.id.startswith("call_")


def test_feed_after_finish_is_an_error() -> None:
    parser = TextCallParser(get_family("hermes"), TOOLS)
    parser.finish()
    with pytest.raises(RuntimeError):
        parser.feed("x")
    assert parser.finish() == []


# Arguments of every JSON shape survive every JSON family, however they are cut.

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
ARGUMENTS = st.dictionaries(
    st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True), JSON_VALUES, max_size=4
)
TYPED_BY_SCHEMA = ("qwen3_xml", "glm45", "minimax_m2", "seed_oss", "step3")
JSON_FAMILIES = [
    c
    for c in CASES
    # Values typed by schema: below. FunctionGemma writes keys bare: its own test.
    if c.family not in (*TYPED_BY_SCHEMA, "function_gemma")
]


@pytest.mark.parametrize("case", JSON_FAMILIES, ids=[c.family for c in JSON_FAMILIES])
@SETTINGS
@given(args=ARGUMENTS, data=st.data())
def test_any_json_arguments_round_trip(
    case: FamilyCase, args: dict[str, Any], data: st.DataObject
) -> None:
    text = case.write([("anything", args), ("get_time", {})])
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=10))
    parser_result = streamed_unchecked(case.family, text, cuts)
    assert parser_result == [("anything", args), ("get_time", {})]


def streamed_unchecked(family: str, text: str, cuts: list[int]) -> list[Any]:
    events = feed_in_pieces(TextCallParser(get_family(family), tools=None), text, cuts)
    return [(e.name, json.loads(e.arguments)) for e in events if isinstance(e, ToolCallDelta)]


TAG_SAFE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="<"), max_size=15
).filter(lambda s: s.strip() == s and s.lower() not in ("null", "none"))
TYPED_SEARCH = st.fixed_dictionaries(
    {},
    optional={
        "query": TAG_SAFE_TEXT,
        "limit": st.integers(-1000, 10**12),
        "exact": st.booleans(),
        "score": st.floats(allow_nan=False, allow_infinity=False),
        "filters": st.dictionaries(st.text(max_size=4), JSON_SCALARS, max_size=3),
        "tags": st.lists(st.text(max_size=5), max_size=3),
        "note": st.none() | TAG_SAFE_TEXT,
    },
)
TAG_FAMILIES = [c for c in CASES if c.family in (*TYPED_BY_SCHEMA, "deepseek_v32")]


@pytest.mark.parametrize("case", TAG_FAMILIES, ids=[c.family for c in TAG_FAMILIES])
@SETTINGS
@given(args=TYPED_SEARCH, data=st.data())
def test_schema_typed_values_round_trip(
    case: FamilyCase, args: dict[str, Any], data: st.DataObject
) -> None:
    text = case.write([("search", args)])
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=10))
    _, named, rejected = streamed(case.family, text, cuts)
    assert named == [("search", args)]
    assert not rejected


# Any text, built from the formats' own pieces and junk, parses without error, and streams
# the same as it parses whole.

PIECES = st.sampled_from(
    [
        "<tool_call>",
        "</tool_call>",
        "<function=get_weather>",
        "<function=",
        "</function>",
        "<parameter=city>",
        "<parameter=days>",
        "</parameter>",
        "<seed:tool_call>",
        "</seed:tool_call>",
        "<minimax:tool_call>",
        "</minimax:tool_call>",
        '<invoke name="search">',
        "</invoke>",
        '<parameter name="query">',
        "<｜DSML｜function_calls>",
        '<｜DSML｜invoke name="get_time">',
        '<｜DSML｜parameter name="x" string="false">',
        "[TOOL_CALLS]",
        "get_time",
        "[ARGS]",
        "<|python_tag|>",
        "<|channel|>",
        "<|message|>",
        "commentary to=functions.get_time ",
        "analysis",
        "<|call|>",
        "<|end|>",
        "<|start|>",
        "<think>",
        "</think>",
        "<|tool_call_start|>",
        "<|tool_call_end|>",
        "<function_calls>",
        "</function_calls>",
        "<tool_calls>",
        "</tool_calls>",
        "<function_call>",
        "functools",
        "<start_function_call>",
        "call:get_time{",
        "<escape>",
        "<end_function_call>",
        "<|tool_calls_section_begin|>",
        "<|tool_call_begin|>",
        "functions.get_time:0",
        "<|tool_call_argument_begin|>",
        "function call<|role_sep|>",
        "<arg_key>",
        "<arg_value>",
        '{"name": "get_time", "arguments": {}}',
        '{"city": "Oslo"}',
        "[",
        "]",
        "{",
        "}",
        "(",
        ")",
        '"',
        "'",
        ",",
        ":",
        "\n",
        " ",
        "get_weather(city='x')",
        "```json\n",
        "```",
    ]
)
JUNK = st.text(alphabet="ab<>/=|{}[]\"' \n", max_size=4)


@pytest.mark.parametrize("family", [*CASE_IDS, "auto"])
@settings(max_examples=60, derandomize=True, deadline=None)
@given(parts=st.lists(PIECES | JUNK, max_size=14), data=st.data())
def test_any_text_parses_and_streams_alike(
    family: str, parts: list[str], data: st.DataObject
) -> None:
    text = "".join(parts)
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=10))
    assert streamed_unchecked_all(family, text, cuts) == streamed_unchecked_all(family, text, [])


def streamed_unchecked_all(family: str, text: str, cuts: list[int]) -> tuple[str, list[Any]]:
    events = feed_in_pieces(TextCallParser(get_family(family), TOOLS), text, cuts)
    content = "".join(e.text for e in events if isinstance(e, TextDelta))
    return content, [(e.name, e.arguments) for e in events if isinstance(e, ToolCallDelta)]
