# ruff: noqa: RUF001  (DeepSeek's tokens really are spelled with full-width bars)
"""Test data for the text tool-call families: tools, and how each family writes calls.

The writers here are written from the format descriptions in the spec, independently of the
families' own prompt styles, so that parsing is checked against the formats and not against
Callisto's idea of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from callisto.providers.base import TextDelta, ToolCallDelta, ToolSpec
from callisto.providers.textcalls import TextCallParser

Call = tuple[str, dict[str, Any]]


def feed_in_pieces(
    parser: TextCallParser, text: str, cuts: list[int]
) -> list[TextDelta | ToolCallDelta]:
    """Feed ``text`` to ``parser`` cut at ``cuts`` (any order), finish, and return the events."""
    events: list[TextDelta | ToolCallDelta] = []
    last = 0
    for cut in sorted(cuts):
        events += parser.feed(text[last:cut])
        last = cut
    return events + parser.feed(text[last:]) + parser.finish()


WEATHER = ToolSpec(
    "get_weather",
    "Current weather",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer"},
        },
        "required": ["city"],
    },
)
SEARCH = ToolSpec(
    "search",
    "Search documents",
    {
        "type": "object",
        "properties": {
            "query": {"type": "string"},
            "limit": {"type": "integer"},
            "exact": {"type": "boolean"},
            "score": {"type": "number"},
            "filters": {"type": "object"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "note": {"type": ["string", "null"]},
        },
    },
)
TIME = ToolSpec("get_time", "The time now")
TOOLS = (WEATHER, SEARCH, TIME)

ALL_TYPES: dict[str, Any] = {
    "query": "rain",
    "limit": 5,
    "exact": True,
    "score": 0.75,
    "filters": {"lang": "en", "year": [2023, 2024], "deep": {"ok": False}},
    "tags": ["a", "b"],
    "note": None,
}
TRICKY_CITY = 'Say "hi" \\ — Zürich 東京 😀'

DS_CALLS_BEGIN = "<｜tool▁calls▁begin｜>"
DS_CALLS_END = "<｜tool▁calls▁end｜>"
DS_CALL_BEGIN = "<｜tool▁call▁begin｜>"
DS_CALL_END = "<｜tool▁call▁end｜>"
DS_SEP = "<｜tool▁sep｜>"


def _j(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else _j(value)


def hermes(calls: list[Call]) -> str:
    return "".join(
        f"<tool_call>\n{_j({'name': n, 'arguments': a})}\n</tool_call>\n" for n, a in calls
    )


def mistral(calls: list[Call]) -> str:
    return "[TOOL_CALLS]" + _j([{"name": n, "arguments": a} for n, a in calls])


def mistral_v11(calls: list[Call]) -> str:
    # Alternate the two v11 shapes so both are exercised.
    return "".join(
        f"[TOOL_CALLS]{n}{'[ARGS]' if i % 2 else ''}{_j(a)}" for i, (n, a) in enumerate(calls)
    )


def llama_json(calls: list[Call]) -> str:
    return "<|python_tag|>" + "; ".join(_j({"name": n, "parameters": a}) for n, a in calls)


def pythonic(calls: list[Call]) -> str:
    items = (n + "(" + ", ".join(f"{k}={v!r}" for k, v in a.items()) + ")" for n, a in calls)
    return "[" + ", ".join(items) + "]"


def llama4_pythonic(calls: list[Call]) -> str:
    return "<|python_start|>" + pythonic(calls) + "<|python_end|>"


def deepseek_v3(calls: list[Call]) -> str:
    body = "".join(
        f"{DS_CALL_BEGIN}function{DS_SEP}{n}\n```json\n{_j(a)}\n```{DS_CALL_END}" for n, a in calls
    )
    return DS_CALLS_BEGIN + body + DS_CALLS_END


def deepseek_v31(calls: list[Call]) -> str:
    body = "".join(f"{DS_CALL_BEGIN}{n}{DS_SEP}{_j(a)}{DS_CALL_END}" for n, a in calls)
    return DS_CALLS_BEGIN + body + DS_CALLS_END


def qwen3_xml(calls: list[Call]) -> str:
    return "".join(
        f"<tool_call>\n<function={n}>\n"
        + "".join(f"<parameter={k}>\n{_text(v)}\n</parameter>\n" for k, v in a.items())
        + "</function>\n</tool_call>\n"
        for n, a in calls
    )


def glm45(calls: list[Call]) -> str:
    return "".join(
        f"<tool_call>{n}\n"
        + "".join(
            f"<arg_key>{k}</arg_key>\n<arg_value>{_text(v)}</arg_value>\n" for k, v in a.items()
        )
        + "</tool_call>"
        for n, a in calls
    )


def kimi_k2(calls: list[Call]) -> str:
    body = "".join(
        f"<|tool_call_begin|>functions.{n}:{i}<|tool_call_argument_begin|>{_j(a)}<|tool_call_end|>"
        for i, (n, a) in enumerate(calls)
    )
    return "<|tool_calls_section_begin|>" + body + "<|tool_calls_section_end|>"


def granite(calls: list[Call]) -> str:
    return "<|tool_call|>" + _j([{"name": n, "arguments": a} for n, a in calls])


def minimax_m2(calls: list[Call]) -> str:
    invokes = "".join(
        f'<invoke name="{n}">\n'
        + "".join(f'<parameter name="{k}">{_text(v)}</parameter>\n' for k, v in a.items())
        + "</invoke>\n"
        for n, a in calls
    )
    return f"<minimax:tool_call>\n{invokes}</minimax:tool_call>"


def harmony(calls: list[Call]) -> str:
    # Reasoning first; then the two header shapes in turn: recipient after or before the channel.
    shapes = (
        "<|start|>assistant<|channel|>commentary to=functions.{n} <|constrain|>json<|message|>",
        "<|start|>assistant to=functions.{n}<|channel|>commentary json<|message|>",
    )
    return "<|channel|>analysis<|message|>Let me think.<|end|>" + "".join(
        shapes[i % 2].replace("{n}", n) + _j(a) + "<|call|>" for i, (n, a) in enumerate(calls)
    )


def seed_oss(calls: list[Call]) -> str:
    return "".join(
        f"<seed:tool_call>\n<function={n}>\n"
        + "".join(f"<parameter={k}>{_text(v)}</parameter>\n" for k, v in a.items())
        + "</function>\n</seed:tool_call>"
        for n, a in calls
    )


DSML = "｜DSML｜"


def _dsml_param(key: str, value: Any) -> str:
    typed = "true" if isinstance(value, str) else "false"
    return f'<{DSML}parameter name="{key}" string="{typed}">{_text(value)}</{DSML}parameter>\n'


def deepseek_v32(calls: list[Call]) -> str:
    invokes = "".join(
        f'<{DSML}invoke name="{n}">\n'
        + "".join(_dsml_param(k, v) for k, v in a.items())
        + f"</{DSML}invoke>\n"
        for n, a in calls
    )
    return f"<{DSML}function_calls>\n{invokes}</{DSML}function_calls>"


def lfm2(calls: list[Call]) -> str:
    return "<|tool_call_start|>" + pythonic(calls) + "<|tool_call_end|>"


def jamba(calls: list[Call]) -> str:
    return "<tool_calls>" + _j([{"name": n, "arguments": a} for n, a in calls]) + "</tool_calls>"


def granite_20b_fc(calls: list[Call]) -> str:
    return "".join(f"<function_call> {_j({'name': n, 'arguments': a})}\n" for n, a in calls)


def phi4_mini(calls: list[Call]) -> str:
    return "functools" + _j([{"name": n, "arguments": a} for n, a in calls])


def internlm(calls: list[Call]) -> str:
    return "\n".join(
        f"<|action_start|><|plugin|>\n{_j({'name': n, 'parameters': a})}<|action_end|>"
        for n, a in calls
    )


def olmo3(calls: list[Call]) -> str:
    lines = (n + "(" + ", ".join(f"{k}={v!r}" for k, v in a.items()) + ")" for n, a in calls)
    return "<function_calls>\n" + "\n".join(lines) + "\n</function_calls>"


def step3(calls: list[Call]) -> str:
    body = "".join(
        f'<｜tool_call_begin｜>function<｜tool_sep｜><steptml:invoke name="{n}">'
        + "".join(
            f'<steptml:parameter name="{k}">{_text(v)}</steptml:parameter>' for k, v in a.items()
        )
        + "</steptml:invoke><｜tool_call_end｜>"
        for n, a in calls
    )
    return "<｜tool_calls_begin｜>" + body + "<｜tool_calls_end｜>"


def longcat(calls: list[Call]) -> str:
    return "".join(
        f"<longcat_tool_call>{_j({'name': n, 'arguments': a})}</longcat_tool_call>\n"
        for n, a in calls
    )


def gigachat3(calls: list[Call]) -> str:
    return "<|message_sep|>\n\n" + "\n".join(
        f"function call<|role_sep|>\n{_j({'name': n, 'arguments': a})}" for n, a in calls
    )


def _gemma(value: Any) -> str:
    if isinstance(value, str):
        return f"<escape>{value}<escape>"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_gemma(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_gemma(v) for v in value) + "]"
    return _j(value)


def function_gemma(calls: list[Call]) -> str:
    return "".join(f"<start_function_call>call:{n}{_gemma(a)}<end_function_call>" for n, a in calls)


def generic(calls: list[Call]) -> str:
    return "```json\n" + _j([{"name": n, "arguments": a} for n, a in calls]) + "\n```"


@dataclass(frozen=True)
class FamilyCase:
    """How to write calls for one family, and what the family allows.

    Attributes:
        family: The family's name.
        write: Writes a list of calls in the family's format.
        broken_beside_good: A reply with one unreadable call and one good ``get_time`` call.
        text_before: Whether visible text may come before the calls.
        weak: Whether the format's markers are ordinary text (unknown tools stay content).
    """

    family: str
    write: Callable[[list[Call]], str]
    broken_beside_good: str
    text_before: bool = True
    weak: bool = False


CASES = [
    FamilyCase(
        "hermes",
        hermes,
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": }\n</tool_call>\n'
        '<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>',
    ),
    FamilyCase(
        "mistral",
        mistral,
        '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "x"}, {"name": "get_time"}]',
    ),
    FamilyCase(
        "mistral_v11",
        mistral_v11,
        '[TOOL_CALLS]get_weather[ARGS]{"city": nope}[TOOL_CALLS]get_time{}',
    ),
    FamilyCase(
        "llama3_json",
        llama_json,
        '<|python_tag|>{"name": "get_weather", "parameters": "city"}; '
        '{"name": "get_time", "parameters": {}}',
    ),
    FamilyCase(
        "llama4_json",
        llama_json,
        '<|python_tag|>{"nome": "get_weather"}; {"name": "get_time", "parameters": {}}',
    ),
    FamilyCase(
        "pythonic",
        pythonic,
        "[get_weather(city=open('/etc/passwd').read()), get_time()]",
        text_before=False,
        weak=True,
    ),
    FamilyCase(
        "llama4_pythonic",
        llama4_pythonic,
        "<|python_start|>[get_weather(**cfg), get_time()]<|python_end|>",
    ),
    FamilyCase(
        "deepseek_v3",
        deepseek_v3,
        f"{DS_CALLS_BEGIN}{DS_CALL_BEGIN}function get_weather{{}}{DS_CALL_END}"
        f"{DS_CALL_BEGIN}function{DS_SEP}get_time\n```json\n{{}}\n```{DS_CALL_END}{DS_CALLS_END}",
    ),
    FamilyCase(
        "deepseek_v31",
        deepseek_v31,
        f"{DS_CALLS_BEGIN}{DS_CALL_BEGIN}get_weather{DS_SEP}{{'city'}}{DS_CALL_END}"
        f"{DS_CALL_BEGIN}get_time{DS_SEP}{{}}{DS_CALL_END}{DS_CALLS_END}",
    ),
    FamilyCase(
        "qwen3_xml",
        qwen3_xml,
        "<tool_call>\n<function>\n<parameter=city>\nParis\n</parameter>\n</function>\n"
        "</tool_call>\n<tool_call>\n<function=get_time>\n</function>\n</tool_call>",
    ),
    FamilyCase(
        "glm45",
        glm45,
        "<tool_call>get_weather\n<arg_key>city</arg_key>\n</tool_call>"
        "<tool_call>get_time\n</tool_call>",
    ),
    FamilyCase(
        "kimi_k2",
        kimi_k2,
        "<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0{}"
        "<|tool_call_end|><|tool_call_begin|>functions.get_time:1"
        "<|tool_call_argument_begin|>{}<|tool_call_end|><|tool_calls_section_end|>",
    ),
    FamilyCase(
        "granite",
        granite,
        '<|tool_call|>[{"name": "get_weather", "arguments": [1]}, {"name": "get_time"}]',
    ),
    FamilyCase(
        "minimax_m2",
        minimax_m2,
        '<minimax:tool_call>\n<invoke nom="get_weather">\n</invoke>\n'
        '<invoke name="get_time">\n</invoke>\n</minimax:tool_call>',
    ),
    FamilyCase(
        "harmony",
        harmony,
        "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
        '<|message|>{"city": <|call|><|start|>assistant<|channel|>commentary '
        "to=functions.get_time <|constrain|>json<|message|>{}<|call|>",
    ),
    FamilyCase(
        "seed_oss",
        seed_oss,
        "<seed:tool_call>\n<function>\n<parameter=city>Paris</parameter>\n</function>\n"
        "</seed:tool_call><seed:tool_call>\n<function=get_time>\n</function>\n</seed:tool_call>",
    ),
    FamilyCase(
        "deepseek_v32",
        deepseek_v32,
        f'<{DSML}function_calls>\n<{DSML}invoke nom="get_weather">\n</{DSML}invoke>\n'
        f'<{DSML}invoke name="get_time">\n</{DSML}invoke>\n</{DSML}function_calls>',
    ),
    FamilyCase(
        "lfm2",
        lfm2,
        "<|tool_call_start|>[get_weather(city=open('/etc/passwd').read()), get_time()]"
        "<|tool_call_end|>",
    ),
    FamilyCase(
        "jamba",
        jamba,
        '<tool_calls>[{"name": "get_weather", "arguments": "nope"}, '
        '{"name": "get_time", "arguments": {}}]</tool_calls>',
    ),
    FamilyCase(
        "granite_20b_fc",
        granite_20b_fc,
        '<function_call> {"name": "get_weather", "arguments": {"city": }}\n'
        '<function_call> {"name": "get_time", "arguments": {}}',
    ),
    FamilyCase(
        "phi4_mini",
        phi4_mini,
        'functools[{"name": "get_weather", "arguments": "x"}, '
        '{"name": "get_time", "arguments": {}}]',
        weak=True,
    ),
    FamilyCase(
        "internlm",
        internlm,
        '<|action_start|><|plugin|>\n{"name": "get_weather", "parameters": [1]}<|action_end|>'
        '<|action_start|><|plugin|>\n{"name": "get_time", "parameters": {}}<|action_end|>',
    ),
    FamilyCase(
        "olmo3",
        olmo3,
        "<function_calls>\nget_weather(city=)\nget_time()\n</function_calls>",
    ),
    FamilyCase(
        "step3",
        step3,
        "<｜tool_calls_begin｜><｜tool_call_begin｜>function<｜tool_sep｜><steptml:invoke>"
        "</steptml:invoke><｜tool_call_end｜><｜tool_call_begin｜>function<｜tool_sep｜>"
        '<steptml:invoke name="get_time"></steptml:invoke><｜tool_call_end｜><｜tool_calls_end｜>',
    ),
    FamilyCase(
        "longcat",
        longcat,
        '<longcat_tool_call>{"name": "get_weather", "arguments": {"city": }</longcat_tool_call>'
        '<longcat_tool_call>{"name": "get_time", "arguments": {}}</longcat_tool_call>',
    ),
    FamilyCase(
        "gigachat3",
        gigachat3,
        'function call<|role_sep|>\n{"name": "get_weather", "arguments": "x"}\n'
        'function call<|role_sep|>\n{"name": "get_time", "arguments": {}}',
    ),
    FamilyCase(
        "function_gemma",
        function_gemma,
        "<start_function_call>call:get_weather{city:<escape>Paris}<end_function_call>"
        "<start_function_call>call:get_time{}<end_function_call>",
    ),
    FamilyCase(
        "generic",
        generic,
        '```json\n[{"name": "get_weather", "arguments": "not json"}, {"name": "get_time"}]\n```',
        weak=True,
    ),
]
CASE_IDS = [c.family for c in CASES]
