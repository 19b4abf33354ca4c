"""Streamed responses: the full event sequence, checked event by event, through the SDK.

Every event carries a rising ``sequence_number``, its SSE ``event:`` equals its ``type``, and
the stream ends with ``data: [DONE]``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai

from callisto.testing.fake_llm import FakeLLM, Reply
from tests.integration.test_responses import WEATHER

TEXT_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def assert_rising(numbers: list[int]) -> None:
    """Sequence numbers rise (with gaps: they come from the run's event numbers)."""
    assert numbers == sorted(set(numbers)) and numbers[0] == 0


def raw_events(base_url: str, body: dict[str, Any]) -> list[tuple[str | None, str]]:
    """POST a streamed request; return each SSE frame's ``event:`` and ``data:``."""
    frames: list[tuple[str | None, str]] = []
    with httpx.stream("POST", base_url + "/v1/responses", json=body, timeout=30) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        text = reply.read().decode()
    for block in text.split("\n\n"):
        if not block.strip() or block.startswith(":"):
            continue
        event = None
        data = ""
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: "):
                data = line[len("data: ") :]
        frames.append((event, data))
    return frames


def test_text_stream_event_by_event(server: Any, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.text("One two three"))
    frames = raw_events(server.url, {"model": "fake/m", "input": "Count.", "stream": True})
    assert frames[-1] == (None, "[DONE]")
    events = [json.loads(data) for _, data in frames[:-1]]
    assert [e["type"] for e in events] == TEXT_EVENTS
    assert [name for name, _ in frames[:-1]] == TEXT_EVENTS
    assert_rising([e["sequence_number"] for e in events])
    created, in_progress = events[0]["response"], events[1]["response"]
    assert created["status"] == "in_progress" and created["output"] == []
    assert in_progress["id"] == created["id"]
    added = events[2]
    assert added["output_index"] == 0 and added["item"]["type"] == "message"
    assert added["item"]["status"] == "in_progress"
    item_id = added["item"]["id"]
    assert events[3]["part"] == {
        "type": "output_text",
        "text": "",
        "annotations": [],
        "logprobs": [],
    }
    assert "".join(e["delta"] for e in events[4:7]) == "One two three"
    assert all(e["item_id"] == item_id and e["content_index"] == 0 for e in events[3:9])
    assert events[7]["text"] == "One two three"
    assert events[8]["part"]["text"] == "One two three"
    assert events[9]["item"]["status"] == "completed"
    final = events[10]["response"]
    assert final["status"] == "completed"
    assert final["output"] == [events[9]["item"]]
    assert final["usage"]["total_tokens"] > 0


def test_function_call_stream_event_by_event(server: Any, fake_llm: FakeLLM) -> None:
    fake_llm.script(
        Reply.tool_calls(
            ("get_weather", {"city": "Tokyo"}), ("get_weather", {"city": "Paris"}), text="Checking."
        )
    )
    frames = raw_events(
        server.url, {"model": "fake/m", "input": "Weather?", "tools": [WEATHER], "stream": True}
    )
    assert frames[-1] == (None, "[DONE]")
    events = [json.loads(data) for _, data in frames[:-1]]
    call_events = [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ]
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * (len(events) - 16),
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        *call_events,
        *call_events,
        "response.completed",
    ]
    assert_rising([e["sequence_number"] for e in events])
    calls = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert [(c["name"], json.loads(c["arguments"])) for c in calls] == [
        ("get_weather", {"city": "Tokyo"}),
        ("get_weather", {"city": "Paris"}),
    ]
    assert [c["output_index"] for c in calls] == [1, 2]
    added = [e for e in events if e["type"] == "response.output_item.added"][1:]
    assert [a["item"]["arguments"] for a in added] == ["", ""]
    assert all(a["item"]["status"] == "in_progress" for a in added)
    final = events[-1]["response"]
    assert [o["type"] for o in final["output"]] == ["message", "function_call", "function_call"]
    assert final["output"][1]["id"] == added[0]["item"]["id"]


def test_sdk_stream_helpers_and_final_response(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(
        Reply.tool_calls(("get_weather", {"city": "Oslo"})), Reply.text("Oslo: 21C and clear.")
    )
    with openai_client.responses.stream(model="fake/m", input="Oslo?", tools=[WEATHER]) as stream:
        kinds = [event.type for event in stream]
        first = stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    call = first.output[0]
    assert call.type == "function_call" and json.loads(call.arguments) == {"city": "Oslo"}
    deltas: list[str] = []
    with openai_client.responses.stream(
        model="fake/m",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "21C"}],
    ) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
                assert event.snapshot == "".join(deltas)
        second = stream.get_final_response()
    assert second.output_text == "Oslo: 21C and clear." == "".join(deltas)
    assert openai_client.responses.retrieve(second.id).output_text == second.output_text


def test_create_with_stream_true_through_the_sdk(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Reply.text("Streamed words here"))
    events = list(openai_client.responses.create(model="fake/m", input="Hi", stream=True))
    assert [e.type for e in events][:2] == ["response.created", "response.in_progress"]
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "Streamed words here"
    numbers = [e.sequence_number for e in events]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)


def test_failed_response_streams_response_failed(server: Any, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.error(400, "bad prompt"))
    frames = raw_events(server.url, {"model": "fake/m", "input": "x", "stream": True})
    events = [json.loads(data) for _, data in frames[:-1]]
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.failed",
    ]
    failed = events[-1]["response"]
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "invalid_prompt"
