"""Background responses: answered ``queued`` at once, polled, cancelled, and streams resumed."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from callisto.testing.fake_llm import FakeLLM, Reply
from tests.integration.test_conversations import wait_finished


def test_background_poll(openai_client: openai.OpenAI, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.text("Done in the background.", ttft=0.3))
    response = openai_client.responses.create(model="fake/m", input="Work.", background=True)
    assert response.status == "queued" and response.background is True
    assert response.output == []
    finished = wait_finished(openai_client, response.id)
    assert finished.status == "completed"
    assert finished.output_text == "Done in the background."


def test_cancel_a_background_response(openai_client: openai.OpenAI, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.hang(30, after_text="Partial answer"))
    response = openai_client.responses.create(model="fake/m", input="Long job.", background=True)
    cancelled = openai_client.responses.cancel(response.id)
    assert cancelled.status == "cancelled"
    assert openai_client.responses.retrieve(response.id).status == "cancelled"
    # Cancelling again answers the response as it is.
    assert openai_client.responses.cancel(response.id).status == "cancelled"


def test_cancel_refuses_a_foreground_response(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Reply.text("Quick."))
    response = openai_client.responses.create(model="fake/m", input="Hi")
    with pytest.raises(openai.BadRequestError, match="background"):
        openai_client.responses.cancel(response.id)


def _stream(base_url: str, response_id: str, after: int | None = None) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"stream": "true"}
    if after is not None:
        params["starting_after"] = after
    with httpx.stream(
        "GET", f"{base_url}/v1/responses/{response_id}", params=params, timeout=30
    ) as reply:
        assert reply.status_code == 200
        body = reply.read().decode()
    datas = [line[len("data: ") :] for line in body.split("\n") if line.startswith("data: ")]
    assert datas[-1] == "[DONE]"
    return [json.loads(d) for d in datas[:-1]]


def test_background_stream_resumes_after_any_sequence_number(
    server: Any, openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Reply.text("alpha beta gamma delta", ttft=0.2))
    stream = openai_client.responses.create(
        model="fake/m", input="Words.", background=True, stream=True
    )
    events = list(stream)
    kinds = [e.type for e in events]
    assert kinds[:3] == ["response.created", "response.queued", "response.in_progress"]
    assert events[0].response.status == "queued"
    assert kinds[-1] == "response.completed"
    response_id = events[0].response.id
    whole = _stream(server.url, response_id)
    assert [e["type"] for e in whole] == kinds
    numbers = [e["sequence_number"] for e in whole]
    assert numbers == sorted(set(numbers))
    assert numbers == [e.sequence_number for e in events]
    for index in (0, 4, len(whole) - 2):
        resumed = _stream(server.url, response_id, numbers[index])
        assert resumed == whole[index + 1 :]
    # The SDK's own resumption call.
    tail = list(
        openai_client.responses.retrieve(response_id, stream=True, starting_after=numbers[-3])
    )
    assert [e.type for e in tail] == kinds[-2:]


def test_stream_of_a_finished_response_is_rebuilt_when_the_log_is_gone(
    make_server: Any, fake_llm: FakeLLM
) -> None:
    first = make_server()
    client = openai.OpenAI(base_url=first.url + "/v1", api_key="k", max_retries=0)
    fake_llm.script(Reply.text("Kept in the store."))
    response = client.responses.create(model="fake/m", input="Hi", background=True)
    wait_finished(client, response.id)
    # Another process has none of this run's events in its (in-memory) log.
    other = make_server()
    events = _stream(other.url, response.id)
    assert [e["type"] for e in events] == [
        "response.created",
        "response.queued",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "Kept in the store."
    client.close()


def test_stream_of_a_continued_response_is_its_own(
    server: Any, make_server: Any, openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Reply.tool_calls(("get_weather", {"city": "Bonn"})), Reply.text("Rainy."))
    tool = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}
    first = openai_client.responses.create(model="fake/m", input="Bonn?", tools=[tool])  # type: ignore[list-item]
    call_id = first.output[0].call_id  # type: ignore[union-attr]
    # Continued through another process (as after a restart): its log of the run holds only
    # the continuation's events.
    other = make_server()
    other_client = openai.OpenAI(base_url=other.url + "/v1", api_key="k", max_retries=0)
    other_client.responses.create(
        model="fake/m",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call_id, "output": "rain"}],
    )
    events = _stream(other.url, first.id)
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert events[-1]["response"] == openai_client.responses.retrieve(first.id).model_dump(
        mode="json", exclude_unset=True
    )
    other_client.close()
