"""Pure parts of the Responses face: input items -> thread rows, and run events -> stream events."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from pydantic import TypeAdapter

from callisto.api.responses.events import Translator
from callisto.api.responses.items import call_item_id, plan_input
from callisto.api.responses.schemas import InputItem
from callisto.engine.events import RunEvent
from callisto.errors import InvalidRequest

items = TypeAdapter(list[InputItem])


def test_plan_orders_rows_as_the_input() -> None:
    plan = plan_input(
        items.validate_python(
            [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather?"},
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "function_call", "call_id": "c2", "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c2", "output": "two"},
                {
                    "type": "function_call_output",
                    "call_id": "c1",
                    "output": [{"type": "input_text", "text": "one"}],
                },
                {"role": "assistant", "content": [{"type": "output_text", "text": "Done."}]},
            ]
        ),
        "thread_x",
    )
    assert plan.instructions == ["Be brief."]
    assert [m.role for m in plan.messages] == ["user", "assistant"]
    [round_] = plan.rounds
    assert [(c["id"], c["function"]["output"]) for c in round_.calls] == [
        ("c1", "one"),
        ("c2", "two"),
    ]
    # Ids sort as the input: the round between the two messages.
    body = [m.id.partition("_")[2] for m in plan.messages]
    assert body[0] < round_.step_id.partition("_")[2] < body[1]
    assert [e["type"] for e in plan.echo] == [
        "message",
        "message",
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
        "message",
    ]
    assert plan.outputs == [] and plan.external is None


def test_outputs_of_earlier_calls_are_set_apart() -> None:
    plan = plan_input(
        items.validate_python(
            [{"type": "function_call_output", "call_id": "call_9", "output": "x"}]
        ),
        "thread_x",
    )
    assert plan.outputs == [("call_9", "x")] and plan.only_outputs
    assert plan.external is not None
    assert plan.echo[0]["id"] == call_item_id("call_9", "fco") == "fco_9"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}],
            "No tool output",
        ),
        (
            [
                {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c", "output": "1"},
                {"type": "function_call_output", "call_id": "c", "output": "2"},
            ],
            "given twice",
        ),
        (
            [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}],
            "image_url",
        ),
    ],
)
def test_bad_inputs(raw: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        plan_input(items.validate_python(raw), "thread_x")


def _run_event(name: str, data: dict[str, Any], seq: int = 0) -> RunEvent:
    return RunEvent(seq, name, json.dumps(data))


def test_translator_numbers_and_orders_events() -> None:
    translator = Translator()
    response = {"id": "resp_1", "object": "response"}
    events = translator.opening(response)
    events += translator.translate(_run_event("thread.run.in_progress", {}), response)
    events += translator.translate(_run_event("thread.message.created", {"id": "msg_1"}), response)
    delta = {
        "id": "msg_1",
        "delta": {"content": [{"index": 0, "type": "text", "text": {"value": "Hi"}}]},
    }
    events += translator.translate(_run_event("thread.message.delta", delta), response)
    events += translator.translate(
        _run_event("thread.message.completed", {"id": "msg_1", "status": "completed"}), response
    )
    call = {"id": "call_7", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
    action = {"required_action": {"submit_tool_outputs": {"tool_calls": [call]}}}
    events += translator.translate(_run_event("thread.run.requires_action", action), response)
    events += translator.closing("response.completed", response)
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[8]["output_index"] == 1 and events[8]["item"]["id"] == "fc_7"
    assert events[11]["item"]["arguments"] == '{"a":1}'
    # A delta of a message the translator never saw created (before the response) is dropped.
    assert (
        translator.translate(_run_event("thread.message.delta", {**delta, "id": "msg_0"}), response)
        == []
    )


def test_numbers_come_from_the_run_events_and_survive_dropped_deltas() -> None:
    response = {"id": "resp_1", "object": "response"}
    created = _run_event("thread.message.created", {"id": "msg_1"}, seq=5)
    deltas = [
        _run_event(
            "thread.message.delta",
            {"id": "msg_1", "delta": {"content": [{"type": "text", "text": {"value": w}}]}},
            seq=6 + i,
        )
        for i, w in enumerate(("a", "b"))
    ]
    content = [{"type": "text", "text": {"value": "ab", "annotations": []}}]
    message = {"id": "msg_1", "status": "completed", "content": content}
    done = _run_event("thread.message.completed", message, seq=8)

    def numbered(run_events: list[RunEvent]) -> dict[str, list[int]]:
        translator = Translator()
        events = translator.opening(response, start_seq=2)
        for run_event in run_events:
            events += translator.translate(run_event, response)
        by_type: dict[str, list[int]] = {}
        for event in events:
            by_type.setdefault(event["type"], []).append(event["sequence_number"])
            if event["type"] == "response.output_text.done":
                assert event["text"] == "ab"
        return by_type

    live = numbered([created, *deltas, done])
    assert live["response.created"] == [8]
    assert live["response.output_item.added"] == [20]
    assert live["response.output_text.delta"] == [24, 28]
    assert live["response.output_item.done"] == [34]
    trimmed = numbered([created, done])  # the log after its deltas were dropped
    assert trimmed == {k: v for k, v in live.items() if k != "response.output_text.delta"}


def test_rows_added_to_a_thread_sort_after_rows_of_a_process_ahead_in_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from callisto import ids
    from callisto.api.responses.rounds import observe_thread
    from callisto.ids import _encode, new_id
    from callisto.store.models import Base, MessageRow, ThreadRow

    monkeypatch.setattr(ids, "_clock", ids._Monotonic())  # the process's clock stays as it was

    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    # Written by a process whose clock is 2 s ahead of ours.
    ahead = "msg_" + _encode(time.time_ns() // 1_000_000 + 2000, 10) + "0" * 14
    with Session(engine) as db:
        db.add(ThreadRow(id="thread_t", created_at=0, metadata_={}))
        db.flush()
        db.add(MessageRow(id=ahead, thread_id="thread_t", created_at=0, role="user", content=[]))
        db.flush()
        assert new_id("msg_") < ahead
        observe_thread(db, "thread_t")
        plan = plan_input("next", "thread_t")
    assert plan.messages[0].id > ahead
    engine.dispose()
