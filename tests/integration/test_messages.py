"""Messages through the official SDK: content forms, the wire shape, the run filter, update, delete."""

from __future__ import annotations

from typing import Any

import openai
import pytest

MESSAGE_KEYS = {
    "id",
    "object",
    "created_at",
    "thread_id",
    "status",
    "incomplete_details",
    "completed_at",
    "incomplete_at",
    "role",
    "content",
    "assistant_id",
    "run_id",
    "attachments",
    "metadata",
}


def test_string_content_shape(openai_client: openai.OpenAI) -> None:
    thread = openai_client.beta.threads.create()
    raw = openai_client.beta.threads.messages.with_raw_response.create(
        thread.id, role="user", content="Hello there"
    )
    body = raw.http_response.json()
    assert set(body) == MESSAGE_KEYS
    assert body["id"].startswith("msg_")
    assert body["object"] == "thread.message"
    assert body["thread_id"] == thread.id
    assert body["status"] == "completed"
    assert body["role"] == "user"
    assert body["content"] == [
        {"type": "text", "text": {"value": "Hello there", "annotations": []}}
    ]
    assert body["assistant_id"] is None
    assert body["run_id"] is None
    assert body["incomplete_details"] is None
    assert body["incomplete_at"] is None
    assert isinstance(body["completed_at"], int)
    assert body["attachments"] == []
    assert body["metadata"] == {}
    fetched = openai_client.beta.threads.messages.with_raw_response.retrieve(
        body["id"], thread_id=thread.id
    )
    assert fetched.http_response.json() == body


def test_content_parts_text_and_images(openai_client: openai.OpenAI) -> None:
    thread = openai_client.beta.threads.create()
    parts: list[Any] = [
        {"type": "text", "text": "Look at these"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "image_file", "image_file": {"file_id": "file_1", "detail": "high"}},
    ]
    message = openai_client.beta.threads.messages.create(thread.id, role="user", content=parts)
    body = openai_client.beta.threads.messages.with_raw_response.retrieve(
        message.id, thread_id=thread.id
    ).http_response.json()
    assert body["content"] == [
        {"type": "text", "text": {"value": "Look at these", "annotations": []}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "image_file", "image_file": {"file_id": "file_1", "detail": "high"}},
    ]
    assert message.content[1].image_url.url == "https://example.com/a.png"  # type: ignore[union-attr]
    assert message.content[3].image_file.file_id == "file_1"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "content",
    [
        "",
        [],
        [{"type": "text", "text": ""}],
        [{"type": "image_url", "image_url": {}}],
        [{"type": "image_url", "image_url": {"url": "u", "detail": "ultra"}}],
        [{"type": "image_file", "image_file": {}}],
        [{"type": "refusal", "refusal": "no"}],
        [{"type": "text"}],
        42,
    ],
)
def test_invalid_content_is_a_400(openai_client: openai.OpenAI, content: Any) -> None:
    thread = openai_client.beta.threads.create()
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.beta.threads.messages.create(thread.id, role="user", content=content)
    assert str(info.value.body["param"]).startswith("content")  # type: ignore[index]
    assert openai_client.beta.threads.messages.list(thread.id).data == []


def test_attachments_and_metadata_are_stored(openai_client: openai.OpenAI) -> None:
    thread = openai_client.beta.threads.create()
    attachments: list[Any] = [{"file_id": "file_9", "tools": [{"type": "file_search"}]}]
    message = openai_client.beta.threads.messages.create(
        thread.id, role="assistant", content="x", attachments=attachments, metadata={"k": "v"}
    )
    assert message.role == "assistant"
    assert message.metadata == {"k": "v"}
    assert [a.model_dump(exclude_unset=True) for a in message.attachments or []] == attachments


def test_update_is_metadata_only(openai_client: openai.OpenAI) -> None:
    thread = openai_client.beta.threads.create()
    message = openai_client.beta.threads.messages.create(thread.id, role="user", content="hi")
    updated = openai_client.beta.threads.messages.update(
        message.id, thread_id=thread.id, metadata={"seen": "yes"}
    )
    assert updated.metadata == {"seen": "yes"}
    assert updated.content == message.content
    assert updated.created_at == message.created_at
    with pytest.raises(openai.BadRequestError, match="content"):
        openai_client.beta.threads.messages.update(
            message.id, thread_id=thread.id, extra_body={"content": "changed"}
        )
    again = openai_client.beta.threads.messages.retrieve(message.id, thread_id=thread.id)
    assert again == updated


def test_delete_message(openai_client: openai.OpenAI) -> None:
    thread = openai_client.beta.threads.create()
    keep = openai_client.beta.threads.messages.create(thread.id, role="user", content="keep")
    gone = openai_client.beta.threads.messages.create(thread.id, role="user", content="gone")
    raw = openai_client.beta.threads.messages.with_raw_response.delete(gone.id, thread_id=thread.id)
    assert raw.http_response.json() == {
        "id": gone.id,
        "object": "thread.message.deleted",
        "deleted": True,
    }
    assert [m.id for m in openai_client.beta.threads.messages.list(thread.id)] == [keep.id]
    with pytest.raises(openai.NotFoundError, match=gone.id):
        openai_client.beta.threads.messages.retrieve(gone.id, thread_id=thread.id)
    with pytest.raises(openai.NotFoundError, match=gone.id):
        openai_client.beta.threads.messages.delete(gone.id, thread_id=thread.id)


def test_a_message_belongs_to_its_thread(openai_client: openai.OpenAI) -> None:
    one = openai_client.beta.threads.create()
    other = openai_client.beta.threads.create()
    message = openai_client.beta.threads.messages.create(one.id, role="user", content="mine")
    for call in (
        lambda: openai_client.beta.threads.messages.retrieve(message.id, thread_id=other.id),
        lambda: openai_client.beta.threads.messages.update(
            message.id, thread_id=other.id, metadata={}
        ),
        lambda: openai_client.beta.threads.messages.delete(message.id, thread_id=other.id),
    ):
        with pytest.raises(openai.NotFoundError, match=message.id):
            call()
    assert (
        openai_client.beta.threads.messages.retrieve(message.id, thread_id=one.id).id == message.id
    )


def test_list_filters_by_run_id(openai_client: openai.OpenAI) -> None:
    assistant = openai_client.beta.assistants.create(model="offline/demo")
    thread = openai_client.beta.threads.create(messages=[{"role": "user", "content": "Hello"}])
    runs = openai_client.beta.threads.runs
    first = runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=10
    )
    assert first.status == "completed"
    openai_client.beta.threads.messages.create(thread.id, role="user", content="And again")
    second = runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=10
    )
    assert second.status == "completed"

    everything = openai_client.beta.threads.messages.list(thread.id, order="asc").data
    assert [m.role for m in everything] == ["user", "assistant", "user", "assistant"]
    for run in (first, second):
        page = openai_client.beta.threads.messages.list(thread.id, run_id=run.id)
        assert len(page.data) == 1
        reply = page.data[0]
        assert (reply.role, reply.run_id, reply.assistant_id) == ("assistant", run.id, assistant.id)
        body = openai_client.beta.threads.messages.with_raw_response.retrieve(
            reply.id, thread_id=thread.id
        ).http_response.json()
        assert set(body) == MESSAGE_KEYS
        assert body["content"][0]["text"]["annotations"] == []
    assert openai_client.beta.threads.messages.list(thread.id, run_id="run_unknown").data == []


def test_messages_cannot_be_added_while_a_run_is_active(openai_client: openai.OpenAI) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
    assistant = openai_client.beta.assistants.create(model="offline/demo", tools=[tool])  # type: ignore[list-item]
    thread = openai_client.beta.threads.create(
        messages=[{"role": "user", "content": "What is the weather in Tokyo?"}]
    )
    run = openai_client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=10
    )
    assert run.status == "requires_action"
    with pytest.raises(openai.BadRequestError, match=run.id):
        openai_client.beta.threads.messages.create(thread.id, role="user", content="more")
    openai_client.beta.threads.runs.cancel(run_id=run.id, thread_id=thread.id)
