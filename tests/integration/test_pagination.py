"""Cursor pagination of lists: limit, order, after, before, has_more and the SDK's auto-paging."""

from __future__ import annotations

import httpx
import openai
import pytest

from callisto.testing._server import ThreadedServer

COUNT = 25


@pytest.fixture
def thread_with_messages(openai_client: openai.OpenAI) -> tuple[str, list[str]]:
    """A thread of ``COUNT`` messages made in one request; their ids in creation order."""
    thread = openai_client.beta.threads.create(
        messages=[{"role": "user", "content": f"m{i}"} for i in range(COUNT)]
    )
    listed = openai_client.beta.threads.messages.list(thread.id, order="asc", limit=100).data
    assert [m.content[0].text.value for m in listed] == [f"m{i}" for i in range(COUNT)]  # type: ignore[union-attr]
    return thread.id, [m.id for m in listed]


def page(server: ThreadedServer, path: str, **params: object) -> dict[str, object]:
    """GET a list with raw query parameters; return the body."""
    response = httpx.get(f"{server.url}/v1{path}", params=params)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    assert set(body) == {"object", "data", "first_id", "last_id", "has_more"}
    assert body["object"] == "list"
    return body


def ids(body: dict[str, object]) -> list[str]:
    return [item["id"] for item in body["data"]]  # type: ignore[attr-defined, index]


def test_default_is_twenty_newest_first(
    server: ThreadedServer, thread_with_messages: tuple[str, list[str]]
) -> None:
    thread_id, made = thread_with_messages
    body = page(server, f"/threads/{thread_id}/messages")
    assert ids(body) == made[::-1][:20]
    assert body["first_id"] == made[-1]
    assert body["last_id"] == made[5]
    assert body["has_more"] is True


def test_forwards_ascending(
    server: ThreadedServer, thread_with_messages: tuple[str, list[str]]
) -> None:
    thread_id, made = thread_with_messages
    path = f"/threads/{thread_id}/messages"
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        params: dict[str, object] = {"order": "asc", "limit": 10}
        if after:
            params["after"] = after
        body = page(server, path, **params)
        seen += ids(body)
        pages += 1
        assert body["first_id"] == ids(body)[0]
        assert body["last_id"] == ids(body)[-1]
        if not body["has_more"]:
            break
        after = body["last_id"]
    assert seen == made
    assert pages == 3


def test_forwards_descending(
    server: ThreadedServer, thread_with_messages: tuple[str, list[str]]
) -> None:
    thread_id, made = thread_with_messages
    path = f"/threads/{thread_id}/messages"
    body = page(server, path, order="desc", limit=7, after=made[20])
    assert ids(body) == made[19:12:-1]
    assert body["has_more"] is True
    body = page(server, path, order="desc", limit=7, after=made[7])
    assert ids(body) == made[6::-1]
    assert body["has_more"] is False


def test_exact_fit_has_no_more(
    server: ThreadedServer, thread_with_messages: tuple[str, list[str]]
) -> None:
    thread_id, made = thread_with_messages
    body = page(server, f"/threads/{thread_id}/messages", order="asc", limit=5, after=made[19])
    assert ids(body) == made[20:]
    assert body["has_more"] is False
    body = page(server, f"/threads/{thread_id}/messages", limit=COUNT)
    assert body["has_more"] is False
    assert len(ids(body)) == COUNT


def test_backwards_with_before(
    server: ThreadedServer, thread_with_messages: tuple[str, list[str]]
) -> None:
    thread_id, made = thread_with_messages
    path = f"/threads/{thread_id}/messages"
    # Ascending: items before X are older, the page nearest to X, still in ascending order.
    body = page(server, path, order="asc", limit=5, before=made[15])
    assert ids(body) == made[10:15]
    assert body["has_more"] is True
    body = page(server, path, order="asc", limit=5, before=made[3])
    assert ids(body) == made[0:3]
    assert body["has_more"] is False
    # Descending: items before X are newer, in descending order.
    body = page(server, path, order="desc", limit=5, before=made[10])
    assert ids(body) == made[15:10:-1]
    assert body["has_more"] is True
    body = page(server, path, order="desc", limit=5, before=made[22])
    assert ids(body) == made[24:22:-1]
    assert body["has_more"] is False


def test_walk_backwards_to_the_start(
    server: ThreadedServer, thread_with_messages: tuple[str, list[str]]
) -> None:
    thread_id, made = thread_with_messages
    path = f"/threads/{thread_id}/messages"
    collected: list[str] = []
    before = made[-1]
    while True:
        body = page(server, path, order="asc", limit=6, before=before)
        collected = ids(body) + collected
        if not body["has_more"]:
            break
        before = body["first_id"]  # type: ignore[assignment]
    assert collected == made[:-1]


def test_after_and_before_together(
    server: ThreadedServer, thread_with_messages: tuple[str, list[str]]
) -> None:
    thread_id, made = thread_with_messages
    body = page(
        server, f"/threads/{thread_id}/messages", order="asc", after=made[4], before=made[9]
    )
    assert ids(body) == made[5:9]


def test_a_deleted_cursor_still_marks_its_place(
    openai_client: openai.OpenAI, thread_with_messages: tuple[str, list[str]]
) -> None:
    thread_id, made = thread_with_messages
    openai_client.beta.threads.messages.delete(made[5], thread_id=thread_id)
    listed = openai_client.beta.threads.messages.list(
        thread_id, order="asc", after=made[5], limit=3
    )
    assert [m.id for m in listed.data] == made[6:9]


def test_empty_list(openai_client: openai.OpenAI, server: ThreadedServer) -> None:
    thread = openai_client.beta.threads.create()
    body = page(server, f"/threads/{thread.id}/messages")
    assert body == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }
    sdk_page = openai_client.beta.threads.messages.list(thread.id)
    assert sdk_page.data == []
    assert not sdk_page.has_next_page()


def test_sdk_pages_and_auto_pages_messages(
    openai_client: openai.OpenAI, thread_with_messages: tuple[str, list[str]]
) -> None:
    thread_id, made = thread_with_messages
    first = openai_client.beta.threads.messages.list(thread_id, limit=10, order="asc")
    assert [m.id for m in first.data] == made[:10]
    assert first.has_next_page()
    second = first.get_next_page()
    assert [m.id for m in second.data] == made[10:20]
    assert [m.id for m in openai_client.beta.threads.messages.list(thread_id, limit=3)] == made[
        ::-1
    ]
    asc = openai_client.beta.threads.messages.list(thread_id, limit=4, order="asc")
    assert [m.id for m in asc] == made


async def test_async_sdk_auto_pages(
    async_openai_client: openai.AsyncOpenAI, thread_with_messages: tuple[str, list[str]]
) -> None:
    thread_id, made = thread_with_messages
    seen = [m.id async for m in async_openai_client.beta.threads.messages.list(thread_id, limit=6)]
    assert seen == made[::-1]


def test_sdk_auto_pages_every_assistant(
    openai_client: openai.OpenAI, server: ThreadedServer
) -> None:
    mine = [
        openai_client.beta.assistants.create(model="offline/demo", name=f"p{i}").id
        for i in range(5)
    ]
    everything = [a.id for a in openai_client.beta.assistants.list(limit=2)]
    assert len(everything) == len(set(everything))
    assert everything == sorted(everything, reverse=True)
    # Only ids Callisto made sort by creation: the Entities V1 layer stores client-chosen
    # assistant ids in the same table, and those sort wherever their letters put them.
    ours = [i for i in everything if i.startswith("asst_")]
    assert ours[:5] == mine[::-1]
    # The same set as reading it page by page with raw requests, 100 at a time.
    manual: list[str] = []
    params: dict[str, object] = {"limit": 100}
    while True:
        body = page(server, "/assistants", **params)
        manual += ids(body)
        if not body["has_more"]:
            break
        params["after"] = body["last_id"]
    assert everything == manual
    after_mine = openai_client.beta.assistants.list(order="asc", after=mine[0], limit=4)
    assert [a.id for a in after_mine.data] == mine[1:]


def test_same_second_objects_keep_creation_order(openai_client: openai.OpenAI) -> None:
    thread = openai_client.beta.threads.create(
        messages=[{"role": "user", "content": str(i)} for i in range(40)]
    )
    for i in range(40, 60):
        openai_client.beta.threads.messages.create(thread.id, role="user", content=str(i))
    listed = list(openai_client.beta.threads.messages.list(thread.id, order="asc", limit=7))
    assert [m.content[0].text.value for m in listed] == [str(i) for i in range(60)]  # type: ignore[union-attr]
    assert len({m.created_at for m in listed[:40]}) == 1  # the first 40 share one second
    desc = list(openai_client.beta.threads.messages.list(thread.id, limit=9))
    assert [m.id for m in desc] == [m.id for m in reversed(listed)]
