"""``GET /v1/threads/{thread_id}/runs/{run_id}/events``: replay, follow, resume; disconnects.

A client that drops its stream does not stop the run; it reads what it missed from ``/events``
after the last SSE id it saw. The same holds with the Redis event log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
import redis

from callisto.testing._server import ThreadedServer
from callisto.testing.databases import redis_unavailable_reason, redis_url
from callisto.testing.fake_llm import FakeLLM, Reply
from tests.integration.helpers import TERMINAL
from tests.integration.test_streaming_sse import (
    Frame,
    assert_well_formed,
    names,
    new_assistant,
    new_thread,
    read_frames,
    stream,
)


@pytest.fixture
def http(server: ThreadedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url + "/v1", timeout=30) as client:
        yield client


def wait_until_done(
    http: httpx.Client, thread: str, run: str, timeout: float = 20.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = http.get(f"/threads/{thread}/runs/{run}").json()
        if body["status"] in TERMINAL:
            return body
        assert time.monotonic() < deadline, f"run stayed {body['status']}"
        time.sleep(0.02)


def events_url(thread: str, run: str) -> str:
    return f"/threads/{thread}/runs/{run}/events"


def tool_then_text(fake_llm: FakeLLM) -> None:
    fake_llm.script(
        Reply.tool_calls(("get_weather", {"city": "Oslo"})), Reply.text("Cold in Oslo.")
    )


def stream_round_trip_and_replay(http: httpx.Client, fake_llm: FakeLLM) -> None:
    """Stream a run with one tool call, submit with a stream, then replay the whole log."""
    tool_then_text(fake_llm)
    assistant, thread = new_assistant(http), new_thread(http)
    first = stream(
        http, "POST", f"/threads/{thread}/runs", json={"assistant_id": assistant, "stream": True}
    )
    run = first[-2].json
    call = run["required_action"]["submit_tool_outputs"]["tool_calls"][0]
    second = stream(
        http,
        "POST",
        f"/threads/{thread}/runs/{run['id']}/submit_tool_outputs",
        json={"tool_outputs": [{"tool_call_id": call["id"], "output": "-3C"}], "stream": True},
    )
    assert names(second)[-2:] == ["thread.run.completed", "done"]
    replay = stream(http, "GET", events_url(thread, run["id"]))
    assert_well_formed(replay)
    streamed = [(f.id, f.event, f.data) for f in first + second if f.id is not None]
    assert [(f.id, f.event, f.data) for f in replay if f.id is not None] == streamed
    assert names(replay)[-2:] == ["thread.run.completed", "done"]


def test_replay_covers_the_whole_run_across_requires_action(
    http: httpx.Client, fake_llm: FakeLLM
) -> None:
    stream_round_trip_and_replay(http, fake_llm)


def test_resume_after_last_event_id_or_after(http: httpx.Client, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.text("One two three four five."))
    assistant, thread = new_assistant(http), new_thread(http)
    full = stream(
        http, "POST", f"/threads/{thread}/runs", json={"assistant_id": assistant, "stream": True}
    )
    run = full[0].json["id"]
    logged = [f for f in full if f.id is not None]
    by_header = stream(http, "GET", events_url(thread, run), headers={"Last-Event-ID": "5"})
    assert [f.id for f in by_header if f.id is not None] == [f.id for f in logged[5:]]
    by_query = stream(http, "GET", events_url(thread, run), params={"after": 7})
    assert [f.id for f in by_query if f.id is not None] == [f.id for f in logged[7:]]
    # The header wins: an EventSource reconnecting keeps its URL and sends the header.
    both = stream(
        http, "GET", events_url(thread, run), params={"after": 1}, headers={"Last-Event-ID": "9"}
    )
    assert [f.id for f in both if f.id is not None] == [f.id for f in logged[9:]]
    past_the_end = stream(
        http, "GET", events_url(thread, run), headers={"Last-Event-ID": str(logged[-1].id)}
    )
    assert names(past_the_end) == ["done"]


def test_events_of_unknown_runs_and_bad_ids(http: httpx.Client, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.text("Hi."))
    assistant, thread = new_assistant(http), new_thread(http)
    missing = http.get(events_url(thread, "run_missing"))
    assert missing.status_code == 404 and "run_missing" in missing.json()["error"]["message"]
    run = http.post(f"/threads/{thread}/runs", json={"assistant_id": assistant}).json()["id"]
    other_thread = new_thread(http)
    assert http.get(events_url(other_thread, run)).status_code == 404
    bad = http.get(events_url(thread, run), headers={"Last-Event-ID": "abc"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "Last-Event-ID"
    assert http.get(events_url(thread, run), params={"after": -1}).status_code in (400, 422)
    wait_until_done(http, thread, run)


def test_follow_a_run_live_across_requires_action(
    http: httpx.Client, openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    tool_then_text(fake_llm)
    assistant, thread = new_assistant(http), new_thread(http)
    run = http.post(f"/threads/{thread}/runs", json={"assistant_id": assistant}).json()
    frames: list[Frame] = []
    with http.stream("GET", events_url(thread, run["id"])) as response:
        for f in read_frames(response.iter_lines()):
            frames.append(f)
            if f.event == "thread.run.requires_action":
                # The same connection goes on past requires_action, to the end of the run.
                call = f.json["required_action"]["submit_tool_outputs"]["tool_calls"][0]
                openai_client.beta.threads.runs.submit_tool_outputs(
                    thread_id=thread,
                    run_id=run["id"],
                    tool_outputs=[{"tool_call_id": call["id"], "output": "-3C"}],
                )
    assert_well_formed(frames)
    assert names(frames).count("thread.run.in_progress") == 2
    assert names(frames)[-2:] == ["thread.run.completed", "done"]


def disconnect_and_resume(http: httpx.Client, fake_llm: FakeLLM) -> None:
    """Drop a stream mid-reply, check the run completes, and resume from the last id seen."""
    words = [f"w{i}" for i in range(30)]
    fake_llm.script(Reply.text(" ".join(words), token_delay=0.03))
    assistant, thread = new_assistant(http), new_thread(http)
    seen: list[Frame] = []
    with http.stream(
        "POST", f"/threads/{thread}/runs", json={"assistant_id": assistant, "stream": True}
    ) as r:
        for f in read_frames(r.iter_lines()):
            seen.append(f)
            if names(seen).count("thread.message.delta") == 3:
                break  # leaving the block closes the connection mid-reply
    run_id = seen[0].json["id"]
    run = wait_until_done(http, thread, run_id)
    assert run["status"] == "completed"
    message = http.get(f"/threads/{thread}/messages", params={"run_id": run_id}).json()["data"][0]
    assert message["content"][0]["text"]["value"] == " ".join(words)
    last_id = [f.id for f in seen if f.id is not None][-1]
    rest = stream(http, "GET", events_url(thread, run_id), headers={"Last-Event-ID": str(last_id)})
    everything = stream(http, "GET", events_url(thread, run_id))
    logged = [f for f in seen if f.id is not None] + [f for f in rest if f.id is not None]
    assert [(f.id, f.event, f.data) for f in logged] == [
        (f.id, f.event, f.data) for f in everything if f.id is not None
    ]
    text = "".join(
        f.json["delta"]["content"][0]["text"]["value"]
        for f in logged
        if f.event == "thread.message.delta"
    )
    assert text == " ".join(words)


def test_disconnect_does_not_cancel_the_run(http: httpx.Client, fake_llm: FakeLLM) -> None:
    disconnect_and_resume(http, fake_llm)


def test_two_readers_of_one_run_see_the_same_events(http: httpx.Client, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.text("a b c d e f g h", token_delay=0.02))
    assistant, thread = new_assistant(http), new_thread(http)
    run = http.post(f"/threads/{thread}/runs", json={"assistant_id": assistant}).json()
    results: list[list[Frame]] = []

    def read() -> None:
        results.append(stream(http, "GET", events_url(thread, run["id"])))

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(30)
    assert len(results) == 2
    assert [(f.id, f.data) for f in results[0]] == [(f.id, f.data) for f in results[1]]


# -- the Redis event log -----------------------------------------------------------------------


@pytest.fixture
def redis_http(make_server: Callable[..., ThreadedServer]) -> Iterator[httpx.Client]:
    reason = redis_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    server = make_server(event_log="redis", redis_url=redis_url())
    with httpx.Client(base_url=server.url + "/v1", timeout=30) as client:
        yield client


def test_redis_event_log_streams_and_resumes(redis_http: httpx.Client, fake_llm: FakeLLM) -> None:
    disconnect_and_resume(redis_http, fake_llm)


def test_redis_tool_round_trip_and_replay(redis_http: httpx.Client, fake_llm: FakeLLM) -> None:
    stream_round_trip_and_replay(redis_http, fake_llm)


def test_a_run_whose_log_expired_replays_its_final_state(
    redis_http: httpx.Client, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Reply.text("Long ago."))
    assistant, thread = new_assistant(redis_http), new_thread(redis_http)
    frames = stream(
        redis_http,
        "POST",
        f"/threads/{thread}/runs",
        json={"assistant_id": assistant, "stream": True},
    )
    run_id = frames[0].json["id"]
    client = redis.Redis.from_url(redis_url())
    try:
        client.delete(f"callisto:run:{{{run_id}}}:events", f"callisto:run:{{{run_id}}}:seq")
    finally:
        client.close()
    replay = stream(redis_http, "GET", events_url(thread, run_id))
    assert names(replay) == ["thread.run.completed", "done"]
    assert replay[0].json["id"] == run_id and replay[0].json["status"] == "completed"
