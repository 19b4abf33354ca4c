"""Details of single families and of the shared helpers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from textcall_cases import DS_CALL_BEGIN, DS_CALL_END, DS_CALLS_BEGIN, DS_CALLS_END, DS_SEP, TOOLS

from callisto.providers.textcalls import ParseResult, get_family, parse_text
from callisto.providers.textcalls._json import arguments_json
from callisto.providers.textcalls._schema import coerce_text
from callisto.providers.textcalls.mistral import mistral_id


def parse(family: str, text: str) -> ParseResult:
    return parse_text(text, get_family(family), TOOLS)


def calls(result: ParseResult) -> list[tuple[str, Any]]:
    return [(c.name, json.loads(c.arguments)) for c in result.calls]


# Arguments


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, "{}"),
        ("", "{}"),
        ({}, "{}"),
        ({"a": 1}, '{"a": 1}'),
        ('{"a": "x \\"q\\""}', '{"a": "x \\"q\\""}'),  # already JSON: not encoded twice
        ("{'a': True}", '{"a": true}'),  # a Python literal, as some models write
        ("not json", None),
        ([1, 2], None),
        ("[1, 2]", None),
        ({"a": float("nan")}, None),
        ({"a": {1, 2}}, None),
    ],
)
def test_arguments_json(given: Any, expected: str | None) -> None:
    assert arguments_json(given) == expected


def test_arguments_given_as_a_json_string_are_not_encoded_twice() -> None:
    text = (
        '<tool_call>{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}</tool_call>'
    )
    result = parse("hermes", text)
    assert result.calls[0].arguments == '{"city": "Paris"}'


def test_openai_shaped_call_objects_are_unwrapped() -> None:
    body = {"type": "function", "function": {"name": "get_time", "arguments": "{}"}}
    result = parse("hermes", f"<tool_call>{json.dumps(body)}</tool_call>")
    assert calls(result) == [("get_time", {})]


# Schema typing of text values


@pytest.mark.parametrize(
    ("raw", "schema", "expected"),
    [
        ("3", {"type": "integer"}, 3),
        (" 3.0 ", {"type": "integer"}, 3),
        ("3.5", {"type": "integer"}, "3.5"),
        ("2.5", {"type": "number"}, 2.5),
        ("1e3", {"type": "number"}, 1000.0),
        ("nan", {"type": "number"}, "nan"),
        ("True", {"type": "boolean"}, True),
        ("yes", {"type": "boolean"}, "yes"),
        ("null", {"type": "null"}, None),
        ("null", {"type": ["string", "null"]}, None),
        ("Paris", {"type": ["string", "null"]}, "Paris"),
        ('{"a": [1]}', {"type": "object"}, {"a": [1]}),
        ("[1, 2]", {"type": "array"}, [1, 2]),
        ("{'a': 1}", {"type": "dict"}, {"a": 1}),  # BFCL's type names
        ("0.5", {"type": "float"}, 0.5),
        ("7", {"anyOf": [{"type": "integer"}, {"type": "string"}]}, 7),
        ("7", {"enum": [1, 7]}, 7),
        ("007", {"type": "string"}, "007"),
        (" padded ", {"type": "string"}, " padded "),
        ("42", None, "42"),
        ("42", {}, "42"),
    ],
)
def test_coerce_text(raw: str, schema: dict[str, Any] | None, expected: Any) -> None:
    assert coerce_text(raw, schema) == expected


# Hermes


def test_hermes_unclosed_final_call_counts() -> None:
    result = parse("hermes", 'Sure.\n<tool_call>\n{"name": "get_time", "arguments": {}}')
    assert calls(result) == [("get_time", {})]
    assert result.content == "Sure.\n"


def test_hermes_garbage_in_tag_is_rejected_not_shown() -> None:
    result = parse("hermes", "a<tool_call>I will now call a tool</tool_call>b")
    assert result.content == "ab"
    assert result.calls == ()
    assert [r.reason for r in result.rejected] == ["malformed"]


# Mistral


def test_mistral_ids_are_nine_alphanumerics() -> None:
    result = parse("mistral", '[TOOL_CALLS][{"name": "get_time", "arguments": {}}]')
    assert len(result.calls[0].id) == 9 and result.calls[0].id.isalnum()


def test_mistral_call_id_tag_is_read() -> None:
    text = '[TOOL_CALLS]get_weather[CALL_ID]a1b2c3d4e[ARGS]{"city": "Rome"}'
    result = parse("mistral_v11", text)
    assert [(c.id, c.name, c.arguments) for c in result.calls] == [
        ("a1b2c3d4e", "get_weather", '{"city": "Rome"}')
    ]


def test_mistral_id_mapping_is_stable() -> None:
    assert mistral_id("call_0123456789") == mistral_id("call_0123456789")
    assert len(mistral_id("call_x")) == 9 and mistral_id("call_x").isalnum()
    assert mistral_id("abcDEF123") == "abcDEF123"


def test_mistral_text_after_the_call_is_content() -> None:
    result = parse("mistral_v11", "[TOOL_CALLS]get_time{} and then some")
    assert calls(result) == [("get_time", {})]
    assert result.content == " and then some"


# Llama JSON


def test_llama_json_at_reply_start_without_tag() -> None:
    result = parse("llama3_json", ' {"name": "get_weather", "parameters": {"city": "Rome"}}')
    assert calls(result) == [("get_weather", {"city": "Rome"})]


def test_llama_json_that_is_not_a_call_stays_content() -> None:
    for text in ('{"name": "Bob", "age": 3}', '{"answer": 42}', "{not json at all"):
        result = parse("llama3_json", text)
        assert (result.content, result.calls) == (text, ())


def test_llama_json_later_in_the_reply_is_content() -> None:
    text = 'Here it is: {"name": "get_time", "parameters": {}}'
    assert parse("llama3_json", text).content == text


# Pythonic


def test_pythonic_is_never_evaluated() -> None:
    text = "[get_weather(city=__import__('os').system('echo pwned'))]"
    result = parse("pythonic", text)
    assert result.calls == ()
    assert [r.reason for r in result.rejected] == ["malformed"]


def test_pythonic_reads_json_constants_and_negative_numbers() -> None:
    result = parse("pythonic", "[search(exact=true, note=null, limit=-3, score=+1.5, tags=('a',))]")
    assert calls(result) == [
        ("search", {"exact": True, "note": None, "limit": -3, "score": 1.5, "tags": ["a"]})
    ]


def test_pythonic_positional_arguments_follow_schema_order() -> None:
    result = parse("pythonic", "[get_weather('Paris', 'celsius')]")
    assert calls(result) == [("get_weather", {"city": "Paris", "unit": "celsius"})]


def test_pythonic_list_that_is_not_calls_is_content() -> None:
    for text in ("[1, 2, 3]", "[see above]", "[Note: it's fine", "[x(1) + 2]"):
        assert parse("pythonic", text).content == text


def test_llama4_pythonic_tokens() -> None:
    text = "Ok <|python_start|>get_time()<|python_end|> done"
    result = parse("llama4_pythonic", text)
    assert calls(result) == [("get_time", {})]
    assert result.content == "Ok  done"


# DeepSeek


def test_deepseek_shapes_mix_and_bare_calls_count() -> None:
    v3 = (
        f'{DS_CALL_BEGIN}function{DS_SEP}get_weather\n```json\n{{"city": "Rome"}}\n```{DS_CALL_END}'
    )
    v31 = f"{DS_CALL_BEGIN}get_time{DS_SEP}{{}}{DS_CALL_END}"
    for family in ("deepseek_v3", "deepseek_v31"):
        assert calls(parse(family, DS_CALLS_BEGIN + v3 + v31 + DS_CALLS_END)) == [
            ("get_weather", {"city": "Rome"}),
            ("get_time", {}),
        ]
        bare = parse(family, "x" + v31 + "y")
        assert (calls(bare), bare.content) == ([("get_time", {})], "xy")


# Qwen3 xml, GLM, MiniMax


def test_qwen3_missing_parameter_close_ends_at_next_parameter() -> None:
    text = (
        "<tool_call>\n<function=get_weather>\n<parameter=city>\nRome\n"
        "<parameter=days>\n2\n</parameter>\n</function>\n</tool_call>"
    )
    assert calls(parse("qwen3_xml", text)) == [("get_weather", {"city": "Rome", "days": 2})]


def test_qwen3_function_without_wrapper() -> None:
    text = "Sure <function=get_time>\n</function> ok"
    result = parse("qwen3_xml", text)
    assert (calls(result), result.content) == ([("get_time", {})], "Sure  ok")


def test_qwen3_keeps_multiline_string_values() -> None:
    text = "<tool_call>\n<function=search>\n<parameter=query>\nline 1\nline 2\n</parameter>\n</function>\n</tool_call>"
    assert calls(parse("qwen3_xml", text)) == [("search", {"query": "line 1\nline 2"})]


def test_glm47_without_newlines() -> None:
    text = "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Rome</arg_value></tool_call>"
    assert calls(parse("glm45", text)) == [("get_weather", {"city": "Rome"})]


def test_minimax_single_quoted_names() -> None:
    text = "<minimax:tool_call><invoke name='get_weather'><parameter name='days'>4</parameter></invoke></minimax:tool_call>"
    assert calls(parse("minimax_m2", text)) == [("get_weather", {"days": 4})]


# Kimi, Granite, generic


def test_kimi_id_is_kept_and_name_is_read_from_it() -> None:
    text = (
        "<|tool_calls_section_begin|><|tool_call_begin|>functions.get_time:7"
        "<|tool_call_argument_begin|>{}<|tool_call_end|><|tool_calls_section_end|>"
    )
    result = parse("kimi_k2", text)
    assert [(c.id, c.name) for c in result.calls] == [("functions.get_time:7", "get_time")]


def test_granite_bare_array_and_tag() -> None:
    array = '[{"name": "get_time", "arguments": {}}]'
    assert calls(parse("granite", array)) == [("get_time", {})]
    assert calls(parse("granite", f"<tool_call>{array}</tool_call>")) == [("get_time", {})]


def test_generic_code_block_that_is_not_a_call_stays_content() -> None:
    for text in (
        "Run:\n```\nls -la\n```\nthen",
        'Example:\n```json\n{"name": "Bob"}\n```',
        '```json\n{"name": "unknown_tool", "arguments": {}}\n```',
    ):
        result = parse("generic", text)
        assert (result.content, result.calls) == (text, ())


def test_generic_reply_that_is_only_json() -> None:
    result = parse("generic", '\n{"name": "get_time", "arguments": {}}\n')
    assert calls(result) == [("get_time", {})]


# Auto


def test_auto_settles_the_family_at_the_first_call() -> None:
    text = (
        '<tool_call>{"name": "get_time", "arguments": {}}</tool_call>\n'
        'Example:\n```json\n{"name": "get_time", "arguments": {}}\n```'
    )
    result = parse("auto", text)
    assert calls(result) == [("get_time", {})]
    assert "```json" in result.content  # generic markers no longer count after a hermes call


def test_auto_shared_tag_reads_each_body_shape() -> None:
    text = (
        '<tool_call>{"name": "get_time"}</tool_call>'
        "<tool_call>\n<function=get_weather>\n<parameter=days>\n1\n</parameter>\n</function>\n</tool_call>"
        "<tool_call>get_weather<arg_key>days</arg_key><arg_value>2</arg_value></tool_call>"
        '<tool_call>[{"name": "get_time"}]</tool_call>'
    )
    assert calls(parse("auto", text)) == [
        ("get_time", {}),
        ("get_weather", {"days": 1}),
        ("get_weather", {"days": 2}),
        ("get_time", {}),
    ]


def test_auto_plain_text_is_untouched() -> None:
    text = "Use f(x=1) or [a, b]; see {this} and <that>. ```code```"
    assert parse("auto", text).content == text
