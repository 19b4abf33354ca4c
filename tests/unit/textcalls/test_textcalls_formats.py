# ruff: noqa: RUF001  (DeepSeek's and Step's tokens really are spelled with full-width bars)
"""Details of the formats added after the first families (the shared suites cover the rest).

Every case is parsed whole and streamed at many cuts, which must agree (see ``test_textcalls_gaps``).
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from test_textcalls_gaps import calls, parse
from textcall_cases import TOOLS, WEATHER, function_gemma

from callisto.providers.textcalls import get_family, parse_text

# gpt-oss harmony


def test_harmony_final_channel_is_content_and_analysis_is_not() -> None:
    text = (
        "<|channel|>analysis<|message|>User greets; reply.<|end|>"
        "<|start|>assistant<|channel|>final<|message|>Hello there!<|return|>"
    )
    for family in ("harmony", "auto"):
        result = parse(family, text, TOOLS)
        assert (result.content, result.calls, result.rejected) == ("Hello there!", (), ())


def test_harmony_commentary_preamble_is_content() -> None:
    text = (
        "<|channel|>commentary<|message|>Checking the weather.<|end|>"
        "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
        '<|message|>{"city": "Oslo"}<|call|>'
    )
    result = parse("harmony", text, TOOLS)
    assert (result.content, calls(result)) == (
        "Checking the weather.",
        [("get_weather", {"city": "Oslo"})],
    )


def test_harmony_builtin_tool_is_not_an_offered_function() -> None:
    text = '<|channel|>analysis to=browser.search code<|message|>{"query": "x"}<|call|>'
    result = parse("harmony", text, TOOLS)
    assert result.calls == ()
    assert [(r.reason, r.name) for r in result.rejected] == [("unknown_tool", "browser.search")]


def test_harmony_call_cut_short_still_counts() -> None:
    text = "<|channel|>commentary to=functions.get_time <|constrain|>json<|message|>{}"
    assert calls(parse("harmony", text, TOOLS)) == [("get_time", {})]


# Seed-OSS, DeepSeek V3.2 DSML, Step-3


def test_seed_oss_wrapper_never_reaches_the_content() -> None:
    text = (
        "Sure.\n<seed:tool_call>\n<function=get_weather>\n<parameter=city>Paris</parameter>\n"
        "</function>\n</seed:tool_call> Done."
    )
    for family in ("seed_oss", "auto", "qwen3_xml"):
        result = parse(family, text, TOOLS)
        if family == "qwen3_xml":
            continue  # qwen3 alone does not know the wrapper; seed_oss and auto do
        assert (result.content, calls(result)) == (
            "Sure.\n Done.",
            [("get_weather", {"city": "Paris"})],
        )


def test_dsml_string_attribute_decides_the_type() -> None:
    text = (
        '<｜DSML｜function_calls>\n<｜DSML｜invoke name="search">\n'
        '<｜DSML｜parameter name="query" string="true">42</｜DSML｜parameter>\n'
        '<｜DSML｜parameter name="limit" string="false">7</｜DSML｜parameter>\n'
        '<｜DSML｜parameter name="tags" string="false">["a"]</｜DSML｜parameter>\n'
        '<｜DSML｜parameter name="score" string="false">not json</｜DSML｜parameter>\n'
        "</｜DSML｜invoke>\n</｜DSML｜function_calls>"
    )
    assert calls(parse("deepseek_v32", text, TOOLS)) == [
        ("search", {"query": "42", "limit": 7, "tags": ["a"], "score": "not json"})
    ]


def test_step3_value_typed_by_schema() -> None:
    text = (
        "<｜tool_calls_begin｜><｜tool_call_begin｜>function<｜tool_sep｜>"
        '<steptml:invoke name="get_weather"><steptml:parameter name="city">Rome</steptml:parameter>'
        '<steptml:parameter name="days">3</steptml:parameter></steptml:invoke><｜tool_call_end｜>'
        "<｜tool_calls_end｜>"
    )
    assert calls(parse("step3", text, TOOLS)) == [("get_weather", {"city": "Rome", "days": 3})]


# JSON formats


def test_tool_calls_tag_with_one_object_per_line() -> None:
    text = (
        "<tool_calls>\n"
        '{"name": "get_weather", "arguments": {"city": "Rome"}}\n'
        '{"name": "get_time", "arguments": {}}\n'
        "</tool_calls>"
    )
    for family in ("jamba", "minimax_m1", "auto"):
        assert calls(parse(family, text, TOOLS)) == [
            ("get_weather", {"city": "Rome"}),
            ("get_time", {}),
        ]


def test_phi4_functools_in_prose_stays_content() -> None:
    for text in (
        "Use functools.partial here.",
        "import functools\nfunctools [1, 2]",
        'functools[{"name": "launch_rockets", "arguments": {}}]',
    ):
        for family in ("phi4_mini", "auto"):
            result = parse(family, text, TOOLS)
            assert (result.content, result.calls) == (text, ())


def test_internlm_interpreter_action_is_not_a_call() -> None:
    text = "<|action_start|><|interpreter|>\nprint(1)<|action_end|>"
    result = parse("internlm", text, TOOLS)
    assert (result.content, result.calls) == (text, ())


def test_internlm_arguments_key_is_read_too() -> None:
    text = '<|action_start|><|plugin|>\n{"name": "get_time", "arguments": {}}<|action_end|>'
    assert calls(parse("internlm", text, TOOLS)) == [("get_time", {})]


def test_gigachat_message_separator_is_removed() -> None:
    text = 'One moment.<|message_sep|>\n\nfunction call<|role_sep|>\n{"name": "get_time", "arguments": {}}'
    for family in ("gigachat3", "auto"):
        result = parse(family, text, TOOLS)
        assert (result.content.strip(), calls(result)) == ("One moment.", [("get_time", {})])


def test_granite_20b_calls_without_closing_tags() -> None:
    text = 'Ok.\n<function_call> {"name": "get_time", "arguments": {}}\nDone.'
    result = parse("granite_20b_fc", text, TOOLS)
    assert (result.content, calls(result)) == ("Ok.\n\nDone.", [("get_time", {})])


# Pythonic formats


def test_lfm2_json_list_is_read_too() -> None:
    text = '<|tool_call_start|>[{"name": "get_time", "arguments": {}}]<|tool_call_end|>'
    assert calls(parse("lfm2", text, TOOLS)) == [("get_time", {})]


def test_olmo3_bad_line_keeps_the_others() -> None:
    text = "<function_calls>\nget_time()\nget_weather(city=)\nget_weather(city='Rome')\n</function_calls>"
    result = parse("olmo3", text, TOOLS)
    assert calls(result) == [("get_time", {}), ("get_weather", {"city": "Rome"})]
    assert [r.reason for r in result.rejected] == ["malformed"]


# FunctionGemma

GEMMA_KEYS = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
GEMMA_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="<"), max_size=12
)
GEMMA_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | GEMMA_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(GEMMA_KEYS, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(args=st.dictionaries(GEMMA_KEYS, GEMMA_VALUES, max_size=4))
def test_function_gemma_values_round_trip(args: dict[str, Any]) -> None:
    result = parse_text(function_gemma([("anything", args)]), get_family("function_gemma"), None)
    assert [(c.name, json.loads(c.arguments)) for c in result.calls] == [("anything", args)]


def test_function_gemma_bare_word_is_a_string() -> None:
    text = "<start_function_call>call:get_weather{city:Paris,days:2}<end_function_call>"
    assert calls(parse("function_gemma", text, (WEATHER,))) == [
        ("get_weather", {"city": "Paris", "days": 2})
    ]


# auto: no false positives on prose that mentions the formats' words


def test_auto_leaves_prose_about_tool_calls_alone() -> None:
    text = (
        "A function call is written with functools or a call: statement; "
        "the <function_calls> of a program, <tool_calls> and [TOOL_CALLS can be discussed. "
        "Use functools.reduce([1, 2], f)."
    )
    result = parse("auto", text, TOOLS)
    assert (result.content, result.calls, result.rejected) == (text, (), ())
