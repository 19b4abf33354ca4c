"""The Responses function-call round trip on every model kind: a text tool-call family through
the openai kind, Anthropic and Gemini (their fake servers), streamed and not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from callisto.testing.fake_anthropic import FakeAnthropic
from callisto.testing.fake_gemini import FakeGemini
from callisto.testing.fake_llm import FakeLLM, Reply
from tests.integration.conftest import sdk_client
from tests.integration.test_responses import WEATHER

HERMES = (
    'Let me check.<tool_call>{"name": "get_weather", "arguments": {"city": "Tokyo"}}</tool_call>'
    '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
)
MISTRAL = (
    'Let me check.[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Tokyo"}}, '
    '{"name": "get_weather", "arguments": {"city": "Paris"}}]'
)


@pytest.fixture
def kinds(
    make_server: Any, fake_llm: FakeLLM
) -> Iterator[tuple[openai.OpenAI, FakeAnthropic, FakeGemini]]:
    with FakeAnthropic() as anthropic, FakeGemini() as gemini:
        server = make_server(
            providers={
                "local": {"kind": "openai", "base_url": fake_llm.base_url, "tool_format": "hermes"},
                "mistral": {
                    "kind": "openai",
                    "base_url": fake_llm.base_url,
                    "tool_format": "mistral",
                },
                "claude": {
                    "kind": "anthropic",
                    "base_url": anthropic.base_url,
                    "api_key": "sk-ant-t",
                },
                "gem": {"kind": "gemini", "base_url": gemini.base_url, "api_key": "gm-t"},
            }
        )
        client = sdk_client(server.url)
        yield client, anthropic, gemini
        client.close()


def _round_trip(client: openai.OpenAI, model: str, *, stream: bool) -> tuple[Any, Any]:
    def create(**kwargs: Any) -> Any:
        if not stream:
            return client.responses.create(model=model, tools=[WEATHER], **kwargs)
        with client.responses.stream(model=model, tools=[WEATHER], **kwargs) as events:
            return events.get_final_response()

    first = create(input="Weather in Tokyo and Paris?")
    assert first.status == "completed", first.error
    calls = [o for o in first.output if o.type == "function_call"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("get_weather", {"city": "Tokyo"}),
        ("get_weather", {"city": "Paris"}),
    ]
    second = create(
        previous_response_id=first.id,
        input=[
            {
                "type": "function_call_output",
                "call_id": c.call_id,
                "output": f"sunny in {json.loads(c.arguments)['city']}",
            }
            for c in calls
        ],
    )
    assert second.status == "completed", second.error
    return first, second


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("model", "reply"), [("local/qwen", HERMES), ("mistral/small", MISTRAL)])
def test_text_tool_call_family(
    kinds: Any, fake_llm: FakeLLM, stream: bool, model: str, reply: str
) -> None:
    client, _, _ = kinds
    fake_llm.script(Reply.text(reply), Reply.text("Both are sunny."))
    first, second = _round_trip(client, model, stream=stream)
    assert first.output_text == "Let me check."
    assert second.output_text == "Both are sunny."
    sent = fake_llm.requests[1].body["messages"]
    assert "tools" not in fake_llm.requests[0].body
    assert "sunny in Paris" in json.dumps(sent)


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_kind(kinds: Any, stream: bool) -> None:
    client, anthropic, _ = kinds
    anthropic.reply_tool_calls(
        ("get_weather", {"city": "Tokyo"}), ("get_weather", {"city": "Paris"}), text="Checking."
    )
    anthropic.reply_text("Both are sunny.")
    first, second = _round_trip(client, "claude/claude-test", stream=stream)
    assert first.output_text == "Checking."
    assert second.output_text == "Both are sunny."
    assert second.usage.input_tokens == 10 and second.usage.output_tokens == 5
    results = [
        b
        for m in anthropic.last_body["messages"]
        for b in (m["content"] if isinstance(m["content"], list) else [])
        if b.get("type") == "tool_result"
    ]
    assert len(results) == 2


@pytest.mark.parametrize("stream", [False, True])
def test_gemini_kind(kinds: Any, stream: bool) -> None:
    client, _, gemini = kinds
    gemini.reply_tool_calls(("get_weather", {"city": "Tokyo"}), ("get_weather", {"city": "Paris"}))
    gemini.reply_text("Both are sunny.")
    _, second = _round_trip(client, "gem/gemini-test", stream=stream)
    assert second.output_text == "Both are sunny."
    parts = [p for c in gemini.last_body["contents"] for p in c["parts"]]
    assert sum("functionResponse" in p for p in parts) == 2


def test_offline_model(openai_client: openai.OpenAI) -> None:
    _, second = _round_trip(openai_client, "offline/demo", stream=False)
    assert "sunny in Tokyo" in second.output_text and "sunny in Paris" in second.output_text
