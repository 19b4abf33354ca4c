"""Reasoning goes back to the models that want it, in their form, and nowhere else.

A run whose model reasons and calls a tool: after ``submit_tool_outputs`` the next upstream
request carries that reasoning as the provider or model is configured (``reasoning_content``,
a ``<think>`` block, or nothing), while no message, run step or stream event ever shows it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from callisto.config import ProviderSettings
from callisto.testing._server import ThreadedServer
from callisto.testing.fake_llm import FakeLLM, RecordedRequest, Reply
from callisto.testing.server import serve_callisto
from tests.integration.conftest import make_settings, sdk_client
from tests.integration.helpers import WEATHER_TOOL

PLAN = "secret plan: ask for the weather first"
LATER = "secret afterthought: it is sunny"


@pytest.fixture(scope="module")
def replay_server(database_url: str, fake_llm: FakeLLM) -> Iterator[ThreadedServer]:
    """A server whose providers all reach the fake LLM, each with other reasoning settings."""

    def provider(**settings: Any) -> ProviderSettings:
        return ProviderSettings(kind="openai", base_url=fake_llm.base_url, **settings)

    providers = {
        "auto": provider(),
        "off": provider(reasoning_replay="none"),
        "tags": provider(
            reasoning_replay="none",
            models={"picked": {"reasoning_replay": "think_tags"}},  # type: ignore[dict-item]
        ),
        "hermes": provider(tool_format="hermes"),
        "opened": provider(template_opens_think=True),
    }
    settings = make_settings(database_url, fake_llm, providers=providers)
    with serve_callisto(settings) as server:
        yield server


@pytest.fixture
def client(replay_server: ThreadedServer) -> Iterator[openai.OpenAI]:
    with sdk_client(replay_server.url) as sdk:
        yield sdk


def _streamed(events: Any) -> list[str]:
    with events as stream:
        return [event.model_dump_json() for event in stream]


def _tool_loop(
    client: openai.OpenAI, fake: FakeLLM, model: str, first: Reply
) -> tuple[Any, list[str]]:
    """Run ``first`` (a reply that calls get_weather), answer it, and end with a text reply
    that reasons too; return the thread and every stream event's JSON."""
    fake.script(first, Reply.text("Sunny in Tokyo.", reasoning=LATER))
    assistant = client.beta.assistants.create(model=model, tools=[WEATHER_TOOL])  # type: ignore[list-item]
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Tokyo?"}])
    events = _streamed(
        client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id)
    )
    run = client.beta.threads.runs.list(thread_id=thread.id).data[0]
    assert run.status == "requires_action", run.last_error
    [call] = run.required_action.submit_tool_outputs.tool_calls
    events += _streamed(
        client.beta.threads.runs.submit_tool_outputs_stream(
            thread_id=thread.id,
            run_id=run.id,
            tool_outputs=[{"tool_call_id": call.id, "output": "sunny"}],
        )
    )
    run = client.beta.threads.runs.retrieve(thread_id=thread.id, run_id=run.id)
    assert run.status == "completed", run.last_error
    return thread, events


def _assert_hidden(client: openai.OpenAI, thread_id: str, events: list[str]) -> None:
    """No message, run step (as served) or stream event holds any reasoning."""
    shown = list(events)
    messages = client.beta.threads.messages.with_raw_response.list(thread_id=thread_id)
    shown.append(messages.text)
    for run in client.beta.threads.runs.list(thread_id=thread_id).data:
        steps = client.beta.threads.runs.steps.with_raw_response.list(
            thread_id=thread_id, run_id=run.id
        )
        shown.append(steps.text)
        assert '"reasoning"' not in steps.text
    for text in shown:
        assert "secret" not in text


def _assistant_turns(request: RecordedRequest) -> list[dict[str, Any]]:
    return [m for m in request.messages if m["role"] == "assistant"]


def test_deepseek_gets_its_reasoning_back_as_reasoning_content(
    client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    first = Reply.tool_calls(
        ("get_weather", {"city": "Tokyo"}), text="Let me check.", reasoning=PLAN
    )
    thread, events = _tool_loop(client, fake_llm, "auto/deepseek-ai/DeepSeek-V3.2", first)
    _assert_hidden(client, thread.id, events)
    asked, answered = fake_llm.requests
    assert "reasoning_content" not in json.dumps(asked.body)
    [turn] = _assistant_turns(answered)
    # The reply's text, calls and reasoning go back as one assistant message, as written.
    assert turn["reasoning_content"] == PLAN
    assert turn["content"] == "Let me check."
    assert [c["function"]["name"] for c in turn["tool_calls"]] == ["get_weather"]
    assert answered.messages[-1]["role"] == "tool"


def test_a_later_run_keeps_the_tool_rounds_reasoning_but_not_a_text_replys(
    client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    first = Reply.tool_calls(("get_weather", {"city": "Tokyo"}), reasoning=PLAN)
    thread, _ = _tool_loop(client, fake_llm, "auto/zai-org/GLM-4.6", first)
    fake_llm.script(Reply.text("You are welcome."))
    client.beta.threads.messages.create(thread_id=thread.id, role="user", content="Thanks!")
    assistant_id = client.beta.threads.runs.list(thread_id=thread.id).data[0].assistant_id
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant_id)
    assert run.status == "completed", run.last_error
    later = fake_llm.requests[-1]
    body = json.dumps(later.body)
    # DeepSeek's API wants a tool-calling turn's reasoning in all later requests; the text
    # reply's reasoning is asked for by no model.
    assert PLAN in body and LATER not in body
    with_calls = [t for t in _assistant_turns(later) if t.get("tool_calls")]
    assert [t["reasoning_content"] for t in with_calls] == [PLAN]
    assert all("reasoning_content" not in t for t in _assistant_turns(later) if t not in with_calls)


def test_a_model_setting_sends_reasoning_as_a_think_block(
    client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    first = Reply.tool_calls(
        ("get_weather", {"city": "Tokyo"}),
        text="Checking.",
        reasoning=PLAN,
    )
    thread, events = _tool_loop(client, fake_llm, "tags/picked", first)
    _assert_hidden(client, thread.id, events)
    [turn] = _assistant_turns(fake_llm.requests[1])
    assert turn["content"] == f"<think>\n{PLAN}\n</think>\n\nChecking."
    assert "reasoning_content" not in turn


@pytest.mark.parametrize("model", ["auto/plain-model", "off/deepseek-v3.2", "tags/other"])
def test_reasoning_is_not_sent_where_not_configured(
    client: openai.OpenAI, fake_llm: FakeLLM, model: str
) -> None:
    first = Reply.tool_calls(("get_weather", {"city": "Tokyo"}), text="Checking.", reasoning=PLAN)
    thread, events = _tool_loop(client, fake_llm, model, first)
    _assert_hidden(client, thread.id, events)
    for request in fake_llm.requests:
        assert "secret" not in json.dumps(request.body)
    [turn] = _assistant_turns(fake_llm.requests[1])
    assert (turn["content"], len(turn["tool_calls"])) == ("Checking.", 1)
    assert "reasoning_content" not in turn


def test_a_think_block_of_a_text_family_goes_back_with_its_calls(
    client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    written = (
        f"<think>\n{PLAN}\n</think>\n\n"
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Tokyo"}}</tool_call>'
    )
    thread, events = _tool_loop(client, fake_llm, "hermes/Kimi-K2-Thinking", Reply.text(written))
    _assert_hidden(client, thread.id, events)
    [turn] = _assistant_turns(fake_llm.requests[1])
    assert turn["reasoning_content"] == PLAN
    assert "<tool_call>" in turn["content"] and "think>" not in turn["content"]


def test_a_template_that_opens_think_keeps_the_reasoning_out_of_the_message(
    client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(
        Reply.text(f"{PLAN}\n</think>\n\nHello there."),
        # A server with a reasoning parser: its content is the answer, not reasoning.
        Reply.text("Hello again.", reasoning=PLAN),
    )
    assistant = client.beta.assistants.create(model="opened/m")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
    events = _streamed(
        client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id)
    )
    client.beta.threads.messages.create(thread_id=thread.id, role="user", content="Hi again")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    messages = client.beta.threads.messages.list(thread_id=thread.id, order="asc").data
    texts = [m.content[0].text.value for m in messages if m.role == "assistant"]
    assert texts == ["Hello there.", "Hello again."]
    _assert_hidden(client, thread.id, events)


def test_a_responses_tool_loop_gets_its_reasoning_back(
    client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    tool = {
        "type": "function",
        "name": "get_weather",
        "parameters": WEATHER_TOOL["function"]["parameters"],
    }
    fake_llm.script(
        Reply.tool_calls(("get_weather", {"city": "Tokyo"}), reasoning=PLAN),
        Reply.text("Sunny.", reasoning=LATER),
    )
    with client.responses.stream(
        model="auto/deepseek-v3.2",
        input="Tokyo?",
        tools=[tool],  # type: ignore[list-item]
    ) as stream:
        shown = [event.model_dump_json() for event in stream]
        first = stream.get_final_response()
    [call] = [item for item in first.output if item.type == "function_call"]
    second = client.responses.create(
        model="auto/deepseek-v3.2",
        previous_response_id=first.id,
        tools=[tool],  # type: ignore[list-item]
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
    )
    assert second.output_text == "Sunny.", second.error
    [turn] = _assistant_turns(fake_llm.requests[1])
    assert turn["reasoning_content"] == PLAN
    shown += [first.model_dump_json(), second.model_dump_json()]
    shown.append(client.responses.input_items.with_raw_response.list(second.id).text)
    assert all("secret" not in text for text in shown)


def test_chat_completions_return_reasoning_apart_and_take_it_back(
    client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    tool = {"type": "function", "function": WEATHER_TOOL["function"]}
    fake_llm.script(Reply.tool_calls(("get_weather", {"city": "Tokyo"}), reasoning=PLAN))
    question = {"role": "user", "content": "Tokyo?"}
    reply = client.chat.completions.create(
        model="auto/deepseek-v3.2",
        messages=[question],  # type: ignore[list-item]
        tools=[tool],  # type: ignore[list-item]
    )
    message = reply.choices[0].message
    assert message.content is None
    assert (message.model_extra or {})["reasoning_content"] == PLAN
    [call] = message.tool_calls or []
    answer = {"role": "tool", "tool_call_id": call.id, "content": "sunny"}
    for model, sent in (("auto/deepseek-v3.2", PLAN), ("off/deepseek-v3.2", None)):
        fake_llm.script(Reply.text("Sunny.", reasoning=LATER))
        chunks = list(
            client.chat.completions.create(
                model=model,
                messages=[question, message.model_dump(exclude_none=True), answer],  # type: ignore[list-item]
                tools=[tool],  # type: ignore[list-item]
                stream=True,
            )
        )
        deltas = [c.choices[0].delta for c in chunks if c.choices]
        assert "".join(d.content or "" for d in deltas) == "Sunny."
        thought = "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas)
        assert thought == LATER
        [turn] = _assistant_turns(fake_llm.requests[-1])
        assert turn.get("reasoning_content") == sent


def test_only_an_assistant_message_has_reasoning_content(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="reasoning_content"):
        client.chat.completions.create(
            model="auto/m",
            messages=[{"role": "user", "content": "Hi", "reasoning_content": "x"}],  # type: ignore[list-item, misc]
        )


def test_a_retried_call_keeps_only_the_retrys_reasoning(
    client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    # The first call streams some reasoning and breaks before any text: it is retried, and
    # what it had reasoned is not kept.
    broken = Reply("cut", "never shown", cut_after=2, reasoning="abandoned thought")
    fake_llm.script(broken)
    first = Reply.tool_calls(("get_weather", {"city": "Tokyo"}), reasoning=PLAN)
    thread, events = _tool_loop(client, fake_llm, "auto/deepseek-v3.2", first)
    _assert_hidden(client, thread.id, events)
    assert len(fake_llm.requests) == 3
    [turn] = _assistant_turns(fake_llm.requests[-1])
    assert turn["reasoning_content"] == PLAN
