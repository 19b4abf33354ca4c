"""The server's audit trail: every tool call handed out and every output received, listed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from callisto.testing._server import ThreadedServer
from callisto.testing.fake_llm import FakeLLM, Reply
from tests.integration.conftest import sdk_client
from tests.integration.helpers import WEATHER_TOOL, wait_for

KEY = "sk-audit-test-0123456789"
LOGIN_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "login",
        "parameters": {
            "type": "object",
            "properties": {"user": {"type": "string"}, "password": {"type": "string"}},
            "required": ["user", "password"],
        },
    },
}


@pytest.fixture
def keyed(make_server: Callable[..., ThreadedServer]) -> ThreadedServer:
    return make_server(api_key=KEY)


def events(server: ThreadedServer, **params: Any) -> dict[str, Any]:
    response = httpx.get(
        server.url + "/v1/audit/tool_events",
        params=params,
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_calls_and_outputs_are_recorded_with_secrets_redacted(
    keyed: ThreadedServer, fake_llm: FakeLLM
) -> None:
    fake_llm.script(
        Reply.tool_calls(
            ("login", {"user": "ada", "password": "hunter2"}), ("get_weather", {"city": "Oslo"})
        ),
        Reply.text("done"),
    )
    client = sdk_client(keyed.url, api_key=KEY)
    assistant = client.beta.assistants.create(model="fake/m", tools=[LOGIN_TOOL, WEATHER_TOOL])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "go"}])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    run = wait_for(client, thread.id, run.id, {"requires_action"})
    login, weather = run.required_action.submit_tool_outputs.tool_calls
    client.beta.threads.runs.submit_tool_outputs_and_poll(
        thread_id=thread.id,
        run_id=run.id,
        tool_outputs=[
            {"tool_call_id": login.id, "output": json.dumps({"ok": True, "token": "t-123"})},
            {"tool_call_id": weather.id, "output": "sunny"},
        ],
    )
    client.close()

    listed = events(keyed, run_id=run.id, order="asc")
    entries = listed["data"]
    assert [(e["event"], e["tool"]) for e in entries] == [
        ("tool_call.handed_out", "login"),
        ("tool_call.handed_out", "get_weather"),
        ("tool_output.received", "login"),
        ("tool_output.received", "get_weather"),
    ]
    assert all(e["object"] == "audit.tool_event" for e in entries)
    assert all((e["run_id"], e["thread_id"]) == (run.id, thread.id) for e in entries)
    assert [e["tool_call_id"] for e in entries] == [login.id, weather.id, login.id, weather.id]
    # Secrets never reach the trail; the rest is kept as it came.
    assert json.loads(entries[0]["arguments"]) == {"user": "ada", "password": "[REDACTED]"}
    assert json.loads(entries[1]["arguments"]) == {"city": "Oslo"}
    assert json.loads(entries[2]["output"]) == {"ok": True, "token": "[REDACTED]"}
    assert entries[3]["output"] == "sunny"
    assert "hunter2" not in json.dumps(listed) and "t-123" not in json.dumps(listed)
    # Who submitted: the key, masked; the trail never holds a whole key.
    assert {e["submitted_by"] for e in entries[2:]} == {"sk-...6789"}
    assert entries[0]["submitted_by"] is None
    assert KEY not in json.dumps(listed)

    # Filters and paging.
    assert [e["tool"] for e in events(keyed, run_id=run.id, tool="login")["data"]] == [
        "login",
        "login",
    ]
    received = events(keyed, run_id=run.id, event="tool_output.received")["data"]
    assert {e["tool"] for e in received} == {"login", "get_weather"}
    first = events(keyed, run_id=run.id, order="asc", limit=1)
    assert first["has_more"] is True and first["data"] == entries[:1]
    rest = events(keyed, run_id=run.id, order="asc", after=first["last_id"])
    assert rest["data"] == entries[1:] and rest["has_more"] is False
    assert events(keyed, run_id="run_other")["data"] == []


def test_a_refused_submission_leaves_no_entry(keyed: ThreadedServer, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.tool_calls(("get_weather", {"city": "A"})), Reply.text("ok"))
    client = sdk_client(keyed.url, api_key=KEY)
    assistant = client.beta.assistants.create(model="fake/m", tools=[WEATHER_TOOL])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "go"}])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    wait_for(client, thread.id, run.id, {"requires_action"})
    response = httpx.post(
        f"{keyed.url}/v1/threads/{thread.id}/runs/{run.id}/submit_tool_outputs",
        json={"tool_outputs": [{"tool_call_id": "call_nope", "output": "x"}]},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert response.status_code == 400
    client.close()
    assert [e["event"] for e in events(keyed, run_id=run.id)["data"]] == ["tool_call.handed_out"]


def test_responses_function_calls_are_audited(keyed: ThreadedServer, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.tool_calls(("get_weather", {"city": "Rome"})), Reply.text("warm"))
    client = sdk_client(keyed.url, api_key=KEY)
    tool: Any = {
        "type": "function",
        "name": "get_weather",
        "parameters": WEATHER_TOOL["function"]["parameters"],
    }
    first = client.responses.create(model="fake/m", input="weather in Rome?", tools=[tool])
    [call] = [i for i in first.output if i.type == "function_call"]
    client.responses.create(
        model="fake/m",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "30C"}],
        tools=[tool],
    )
    client.close()
    # The newest entries of that tool (the database holds other tests' entries too).
    entries = events(keyed, tool="get_weather", limit=10)["data"][::-1]
    mine = [e for e in entries if e["tool_call_id"] == call.call_id]
    assert [(e["event"], e["arguments"], e["output"]) for e in mine] == [
        ("tool_call.handed_out", json.dumps({"city": "Rome"}), None),
        ("tool_output.received", None, "30C"),
    ]
