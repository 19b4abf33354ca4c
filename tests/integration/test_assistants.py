"""Assistants through the official SDK: every field, the exact wire shape, update and delete."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.integration.helpers import WEATHER_TOOL

ASSISTANT_KEYS = {
    "id",
    "object",
    "created_at",
    "name",
    "description",
    "model",
    "instructions",
    "tools",
    "metadata",
    "tool_resources",
    "temperature",
    "top_p",
    "response_format",
}

FULL: dict[str, Any] = {
    "model": "offline/demo",
    "name": "Weather bot",
    "description": "Answers questions about the weather",
    "instructions": "Be brief.",
    "tools": [WEATHER_TOOL, {"type": "code_interpreter"}, {"type": "file_search"}],
    "metadata": {"team": "blue", "tier": "1"},
    "tool_resources": {"code_interpreter": {"file_ids": ["file_1"]}},
    "temperature": 0.5,
    "top_p": 0.9,
    "response_format": {"type": "json_object"},
}


def test_create_with_every_field_round_trips(openai_client: openai.OpenAI) -> None:
    raw = openai_client.beta.assistants.with_raw_response.create(**FULL)
    body = raw.http_response.json()
    assert set(body) == ASSISTANT_KEYS
    assert body["id"].startswith("asst_")
    assert body["object"] == "assistant"
    assert isinstance(body["created_at"], int)
    for key, value in FULL.items():
        assert body[key] == value, key
    fetched = openai_client.beta.assistants.retrieve(body["id"])
    assert fetched.model_dump(mode="json", exclude_unset=True) == body
    assert fetched.tools[0].function.parameters == WEATHER_TOOL["function"]["parameters"]  # type: ignore[union-attr]


def test_unset_fields_are_null_and_defaults_are_filled(openai_client: openai.OpenAI) -> None:
    raw = openai_client.beta.assistants.with_raw_response.create(model="offline/demo")
    body = raw.http_response.json()
    assert set(body) == ASSISTANT_KEYS
    assert body["name"] is None
    assert body["description"] is None
    assert body["instructions"] is None
    assert body["tool_resources"] is None
    assert body["temperature"] is None
    assert body["top_p"] is None
    assert body["tools"] == []
    assert body["metadata"] == {}
    assert body["response_format"] == "auto"


def test_json_schema_response_format_and_strict_function(openai_client: openai.OpenAI) -> None:
    schema_format = {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
    }
    tool = {"type": "function", "function": {**WEATHER_TOOL["function"], "strict": True}}
    created = openai_client.beta.assistants.create(
        model="offline/demo", response_format=schema_format, tools=[tool]
    )
    body = openai_client.beta.assistants.with_raw_response.retrieve(created.id).http_response.json()
    assert body["response_format"] == schema_format
    assert body["tools"] == [tool]


def test_update_changes_only_the_given_fields(openai_client: openai.OpenAI) -> None:
    created = openai_client.beta.assistants.create(**FULL)
    updated = openai_client.beta.assistants.update(
        created.id, name="Renamed", metadata={"team": "red"}, temperature=1.5
    )
    assert updated.id == created.id
    assert updated.name == "Renamed"
    assert updated.metadata == {"team": "red"}
    assert updated.temperature == 1.5
    assert updated.created_at == created.created_at
    for key in ("model", "description", "instructions", "top_p", "tools", "tool_resources"):
        assert getattr(updated, key) == getattr(created, key), key
    again = openai_client.beta.assistants.retrieve(created.id)
    assert again == updated


def test_update_can_clear_fields_and_replace_tools(openai_client: openai.OpenAI) -> None:
    created = openai_client.beta.assistants.create(**FULL)
    updated = openai_client.beta.assistants.update(
        created.id,
        model="offline/other",
        description=None,  # type: ignore[arg-type]
        tools=[],
        metadata={},
        response_format="auto",
    )
    assert updated.model == "offline/other"
    assert updated.description is None
    assert updated.tools == []
    assert updated.metadata == {}
    assert updated.response_format == "auto"
    assert updated.name == FULL["name"]


def test_update_refuses_a_null_model(openai_client: openai.OpenAI) -> None:
    created = openai_client.beta.assistants.create(model="offline/demo")
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.beta.assistants.update(created.id, model=None)  # type: ignore[arg-type]
    assert info.value.body["param"] == "model"  # type: ignore[index]
    assert openai_client.beta.assistants.retrieve(created.id).model == "offline/demo"


def test_delete_returns_the_deleted_object_and_the_assistant_is_gone(
    openai_client: openai.OpenAI,
) -> None:
    created = openai_client.beta.assistants.create(model="offline/demo")
    raw = openai_client.beta.assistants.with_raw_response.delete(created.id)
    assert raw.http_response.json() == {
        "id": created.id,
        "object": "assistant.deleted",
        "deleted": True,
    }
    with pytest.raises(openai.NotFoundError, match=created.id):
        openai_client.beta.assistants.retrieve(created.id)
    with pytest.raises(openai.NotFoundError, match=created.id):
        openai_client.beta.assistants.delete(created.id)
    listed = [a.id for a in openai_client.beta.assistants.list(limit=100)]
    assert created.id not in listed


def test_list_shows_new_assistants_first(openai_client: openai.OpenAI) -> None:
    first = openai_client.beta.assistants.create(model="offline/demo", name="first")
    second = openai_client.beta.assistants.create(model="offline/demo", name="second")
    page = openai_client.beta.assistants.list(limit=2)
    assert [a.id for a in page.data] == [second.id, first.id]
    assert page.data[0] == openai_client.beta.assistants.retrieve(second.id)


async def test_async_client_crud(async_openai_client: openai.AsyncOpenAI) -> None:
    assistants = async_openai_client.beta.assistants
    created = await assistants.create(model="offline/demo", name="async")
    assert (await assistants.retrieve(created.id)).name == "async"
    updated = await assistants.update(created.id, instructions="Hi")
    assert updated.instructions == "Hi"
    deleted = await assistants.delete(created.id)
    assert deleted.deleted is True
    assert deleted.object == "assistant.deleted"


@pytest.mark.parametrize(
    ("tools", "fragment"),
    [
        (
            [{"type": "function", "function": {"name": "f", "parameters": {"type": "bogus"}}}],
            "'f'",
        ),
        (
            [
                WEATHER_TOOL,
                {
                    "type": "function",
                    "function": {
                        "name": "g",
                        "parameters": {"properties": {"x": {"minimum": "0"}}},
                    },
                },
            ],
            "'g'",
        ),
        (
            [{"type": "function", "function": {"name": "h", "parameters": {"required": "x"}}}],
            "'h'",
        ),
    ],
)
def test_function_parameters_must_be_a_json_schema(
    openai_client: openai.OpenAI, tools: list[Any], fragment: str
) -> None:
    with pytest.raises(openai.BadRequestError, match=fragment) as info:
        openai_client.beta.assistants.create(model="offline/demo", tools=tools)
    assert "JSON Schema" in info.value.message
    created = openai_client.beta.assistants.create(model="offline/demo")
    with pytest.raises(openai.BadRequestError, match=fragment):
        openai_client.beta.assistants.update(created.id, tools=tools)
    assert openai_client.beta.assistants.retrieve(created.id).tools == []


def test_tool_limits(openai_client: openai.OpenAI) -> None:
    def tool(i: int) -> dict[str, Any]:
        return {"type": "function", "function": {"name": f"t{i}"}}

    created = openai_client.beta.assistants.create(
        model="offline/demo", tools=[tool(i) for i in range(128)]
    )
    assert len(created.tools) == 128
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.beta.assistants.create(
            model="offline/demo", tools=[tool(i) for i in range(129)]
        )
    assert info.value.body["param"] == "tools"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError, match="name"):
        openai_client.beta.assistants.create(
            model="offline/demo",
            tools=[{"type": "function", "function": {"name": "has space"}}],
        )
