"""The Conversations API and responses made with ``conversation``, through the official SDK."""

from __future__ import annotations

import json
import time
from typing import Any

import openai
import pytest

from callisto.testing.fake_llm import FakeLLM, Reply
from tests.integration.test_responses import EXCHANGE_ITEMS, RECALL_ROLES, WEATHER


def wait_finished(client: openai.OpenAI, response_id: str, timeout: float = 15.0) -> Any:
    """Poll a response until it leaves ``queued``/``in_progress``."""
    deadline = time.monotonic() + timeout
    response = client.responses.retrieve(response_id)
    while response.status in ("queued", "in_progress"):
        assert time.monotonic() < deadline, f"response stayed {response.status}"
        time.sleep(0.02)
        response = client.responses.retrieve(response_id)
    return response


def test_conversation_crud_and_items(openai_client: openai.OpenAI) -> None:
    conversation = openai_client.conversations.create(
        items=[
            {"type": "message", "role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi, how can I help?"},
        ],
        metadata={"topic": "demo"},
    )
    assert conversation.id.startswith("conv_")
    assert conversation.object == "conversation"
    assert conversation.metadata == {"topic": "demo"}
    fetched = openai_client.conversations.retrieve(conversation.id)
    assert fetched.created_at == conversation.created_at
    updated = openai_client.conversations.update(conversation.id, metadata={"topic": "changed"})
    assert updated.metadata == {"topic": "changed"}

    items = openai_client.conversations.items.list(conversation.id, order="asc").data
    assert [(i.type, i.role) for i in items] == [("message", "user"), ("message", "assistant")]  # type: ignore[union-attr]
    assert items[0].content[0].type == "input_text"  # type: ignore[union-attr]
    assert items[1].content[0].text == "Hi, how can I help?"  # type: ignore[union-attr]

    added = openai_client.conversations.items.create(
        conversation.id, items=[{"type": "message", "role": "user", "content": "One more"}]
    )
    assert len(added.data) == 1
    newest = openai_client.conversations.items.list(conversation.id, limit=1)
    assert newest.data[0].id == added.data[0].id and newest.has_more
    page = openai_client.conversations.items.list(
        conversation.id, order="asc", after=items[0].id, limit=1
    )
    assert [i.id for i in page.data] == [items[1].id]
    one = openai_client.conversations.items.retrieve(
        added.data[0].id, conversation_id=conversation.id
    )
    assert one.id == added.data[0].id
    after_delete = openai_client.conversations.items.delete(
        added.data[0].id, conversation_id=conversation.id
    )
    assert after_delete.id == conversation.id
    assert len(openai_client.conversations.items.list(conversation.id).data) == 2

    deleted = openai_client.conversations.delete(conversation.id)
    assert deleted.deleted and deleted.object == "conversation.deleted"
    with pytest.raises(openai.NotFoundError):
        openai_client.conversations.retrieve(conversation.id)


def test_conversation_limits_and_errors(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        openai_client.conversations.create(
            items=[{"role": "user", "content": str(i)} for i in range(21)]
        )
    with pytest.raises(openai.NotFoundError):
        openai_client.conversations.retrieve("conv_missing")
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.create(model="fake/m", input="x", conversation="conv_missing")


def test_function_call_round_trip_on_a_conversation(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(
        Reply.tool_calls(("get_weather", {"city": "Lima"})),
        Reply.text("Lima is cloudy."),
        Reply.text("You asked about Lima."),
    )
    conversation = openai_client.conversations.create(
        items=[{"role": "user", "content": "I am planning a trip."}]
    )
    first = openai_client.responses.create(
        model="fake/m", conversation=conversation.id, input="Weather in Lima?", tools=[WEATHER]
    )
    assert first.conversation is not None and first.conversation.id == conversation.id
    call = first.output[0]
    assert call.type == "function_call"
    second = openai_client.responses.create(
        model="fake/m",
        conversation={"id": conversation.id},
        tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "cloudy"}],
    )
    assert second.output_text == "Lima is cloudy."
    third = openai_client.responses.create(
        model="fake/m", conversation=conversation.id, input="What did I ask?"
    )
    assert third.output_text == "You asked about Lima."
    # The model saw the whole conversation, its first item included.
    roles = [m["role"] for m in fake_llm.requests[2].messages]
    assert roles == ["user", *RECALL_ROLES]
    items = openai_client.conversations.items.list(conversation.id, order="asc", limit=100).data
    assert [i.type for i in items] == ["message", *EXCHANGE_ITEMS, "message", "message"]
    assert json.loads(items[2].arguments) == {"city": "Lima"}  # type: ignore[union-attr]
    assert items[3].output == "cloudy"  # type: ignore[union-attr]
    assert items[-1].content[0].text == "You asked about Lima."  # type: ignore[union-attr]


def test_second_concurrent_response_on_a_conversation_is_refused(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Reply.hang(30))
    conversation = openai_client.conversations.create()
    first = openai_client.responses.create(
        model="fake/m", conversation=conversation.id, input="Slow one", background=True
    )
    assert first.status == "queued"
    with pytest.raises(openai.BadRequestError, match="in progress"):
        openai_client.responses.create(model="fake/m", conversation=conversation.id, input="Again")
    cancelled = openai_client.responses.cancel(first.id)
    assert cancelled.status == "cancelled"
    fake_llm.script(Reply.text("Now it works."))
    again = openai_client.responses.create(
        model="fake/m", conversation=conversation.id, input="Again"
    )
    assert again.output_text == "Now it works."


def test_function_call_items_added_to_a_conversation(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    conversation = openai_client.conversations.create(
        items=[
            {"role": "user", "content": "Weather in Oslo?"},
            {
                "type": "function_call",
                "call_id": "call_a",
                "name": "get_weather",
                "arguments": '{"city":"Oslo"}',
            },
        ]
    )
    # The output comes in a later request, as a session adding items in batches sends it.
    openai_client.conversations.items.create(
        conversation.id,
        items=[
            {"type": "function_call_output", "call_id": "call_a", "output": "21C"},
            {"role": "assistant", "content": "21C in Oslo."},
        ],
    )
    items = openai_client.conversations.items.list(conversation.id, order="asc").data
    assert [i.type for i in items] == EXCHANGE_ITEMS
    assert items[2].output == "21C"  # type: ignore[union-attr]
    with pytest.raises(openai.BadRequestError, match="No tool call found"):
        openai_client.conversations.items.create(
            conversation.id,
            items=[{"type": "function_call_output", "call_id": "nope", "output": "x"}],
        )
    fake_llm.script(Reply.text("Still 21C."))
    response = openai_client.responses.create(
        model="fake/m", conversation=conversation.id, input="And now?", tools=[WEATHER]
    )
    assert response.output_text == "Still 21C."
    sent = fake_llm.requests[0].messages
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "assistant", "user"]
    assert sent[1]["tool_calls"][0]["id"] == "call_a" and sent[2]["content"] == "21C"
    # The calls now belong to the response's run, listed as before.
    again = openai_client.conversations.items.list(conversation.id, order="asc").data
    assert [i.id for i in again[:4]] == [i.id for i in items]
