# ruff: noqa: RUF001  (DeepSeek's DSML tokens really are spelled with full-width bars)
"""The newer text tool-call formats and reasoning, end to end through a server and the SDK.

A reasoning model behind an OpenAI-compatible server without tool or reasoning parsers writes
its thinking and its calls into the content; the run still reaches ``requires_action`` with the
right call, and neither the reasoning nor the call text shows up in a message.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from callisto.testing.fake_llm import FakeLLM, Reply
from tests.integration.conftest import sdk_client
from tests.integration.helpers import TERMINAL, start, wait_for

THINKING = "<think>\nThe user wants the weather; secret plan.\n</think>\n\n"
CALLS = {
    "harmony": "<|channel|>analysis<|message|>secret plan<|end|><|start|>assistant<|channel|>"
    'commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "Tokyo"}<|call|>',
    "seed_oss": "<seed:think>secret plan</seed:think>Checking.<seed:tool_call>\n"
    "<function=get_weather>\n<parameter=city>Tokyo</parameter>\n</function>\n</seed:tool_call>",
    "deepseek_v32": THINKING + "Checking.<｜DSML｜function_calls>\n"
    '<｜DSML｜invoke name="get_weather">\n'
    '<｜DSML｜parameter name="city" string="true">Tokyo</｜DSML｜parameter>\n'
    "</｜DSML｜invoke>\n</｜DSML｜function_calls>",
    "lfm2": THINKING + "Checking.<|tool_call_start|>[get_weather(city='Tokyo')]<|tool_call_end|>",
    "jamba": THINKING
    + 'Checking.<tool_calls>[{"name": "get_weather", "arguments": {"city": "Tokyo"}}]</tool_calls>',
    "function_gemma": THINKING
    + "Checking.<start_function_call>call:get_weather{city:<escape>Tokyo<escape>}"
    "<end_function_call>",
}


@pytest.mark.parametrize("tool_format", ["family", "auto"])
@pytest.mark.parametrize("family", list(CALLS))
def test_reasoning_model_calls_through_the_openai_kind(
    make_server: Any, fake_llm: FakeLLM, family: str, tool_format: str
) -> None:
    server = make_server(
        providers={
            "local": {
                "kind": "openai",
                "base_url": fake_llm.base_url,
                "tool_format": family if tool_format == "family" else "auto",
            }
        }
    )
    client = sdk_client(server.url)
    fake_llm.script(
        Reply.text(CALLS[family], token_delay=0.0),
        Reply.text(THINKING + "It is sunny.", token_delay=0.0),
    )
    _, thread, run = start(client, "Weather in Tokyo?", model="local/m")
    run = wait_for(client, thread.id, run.id, {"requires_action"} | TERMINAL)
    assert run.status == "requires_action", run.last_error
    [call] = run.required_action.submit_tool_outputs.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "get_weather",
        {"city": "Tokyo"},
    )
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        thread_id=thread.id,
        run_id=run.id,
        tool_outputs=[{"tool_call_id": call.id, "output": "sunny"}],
    )
    assert run.status == "completed", run.last_error
    messages = client.beta.threads.messages.list(thread_id=thread.id, order="asc").data
    texts = [m.content[0].text.value for m in messages if m.role == "assistant"]
    assert texts[-1] == "It is sunny."
    for text in texts:
        assert "secret" not in text and "think" not in text and "get_weather" not in text
        assert "Tokyo" not in text and "<" not in text
    client.close()


def test_reasoning_never_reaches_a_message_with_native_tools(
    make_server: Any, fake_llm: FakeLLM
) -> None:
    server = make_server(providers={"local": {"kind": "openai", "base_url": fake_llm.base_url}})
    client = sdk_client(server.url)
    fake_llm.script(Reply.text(THINKING + "Hello there.", token_delay=0.0))
    _, thread, run = start(client, "Hi", model="local/m", tools=[])
    run = wait_for(client, thread.id, run.id, TERMINAL)
    assert run.status == "completed", run.last_error
    messages = client.beta.threads.messages.list(thread_id=thread.id, run_id=run.id).data
    assert [m.content[0].text.value for m in messages] == ["Hello there."]
    client.close()
