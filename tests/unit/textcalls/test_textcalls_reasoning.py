"""Reasoning written as text never reaches the content, in any family, streamed or whole: it
comes out as reasoning events, which the engine keeps with the turn."""

from __future__ import annotations

import json

import pytest
from test_textcalls_gaps import calls, parse
from textcall_cases import CASE_IDS, CASES, TOOLS, FamilyCase, feed_in_pieces

from callisto.providers.base import ReasoningDelta, TextDelta
from callisto.providers.textcalls import TextCallParser, get_family
from callisto.providers.textcalls.reasoning import REASONING_ONLY

SECRET = "the user is testing me"


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("tags", [("<think>", "</think>"), ("<seed:think>", "</seed:think>")])
def test_reasoning_is_dropped_and_calls_inside_it_do_not_count(
    case: FamilyCase, tags: tuple[str, str]
) -> None:
    opening, closing = tags
    thought = f"{opening}\n{SECRET}; I could write " + case.write([("get_weather", {"city": "X"})])
    text = thought + f"\n{closing}\n\n" + case.write([("get_time", {})]) + " Done."
    for family in (case.family, "auto"):
        result = parse(family, text, TOOLS)
        assert calls(result) == [("get_time", {})]
        assert SECRET not in result.content and "think>" not in result.content
        assert result.content.strip() == "Done."
        assert result.reasoning.startswith(SECRET) and "get_weather" in result.reasoning


def test_reasoning_without_calls_leaves_the_answer() -> None:
    text = "<think>\nShort question.\n</think>\n\nParis is the capital."
    for family in ("hermes", "auto", "qwen3_xml", "generic"):
        result = parse(family, text, TOOLS)
        assert (result.content, result.calls) == ("Paris is the capital.", ())


def test_think_in_the_middle_of_an_answer_is_prose() -> None:
    text = "Use the <think> tag to show reasoning, then close it with </think>."
    result = parse("auto", text, TOOLS)
    assert result.content == "Use the <think> tag to show reasoning, then close it with ."


def test_unclosed_reasoning_at_the_end_is_all_reasoning() -> None:
    result = parse("hermes", "<think>still thinking when the tokens ran out", TOOLS)
    assert (result.content, result.calls) == ("", ())


def test_reasoning_opened_by_the_template() -> None:
    text = f"{SECRET}\n</think>\n\nHello."
    for cuts in ([], list(range(len(text))), [3, 30, 31]):
        parser = TextCallParser(get_family("auto"), TOOLS, in_reasoning=True)
        events = feed_in_pieces(parser, text, cuts)
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello."
        assert [e for e in events if isinstance(e, ReasoningDelta)] == [ReasoningDelta(SECRET)]


def test_reasoning_comes_out_whole_however_the_stream_is_cut() -> None:
    text = "<think>\nStep one.\nStep two.\n</think>\n\nHello."
    for cuts in ([], list(range(len(text))), [2, 9, 20]):
        parser = TextCallParser(get_family("hermes"), TOOLS)
        events = feed_in_pieces(parser, text, cuts)
        assert [e for e in events if isinstance(e, ReasoningDelta)] == [
            ReasoningDelta("Step one.\nStep two.")
        ]
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello."


def test_an_empty_think_block_is_no_reasoning() -> None:
    result = parse("auto", "<think>\n\n</think>\n\nHi.", TOOLS)
    assert (result.content, result.reasoning) == ("Hi.", "")


def test_reasoning_only_family_finds_no_calls() -> None:
    text = '<think>x</think><tool_call>{"name": "get_time", "arguments": {}}</tool_call>'
    parser = TextCallParser(REASONING_ONLY, TOOLS)
    events = feed_in_pieces(parser, text, list(range(len(text))))
    assert events[0] == ReasoningDelta("x")
    assert events[1:] and all(isinstance(e, TextDelta) for e in events[1:])
    assert (
        "".join(e.text for e in events if isinstance(e, TextDelta))
        == text[len("<think>x</think>") :]
    )


def test_harmony_analysis_is_reasoning_too() -> None:
    text = (
        f"<|channel|>analysis<|message|>{SECRET}<|end|>"
        "<|start|>assistant<|channel|>commentary to=functions.get_time <|constrain|>json"
        "<|message|>{}<|call|>"
    )
    result = parse("auto", text, TOOLS)
    assert (result.content, [(c.name, json.loads(c.arguments)) for c in result.calls]) == (
        "",
        [("get_time", {})],
    )
    assert result.reasoning == SECRET
