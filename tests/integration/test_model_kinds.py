"""Every model kind end to end: text tool calls through the openai kind, Anthropic and Gemini.

A run reaches ``requires_action`` with the right calls, then ``completed``, and no fragment of
a call written as text ever shows up in a message.
"""

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
from tests.integration.helpers import TERMINAL, start, wait_for

HERMES_REPLY = (
    'Let me check.<tool_call>{"name": "get_weather", "arguments": {"city": "Tokyo"}}</tool_call>'
    '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
)
MISTRAL_REPLY = '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Tokyo"}}, {"name": "get_weather", "arguments": {"city": "Paris"}}]'


def _round_trip(client: openai.OpenAI, model: str) -> tuple[Any, Any, list[Any]]:
    _, thread, run = start(client, "Weather in Tokyo and Paris?", model=model)
    run = wait_for(client, thread.id, run.id, {"requires_action"} | TERMINAL)
    assert run.status == "requires_action", run.last_error
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Tokyo"}),
        ("get_weather", {"city": "Paris"}),
    ]
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        thread_id=thread.id,
        run_id=run.id,
        tool_outputs=[
            {"tool_call_id": c.id, "output": f"sunny in {json.loads(c.function.arguments)['city']}"}
            for c in calls
        ],
    )
    assert run.status == "completed", run.last_error
    messages = client.beta.threads.messages.list(
        thread_id=thread.id, run_id=run.id, order="asc"
    ).data
    return run, thread, [m.content[0].text.value for m in messages]


@pytest.mark.parametrize(
    ("tool_format", "reply"),
    [("hermes", HERMES_REPLY), ("mistral", MISTRAL_REPLY), ("auto", HERMES_REPLY)],
)
def test_text_tool_calls_through_the_openai_kind(
    make_server: Any, fake_llm: FakeLLM, tool_format: str, reply: str
) -> None:
    server = make_server(
        providers={
            "local": {"kind": "openai", "base_url": fake_llm.base_url, "tool_format": tool_format}
        }
    )
    client = sdk_client(server.url)
    fake_llm.script(Reply.text(reply, token_delay=0.0), Reply.text("Both are sunny."))
    _, _, texts = _round_trip(client, "local/qwen")
    assert texts[-1] == "Both are sunny."
    for text in texts:
        assert "tool_call" not in text and "TOOL_CALLS" not in text and "get_weather" not in text
    if tool_format == "hermes":
        assert texts[0] == "Let me check."
    first, second = fake_llm.requests[0].body, fake_llm.requests[1].body
    if tool_format != "auto":
        # A text family gets the tools in its system prompt, not as API tools.
        assert "tools" not in first
        assert "get_weather" in first["messages"][0]["content"]
        assert all(m["role"] != "tool" for m in second["messages"])
    assert "sunny in Tokyo" in json.dumps(second["messages"])
    client.close()


def test_user_text_tool_results(make_server: Any, fake_llm: FakeLLM) -> None:
    server = make_server(
        providers={
            "hosted": {
                "kind": "openai",
                "base_url": fake_llm.base_url,
                "tool_result_style": "user_text",
            }
        }
    )
    client = sdk_client(server.url)
    fake_llm.script(
        Reply.tool_calls(("get_weather", {"city": "Tokyo"}), ("get_weather", {"city": "Paris"})),
        Reply.text("Both are sunny."),
    )
    _, _, texts = _round_trip(client, "hosted/model")
    assert texts == ["Both are sunny."]
    second = fake_llm.requests[1].body["messages"]
    assert all(m["role"] != "tool" for m in second)
    assert any(m["role"] == "user" and "sunny in Paris" in (m["content"] or "") for m in second)
    client.close()


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


def test_anthropic_kind(make_server: Any, fake_anthropic: FakeAnthropic) -> None:
    server = make_server(
        providers={
            "claude": {
                "kind": "anthropic",
                "base_url": fake_anthropic.base_url,
                "api_key": "sk-ant-test",
            }
        }
    )
    client = sdk_client(server.url)
    fake_anthropic.reply_tool_calls(
        ("get_weather", {"city": "Tokyo"}), ("get_weather", {"city": "Paris"}), text="Checking."
    )
    fake_anthropic.reply_text("Both are sunny.")
    run, _, texts = _round_trip(client, "claude/claude-test")
    assert texts == ["Checking.", "Both are sunny."]
    assert run.usage.prompt_tokens == 20 and run.usage.completion_tokens == 10
    body = fake_anthropic.last_body
    results = [
        b
        for m in body["messages"]
        for b in (m["content"] if isinstance(m["content"], list) else [])
        if b.get("type") == "tool_result"
    ]
    assert len(results) == 2
    client.close()


def test_gemini_kind(make_server: Any, fake_gemini: FakeGemini) -> None:
    server = make_server(
        providers={
            "gem": {"kind": "gemini", "base_url": fake_gemini.base_url, "api_key": "gm-test"}
        }
    )
    client = sdk_client(server.url)
    fake_gemini.reply_tool_calls(
        ("get_weather", {"city": "Tokyo"}), ("get_weather", {"city": "Paris"})
    )
    fake_gemini.reply_text("Both are sunny.")
    _, _, texts = _round_trip(client, "gem/gemini-test")
    assert texts == ["Both are sunny."]
    parts = [p for c in fake_gemini.last_body["contents"] for p in c["parts"]]
    assert sum("functionResponse" in p for p in parts) == 2
    client.close()


def test_text_call_to_an_unknown_tool_is_repaired(make_server: Any, fake_llm: FakeLLM) -> None:
    server = make_server(
        providers={
            "local": {"kind": "openai", "base_url": fake_llm.base_url, "tool_format": "hermes"}
        }
    )
    client = sdk_client(server.url)
    fake_llm.script(
        Reply.text('<tool_call>{"name": "get_wether", "arguments": {"city": "Oslo"}}</tool_call>'),
        Reply.text('<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'),
    )
    _, thread, run = start(client, "Oslo?", model="local/qwen")
    run = wait_for(client, thread.id, run.id, {"requires_action"} | TERMINAL)
    [call] = run.required_action.submit_tool_outputs.tool_calls
    assert call.function.name == "get_weather"
    assert "get_wether" in json.dumps(fake_llm.requests[1].body["messages"])
    assert client.beta.threads.messages.list(thread_id=thread.id).data[0].role == "user"
    client.beta.threads.runs.cancel(thread_id=thread.id, run_id=run.id)
    client.close()


def test_gemini_thought_signatures_come_back_from_another_process(
    make_server: Any, fake_gemini: FakeGemini
) -> None:
    # The reply with the calls is recorded by one server; the tool outputs, and so the next
    # model call, go to another (a restart, or another process of a deployment): the signature
    # Gemini sent must come back with its call, not a placeholder.
    providers = {"gem": {"kind": "gemini", "base_url": fake_gemini.base_url, "api_key": "gm"}}
    first, second = make_server(providers=providers), make_server(providers=providers)
    fake_gemini.reply_tool_calls(
        ("get_weather", {"city": "Tokyo"}), ("get_weather", {"city": "Paris"})
    )
    fake_gemini.reply_text("Both are sunny.")
    client = sdk_client(first.url)
    _, thread, run = start(client, "Tokyo and Paris?", model="gem/gemini-test")
    run = wait_for(client, thread.id, run.id, {"requires_action"})
    calls = run.required_action.submit_tool_outputs.tool_calls  # type: ignore[union-attr]
    assert all("provider_data" not in c.model_dump() for c in calls)
    steps = client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id).data
    assert "provider_data" not in json.dumps([s.model_dump() for s in steps])
    client.close()
    other = sdk_client(second.url)
    other.beta.threads.runs.submit_tool_outputs(
        thread_id=thread.id,
        run_id=run.id,
        tool_outputs=[{"tool_call_id": c.id, "output": "sunny"} for c in calls],
    )
    assert wait_for(other, thread.id, run.id, TERMINAL).status == "completed"
    parts = [p for c in fake_gemini.last_body["contents"] for p in c["parts"]]
    signatures = [p.get("thoughtSignature") for p in parts if "functionCall" in p]
    assert signatures[0] is not None and signatures[0].startswith("sig-"), signatures
    other.close()
