"""The offline model: tool calls from plain words, tool result summaries, plain answers."""

from __future__ import annotations

import json
from typing import Any, Literal

from hypothesis import given, settings
from hypothesis import strategies as st

from callisto.providers.base import (
    ChatMessage,
    ChatRequest,
    CollectedReply,
    Finish,
    Provider,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
    collect,
)
from callisto.providers.offline import OfflineProvider

WEATHER = ToolSpec(
    name="get_weather",
    description="Get the current weather for a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)
FLIGHTS = ToolSpec(
    name="get_flight_times",
    description="Flight time between two airports.",
    parameters={
        "type": "object",
        "properties": {"departure": {"type": "string"}, "arrival": {"type": "string"}},
        "required": ["departure", "arrival"],
    },
)


def user(text: str, **options: Any) -> ChatRequest:
    return ChatRequest(model="m", messages=(ChatMessage(role="user", content=text),), **options)


async def ask(request: ChatRequest) -> CollectedReply:
    return await collect(OfflineProvider().stream(request))


def test_is_a_provider() -> None:
    assert isinstance(OfflineProvider(), Provider)
    assert OfflineProvider().name == "offline"


async def test_parallel_calls_one_per_value() -> None:
    reply = await ask(user("What's the weather in Tokyo and Paris?", tools=(WEATHER, FLIGHTS)))
    assert reply.finish_reason == "tool_calls"
    assert [(c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [
        ("get_weather", {"city": "Tokyo"}),
        ("get_weather", {"city": "Paris"}),
    ]
    ids = [c.id for c in reply.tool_calls]
    assert all(i.startswith("call_") for i in ids) and len(set(ids)) == 2


async def test_several_required_arguments_fill_one_call() -> None:
    reply = await ask(user("What's the flight time between LAX and JFK?", tools=(WEATHER, FLIGHTS)))
    assert [(c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [
        ("get_flight_times", {"departure": "LAX", "arrival": "JFK"})
    ]


async def test_multiword_names_and_numbers_and_enums() -> None:
    tool = ToolSpec(
        name="convert_temperature",
        description="Convert a temperature reading in a city",
        parameters={
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "value": {"type": "number"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "value", "unit"],
        },
    )
    reply = await ask(user("Convert the temperature 21.5 in New York to fahrenheit", tools=(tool,)))
    assert json.loads(reply.tool_calls[0].arguments) == {
        "city": "New York",
        "value": 21.5,
        "unit": "fahrenheit",
    }


async def test_parallel_tool_calls_false_makes_one_call() -> None:
    request = user("Weather in Tokyo and Paris?", tools=(WEATHER,), parallel_tool_calls=False)
    reply = await ask(request)
    assert [json.loads(c.arguments) for c in reply.tool_calls] == [{"city": "Tokyo"}]


async def test_tool_choice_none_never_calls() -> None:
    reply = await ask(user("Weather in Tokyo?", tools=(WEATHER,), tool_choice="none"))
    assert reply.tool_calls == [] and reply.finish_reason == "stop"
    assert "offline model" in reply.text


async def test_no_matching_tool_answers_plainly() -> None:
    reply = await ask(user("Tell me a joke about Berlin", tools=(WEATHER,)))
    assert reply.tool_calls == []
    assert reply.text == 'This is the offline model. You said: "Tell me a joke about Berlin"'


async def test_required_and_forced_call_without_word_match() -> None:
    required = await ask(user("Tell me about Berlin", tools=(WEATHER,), tool_choice="required"))
    assert json.loads(required.tool_calls[0].arguments) == {"city": "Berlin"}
    forced = await ask(
        user("Go from SFO to ORD", tools=(WEATHER, FLIGHTS), forced_tool="get_weather")
    )
    assert [c.name for c in forced.tool_calls] == ["get_weather", "get_weather"]


async def test_cannot_fill_required_arguments_answers_instead() -> None:
    reply = await ask(user("what is the weather like?", tools=(WEATHER,)))
    assert reply.tool_calls == [] and reply.text.startswith("This is the offline model.")


async def test_summarises_tool_results() -> None:
    calls = (
        ToolCall(id="call_1", name="get_weather", arguments='{"city": "Tokyo"}'),
        ToolCall(id="call_2", name="get_weather", arguments='{"city": "Paris"}'),
    )
    request = ChatRequest(
        model="m",
        messages=(
            ChatMessage(role="user", content="Weather in Tokyo and Paris?"),
            ChatMessage(role="assistant", tool_calls=calls),
            ChatMessage(role="tool", tool_call_id="call_1", content="22C sunny"),
            ChatMessage(role="tool", tool_call_id="call_2", content="18C rain"),
        ),
        tools=(WEATHER,),
    )
    reply = await ask(request)
    assert reply.text == (
        "Here is what I found: get_weather(Tokyo): 22C sunny; get_weather(Paris): 18C rain."
    )
    assert reply.finish_reason == "stop"


async def test_json_object_and_json_schema() -> None:
    reply = await ask(user("hi there", response_format={"type": "json_object"}))
    assert json.loads(reply.text) == {"answer": 'This is the offline model. You said: "hi there"'}
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}, "count": {"type": "integer"}},
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    reply = await ask(user("hi", response_format=fmt))
    assert json.loads(reply.text) == {
        "title": 'This is the offline model. You said: "hi"',
        "count": 0,
    }


async def test_streams_words_and_counts_usage() -> None:
    events = [e async for e in OfflineProvider().stream(user("one two three"))]
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 3
    assert events[-2] == Usage(prompt_tokens=3, completion_tokens=len(deltas))
    assert events[-1] == Finish("stop")


async def test_max_tokens_stops_with_length() -> None:
    reply = await ask(user("one two three four five six", max_tokens=3))
    assert reply.finish_reason == "length"
    assert reply.text == "This is the "
    assert reply.usage == Usage(prompt_tokens=6, completion_tokens=3)


async def test_deterministic() -> None:
    request = user("Summarise this: apples, pears and Plums.")
    first, second = await ask(request), await ask(request)
    assert first.text == second.text


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(max_size=80),
    choice=st.sampled_from(["auto", "none", "required"]),
    max_tokens=st.none() | st.integers(min_value=0, max_value=5),
)
async def test_any_message_gives_a_well_formed_stream(
    text: str, choice: Literal["auto", "none", "required"], max_tokens: int | None
) -> None:
    request = user(text, tools=(WEATHER, FLIGHTS), tool_choice=choice, max_tokens=max_tokens)
    events = [e async for e in OfflineProvider().stream(request)]
    assert isinstance(events[-1], Finish) and isinstance(events[-2], Usage)
    assert events[-2].completion_tokens == len(events) - 2
    reply = await collect(OfflineProvider().stream(request))
    if reply.finish_reason == "tool_calls":
        assert choice != "none"
        assert all(isinstance(json.loads(c.arguments), dict) for c in reply.tool_calls)
    if max_tokens is not None:
        assert len(events) - 2 <= max_tokens
