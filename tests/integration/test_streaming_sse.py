"""The SSE wire, read raw with httpx: event order, delta rules, ids, ``error`` and ``[DONE]``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from callisto.api import streaming
from callisto.testing._server import ThreadedServer
from callisto.testing.fake_llm import FakeLLM, Reply
from tests.integration.helpers import WEATHER_TOOL


@dataclass
class Frame:
    """One SSE frame, or a comment line (``event`` ``":"``)."""

    event: str
    data: str
    id: int | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.data)


def read_frames(lines: Iterator[str]) -> Iterator[Frame]:
    """Parse SSE lines into frames; comment lines come out as frames named ``":"``."""
    fields: dict[str, str] = {}
    for line in lines:
        if line.startswith(":"):
            yield Frame(":", line[1:].strip())
        elif not line:
            if fields:
                seq = fields.get("id")
                yield Frame(
                    fields.get("event", "message"),
                    fields.get("data", ""),
                    int(seq) if seq else None,
                )
            fields = {}
        else:
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value


def stream(client: httpx.Client, method: str, url: str, **kwargs: Any) -> list[Frame]:
    """Send a streaming request and return all its frames (asserting the SSE content type)."""
    with client.stream(method, url, **kwargs) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(read_frames(response.iter_lines()))


def names(frames: list[Frame]) -> list[str]:
    return [f.event for f in frames if f.event != ":"]


@pytest.fixture
def http(server: ThreadedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url + "/v1", timeout=30) as client:
        yield client


def new_assistant(http: httpx.Client) -> str:
    response = http.post("/assistants", json={"model": "fake/m", "tools": [WEATHER_TOOL]})
    return str(response.json()["id"])


def new_thread(http: httpx.Client, text: str = "Hi") -> str:
    return str(
        http.post("/threads", json={"messages": [{"role": "user", "content": text}]}).json()["id"]
    )


RUN_START = ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]
MESSAGE_TURN = [
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.message.created",
    "thread.message.in_progress",
]


def assert_well_formed(frames: list[Frame], first_id: int = 1) -> None:
    """Ids increase by one from ``first_id`` on logged events; the stream ends with [DONE]."""
    ids = [f.id for f in frames if f.event not in (":", "error", "done")]
    assert ids == list(range(first_id, first_id + len(ids)))
    assert [f.id for f in frames if f.event in ("error", "done")] == [None] * len(
        [f for f in frames if f.event in ("error", "done")]
    )
    assert frames[-1].event == "done" and frames[-1].data == "[DONE]"
    assert names(frames).count("done") == 1


def check_tool_deltas(frames: list[Frame]) -> dict[str, list[dict[str, Any]]]:
    """Check the step-delta rules; return each step's calls as the deltas assemble them."""
    created: set[str] = set()
    assembled: dict[str, list[dict[str, Any]]] = {}
    for f in frames:
        if f.event == "thread.run.step.created":
            created.add(f.json["id"])
        if f.event != "thread.run.step.delta":
            continue
        data = f.json
        assert data["id"] in created, "a step delta before its step.created"
        assert data["object"] == "thread.run.step.delta"
        details = data["delta"]["step_details"]
        assert details["type"] == "tool_calls"
        calls = assembled.setdefault(data["id"], [])
        for item in details["tool_calls"]:
            assert item["type"] == "function"
            index = item["index"]
            if index == len(calls):  # a new call: id and name come now, once
                assert item["id"].startswith("call_") and item["function"]["name"]
                calls.append({"id": item["id"], "name": item["function"]["name"], "arguments": ""})
            else:
                assert index < len(calls), "indexes must be contiguous from 0"
                assert "id" not in item and "name" not in item["function"]
            calls[index]["arguments"] += item["function"].get("arguments") or ""
    return assembled


def test_tool_call_round_trip_on_the_wire(http: httpx.Client, fake_llm: FakeLLM) -> None:
    fake_llm.script(
        Reply.tool_calls(("get_weather", {"city": "Tokyo"}), ("get_weather", {"city": "Paris"})),
        Reply.text("Sunny in both cities."),
    )
    assistant, thread = new_assistant(http), new_thread(http, "Tokyo and Paris?")
    first = stream(
        http, "POST", f"/threads/{thread}/runs", json={"assistant_id": assistant, "stream": True}
    )
    assert names(first) == [
        *RUN_START,
        "thread.run.step.created",
        "thread.run.step.in_progress",
        *["thread.run.step.delta"] * (len(first) - 7),
        "thread.run.requires_action",
        "done",
    ]
    assert_well_formed(first)
    [calls] = check_tool_deltas(first).values()
    run = first[-2].json
    assert run["status"] == "requires_action"
    required = run["required_action"]["submit_tool_outputs"]["tool_calls"]
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in required] == [
        (c["id"], c["name"], c["arguments"]) for c in calls
    ]
    assert [json.loads(c["arguments"])["city"] for c in calls] == ["Tokyo", "Paris"]

    outputs = [{"tool_call_id": c["id"], "output": f"sunny {i}"} for i, c in enumerate(calls)]
    second = stream(
        http,
        "POST",
        f"/threads/{thread}/runs/{run['id']}/submit_tool_outputs",
        json={"tool_outputs": outputs, "stream": True},
    )
    deltas = names(second).count("thread.message.delta")
    assert names(second) == [
        "thread.run.step.completed",
        "thread.run.queued",
        "thread.run.in_progress",
        *MESSAGE_TURN,
        *["thread.message.delta"] * deltas,
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
        "done",
    ]
    # The submit stream continues the run's numbering.
    assert_well_formed(second, first_id=first[-2].id + 1)  # type: ignore[operator]
    tool_step = second[0].json
    assert tool_step["type"] == "tool_calls" and tool_step["status"] == "completed"
    assert [c["function"]["output"] for c in tool_step["step_details"]["tool_calls"]] == [
        "sunny 0",
        "sunny 1",
    ]
    message = second[5].json
    for f in second:
        if f.event == "thread.message.delta":
            data = f.json
            assert data["id"] == message["id"] and data["object"] == "thread.message.delta"
            [part] = data["delta"]["content"]
            assert part["index"] == 0 and part["type"] == "text"
            assert part["text"]["annotations"] == []
    text = "".join(
        f.json["delta"]["content"][0]["text"]["value"]
        for f in second
        if f.event == "thread.message.delta"
    )
    assert text == "Sunny in both cities." and deltas > 1
    completed = next(f.json for f in second if f.event == "thread.message.completed")
    assert completed["content"] == [{"type": "text", "text": {"value": text, "annotations": []}}]
    assert second[-2].json["status"] == "completed" and second[-2].json["usage"]["total_tokens"] > 0


def test_create_thread_and_run_starts_with_thread_created(
    http: httpx.Client, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Reply.text("Hello."))
    assistant = new_assistant(http)
    frames = stream(
        http,
        "POST",
        "/threads/runs",
        json={
            "assistant_id": assistant,
            "stream": True,
            "thread": {"messages": [{"role": "user", "content": "Hi"}]},
        },
    )
    assert names(frames)[:4] == ["thread.created", *RUN_START]
    assert names(frames)[-2:] == ["thread.run.completed", "done"]
    assert frames[1].json["thread_id"] == frames[0].json["id"]
    assert_well_formed(frames)


def test_text_before_a_tool_call_completes_its_message_first(
    http: httpx.Client, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Reply.tool_calls(("get_weather", {"city": "Oslo"}), text="Let me check."))
    assistant, thread = new_assistant(http), new_thread(http)
    frames = stream(
        http, "POST", f"/threads/{thread}/runs", json={"assistant_id": assistant, "stream": True}
    )
    order = [
        n for n in names(frames) if n != "thread.message.delta" and n != "thread.run.step.delta"
    ]
    assert order == [
        *RUN_START,
        *MESSAGE_TURN,
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.run.requires_action",
        "done",
    ]
    message = next(f.json for f in frames if f.event == "thread.message.completed")
    assert message["content"][0]["text"]["value"] == "Let me check."
    check_tool_deltas(frames)
    run = frames[-2].json
    http.post(f"/threads/{thread}/runs/{run['id']}/cancel")


def test_failure_mid_stream_ends_with_failed_and_no_error_frame(
    http: httpx.Client, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Reply.cut("This answer stops in the middle", after=3))
    assistant, thread = new_assistant(http), new_thread(http)
    frames = stream(
        http, "POST", f"/threads/{thread}/runs", json={"assistant_id": assistant, "stream": True}
    )
    tail = names(frames)[-4:]
    assert sorted(tail[:2]) == ["thread.message.incomplete", "thread.run.step.failed"]
    assert tail[2:] == ["thread.run.failed", "done"]
    assert "error" not in names(frames)
    assert_well_formed(frames)
    failed = frames[-2].json
    assert failed["status"] == "failed"
    assert failed["last_error"]["code"] == "server_error"
    assert "provider" in failed["last_error"]["message"].lower()
    # The incomplete message carries the text the client already saw.
    streamed = "".join(
        f.json["delta"]["content"][0]["text"]["value"]
        for f in frames
        if f.event == "thread.message.delta"
    )
    incomplete = next(f.json for f in frames if f.event == "thread.message.incomplete")
    assert streamed and incomplete["content"][0]["text"]["value"] == streamed


def test_failure_before_the_stream_is_a_json_error(http: httpx.Client, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.hang(5.0))
    assistant, thread = new_assistant(http), new_thread(http)
    run = http.post(f"/threads/{thread}/runs", json={"assistant_id": assistant}).json()
    # The thread is busy: a plain 400 with a JSON body, no stream.
    busy = http.post(f"/threads/{thread}/runs", json={"assistant_id": assistant, "stream": True})
    assert busy.status_code == 400 and busy.headers["content-type"] == "application/json"
    assert "already has an active run" in busy.json()["error"]["message"]
    missing = http.post(
        "/threads/thread_nope/runs", json={"assistant_id": assistant, "stream": True}
    )
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "invalid_request_error"
    http.post(f"/threads/{thread}/runs/{run['id']}/cancel")


def test_cancel_ends_an_open_stream(http: httpx.Client, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.text(" ".join(["slow"] * 50), token_delay=0.1))
    assistant, thread = new_assistant(http), new_thread(http)
    frames: list[Frame] = []
    with http.stream(
        "POST", f"/threads/{thread}/runs", json={"assistant_id": assistant, "stream": True}
    ) as r:
        for f in read_frames(r.iter_lines()):
            frames.append(f)
            if (
                f.event == "thread.message.delta"
                and names(frames).count("thread.message.delta") == 2
            ):
                http.post(f"/threads/{thread}/runs/{frames[0].json['id']}/cancel")
    assert names(frames)[-2:] == ["thread.run.cancelled", "done"]
    assert "thread.run.cancelling" in names(frames)
    assert_well_formed(frames)


def test_idle_stream_gets_keepalive_comments(
    http: httpx.Client, fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streaming, "KEEPALIVE_SECONDS", 0.05)
    fake_llm.script(Reply.text("Finally.", ttft=0.6))
    assistant, thread = new_assistant(http), new_thread(http)
    frames = stream(
        http, "POST", f"/threads/{thread}/runs", json={"assistant_id": assistant, "stream": True}
    )
    assert any(f.event == ":" and f.data == "keepalive" for f in frames)
    assert names(frames)[-2:] == ["thread.run.completed", "done"]
