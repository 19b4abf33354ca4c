"""Nothing is stored that cannot be read back.

Every free-form field of every create and update route, of the Assistants API and of the
Entities API, is sent a lone surrogate and (where it holds JSON) a value nested deeper than the
limit. Each answer must be a 400 naming the problem, and every object must still read back.
Before these checks, SQLite stored the surrogates and both databases stored the nesting, and
every later read of the object answered 500.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest

from callisto.api.schemas import MAX_JSON_DEPTH
from callisto.testing._server import ThreadedServer
from callisto.testing.fake_llm import FakeLLM, Reply
from tests.integration.helpers import WEATHER_TOOL, wait_for

SURROGATE = "bad \ud800 text"


def deep(levels: int = MAX_JSON_DEPTH + 1) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = {"k": value}
    return value


# Each bad value, and the words its 400 must contain.
TEXT_VALUES = {"surrogate": (SURROGATE, "lone surrogate")}
JSON_VALUES = {
    "surrogate": ({"note": SURROGATE}, "lone surrogate"),
    "surrogate key": ({SURROGATE: "x"}, "lone surrogate"),
    "deep": (deep(), "levels deep"),
}


@dataclass
class Ids:
    assistant: str
    thread: str
    message: str
    run: str
    call: str
    entities_thread: str


Body = Callable[[Any], dict[str, Any]]


@dataclass
class Field:
    """One free-form field: where it is sent, and the body that carries a value in it."""

    method: str
    path: str
    name: str
    body: Body
    json: bool  # holds JSON (objects, arrays), not only text
    read: str  # a GET that must still answer 200 afterwards


def tool(parameters: Any = None, description: Any = "d") -> dict[str, Any]:
    schema = parameters if parameters is not None else {"type": "object"}
    return {"name": "f", "description": description, "parameters": schema}


MESSAGE = {"role": "user", "content": "hi"}

# Where a bad value goes in a body, by field name: (body part, holds JSON).
SHAPES: dict[str, tuple[Body, bool]] = {
    "name": (lambda v: {"name": v}, False),
    "description": (lambda v: {"description": v}, False),
    "instructions": (lambda v: {"instructions": v}, False),
    "additional_instructions": (lambda v: {"additional_instructions": v}, False),
    "metadata value": (lambda v: {"metadata": {"k": v}}, False),
    "metadata key": (lambda v: {"metadata": {v: "x"}}, False),
    "meta_data": (lambda v: {"meta_data": {"k": v}}, False),
    "tool parameters": (lambda v: {"tools": [{"type": "function", "function": tool(v)}]}, True),
    "tool description": (
        lambda v: {"tools": [{"type": "function", "function": tool(description=v)}]},
        False,
    ),
    "tool_resources": (lambda v: {"tool_resources": {"code_interpreter": v}}, True),
    "response_format": (
        lambda v: {"response_format": {"type": "json_schema", "json_schema": {"schema": v}}},
        True,
    ),
    "content": (lambda v: {**MESSAGE, "content": v}, False),
    "content.text": (lambda v: {**MESSAGE, "content": [{"type": "text", "text": v}]}, False),
    "attachments": (lambda v: {**MESSAGE, "attachments": [v]}, True),
    "message metadata": (lambda v: {**MESSAGE, "metadata": {"k": v}}, False),
}


def fields(
    method: str, path: str, names: list[str], read: str, base: dict[str, Any] | None = None
) -> list[Field]:
    """The fields ``names`` of one route, each sent inside ``base``."""
    out = []
    for name in names:
        part, holds_json = SHAPES[name]
        out.append(
            Field(method, path, name, lambda v, p=part: {**(base or {}), **p(v)}, holds_json, read)
        )
    return out


def nested_in(
    key: str, wrap: Callable[[Any], Any], names: list[str]
) -> dict[str, tuple[Body, bool]]:
    """Shapes of ``names`` placed at ``key`` (e.g. inside a thread's messages)."""
    return {
        f"{key}.{name}": (lambda v, p=SHAPES[name][0]: {key: wrap(p(v))}, SHAPES[name][1])
        for name in names
    }


MESSAGE_FIELDS = ["content", "content.text", "attachments", "message metadata"]
SHAPES.update(nested_in("messages", lambda m: [m], MESSAGE_FIELDS))
SHAPES.update(nested_in("additional_messages", lambda m: [m], MESSAGE_FIELDS))
SHAPES.update(nested_in("thread", lambda b: b, ["metadata value", "tool_resources"]))
SHAPES.update(nested_in("thread", lambda m: {"messages": [m]}, ["content"]))
ASSISTANT_FIELDS = [
    "name",
    "description",
    "instructions",
    "metadata value",
    "metadata key",
    "tool parameters",
    "tool description",
    "tool_resources",
    "response_format",
]
RUN_FIELDS = ["instructions", "metadata value", "tool parameters", "response_format"]


def assistants_fields(ids: Ids) -> list[Field]:
    a, t, m, r = ids.assistant, ids.thread, ids.message, ids.run
    thread, messages, runs = (
        f"/v1/threads/{t}",
        f"/v1/threads/{t}/messages",
        f"/v1/threads/{t}/runs",
    )
    new_assistant = {"model": "fake/m"}
    return [
        *fields("POST", "/v1/assistants", ASSISTANT_FIELDS, f"/v1/assistants/{a}", new_assistant),
        *fields("POST", f"/v1/assistants/{a}", ASSISTANT_FIELDS, f"/v1/assistants/{a}"),
        *fields("POST", "/v1/threads", ["metadata value", "tool_resources"], thread),
        *fields("POST", "/v1/threads", [f"messages.{n}" for n in MESSAGE_FIELDS], thread),
        *fields("POST", thread, ["metadata value", "metadata key", "tool_resources"], thread),
        *fields("POST", messages, MESSAGE_FIELDS, messages),
        *fields("POST", f"{messages}/{m}", ["metadata value"], f"{messages}/{m}"),
        *fields("POST", runs, RUN_FIELDS, runs, {"assistant_id": a}),
        *fields("POST", runs, ["additional_instructions"], runs, {"assistant_id": a}),
        *fields(
            "POST",
            runs,
            [f"additional_messages.{n}" for n in MESSAGE_FIELDS],
            runs,
            {"assistant_id": a},
        ),
        *fields("POST", "/v1/threads/runs", RUN_FIELDS, runs, {"assistant_id": a}),
        *fields(
            "POST",
            "/v1/threads/runs",
            ["thread.metadata value", "thread.tool_resources", "thread.content", "tool_resources"],
            runs,
            {"assistant_id": a},
        ),
        *fields("POST", f"{runs}/{r}", ["metadata value"], f"{runs}/{r}"),
        Field(
            "POST",
            f"{runs}/{r}/submit_tool_outputs",
            "output",
            lambda v: {"tool_outputs": [{"tool_call_id": ids.call, "output": v}]},
            False,
            f"{runs}/{r}",
        ),
    ]


def entities_fields(ids: Ids) -> list[Field]:
    e = "/entities/v1"
    a, t = ids.assistant, ids.entities_thread
    scalars = ["name", "description", "instructions", "meta_data"]
    in_thread = {"thread_id": t}
    run = {"assistant_id": a, "thread_id": t}
    tool_output = {"thread_id": ids.thread, "tool_id": ids.call}
    return [
        *fields("POST", f"{e}/assistants", scalars, f"{e}/assistants", {"model": "fake/m"}),
        *fields("PUT", f"{e}/assistants/{a}", scalars, f"{e}/assistants/{a}"),
        *fields(
            "POST",
            f"{e}/assistants",
            ["tool parameters", "tool_resources"],
            f"{e}/assistants",
            {"model": "fake/m"},
        ),
        Field(
            "POST",
            f"{e}/tools",
            "function",
            lambda v: {"name": "f", "function": {"function": tool(v)}},
            True,
            f"{e}/assistants/{a}/tools",
        ),
        *fields("POST", f"{e}/threads", ["meta_data"], f"{e}/threads/{t}"),
        *fields(
            "POST",
            f"{e}/messages",
            ["meta_data"],
            f"{e}/threads/{t}/messages",
            {**in_thread, "content": "hi"},
        ),
        Field(
            "POST",
            f"{e}/messages",
            "content",
            lambda v: {**in_thread, "content": v},
            False,
            f"{e}/threads/{t}/messages",
        ),
        *fields("POST", f"{e}/runs", ["instructions", "meta_data"], f"{e}/threads/{t}", run),
        Field(
            "POST",
            f"{e}/messages/tools",
            "content",
            lambda v: {**tool_output, "content": v},
            False,
            f"/v1/threads/{ids.thread}/runs/{ids.run}",
        ),
    ]


@pytest.fixture
def ids(openai_client: openai.OpenAI, fake_llm: FakeLLM, server: ThreadedServer) -> Ids:
    fake_llm.script(Reply.tool_calls(("get_weather", {"city": "Oslo"})))
    assistant = openai_client.beta.assistants.create(model="fake/m", tools=[WEATHER_TOOL])  # type: ignore[list-item]
    thread = openai_client.beta.threads.create(messages=[{"role": "user", "content": "Oslo?"}])
    message = openai_client.beta.threads.messages.list(thread_id=thread.id).data[0]
    run = openai_client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    run = wait_for(openai_client, thread.id, run.id, {"requires_action"})
    call = run.required_action.submit_tool_outputs.tool_calls[0].id
    entities_thread = httpx.post(server.url + "/entities/v1/threads", json={}).json()["id"]
    return Ids(assistant.id, thread.id, message.id, run.id, call, entities_thread)


def send(http: httpx.Client, method: str, path: str, body: Any) -> httpx.Response:
    # json.dumps escapes the surrogate as \ud800, as a client in another language would send it.
    content = json.dumps(body)
    return http.request(method, path, content=content, headers={"content-type": "application/json"})


def test_every_free_form_field_refuses_what_cannot_be_read_back(
    server: ThreadedServer, ids: Ids
) -> None:
    fields = assistants_fields(ids) + entities_fields(ids)
    failures: list[str] = []
    tried = 0
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for field in fields:
            values = {**TEXT_VALUES, **JSON_VALUES} if field.json else TEXT_VALUES
            for kind, (value, words) in values.items():
                tried += 1
                response = send(http, field.method, field.path, field.body(value))
                text = response.text
                if response.status_code != 400 or words not in text:
                    failures.append(
                        f"{field.method} {field.path} {field.name} ({kind}): {response.status_code} {text[:200]}"
                    )
                read = http.get(field.read)
                if read.status_code != 200:
                    failures.append(
                        f"after {field.method} {field.path} {field.name} ({kind}): GET {field.read} -> {read.status_code}"
                    )
    assert not failures, "\n".join(failures)
    assert tried >= 100
