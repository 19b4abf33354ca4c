"""The Responses API through the official SDK: plain text, function calling, the stored object.

A response runs on the engine: its function calls are validated (and repaired) as runs' are,
and ``previous_response_id`` with ``function_call_output`` items continues it.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from callisto.testing.fake_llm import FakeLLM, Reply

WEATHER: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}

# A question, a call, its output and the answer: as items, and as the model sees them when the
# next question comes.
EXCHANGE_ITEMS = ["message", "function_call", "function_call_output", "message"]
RECALL_ROLES = ["user", "assistant", "tool", "assistant", "user"]


def test_plain_text_response(openai_client: openai.OpenAI, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.text("Hello there, friend."))
    response = openai_client.responses.create(
        model="fake/m", input="Say hello.", instructions="Be brief.", metadata={"k": "v"}
    )
    assert response.object == "response"
    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.output_text == "Hello there, friend."
    assert response.instructions == "Be brief."
    assert response.metadata == {"k": "v"}
    assert response.usage is not None and response.usage.total_tokens > 0
    sent = fake_llm.requests[0].messages
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[-1]["content"] == "Say hello."
    again = openai_client.responses.retrieve(response.id)
    assert again.output_text == "Hello there, friend."
    assert again.model_dump() == response.model_dump()


def test_function_call_round_trip_with_previous_response_id(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(
        Reply.tool_calls(("get_weather", {"city": "Tokyo"}), ("get_weather", {"city": "Paris"})),
        Reply.text("Tokyo is sunny, Paris rains."),
    )
    first = openai_client.responses.create(
        model="fake/m", input="Weather in Tokyo and Paris?", tools=[WEATHER]
    )
    assert first.status == "completed"
    calls = [item for item in first.output if item.type == "function_call"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("get_weather", {"city": "Tokyo"}),
        ("get_weather", {"city": "Paris"}),
    ]
    assert all(c.status == "completed" and c.call_id.startswith("call_") for c in calls)
    assert first.tools[0].name == "get_weather"  # type: ignore[union-attr]

    second = openai_client.responses.create(
        model="fake/m",
        previous_response_id=first.id,
        tools=[WEATHER],
        input=[
            {"type": "function_call_output", "call_id": c.call_id, "output": f"{i} sunny"}
            for i, c in enumerate(calls)
        ],
    )
    assert second.status == "completed", second.error
    assert second.output_text == "Tokyo is sunny, Paris rains."
    assert second.previous_response_id == first.id
    # The model saw the question, its calls and their outputs.
    sent = fake_llm.requests[1].messages
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
    assert [m["content"] for m in sent if m["role"] == "tool"] == ["0 sunny", "1 sunny"]
    # The first response keeps its own output.
    assert openai_client.responses.retrieve(first.id).output[0].type == "function_call"
    items = openai_client.responses.input_items.list(second.id, order="asc").data
    assert [i.type for i in items] == ["function_call_output", "function_call_output"]


def test_invalid_call_is_repaired_before_the_client_sees_it(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(
        Reply.tool_calls(("get_weather", {"town": "Tokyo"})),
        Reply.tool_calls(("get_weather", {"city": "Tokyo"})),
    )
    response = openai_client.responses.create(
        model="fake/m", input="Weather in Tokyo?", tools=[WEATHER]
    )
    calls = [item for item in response.output if item.type == "function_call"]
    assert [json.loads(c.arguments) for c in calls] == [{"city": "Tokyo"}]
    assert len(fake_llm.requests) == 2


def test_inline_history_without_previous_response(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Reply.text("It is 21C in Oslo."))
    response = openai_client.responses.create(
        model="fake/m",
        tools=[WEATHER],
        input=[
            {"role": "developer", "content": "Answer in one sentence."},
            {"role": "user", "content": "Weather in Oslo?"},
            {
                "type": "function_call",
                "call_id": "call_x1",
                "name": "get_weather",
                "arguments": '{"city":"Oslo"}',
            },
            {"type": "function_call_output", "call_id": "call_x1", "output": "21C"},
        ],
    )
    assert response.output_text == "It is 21C in Oslo."
    sent = fake_llm.requests[0].messages
    assert sent[0]["role"] == "system" and "Answer in one sentence." in sent[0]["content"]
    assert [m["role"] for m in sent[1:]] == ["user", "assistant", "tool"]
    assert sent[2]["tool_calls"][0]["id"] == "call_x1"
    assert sent[3] == {"role": "tool", "tool_call_id": "call_x1", "content": "21C"}


def test_delete_and_errors(openai_client: openai.OpenAI, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.text("Hi."))
    response = openai_client.responses.create(model="fake/m", input="Hi")
    deleted = openai_client.responses.delete(response.id)
    assert deleted is None or getattr(deleted, "deleted", True)
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.retrieve(response.id)
    with pytest.raises(openai.BadRequestError, match="previous_response_id"):
        openai_client.responses.create(
            model="fake/m", input="x", previous_response_id="resp_x", conversation="conv_x"
        )
    with pytest.raises(openai.BadRequestError, match="not found"):
        openai_client.responses.create(model="fake/m", input="x", previous_response_id="resp_nope")
    with pytest.raises(openai.BadRequestError, match="web_search"):
        openai_client.responses.create(model="fake/m", input="x", tools=[{"type": "web_search"}])
    with pytest.raises(openai.BadRequestError, match="No tool output found"):
        openai_client.responses.create(
            model="fake/m",
            input=[{"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}],
        )
    with pytest.raises(openai.BadRequestError, match="No tool call found"):
        openai_client.responses.create(
            model="fake/m", input=[{"type": "function_call_output", "call_id": "c9", "output": "x"}]
        )
    with pytest.raises(openai.BadRequestError, match="background"):
        openai_client.responses.create(model="fake/m", input="x", background=True, store=False)


def test_no_key_reads_changes_or_deletes_the_internal_assistant(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    # Runs of every project's responses name it: a project changing its instructions would
    # change every other project's responses.
    fake_llm.script(Reply.text("One."), Reply.text("Two."))
    assert openai_client.responses.create(model="fake/m", input="1").output_text == "One."
    for attempt in (
        lambda: openai_client.beta.assistants.retrieve("callisto_responses"),
        lambda: openai_client.beta.assistants.update("callisto_responses", instructions="Lie."),
        lambda: openai_client.beta.assistants.delete("callisto_responses"),
    ):
        with pytest.raises(openai.NotFoundError):
            attempt()
    listed = openai_client.beta.assistants.list(limit=100).data
    assert "callisto_responses" not in [a.id for a in listed]
    assert openai_client.responses.create(model="fake/m", input="2").output_text == "Two."


def test_previous_response_id_chains_and_forks(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Reply.text("A"), Reply.text("B"), Reply.text("C"), Reply.text("D"))
    first = openai_client.responses.create(model="fake/m", input="one")
    second = openai_client.responses.create(
        model="fake/m", input="two", previous_response_id=first.id
    )
    third = openai_client.responses.create(
        model="fake/m", input="three", previous_response_id=second.id
    )
    assert third.output_text == "C"
    assert [(m["role"], m["content"]) for m in fake_llm.requests[2].messages] == [
        ("user", "one"),
        ("assistant", "A"),
        ("user", "two"),
        ("assistant", "B"),
        ("user", "three"),
    ]
    # A second answer to the first response sees only the first exchange.
    fork = openai_client.responses.create(
        model="fake/m", input="other", previous_response_id=first.id
    )
    assert fork.output_text == "D"
    assert [(m["role"], m["content"]) for m in fake_llm.requests[3].messages] == [
        ("user", "one"),
        ("assistant", "A"),
        ("user", "other"),
    ]
    # Each keeps its own output and input items.
    assert openai_client.responses.retrieve(second.id).output_text == "B"
    assert openai_client.responses.retrieve(first.id).output_text == "A"
    fork_items = openai_client.responses.input_items.list(fork.id).data
    assert [i.content[0].text for i in fork_items] == ["other"]  # type: ignore[union-attr]


def test_answering_the_same_calls_twice_forks(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(
        Reply.tool_calls(("get_weather", {"city": "Rome"})),
        Reply.text("Warm."),
        Reply.text("Cold."),
    )
    first = openai_client.responses.create(model="fake/m", input="Rome?", tools=[WEATHER])
    call_id = first.output[0].call_id  # type: ignore[union-attr]

    def answer(output: str) -> Any:
        return openai_client.responses.create(
            model="fake/m",
            previous_response_id=first.id,
            tools=[WEATHER],
            input=[{"type": "function_call_output", "call_id": call_id, "output": output}],
        )

    assert answer("30C").output_text == "Warm."
    assert answer("2C").output_text == "Cold."
    sent = fake_llm.requests[2].messages
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[-1]["content"] == "2C"


def test_continuing_with_the_calls_sent_back(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Reply.tool_calls(("get_weather", {"city": "Nice"})), Reply.text("Mild."))
    first = openai_client.responses.create(model="fake/m", input="Nice?", tools=[WEATHER])
    call = first.output[0]
    second = openai_client.responses.create(
        model="fake/m",
        previous_response_id=first.id,
        tools=[WEATHER],
        input=[
            call.model_dump(exclude_none=True),
            {"type": "function_call_output", "call_id": call.call_id, "output": "18C"},  # type: ignore[union-attr]
        ],
    )
    assert second.output_text == "Mild."
    assert [m["role"] for m in fake_llm.requests[1].messages] == ["user", "assistant", "tool"]
