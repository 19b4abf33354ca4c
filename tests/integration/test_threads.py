"""Threads through the official SDK: create (with initial messages), retrieve, update, delete."""

from __future__ import annotations

import openai
import pytest
import sqlalchemy as sa

from callisto.store.database import sync_url

THREAD_KEYS = {"id", "object", "created_at", "tool_resources", "metadata"}


def count_rows(database_url: str, table: str, thread_id: str) -> int:
    """Count a thread's rows in ``table``, straight from the database."""
    engine = sa.create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            query = sa.text(f"SELECT COUNT(*) FROM {table} WHERE thread_id = :tid")
            return int(conn.execute(query, {"tid": thread_id}).scalar_one())
    finally:
        engine.dispose()


def test_create_empty_thread_shape(openai_client: openai.OpenAI) -> None:
    body = openai_client.beta.threads.with_raw_response.create().http_response.json()
    assert set(body) == THREAD_KEYS
    assert body["id"].startswith("thread_")
    assert body["object"] == "thread"
    assert isinstance(body["created_at"], int)
    assert body["metadata"] == {}
    assert body["tool_resources"] is None


def test_create_with_every_field(openai_client: openai.OpenAI) -> None:
    resources = {"code_interpreter": {"file_ids": ["file_a"]}}
    thread = openai_client.beta.threads.create(
        metadata={"user": "u1"},
        tool_resources=resources,
        messages=[
            {"role": "user", "content": "Hello", "metadata": {"n": "1"}},
            {"role": "assistant", "content": [{"type": "text", "text": "Hi there"}]},
            {"role": "user", "content": "How are you?"},
        ],
    )
    body = openai_client.beta.threads.with_raw_response.retrieve(thread.id).http_response.json()
    assert body == {
        "id": thread.id,
        "object": "thread",
        "created_at": thread.created_at,
        "tool_resources": resources,
        "metadata": {"user": "u1"},
    }
    messages = openai_client.beta.threads.messages.list(thread.id, order="asc").data
    assert [(m.role, m.content[0].text.value) for m in messages] == [  # type: ignore[union-attr]
        ("user", "Hello"),
        ("assistant", "Hi there"),
        ("user", "How are you?"),
    ]
    assert messages[0].metadata == {"n": "1"}
    assert all(m.thread_id == thread.id for m in messages)
    assert all(m.created_at == thread.created_at for m in messages)


def count_threads(database_url: str) -> int:
    """Count all threads, straight from the database."""
    engine = sa.create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT COUNT(*) FROM threads")).scalar_one())
    finally:
        engine.dispose()


def test_an_invalid_initial_message_creates_nothing(
    openai_client: openai.OpenAI, database_url: str
) -> None:
    before = count_threads(database_url)
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.beta.threads.create(
            messages=[{"role": "user", "content": "ok"}, {"role": "system", "content": "no"}]  # type: ignore[list-item, typeddict-item]
        )
    assert info.value.body["param"] == "messages[1].role"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError, match="image_url"):
        openai_client.beta.threads.create(
            messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]  # type: ignore[typeddict-item]
        )
    assert count_threads(database_url) == before


def test_update_metadata_and_tool_resources(openai_client: openai.OpenAI) -> None:
    thread = openai_client.beta.threads.create(metadata={"a": "1"})
    updated = openai_client.beta.threads.update(thread.id, metadata={"b": "2"})
    assert updated.metadata == {"b": "2"}
    assert updated.tool_resources is None
    resources = {"file_search": {"vector_store_ids": ["vs_1"]}}
    updated = openai_client.beta.threads.update(thread.id, tool_resources=resources)
    assert updated.metadata == {"b": "2"}
    assert updated.tool_resources is not None
    assert updated.tool_resources.model_dump(exclude_unset=True) == resources
    assert openai_client.beta.threads.retrieve(thread.id) == updated
    assert updated.created_at == thread.created_at


def test_update_refuses_unknown_fields(openai_client: openai.OpenAI) -> None:
    thread = openai_client.beta.threads.create()
    with pytest.raises(openai.BadRequestError, match="messages"):
        openai_client.beta.threads.update(
            thread.id, extra_body={"messages": [{"role": "user", "content": "x"}]}
        )


def test_delete_thread_deletes_its_messages(
    openai_client: openai.OpenAI, database_url: str
) -> None:
    thread = openai_client.beta.threads.create(
        messages=[{"role": "user", "content": "one"}, {"role": "user", "content": "two"}]
    )
    openai_client.beta.threads.messages.create(thread.id, role="user", content="three")
    assert count_rows(database_url, "messages", thread.id) == 3
    raw = openai_client.beta.threads.with_raw_response.delete(thread.id)
    assert raw.http_response.json() == {
        "id": thread.id,
        "object": "thread.deleted",
        "deleted": True,
    }
    assert count_rows(database_url, "messages", thread.id) == 0
    with pytest.raises(openai.NotFoundError, match=thread.id):
        openai_client.beta.threads.retrieve(thread.id)
    with pytest.raises(openai.NotFoundError, match=thread.id):
        openai_client.beta.threads.messages.list(thread.id)
    with pytest.raises(openai.NotFoundError, match=thread.id):
        openai_client.beta.threads.delete(thread.id)


def test_delete_thread_with_a_finished_run(openai_client: openai.OpenAI, database_url: str) -> None:
    assistant = openai_client.beta.assistants.create(model="offline/demo")
    thread = openai_client.beta.threads.create(messages=[{"role": "user", "content": "Hello"}])
    run = openai_client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=10
    )
    assert run.status == "completed"
    openai_client.beta.threads.delete(thread.id)
    assert count_rows(database_url, "messages", thread.id) == 0
    assert count_rows(database_url, "runs", thread.id) == 0
    assert count_rows(database_url, "run_steps", thread.id) == 0


async def test_async_client_thread_crud(async_openai_client: openai.AsyncOpenAI) -> None:
    threads = async_openai_client.beta.threads
    thread = await threads.create(messages=[{"role": "user", "content": "hi"}])
    assert (await threads.update(thread.id, metadata={"k": "v"})).metadata == {"k": "v"}
    deleted = await threads.delete(thread.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (thread.id, "thread.deleted", True)
