"""Gaps found by comparing with the peers' parser suites (vLLM, SGLang): each failed before.

Every case is parsed whole and streamed (one character at a time, and at seeded random cuts);
both must agree before the expected result is checked.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

from textcall_cases import SEARCH, TIME, TOOLS, WEATHER, feed_in_pieces

from callisto.providers.base import TextDelta, ToolCallDelta, ToolSpec
from callisto.providers.textcalls import ParseResult, TextCallParser, get_family, parse_text

WRITE = ToolSpec(
    "write_file",
    "Write a file",
    {
        "type": "object",
        "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["path", "content"],
    },
)
CODING_TOOLS = (WRITE, *TOOLS)


def streamed(family: str, text: str, tools: Sequence[ToolSpec] | None, cuts: list[int]) -> Any:
    parser = TextCallParser(get_family(family), tools)
    events = feed_in_pieces(parser, text, cuts)
    content = "".join(e.text for e in events if isinstance(e, TextDelta))
    calls = [(e.name, json.loads(e.arguments)) for e in events if isinstance(e, ToolCallDelta)]
    return content, calls, [(r.reason, r.name) for r in parser.rejected]


def parse(family: str, text: str, tools: Sequence[ToolSpec] | None = CODING_TOOLS) -> ParseResult:
    """Parse whole, check that streaming agrees, and return the whole result."""
    result = parse_text(text, get_family(family), tools)
    expected = (
        result.content,
        [(c.name, json.loads(c.arguments)) for c in result.calls],
        [(r.reason, r.name) for r in result.rejected],
    )
    rng = random.Random(text)
    splits = [list(range(len(text)))] + [
        [rng.randrange(len(text) + 1) for _ in range(rng.randrange(1, 12))] for _ in range(20)
    ]
    for cuts in splits:
        assert streamed(family, text, tools, cuts) == expected, cuts
    return result


def calls(result: ParseResult) -> list[tuple[str, Any]]:
    return [(c.name, json.loads(c.arguments)) for c in result.calls]


def qwen3_write(content: str, path: str = "a.py") -> str:
    return (
        "<tool_call>\n<function=write_file>\n<parameter=path>\n"
        f"{path}\n</parameter>\n<parameter=content>\n{content}\n</parameter>\n"
        "</function>\n</tool_call>"
    )


# Qwen3 xml: values holding the format's own closing tags


def test_qwen3_value_with_closing_tags_is_kept_whole() -> None:
    for value in (
        'x = "</parameter>"\ny = 1',
        "done</function>\n</tool_call>\nmore text",
        "a</parameter>\n<parameter=undeclared>\nb",
        "</parameter>",
    ):
        for family in ("qwen3_xml", "auto"):
            result = parse(family, "Writing.\n" + qwen3_write(value) + "\nDone.")
            assert calls(result) == [("write_file", {"path": "a.py", "content": value})]
            assert result.content == "Writing.\n\nDone."


def test_qwen3_nested_literal_call_is_a_value_not_a_second_call() -> None:
    inner = qwen3_write("print(1)", path="inner.py")
    for family in ("qwen3_xml", "auto"):
        result = parse(family, qwen3_write(inner) + "\n" + qwen3_write("x"))
        assert calls(result) == [
            ("write_file", {"path": "a.py", "content": inner}),
            ("write_file", {"path": "a.py", "content": "x"}),
        ]


def test_qwen3_value_order_does_not_matter() -> None:
    text = (
        "<tool_call>\n<function=write_file>\n<parameter=content>\nA</parameter>B\n</parameter>\n"
        "<parameter=path>\np.txt\n</parameter>\n</function>\n</tool_call>"
    )
    assert calls(parse("qwen3_xml", text)) == [
        ("write_file", {"content": "A</parameter>B", "path": "p.txt"})
    ]


def test_qwen3_quoted_python_literal_object() -> None:
    text = (
        "<tool_call>\n<function=search>\n<parameter=filters>\n"
        "\"{'lang': 'en', 'n': 1, 'ok': True}\"\n</parameter>\n</function>\n</tool_call>"
    )
    assert calls(parse("qwen3_xml", text)) == [
        ("search", {"filters": {"lang": "en", "n": 1, "ok": True}})
    ]


def test_qwen3_python_literal_is_never_evaluated() -> None:
    text = (
        "<tool_call>\n<function=search>\n<parameter=filters>\n"
        "\"__import__('os').system('true')\"\n</parameter>\n</function>\n</tool_call>"
    )
    [(_, args)] = calls(parse("qwen3_xml", text))
    assert args == {"filters": "\"__import__('os').system('true')\""}  # left as written


# MiniMax M2


def test_minimax_value_with_closing_tag_is_whole() -> None:
    value = 'if x: print("</parameter>")\n'
    text = (
        '<minimax:tool_call>\n<invoke name="write_file">\n<parameter name="path">a.py</parameter>\n'
        f'<parameter name="content">{value}</parameter>\n</invoke>\n</minimax:tool_call>'
    )
    for family in ("minimax_m2", "auto"):
        result = parse(family, text)
        assert calls(result) == [("write_file", {"path": "a.py", "content": value})]


def test_minimax_value_with_section_end_is_whole() -> None:
    value = "</invoke>\n</minimax:tool_call> is how it ends"
    text = (
        '<minimax:tool_call><invoke name="write_file"><parameter name="path">a</parameter>'
        f'<parameter name="content">{value}</parameter></invoke></minimax:tool_call> ok'
    )
    result = parse("minimax_m2", text)
    assert calls(result) == [("write_file", {"path": "a", "content": value})]
    assert result.content == " ok"


# Kimi K2


def kimi(call_id: str, args: str) -> str:
    return (
        "<|tool_calls_section_begin|><|tool_call_begin|>"
        f"{call_id}<|tool_call_argument_begin|>{args}<|tool_call_end|><|tool_calls_section_end|>"
    )


def test_kimi_odd_id_with_the_only_tool() -> None:
    for call_id in ("0", "call_3", "functions.lookup", "functions.weather:0"):
        result = parse("kimi_k2", kimi(call_id, '{"city": "Oslo"}'), tools=(WEATHER,))
        assert calls(result) == [("get_weather", {"city": "Oslo"})]
        assert result.calls[0].id  # some id, never empty


def test_kimi_odd_id_with_the_tool_whose_schema_fits() -> None:
    result = parse("kimi_k2", kimi("call_3", '{"city": "Oslo", "days": 2}'), tools=TOOLS)
    assert calls(result) == [("get_weather", {"city": "Oslo", "days": 2})]


def test_kimi_odd_id_that_fits_several_tools_is_not_guessed() -> None:
    result = parse("kimi_k2", kimi("0", "{}"), tools=TOOLS)  # search and get_time both fit
    assert result.calls == ()
    assert [r.reason for r in result.rejected] == ["unknown_tool"]


def test_kimi_regular_ids_are_unchanged() -> None:
    result = parse("kimi_k2", kimi("functions.get_time:4", "{}"), tools=TOOLS)
    assert [(c.id, c.name) for c in result.calls] == [("functions.get_time:4", "get_time")]


def test_kimi_stray_tokens_leave_the_content() -> None:
    text = "Done.<|tool_calls_section_end|> All<|tool_call_argument_begin|> good."
    result = parse("kimi_k2", text, tools=TOOLS)
    assert (result.content, result.calls) == ("Done. All good.", ())


# Mistral


def test_mistral_marker_without_a_call_gives_no_call() -> None:
    for family in ("mistral", "mistral_v11", "auto"):
        result = parse(family, "[TOOL_CALLS] not json at all", tools=TOOLS)
        assert result.calls == ()
        assert result.content.strip() == "not json at all"


def test_mistral_junk_before_the_json_keeps_the_call() -> None:
    text = '[TOOL_CALLS] Sure: [{"name": "get_time", "arguments": {}}]'
    for family in ("mistral", "auto"):
        result = parse(family, text, tools=TOOLS)
        assert calls(result) == [("get_time", {})]
        assert result.content.strip() == "Sure:"


def test_mistral_v11_name_without_arguments_is_not_a_call() -> None:
    result = parse("mistral_v11", "[TOOL_CALLS]get_time and more words", tools=TOOLS)
    assert result.calls == ()
    assert result.content.strip() == "get_time and more words"


# GLM 4.6+


def test_glm_literal_backslash_n_after_the_name() -> None:
    text = "<tool_call>get_weather\\n<arg_key>city</arg_key>\\n<arg_value>Rome</arg_value>\\n</tool_call>"
    assert calls(parse("glm45", text, tools=TOOLS)) == [("get_weather", {"city": "Rome"})]


def test_glm_escaped_json_containers() -> None:
    text = (
        '<tool_call>search\n<arg_key>tags</arg_key>\n<arg_value>[\\"a\\", \\"b\\"]</arg_value>\n'
        '<arg_key>filters</arg_key>\n<arg_value>{\\"lang\\": \\"en\\"}</arg_value>\n</tool_call>'
    )
    assert calls(parse("glm45", text, tools=TOOLS)) == [
        ("search", {"tags": ["a", "b"], "filters": {"lang": "en"}})
    ]


# Hermes


def test_hermes_string_arguments_with_trailing_text_are_not_guessed() -> None:
    text = '<tool_call>{"name": "get_weather", "arguments": "{\\"city\\": \\"Rome\\"} tail"}</tool_call>'
    result = parse("hermes", text, tools=TOOLS)
    assert result.calls == ()
    assert [(r.reason, r.name) for r in result.rejected] == [("malformed", "get_weather")]


# Pythonic


def test_pythonic_bad_call_beside_good_ones_keeps_them() -> None:
    text = "[get_weather(city='Paris'), search(query=), get_time()]"
    for family in ("pythonic", "llama4_pythonic"):
        result = parse(family, text, tools=TOOLS)
        assert calls(result) == [("get_weather", {"city": "Paris"}), ("get_time", {})]
        assert [r.reason for r in result.rejected] == ["malformed"]
        assert result.content == ""


def test_pythonic_broken_list_naming_no_tool_stays_content() -> None:
    text = "[see(above), and this(]"
    result = parse("pythonic", text, tools=(TIME, SEARCH))
    assert (result.content, result.calls) == (text, ())


def test_long_value_with_many_closing_tags_streams_whole() -> None:
    # The value scan resumes between deltas; it must still find the same end.
    value = "".join(f'line {i}: "</parameter>" <parameter=x> </function>\n' for i in range(200))
    text = qwen3_write(value) + " after"
    for family in ("qwen3_xml", "auto"):
        parser = TextCallParser(get_family(family), CODING_TOOLS)
        events = feed_in_pieces(parser, text, list(range(0, len(text), 3)))
        got = [(e.name, json.loads(e.arguments)) for e in events if isinstance(e, ToolCallDelta)]
        assert got == [("write_file", {"path": "a.py", "content": value})]
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == " after"


def test_value_cut_off_by_the_end_of_the_reply_gives_no_call() -> None:
    qwen3 = "<tool_call>\n<function=write_file>\n<parameter=path>\na.py\n</parameter>\n<parameter=content>\nprint("
    minimax = (
        '<minimax:tool_call>\n<invoke name="write_file">\n<parameter name="path">a.py</parameter>\n'
        '<parameter name="content">print('
    )
    for family, text in (("qwen3_xml", qwen3), ("minimax_m2", minimax), ("auto", qwen3)):
        result = parse(family, text)
        assert result.calls == ()
        assert [r.reason for r in result.rejected] == ["malformed"]


def test_call_whose_values_closed_counts_without_its_own_close() -> None:
    text = "<tool_call>\n<function=get_weather>\n<parameter=city>\nRome\n</parameter>\n"
    assert calls(parse("qwen3_xml", text)) == [("get_weather", {"city": "Rome"})]
