"""AnthropicProvider against the fake Messages API, over real loopback HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from callisto.config import ProviderSettings
from callisto.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
)
from callisto.providers.anthropic import AnthropicProvider
from callisto.providers.base import (
    ChatMessage,
    ChatRequest,
    Finish,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    Usage,
    collect,
)
from callisto.testing._scripted import RecordedRequest
from callisto.testing.fake_anthropic import FakeAnthropic, ScriptedReply, validate_request

KEY = "sk-ant-test-0123456789"
WEATHER = ToolSpec(
    name="get_weather",
    description="Weather in a city",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
)


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_key=KEY) as server:
        yield server


@pytest.fixture
async def provider(fake: FakeAnthropic) -> AsyncIterator[AnthropicProvider]:
    settings = ProviderSettings(
        kind="anthropic", base_url=fake.base_url, api_key=SecretStr(KEY), timeout=5
    )
    adapter = AnthropicProvider("anthropic", settings)
    yield adapter
    await adapter.aclose()


def ask(text: str = "hi", **options: Any) -> ChatRequest:
    return ChatRequest(
        model="claude-test",
        messages=(ChatMessage(role="user", content=text),),
        **options,
    )


async def events_of(provider: AnthropicProvider, request: ChatRequest) -> list[object]:
    return [event async for event in provider.stream(request)]


async def test_text_streams_in_pieces_with_usage_and_stop(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.reply_text("Hello there", prompt_tokens=12, completion_tokens=3, chunk_size=5)
    events = await events_of(provider, ask())
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hello", " ther", "e"]
    assert events[-2:] == [Usage(12, 3), Finish("stop")]


async def test_request_carries_headers_model_stream_and_default_max_tokens(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.reply_text("ok")
    await collect(provider.stream(ask(temperature=0.2, top_p=0.9)))
    request = fake.requests[-1]
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["content-type"] == "application/json"
    body = request.body
    assert body["model"] == "claude-test"
    assert body["stream"] is True
    assert body["max_tokens"] == 4096
    assert body["temperature"] == 0.2
    assert "top_p" not in body  # recent models refuse both; temperature wins
    assert "tools" not in body


async def test_top_p_alone_is_sent(fake: FakeAnthropic, provider: AnthropicProvider) -> None:
    await collect(provider.stream(ask(top_p=0.5)))
    assert fake.last_body["top_p"] == 0.5
    assert "temperature" not in fake.last_body


async def test_request_key_overrides_configured_key(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.api_key = "sk-other"
    reply = await collect(provider.stream(ask(api_key="sk-other")))
    assert reply.text == "ok"
    assert fake.requests[-1].headers["x-api-key"] == "sk-other"


async def test_one_tool_call(fake: FakeAnthropic, provider: AnthropicProvider) -> None:
    fake.reply_tool_calls(("get_weather", {"city": "Paris"}), text="Let me check.")
    events = await events_of(provider, ask("weather?", tools=(WEATHER,)))
    calls = [e for e in events if isinstance(e, ToolCallDelta)]
    assert calls[0].index == 0 and calls[0].name == "get_weather"
    assert calls[0].id is not None and calls[0].id.startswith("toolu_")
    assert all(c.id is None and c.name is None for c in calls[1:])
    assert json.loads("".join(c.arguments for c in calls)) == {"city": "Paris"}
    assert events[-1] == Finish("tool_calls")
    reply = await collect(_replay(events))
    assert reply.text == "Let me check."


async def _replay(events: list[object]) -> AsyncIterator[TextDelta]:
    for event in events:
        yield event  # type: ignore[misc]


async def test_parallel_tool_calls_are_indexed_from_zero(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.reply_tool_calls(
        ("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Tokyo"}), text="Both."
    )
    reply = await collect(provider.stream(ask("weather?", tools=(WEATHER,))))
    assert [json.loads(c.arguments) for c in reply.tool_calls] == [
        {"city": "Paris"},
        {"city": "Tokyo"},
    ]
    assert len({c.id for c in reply.tool_calls}) == 2
    assert reply.finish_reason == "tool_calls"


async def test_tool_call_without_input_has_empty_object_arguments(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.reply_tool_calls(("now", {}))
    reply = await collect(provider.stream(ask("time?", tools=(ToolSpec(name="now"),))))
    assert reply.tool_calls[0].name == "now"
    assert reply.tool_calls[0].arguments == "{}"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, {"type": "auto"}),
        ({"tool_choice": "required"}, {"type": "any"}),
        ({"forced_tool": "get_weather"}, {"type": "tool", "name": "get_weather"}),
        ({"tool_choice": "none"}, {"type": "none"}),
        ({"parallel_tool_calls": False}, {"type": "auto", "disable_parallel_tool_use": True}),
    ],
)
async def test_tool_choice_mapping(
    fake: FakeAnthropic,
    provider: AnthropicProvider,
    options: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    await collect(provider.stream(ask(tools=(WEATHER,), **options)))
    body = fake.last_body
    assert body["tool_choice"] == expected
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather in a city",
            "input_schema": WEATHER.parameters,
        }
    ]


async def test_history_round_trip(fake: FakeAnthropic, provider: AnthropicProvider) -> None:
    history = (
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(role="system", content="Use tools."),
        ChatMessage(role="user", content="Weather in Paris and Tokyo?"),
        ChatMessage(
            role="assistant",
            content="Checking.",
            tool_calls=(
                ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}'),
                ToolCall(id="call_2", name="get_weather", arguments='{"city": "Tokyo"}'),
            ),
        ),
        ChatMessage(role="tool", tool_call_id="call_1", content="22C"),
        ChatMessage(role="tool", tool_call_id="call_2", content='{"temp": 18}'),
        ChatMessage(role="user", content="And tomorrow?"),
        ChatMessage(role="user", content="Thanks."),
    )
    fake.reply_text("Sunny.")
    reply = await collect(
        provider.stream(ChatRequest(model="claude-test", messages=history, tools=(WEATHER,)))
    )
    assert reply.text == "Sunny."  # the fake accepted the history as the real API would
    body = fake.last_body
    assert body["system"] == "Be brief.\n\nUse tools."
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Tokyo?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "call_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {
                    "type": "tool_use",
                    "id": "call_2",
                    "name": "get_weather",
                    "input": {"city": "Tokyo"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "22C"},
                {"type": "tool_result", "tool_use_id": "call_2", "content": '{"temp": 18}'},
                {"type": "text", "text": "And tomorrow?"},
                {"type": "text", "text": "Thanks."},
            ],
        },
    ]


async def test_max_tokens_is_passed_and_length_finish(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.reply_text("cut", finish="max_tokens")
    reply = await collect(provider.stream(ask(max_tokens=7)))
    assert fake.last_body["max_tokens"] == 7
    assert reply.finish_reason == "length"


@pytest.mark.parametrize(
    ("status", "error", "retryable"),
    [
        (400, ProviderBadRequest, False),
        (401, ProviderAuthError, False),
        (403, ProviderAuthError, False),
        (404, ProviderBadRequest, False),
        (429, ProviderRateLimited, True),
        (500, ProviderServerError, True),
        (529, ProviderServerError, True),
    ],
)
async def test_http_errors_map_to_provider_errors(
    fake: FakeAnthropic,
    provider: AnthropicProvider,
    status: int,
    error: type[ProviderError],
    retryable: bool,
) -> None:
    fake.reply_error(status, f"scripted {status} trouble")
    with pytest.raises(error) as caught:
        await collect(provider.stream(ask()))
    assert type(caught.value) is error
    assert caught.value.status == status
    assert caught.value.retryable is retryable
    assert f"scripted {status} trouble" in caught.value.message


async def test_rate_limit_carries_retry_after(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.reply_error(429, "slow down", retry_after=7)
    with pytest.raises(ProviderRateLimited) as caught:
        await collect(provider.stream(ask()))
    assert caught.value.retry_after == 7.0


async def test_wrong_key_is_auth_error_without_the_key(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    with pytest.raises(ProviderAuthError) as caught:
        await collect(provider.stream(ask(api_key="sk-wrong-secret")))
    assert "sk-wrong-secret" not in str(caught.value)


async def test_key_echoed_by_the_api_is_masked(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.reply_error(401, f"invalid x-api-key {KEY}")
    with pytest.raises(ProviderAuthError) as caught:
        await collect(provider.stream(ask()))
    assert KEY not in str(caught.value) and KEY not in caught.value.message
    assert "***" in caught.value.message


async def test_error_event_mid_stream_is_a_server_error(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.enqueue(ScriptedReply(text="partial", stream_error=True))
    seen: list[object] = []
    with pytest.raises(ProviderServerError) as caught:
        async for event in provider.stream(ask()):
            seen.append(event)
    assert "overloaded_error" in caught.value.message
    assert TextDelta("part") in seen


async def test_slow_answer_is_a_timeout(fake: FakeAnthropic) -> None:
    settings = ProviderSettings(
        kind="anthropic", base_url=fake.base_url, api_key=SecretStr(KEY), timeout=0.2
    )
    adapter = AnthropicProvider("anthropic", settings)
    fake.enqueue(ScriptedReply(text="late", delay=1.0))
    try:
        with pytest.raises(ProviderTimeout):
            await collect(adapter.stream(ask()))
    finally:
        await adapter.aclose()


async def test_unreachable_server_is_a_server_error() -> None:
    with FakeAnthropic() as gone:
        url = gone.base_url
    adapter = AnthropicProvider("anthropic", ProviderSettings(kind="anthropic", base_url=url))
    try:
        with pytest.raises(ProviderServerError):
            await collect(adapter.stream(ask()))
    finally:
        await adapter.aclose()


def test_fake_refuses_what_the_messages_api_refuses() -> None:
    def problem(body: dict[str, object]) -> str:
        headers = {"anthropic-version": "2023-06-01"}
        return validate_request(RecordedRequest("POST", "/v1/messages", {}, headers, body)) or ""

    user = {"role": "user", "content": "hi"}
    call = {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}],
    }
    result = {"type": "tool_result", "tool_use_id": "t1", "content": "x"}
    assert "max_tokens" in problem({"messages": [user]})
    assert "alternate" in problem({"max_tokens": 5, "messages": [user, user]})
    assert "without tool_result" in problem({"max_tokens": 5, "messages": [user, call, user]})
    late = {"role": "user", "content": [{"type": "text", "text": "a"}, result]}
    assert "come first" in problem({"max_tokens": 5, "messages": [user, call, late]})
    assert (
        problem({"max_tokens": 5, "messages": [user, call, {"role": "user", "content": [result]}]})
        == ""
    )


def test_thinking_blocks_never_reach_the_content() -> None:
    from callisto.providers.anthropic import _StreamReader

    reader = _StreamReader("anthropic")
    stream = [
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": ""},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "secret"},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": "sig"},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "redacted_thinking", "data": "x"},
        },
        {"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "Hi."}},
    ]
    events = [e for item in stream for e in reader.feed(item)]
    assert events == [TextDelta("Hi.")]


async def test_calls_and_error_answers_keep_one_connection(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    # The adapter stops at message_stop; the client reads the body's end, keeping the
    # connection for the next call.
    fake.reply_error(429, "slow down")
    with pytest.raises(ProviderRateLimited):
        await events_of(provider, ask())
    for n in range(10):
        fake.reply_text(f"answer {n}")
        events = await events_of(provider, ask())
        assert events[-1] == Finish("stop")
    assert len(fake.requests) == 11
    assert len({r.connection for r in fake.requests}) == 1
