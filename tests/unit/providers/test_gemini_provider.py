"""GeminiProvider against the fake Gemini API, over real loopback HTTP."""

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
from callisto.providers._gemini_schema import to_gemini_schema
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
from callisto.providers.gemini import GeminiProvider
from callisto.testing.fake_gemini import FakeGemini, ScriptedReply, validate_request

KEY = "AIza-test-0123456789"
WEATHER = ToolSpec(
    name="get_weather",
    description="Weather in a city",
    parameters={
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"anyOf": [{"enum": ["C", "F"]}, {"type": "null"}], "default": None},
        },
        "required": ["city"],
        "additionalProperties": False,
    },
    strict=True,
)


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(api_key=KEY) as server:
        yield server


@pytest.fixture
async def provider(fake: FakeGemini) -> AsyncIterator[GeminiProvider]:
    settings = ProviderSettings(
        kind="gemini", base_url=fake.base_url, api_key=SecretStr(KEY), timeout=5
    )
    adapter = GeminiProvider("gemini", settings)
    yield adapter
    await adapter.aclose()


def ask(text: str = "hi", **options: Any) -> ChatRequest:
    return ChatRequest(
        model="gemini-test", messages=(ChatMessage(role="user", content=text),), **options
    )


async def test_text_streams_with_usage_and_stop(fake: FakeGemini, provider: GeminiProvider) -> None:
    fake.reply_text("Hello there", prompt_tokens=12, completion_tokens=3, chunk_size=5)
    events = [e async for e in provider.stream(ask())]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hello", " ther", "e"]
    assert events[-2:] == [Usage(12, 3), Finish("stop")]
    request = fake.requests[-1]
    assert request.path == "/v1beta/models/gemini-test:streamGenerateContent"
    assert request.query == {"alt": "sse"}
    assert request.headers["x-goog-api-key"] == KEY
    assert request.body["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]


async def test_generation_config_and_json_mode(fake: FakeGemini, provider: GeminiProvider) -> None:
    options: dict[str, Any] = {"temperature": 0.3, "top_p": 0.8, "max_tokens": 50}
    await collect(provider.stream(ask(response_format={"type": "json_object"}, **options)))
    assert fake.last_body["generationConfig"] == {
        "temperature": 0.3,
        "topP": 0.8,
        "maxOutputTokens": 50,
        "responseMimeType": "application/json",
    }


async def test_request_key_overrides_configured_key(
    fake: FakeGemini, provider: GeminiProvider
) -> None:
    fake.api_key = "AIza-other"
    assert (await collect(provider.stream(ask(api_key="AIza-other")))).text == "ok"


async def test_one_tool_call_is_one_complete_delta(
    fake: FakeGemini, provider: GeminiProvider
) -> None:
    fake.reply_tool_calls(("get_weather", {"city": "Paris"}))
    events = [e async for e in provider.stream(ask("weather?", tools=(WEATHER,)))]
    calls = [e for e in events if isinstance(e, ToolCallDelta)]
    assert len(calls) == 1
    assert calls[0].index == 0 and calls[0].name == "get_weather"
    assert calls[0].id is not None and calls[0].id.startswith("call_")
    assert json.loads(calls[0].arguments) == {"city": "Paris"}
    assert events[-1] == Finish("tool_calls")


async def test_tools_are_declared_in_gemini_schema(
    fake: FakeGemini, provider: GeminiProvider
) -> None:
    await collect(provider.stream(ask(tools=(WEATHER, ToolSpec(name="now")))))
    declarations = fake.last_body["tools"][0]["functionDeclarations"]
    assert declarations[0] == {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "OBJECT",
            "properties": {
                "city": {"type": "STRING"},
                "unit": {"type": "STRING", "enum": ["C", "F"], "nullable": True, "default": None},
            },
            "required": ["city"],
        },
    }
    assert declarations[1] == {"name": "now", "description": ""}


def test_schema_conversion_inlines_refs_and_merges_types() -> None:
    schema = {
        "type": "object",
        "$defs": {"Point": {"type": "object", "properties": {"x": {"type": "number"}}}},
        "properties": {
            "at": {"$ref": "#/$defs/Point", "description": "where"},
            "tags": {"type": ["array", "null"], "items": {"const": "a"}},
            "n": {"oneOf": [{"type": "integer"}, {"type": "string", "format": "uuid"}]},
        },
    }
    assert to_gemini_schema(schema) == {
        "type": "OBJECT",
        "properties": {
            "at": {
                "type": "OBJECT",
                "description": "where",
                "properties": {"x": {"type": "NUMBER"}},
            },
            "tags": {"type": "ARRAY", "nullable": True, "items": {"type": "STRING", "enum": ["a"]}},
            "n": {"anyOf": [{"type": "INTEGER"}, {"type": "STRING"}]},
        },
    }


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, {"mode": "AUTO"}),
        ({"tool_choice": "required"}, {"mode": "ANY"}),
        ({"tool_choice": "none"}, {"mode": "NONE"}),
        ({"forced_tool": "get_weather"}, {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
    ],
)
async def test_tool_choice_mapping(
    fake: FakeGemini,
    provider: GeminiProvider,
    options: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    await collect(provider.stream(ask(tools=(WEATHER,), **options)))
    assert fake.last_body["toolConfig"] == {"functionCallingConfig": expected}


async def test_parallel_calls_and_one_call_when_parallel_is_off(
    fake: FakeGemini, provider: GeminiProvider
) -> None:
    pair = (("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Tokyo"}))
    fake.reply_tool_calls(*pair, text="Checking.")
    fake.reply_tool_calls(*pair)
    both = await collect(provider.stream(ask(tools=(WEATHER,))))
    one = await collect(provider.stream(ask(tools=(WEATHER,), parallel_tool_calls=False)))
    assert both.text == "Checking."
    assert [json.loads(c.arguments)["city"] for c in both.tool_calls] == ["Paris", "Tokyo"]
    assert len({c.id for c in both.tool_calls}) == 2
    assert both.finish_reason == "tool_calls"
    assert [json.loads(c.arguments)["city"] for c in one.tool_calls] == ["Paris"]


async def test_history_round_trip_echoes_names_and_signatures(
    fake: FakeGemini, provider: GeminiProvider
) -> None:
    fake.reply_tool_calls(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Tokyo"}))
    first = await collect(provider.stream(ask("Weather?", tools=(WEATHER,))))
    paris, tokyo = first.tool_calls
    history = (
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(role="user", content="Weather?"),
        ChatMessage(role="assistant", tool_calls=(paris, tokyo)),
        ChatMessage(role="tool", tool_call_id=paris.id, content='{"temp": 22}'),
        ChatMessage(role="tool", tool_call_id=tokyo.id, content="rainy"),
        ChatMessage(role="user", content="Thanks."),
    )
    fake.reply_text("Done.")
    reply = await collect(
        provider.stream(ChatRequest(model="gemini-test", messages=history, tools=(WEATHER,)))
    )
    assert reply.text == "Done."  # the fake accepted the history as the real API would
    body = fake.last_body
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    model_turn = body["contents"][1]
    assert model_turn["role"] == "model"
    assert [p["functionCall"] for p in model_turn["parts"]] == [
        {"name": "get_weather", "args": {"city": "Paris"}},
        {"name": "get_weather", "args": {"city": "Tokyo"}},
    ]
    assert model_turn["parts"][0]["thoughtSignature"].startswith("sig-")
    assert "thoughtSignature" not in model_turn["parts"][1]
    assert body["contents"][2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"result": {"temp": 22}}}},
            {"functionResponse": {"name": "get_weather", "response": {"result": "rainy"}}},
            {"text": "Thanks."},
        ],
    }


async def test_history_from_elsewhere_gets_the_placeholder_signature(
    fake: FakeGemini, provider: GeminiProvider
) -> None:
    history = (
        ChatMessage(role="user", content="Time?"),
        ChatMessage(role="assistant", tool_calls=(ToolCall("call_x", "now", ""),)),
        ChatMessage(role="tool", tool_call_id="call_x", content="noon"),
    )
    await collect(provider.stream(ChatRequest(model="gemini-test", messages=history)))
    part = fake.last_body["contents"][1]["parts"][0]
    assert part == {
        "functionCall": {"name": "now", "args": {}},
        "thoughtSignature": "skip_thought_signature_validator",
    }


@pytest.mark.parametrize(
    ("finish", "expected"),
    [("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("STOP", "stop")],
)
async def test_finish_reasons(
    fake: FakeGemini, provider: GeminiProvider, finish: str, expected: str
) -> None:
    fake.reply_text("cut", finish=finish)
    assert (await collect(provider.stream(ask()))).finish_reason == expected


@pytest.mark.parametrize(
    ("status", "error", "retryable"),
    [
        (400, ProviderBadRequest, False),
        (401, ProviderAuthError, False),
        (403, ProviderAuthError, False),
        (404, ProviderBadRequest, False),
        (429, ProviderRateLimited, True),
        (500, ProviderServerError, True),
        (503, ProviderServerError, True),
    ],
)
async def test_http_errors_map_to_provider_errors(
    fake: FakeGemini,
    provider: GeminiProvider,
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


async def test_rate_limit_reads_retry_info(fake: FakeGemini, provider: GeminiProvider) -> None:
    fake.reply_error(429, "quota", retry_after=31)
    with pytest.raises(ProviderRateLimited) as caught:
        await collect(provider.stream(ask()))
    assert caught.value.retry_after == 31.0


async def test_invalid_key_is_auth_error_without_the_key(
    fake: FakeGemini, provider: GeminiProvider
) -> None:
    with pytest.raises(ProviderAuthError) as caught:
        await collect(provider.stream(ask(api_key="AIza-wrong-secret")))
    assert "AIza-wrong-secret" not in str(caught.value)
    assert caught.value.status == 400


async def test_key_echoed_by_the_api_is_masked(fake: FakeGemini, provider: GeminiProvider) -> None:
    fake.reply_error(403, f"key {KEY} is suspended")
    with pytest.raises(ProviderAuthError) as caught:
        await collect(provider.stream(ask()))
    assert KEY not in str(caught.value) and "***" in caught.value.message


async def test_error_chunk_mid_stream_is_a_server_error(
    fake: FakeGemini, provider: GeminiProvider
) -> None:
    fake.enqueue(ScriptedReply(text="partial", stream_error=True))
    seen: list[object] = []
    with pytest.raises(ProviderServerError) as caught:
        async for event in provider.stream(ask()):
            seen.append(event)
    assert "internal error" in caught.value.message
    assert TextDelta("part") in seen


async def test_slow_answer_is_a_timeout(fake: FakeGemini) -> None:
    settings = ProviderSettings(
        kind="gemini", base_url=fake.base_url, api_key=SecretStr(KEY), timeout=0.2
    )
    adapter = GeminiProvider("gemini", settings)
    fake.enqueue(ScriptedReply(text="late", delay=1.0))
    try:
        with pytest.raises(ProviderTimeout):
            await collect(adapter.stream(ask()))
    finally:
        await adapter.aclose()


def test_fake_refuses_what_gemini_refuses() -> None:
    user = {"role": "user", "parts": [{"text": "hi"}]}
    call = {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]}
    loose = {"type": "object", "properties": {}, "additionalProperties": False}
    tools = [{"functionDeclarations": [{"name": "f", "parameters": loose}]}]
    assert "additionalProperties" in (validate_request({"contents": [user], "tools": tools}) or "")
    assert "function response parts" in (validate_request({"contents": [user, call, user]}) or "")
    assert "valid role" in (validate_request({"contents": [{"role": "tool", "parts": []}]}) or "")


def test_thought_parts_never_reach_the_content() -> None:
    from collections import OrderedDict

    from callisto.providers.gemini import _StreamReader

    reader = _StreamReader(OrderedDict(), parallel=True)
    chunk = {
        "candidates": [
            {"content": {"parts": [{"text": "secret plan", "thought": True}, {"text": "Hi."}]}}
        ]
    }
    assert reader.feed(chunk) == [TextDelta("Hi.")]


async def test_calls_and_error_answers_keep_one_connection(
    fake: FakeGemini, provider: GeminiProvider
) -> None:
    fake.reply_error(429, "slow down")
    with pytest.raises(ProviderRateLimited):
        [e async for e in provider.stream(ask())]
    for n in range(10):
        fake.reply_text(f"answer {n}")
        events = [e async for e in provider.stream(ask())]
        assert events[-1] == Finish("stop")
    assert len(fake.requests) == 11
    assert len({r.connection for r in fake.requests}) == 1
