"""Responses options: tool_choice variants, parallel_tool_calls, text.format, store, echoes."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from callisto.testing.fake_llm import FakeLLM, Reply
from tests.integration.test_responses import WEATHER

TIME: dict[str, Any] = {
    "type": "function",
    "name": "get_time",
    "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
}


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        ("none", "none"),
        ("auto", "auto"),
        ("required", "required"),
        (
            {"type": "function", "name": "get_time"},
            {"type": "function", "function": {"name": "get_time"}},
        ),
    ],
)
def test_tool_choice_reaches_the_model(
    openai_client: openai.OpenAI, fake_llm: FakeLLM, choice: Any, sent: Any
) -> None:
    fake_llm.script(Reply.text("ok"))
    response = openai_client.responses.create(
        model="fake/m", input="x", tools=[WEATHER, TIME], tool_choice=choice
    )
    body = fake_llm.requests[0].body
    assert body["tool_choice"] == sent
    assert [t["function"]["name"] for t in body["tools"]] == ["get_weather", "get_time"]
    echoed = (
        response.tool_choice
        if isinstance(response.tool_choice, str)
        else response.tool_choice.model_dump(exclude_none=True)
    )
    assert echoed == choice


def test_allowed_tools_limits_what_the_model_sees(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Reply.tool_calls(("get_time", {"zone": "UTC"})))
    response = openai_client.responses.create(
        model="fake/m",
        input="Time?",
        tools=[WEATHER, TIME],
        tool_choice={
            "type": "allowed_tools",
            "mode": "required",
            "tools": [{"type": "function", "name": "get_time"}],
        },
    )
    body = fake_llm.requests[0].body
    assert [t["function"]["name"] for t in body["tools"]] == ["get_time"]
    assert body["tool_choice"] == "required"
    assert [t.name for t in response.tools] == ["get_weather", "get_time"]  # type: ignore[union-attr]
    assert response.output[0].type == "function_call"
    with pytest.raises(openai.BadRequestError, match="allowed_tools"):
        openai_client.responses.create(
            model="fake/m",
            input="x",
            tools=[WEATHER],
            tool_choice={
                "type": "allowed_tools",
                "mode": "auto",
                "tools": [{"type": "function", "name": "nope"}],
            },
        )
    with pytest.raises(openai.BadRequestError, match="tool_choice"):
        openai_client.responses.create(
            model="fake/m",
            input="x",
            tools=[WEATHER],
            tool_choice={"type": "function", "name": "nope"},
        )


def test_parallel_tool_calls_false_keeps_one_call(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(
        Reply.tool_calls(("get_weather", {"city": "Rome"}), ("get_weather", {"city": "Bern"}))
    )
    response = openai_client.responses.create(
        model="fake/m",
        input="Rome and Bern?",
        tools=[WEATHER],
        parallel_tool_calls=False,
        max_tool_calls=3,
    )
    assert fake_llm.requests[0].body["parallel_tool_calls"] is False
    calls = [o for o in response.output if o.type == "function_call"]
    assert [json.loads(c.arguments) for c in calls] == [{"city": "Rome"}]
    assert response.parallel_tool_calls is False
    assert response.max_tool_calls == 3


class Weather(BaseModel):
    city: str
    celsius: int


def test_text_format_json_schema(openai_client: openai.OpenAI, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.text('{"city": "Oslo", "celsius": 21}'))
    parsed = openai_client.responses.parse(model="fake/m", input="Oslo?", text_format=Weather)
    assert parsed.output_parsed == Weather(city="Oslo", celsius=21)
    sent = fake_llm.requests[0].body["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["name"] == "Weather"
    assert sent["json_schema"]["schema"]["required"] == ["city", "celsius"]
    assert parsed.text is not None and parsed.text.format.type == "json_schema"
    fake_llm.script(Reply.text("{}"))
    plain = openai_client.responses.create(
        model="fake/m", input="x", text={"format": {"type": "json_object"}}
    )
    assert fake_llm.requests[1].body["response_format"] == {"type": "json_object"}
    assert plain.text is not None and plain.text.format.type == "json_object"


def test_store_false_is_not_kept(openai_client: openai.OpenAI, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.text("Forget me."), Reply.text("Forget me too."))
    response = openai_client.responses.create(model="fake/m", input="x", store=False)
    assert response.output_text == "Forget me." and response.store is False
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.retrieve(response.id)
    with pytest.raises(openai.BadRequestError, match="not found"):
        openai_client.responses.create(model="fake/m", input="y", previous_response_id=response.id)
    with openai_client.responses.stream(model="fake/m", input="x", store=False) as stream:
        streamed = stream.get_final_response()
    assert streamed.output_text == "Forget me too."
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.retrieve(streamed.id)


def test_max_output_tokens_ends_incomplete(openai_client: openai.OpenAI, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.text("cut short", finish_reason="length"))
    response = openai_client.responses.create(model="fake/m", input="x", max_output_tokens=16)
    assert fake_llm.requests[0].body["max_tokens"] == 16
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.max_output_tokens == 16


def test_bad_bodies_are_400(openai_client: openai.OpenAI) -> None:
    for kwargs in (
        {"input": "x", "temperature": 3},
        {"input": "x", "tools": [{"type": "function", "name": "bad name!"}]},
        {"input": "x", "tools": [{"type": "function", "name": "f", "parameters": {"type": 5}}]},
        {"input": [{"type": "reasoning", "summary": []}]},
        {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
        {"input": "x", "text": {"format": {"type": "json_schema", "name": "n"}}},
        {"input": "x\u0000"},
        {"input": "x", "unknown_field": 1},
    ):
        extra = kwargs.pop("unknown_field", None)
        with pytest.raises(openai.BadRequestError):
            openai_client.responses.create(
                model="fake/m",
                **kwargs,
                **({"extra_body": {"unknown_field": extra}} if extra else {}),
            )
