"""TextToolCallProvider: how it rewrites requests and how it turns reply text into calls."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from textcall_cases import TIME, TOOLS, WEATHER

from callisto.providers.base import (
    ChatMessage,
    ChatRequest,
    Finish,
    Provider,
    ProviderEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
    collect,
)
from callisto.providers.textcalls import (
    RejectedCall,
    TextToolCallProvider,
    family_names,
    get_family,
    parse_text,
    tool_formats,
)


class FakeInner:
    """A provider that records what it is sent and replies with scripted events."""

    name = "fake"

    def __init__(self, events: Sequence[ProviderEvent]) -> None:
        self.events = list(events)
        self.requests: list[ChatRequest] = []
        self.closed = False

    async def stream(self, request: ChatRequest) -> AsyncIterator[ProviderEvent]:
        self.requests.append(request)
        for event in self.events:
            yield event

    async def aclose(self) -> None:
        self.closed = True


def text_reply(*chunks: str, reason: str = "stop") -> list[ProviderEvent]:
    return [*(TextDelta(c) for c in chunks), Usage(10, 5), Finish(reason)]  # type: ignore[arg-type]


WEATHER_CALL = ToolCall("call_abc", "get_weather", '{"city": "Paris"}')
HISTORY = (
    ChatMessage("system", "You are terse."),
    ChatMessage("user", "Weather and time?"),
    ChatMessage("assistant", None, (WEATHER_CALL, ToolCall("call_def", "get_time", "{}"))),
    ChatMessage("tool", "18C, sunny", tool_call_id="call_abc"),
    ChatMessage("tool", "12:00", tool_call_id="call_def", name="get_time"),
    ChatMessage("user", "And tomorrow?"),
)


def request(**changes: Any) -> ChatRequest:
    return dataclasses.replace(ChatRequest(model="m", messages=HISTORY, tools=TOOLS), **changes)


def test_wrapper_is_a_provider() -> None:
    wrapper = TextToolCallProvider(FakeInner([]), "hermes", "native")
    assert isinstance(wrapper, Provider)
    assert wrapper.name == "fake"


def test_hermes_request_carries_tools_calls_and_results_as_text() -> None:
    sent = TextToolCallProvider(FakeInner([]), "hermes").prepare(request())
    assert sent.tools == ()
    roles = [m.role for m in sent.messages]
    assert roles == ["system", "user", "assistant", "user"]
    system, _, assistant, results = sent.messages
    assert system.content is not None and system.content.startswith("You are terse.")
    assert "<tools>" in system.content and '"name": "get_weather"' in system.content
    assert assistant.tool_calls == ()
    assert assistant.content is not None and assistant.content.count("<tool_call>") == 2
    assert results.content is not None
    assert results.content.count("<tool_response>") == 2
    assert "18C, sunny" in results.content and results.content.endswith("And tomorrow?")
    # What the assistant said before is readable by the family's own parser.
    reparsed = parse_text(assistant.content, get_family("hermes"), TOOLS)
    assert [c.name for c in reparsed.calls] == ["get_weather", "get_time"]


def test_system_prompt_is_added_when_missing() -> None:
    sent = TextToolCallProvider(FakeInner([]), "qwen3_xml").prepare(
        request(messages=(ChatMessage("user", "hi"),))
    )
    assert [m.role for m in sent.messages] == ["system", "user"]
    assert "<function=" in (sent.messages[0].content or "")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"forced_tool": "get_weather"}, "must call the function get_weather"),
        ({"tool_choice": "required"}, "must call at least one function"),
        ({"parallel_tool_calls": False}, "at most one function"),
    ],
)
def test_tool_choice_is_written_as_instructions(changes: dict[str, object], expected: str) -> None:
    sent = TextToolCallProvider(FakeInner([]), "hermes").prepare(request(**changes))
    assert expected in (sent.messages[0].content or "")
    assert sent.forced_tool is None and sent.tool_choice == "auto"


async def test_hermes_stream_gives_content_and_calls() -> None:
    inner = FakeInner(
        text_reply(
            "Let me ",
            "check.<tool",
            '_call>\n{"name": "get_weather", "argu',
            'ments": {"city": "Paris"}}\n</tool_call>',
        )
    )
    reply = await collect(TextToolCallProvider(inner, "hermes").stream(request()))
    assert reply.text == "Let me check."
    assert [(c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert reply.tool_calls[0].id.startswith("call_")
    assert reply.finish_reason == "tool_calls"
    assert reply.usage == Usage(10, 5)


async def test_reply_without_calls_keeps_its_reason() -> None:
    inner = FakeInner(text_reply("Just ", "text <b>bold</b>"))
    reply = await collect(TextToolCallProvider(inner, "hermes").stream(request()))
    assert (reply.text, reply.tool_calls, reply.finish_reason) == (
        "Just text <b>bold</b>",
        [],
        "stop",
    )


async def test_truncated_reply_keeps_length_reason() -> None:
    inner = FakeInner(text_reply('<tool_call>{"name": "get_time"}', reason="length"))
    reply = await collect(TextToolCallProvider(inner, "hermes").stream(request()))
    assert [c.name for c in reply.tool_calls] == ["get_time"]
    assert reply.finish_reason == "length"


async def test_first_delta_carries_id_and_name_and_indexes_count_from_zero() -> None:
    calls = "".join(
        '<tool_call>{"name": "get_time", "arguments": {}}</tool_call>' for _ in range(3)
    )
    inner = FakeInner(text_reply(calls))
    events = [e async for e in TextToolCallProvider(inner, "hermes").stream(request())]
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert [d.index for d in deltas] == [0, 1, 2]
    assert all(d.id and d.name == "get_time" for d in deltas)
    assert events[-1] == Finish("tool_calls")


async def test_auto_passes_native_calls_and_numbers_text_calls_after_them() -> None:
    inner = FakeInner(
        [
            ToolCallDelta(index=0, id="call_native", name="get_time"),
            ToolCallDelta(index=0, arguments="{}"),
            TextDelta('[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Oslo"}}]'),
            Finish("tool_calls"),
        ]
    )
    wrapper = TextToolCallProvider(inner, "auto")
    reply = await collect(wrapper.stream(request()))
    assert inner.requests[0].tools == TOOLS
    first, second = reply.tool_calls
    assert (first.id, first.name, first.arguments) == ("call_native", "get_time", "{}")
    assert second.name == "get_weather" and re.fullmatch(r"[A-Za-z0-9]{9}", second.id)
    assert reply.text == ""
    assert reply.finish_reason == "tool_calls"


def test_auto_keeps_native_tools_and_history() -> None:
    original = request()
    assert TextToolCallProvider(FakeInner([]), "auto").prepare(original) is original


def test_native_with_user_text_rewrites_history_only() -> None:
    sent = TextToolCallProvider(FakeInner([]), "native", "user_text").prepare(request())
    assert sent.tools == TOOLS
    assert all(m.role != "tool" and not m.tool_calls for m in sent.messages)
    assert "get_weather" in (sent.messages[2].content or "")
    assert "18C, sunny" in (sent.messages[3].content or "")
    assert "<tools>" not in (sent.messages[0].content or "")


async def test_native_native_passes_everything_through() -> None:
    events = [
        TextDelta('<tool_call>{"name": "get_time"}</tool_call>'),
        ToolCallDelta(index=0, id="c", name="get_time", arguments="{}"),
        Finish("tool_calls"),
    ]
    inner = FakeInner(events)
    wrapper = TextToolCallProvider(inner, "native", "native")
    original = request()
    assert [e async for e in wrapper.stream(original)] == events
    assert inner.requests == [original]


async def test_tool_choice_none_offers_no_tools_and_drops_call_text() -> None:
    rejected: list[RejectedCall] = []
    inner = FakeInner(text_reply('Sure.<tool_call>{"name": "get_time"}</tool_call>'))
    wrapper = TextToolCallProvider(inner, "hermes", on_rejected=rejected.append)
    reply = await collect(wrapper.stream(request(tool_choice="none")))
    assert "<tools>" not in (inner.requests[0].messages[0].content or "")
    assert (reply.text, reply.tool_calls, reply.finish_reason) == ("Sure.", [], "stop")
    assert [(r.reason, r.name) for r in rejected] == [("unknown_tool", "get_time")]


async def test_unknown_tool_is_reported_not_surfaced() -> None:
    rejected: list[RejectedCall] = []
    inner = FakeInner(
        text_reply(
            '<tool_call>{"name": "rm_rf", "arguments": {}}</tool_call>'
            '<tool_call>{"name": "get_time", "arguments": {}}</tool_call>'
        )
    )
    wrapper = TextToolCallProvider(inner, "hermes", on_rejected=rejected.append)
    reply = await collect(wrapper.stream(request()))
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [("get_time", "{}")]
    assert [(r.reason, r.name) for r in rejected] == [("unknown_tool", "rm_rf")]
    assert "rm_rf" not in reply.text


async def test_stream_without_finish_still_gives_back_all_text() -> None:
    inner = FakeInner([TextDelta("partial <tool")])
    events = [e async for e in TextToolCallProvider(inner, "hermes").stream(request())]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "partial <tool"


def test_mistral_history_ids_are_nine_alphanumerics_and_match() -> None:
    sent = TextToolCallProvider(FakeInner([]), "mistral").prepare(request())
    calls_text = sent.messages[2].content or ""
    results_text = sent.messages[3].content or ""
    ids = re.findall(r'"id": "([^"]+)"', calls_text)
    assert len(ids) == 2 and all(re.fullmatch(r"[A-Za-z0-9]{9}", i) for i in ids)
    assert re.findall(r'"call_id": "([^"]+)"', results_text) == ids


def test_unknown_settings_are_refused() -> None:
    with pytest.raises(KeyError):
        TextToolCallProvider(FakeInner([]), "klingon")
    with pytest.raises(ValueError):
        TextToolCallProvider(FakeInner([]), "hermes", "carrier_pigeon")


async def test_aclose_closes_the_inner_provider() -> None:
    inner = FakeInner([])
    await TextToolCallProvider(inner, "hermes").aclose()
    assert inner.closed


def test_format_names() -> None:
    names = family_names()
    assert "hermes" in names and "auto" in names and "native" not in names
    formats = tool_formats()
    assert formats[0] == "native" and set(names) <= set(formats)
    assert get_family("Qwen2.5").name == "hermes"
    assert get_family(" QWEN3_CODER ").name == "qwen3_xml"


@pytest.mark.parametrize("name", [n for n in family_names() if n != "auto"])
def test_each_family_reads_what_it_writes(name: str) -> None:
    family = get_family(name)
    calls = [
        ToolCall("functions.get_weather:0", "get_weather", '{"city": "Zürich \\"Z\\"", "days": 2}'),
        ToolCall("functions.get_time:1", "get_time", "{}"),
    ]
    written = family.style.calls_text(calls)
    result = parse_text(written, family, TOOLS)
    assert [(c.name, json.loads(c.arguments)) for c in result.calls] == [
        ("get_weather", {"city": 'Zürich "Z"', "days": 2}),
        ("get_time", {}),
    ]
    assert result.content.strip() == ""
    prompt = family.style.tools_prompt([WEATHER, TIME])
    assert "get_weather" in prompt and "get_time" in prompt


def test_public_surface() -> None:
    import callisto.providers.textcalls as textcalls

    assert sorted(textcalls.__all__) == [
        "Family",
        "ParseResult",
        "RejectedCall",
        "TextCallParser",
        "TextEvent",
        "TextToolCallProvider",
        "family_names",
        "get_family",
        "parse_text",
        "tool_formats",
    ]
