"""Entities V1 compatibility: the current ``projectdavid`` SDK (1.113.1) runs its flow unchanged.

The SDK's documented function-calling flow has no polling: ``stream_events`` yields a
``ToolCallRequestEvent`` per call, the script runs ``event.execute(handler)`` (which reports
the action ``processing``, posts the output, reports it ``completed`` or ``failed``), and the
SDK streams again with the same ``message_id`` until no call is left. The SDK runs in a
subprocess from its own folder (``tests/integration/entities_sdk.py``); the model is the fake
LLM serving as provider ``hyperbolic``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from callisto.config import ProviderSettings
from callisto.testing._server import ThreadedServer
from callisto.testing.databases import redis_unavailable_reason, redis_url
from callisto.testing.fake_llm import FakeLLM, RecordedRequest, Reply
from tests.integration.conftest import sdk_client
from tests.integration.entities_sdk import (
    CURRENT_SDK,
    ENTITIES_KEY,
    MODEL,
    PROVIDER_KEY,
    entities_server,
    flight_agent,
    marked,
    run_sdk,
    sdk_skip_reason,
    tool_outputs,
)

__all__ = ["entities_server"]  # a fixture, used by name

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

pytestmark = pytest.mark.skipif(
    sdk_skip_reason(CURRENT_SDK) is not None, reason=sdk_skip_reason(CURRENT_SDK) or ""
)

# The flight-times script written for the current SDK's documented flow: tools given with the
# assistant, stream_events, ContentEvent printed, ToolCallRequestEvent executed. The assistant
# id and whether the handler fails come from the environment; the last lines print what the
# test checks.
FLIGHT_SCRIPT = """
import json
import os

from dotenv import load_dotenv
from projectdavid import ContentEvent, Entity, ToolCallRequestEvent

load_dotenv()

client = Entity(api_key=os.getenv("ENTITIES_API_KEY"))


def get_flight_times(tool_name, arguments):
    if os.getenv("FLIGHT_DB_DOWN"):
        raise RuntimeError("the flight database is offline")
    return json.dumps(
        {
            "status": "success",
            "message": f"Flight from {arguments.get('departure')} to {arguments.get('arrival')}: 4h 30m",
            "departure_time": "10:00 AM PST",
            "arrival_time": "06:30 PM EST",
        }
    )


assistant = client.assistants.create_assistant(
    assistant_id=os.environ["ASSISTANT_ID"],
    name="Flight helper",
    model="hyperbolic/deepseek-ai/DeepSeek-V3",
    instructions="You help travellers. Use your tools.",
    tools=[
        {
            "type": "function",
            "function": {
                "name": "get_flight_times",
                "description": "Get the flight times between two airports.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "departure": {"type": "string", "description": "Departure airport code"},
                        "arrival": {"type": "string", "description": "Arrival airport code"},
                    },
                    "required": ["departure", "arrival"],
                },
            },
        }
    ],
)
thread = client.threads.create_thread()
message = client.messages.create_message(
    thread_id=thread.id,
    role="user",
    content="Please fetch me the flight times between LAX and NYC, JFK",
    assistant_id=assistant.id,
)
run = client.runs.create_run(assistant_id=assistant.id, thread_id=thread.id)

stream = client.synchronous_inference_stream
stream.setup(
    thread_id=thread.id,
    assistant_id=assistant.id,
    message_id=message.id,
    run_id=run.id,
    api_key=os.getenv("HYPERBOLIC_API_KEY"),
)

actions = []
for event in stream.stream_events(model="hyperbolic/deepseek-ai/DeepSeek-V3"):
    if isinstance(event, ContentEvent):
        print(event.content, end="", flush=True)
    elif isinstance(event, ToolCallRequestEvent):
        print(f"\\n[tool {event.tool_name} {json.dumps(event.args, sort_keys=True)}]")
        event.execute(get_flight_times)
        actions.append(event.action_id)
    else:
        print(f"\\nEVENT {json.dumps(event.to_dict())}")

print()
print("ACTIONS " + json.dumps(actions))
print(f"IDS {thread.id} {run.id}")
print("STATUS " + client.runs.retrieve_run(run.id).status.value)
print("MAX_TURNS " + str(client.assistants.retrieve_assistant(assistant.id).max_turns))
"""

ERRORS_SCRIPT = """
import json
import os
import sys

import httpx
from projectdavid import Entity

THREAD, RUN = sys.argv[1], sys.argv[2]
client = Entity()
wrong = Entity(api_key="wrong-key")


def outcome(call):
    try:
        call()
        return "ok"
    except httpx.HTTPStatusError as exc:
        return exc.response.status_code
    except ValueError as exc:
        return "ValueError: " + str(exc)


def stream(entity, run_id):
    stream = entity.synchronous_inference_stream
    stream.setup(
        thread_id=THREAD,
        assistant_id=os.environ["ASSISTANT_ID"],
        message_id="msg_any",
        run_id=run_id,
        api_key=os.environ["HYPERBOLIC_API_KEY"],
    )
    return list(stream.stream_events(model="hyperbolic/deepseek-ai/DeepSeek-V3"))


report = {
    "wrong_key": outcome(lambda: wrong.threads.create_thread()),
    "wrong_key_stream": outcome(lambda: stream(wrong, RUN)),
    "unknown_run": outcome(lambda: client.runs.retrieve_run("run_unknown")),
    "unknown_run_stream": outcome(lambda: stream(client, "run_unknown")),
    "finished_run_stream": outcome(lambda: stream(client, RUN)),
    "unknown_action": outcome(
        lambda: client.actions.update_action("act_unknown", status="processing")
    ),
    "unknown_assistant_run": outcome(
        lambda: client.runs.create_run(assistant_id="asst_unknown", thread_id=THREAD)
    ),
    "runs": [r.status.value for r in client.runs.list_runs(THREAD).data],
}
print("REPORT " + json.dumps(report))
"""


def _assistant_id() -> str:
    return f"flights-{uuid.uuid4().hex[:8]}"


def run_flights(
    server: ThreadedServer, tmp_path: Path, assistant_id: str, **env: str
) -> tuple[str, list[str], str, str]:
    """Run the flight-times script; return its stdout, action ids, thread id and run id."""
    out = run_sdk(
        CURRENT_SDK,
        server,
        tmp_path,
        "flights",
        FLIGHT_SCRIPT,
        env={"ASSISTANT_ID": assistant_id, **env},
    )
    thread_id, run_id = marked(out, "IDS").split()
    return out, json.loads(marked(out, "ACTIONS")), thread_id, run_id


def _entities(server: ThreadedServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.url + "/entities/v1", headers={"X-API-Key": ENTITIES_KEY}, timeout=10
    )


def test_current_sdk_flight_script_runs_unchanged(
    entities_server: ThreadedServer, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    fake_llm.script(flight_agent, flight_agent)
    assistant_id = _assistant_id()
    out, action_ids, thread_id, run_id = run_flights(entities_server, tmp_path, assistant_id)

    assert '[tool get_flight_times {"arrival": "JFK", "departure": "LAX"}]' in out
    assert "Your flight leaves at 10:00 AM PST and lands at 06:30 PM EST." in out
    assert "EVENT" not in out
    assert marked(out, "STATUS") == "completed"
    assert marked(out, "MAX_TURNS") == "1"

    # The model saw the tool, was called with the key from the request body, and saw the output.
    assert len(fake_llm.requests) == 2
    first, second = fake_llm.requests
    assert [t["function"]["name"] for t in first.body["tools"]] == ["get_flight_times"]
    assert first.body["model"] == "deepseek-ai/DeepSeek-V3"
    assert {r.headers["authorization"] for r in fake_llm.requests} == {f"Bearer {PROVIDER_KEY}"}
    assert "06:30 PM EST" in tool_outputs(second)[0]

    # The action the SDK reported on, and the output it sent, read back.
    [action_id] = action_ids
    with _entities(entities_server) as http:
        action = http.get(f"/actions/{action_id}").json()
        assert action["status"] == "completed" and action["is_processed"] is True
        assert action["run_id"] == run_id and action["tool_call_id"].startswith("call_")
        assert http.get(f"/actions/pending/{run_id}").json() == []
        runs = http.get(f"/threads/{thread_id}/runs").json()
        assert [r["id"] for r in runs["data"]] == [run_id]
        events = http.get(f"/runs/{run_id}/events").text
    # Its action has its output: the replay names no action, only the run's end.
    assert events == (
        f'event: run.completed\ndata: {{"run_id": "{run_id}", "status": "completed", '
        '"last_error": null}\n\n'
    )

    # The same run, seen through the Assistants API.
    with sdk_client(entities_server.url, api_key=ENTITIES_KEY) as openai_client:
        run = openai_client.beta.threads.runs.retrieve(thread_id=thread_id, run_id=run_id)
        assert run.status == "completed" and run.assistant_id == assistant_id
        steps = openai_client.beta.threads.runs.steps.list(
            thread_id=thread_id, run_id=run_id, order="asc"
        )
        assert [s.type for s in steps.data] == ["tool_calls", "message_creation"]


def test_a_failing_handler_fails_its_action_and_the_run_still_ends(
    entities_server: ThreadedServer, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    fake_llm.script(flight_agent, flight_agent)
    out, [action_id], _, run_id = run_flights(
        entities_server, tmp_path, _assistant_id(), FLIGHT_DB_DOWN="1"
    )

    assert "The flight lookup failed: Error for 'get_flight_times': the flight database" in out
    assert marked(out, "STATUS") == "completed"
    error = json.loads(tool_outputs(fake_llm.requests[1])[0])
    assert error == {"error": "Error for 'get_flight_times': the flight database is offline"}
    with _entities(entities_server) as http:
        action = http.get(f"/actions/{action_id}").json()
    assert action["status"] == "failed" and action["run_id"] == run_id


def _validated_then_answered(request: RecordedRequest) -> Reply:
    """Call with an empty departure (the SDK's check refuses it), then properly, then answer."""
    outputs = tool_outputs(request)
    if not outputs:
        return Reply.tool_calls(("get_flight_times", {"departure": "", "arrival": "JFK"}))
    if outputs[-1].startswith("Validation Error"):
        return Reply.tool_calls(("get_flight_times", {"departure": "LAX", "arrival": "JFK"}))
    return flight_agent(request)


def test_the_sdk_argument_check_goes_back_to_the_model_and_the_run_continues(
    entities_server: ThreadedServer, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    fake_llm.script(*[_validated_then_answered] * 3)
    out, action_ids, _, _ = run_flights(entities_server, tmp_path, _assistant_id())

    # The refused call never reached the handler; the corrected one did; three turns, one run.
    assert len(action_ids) == 1 and '"departure": ""' not in out
    assert "Your flight leaves at 10:00 AM PST and lands at 06:30 PM EST." in out
    assert marked(out, "STATUS") == "completed"
    assert len(fake_llm.requests) == 3
    assert tool_outputs(fake_llm.requests[1]) == [
        "Validation Error: The tool 'get_flight_times' requires missing arguments: departure."
    ]


def test_wrong_keys_and_unknown_ids_are_errors_the_sdk_reports(
    entities_server: ThreadedServer, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    fake_llm.script(flight_agent, flight_agent)
    assistant_id = _assistant_id()
    _, _, thread_id, run_id = run_flights(entities_server, tmp_path, assistant_id)
    out = run_sdk(
        CURRENT_SDK,
        entities_server,
        tmp_path,
        "errors",
        ERRORS_SCRIPT,
        thread_id,
        run_id,
        env={"ASSISTANT_ID": assistant_id},
    )
    report = json.loads(marked(out, "REPORT"))
    assert report["wrong_key"] == 401
    assert report["wrong_key_stream"] == 401
    assert report["unknown_run"] == 404
    assert report["unknown_run_stream"] == 404
    assert report["finished_run_stream"] == 400
    assert report["unknown_action"].startswith("ValueError: HTTP error during action update")
    assert "404 Not Found" in report["unknown_action"]
    assert report["unknown_assistant_run"] == 404
    assert report["runs"] == ["completed"]
    assert len(fake_llm.requests) == 2


def _start_run(http: httpx.Client, assistant_id: str, content: str) -> dict[str, Any]:
    thread = http.post("/threads", json={}).json()
    http.post(
        "/messages",
        json={"thread_id": thread["id"], "content": content, "assistant_id": assistant_id},
    ).raise_for_status()
    run: dict[str, Any] = http.post(
        "/runs", json={"assistant_id": assistant_id, "thread_id": thread["id"]}
    ).json()
    return run


def _completion(run: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "api_key": PROVIDER_KEY,
        "thread_id": run["thread_id"],
        "message_id": "msg_any",
        "run_id": run["id"],
        "assistant_id": run["assistant_id"],
        **extra,
    }


def test_stream_false_answers_one_json_object(
    entities_server: ThreadedServer, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Reply.text("Hello from the model."), Reply.error(400, "Bad request."))
    assistant_id = _assistant_id()
    with _entities(entities_server) as http:
        http.post("/assistants", json={"id": assistant_id, "name": "a", "model": MODEL})
        run = _start_run(http, assistant_id, "hi")
        answer = http.post("/completions", json=_completion(run, stream=False))
        again = http.post("/completions", json=_completion(run, stream=False))
        failing = _start_run(http, assistant_id, "hi again")
        failed = http.post("/completions", json=_completion(failing, stream=False))
    assert answer.status_code == 200
    body = answer.json()
    assert body.pop("elapsed_s") >= 0
    assert body == {
        "run_id": run["id"],
        "content": "Hello from the model.",
        "type": "content",
        "model": MODEL,
    }
    assert again.status_code == 400 and "already ended" in again.json()["error"]["message"]
    assert failed.status_code == 502
    assert failed.json()["error"]["message"].startswith("The model provider failed")


def test_a_chosen_assistant_id_cannot_take_another_objects_id(
    entities_server: ThreadedServer,
) -> None:
    assistant_id = _assistant_id()
    with _entities(entities_server) as http:
        created = http.post("/assistants", json={"id": assistant_id, "name": "a", "model": MODEL})
        thread_id = http.post("/threads", json={}).json()["id"]
        taken = http.post("/assistants", json={"id": assistant_id, "name": "b", "model": MODEL})
        foreign = http.post("/assistants", json={"id": thread_id, "name": "c", "model": MODEL})
        looks_like = http.post("/assistants", json={"id": "run_x", "name": "d", "model": MODEL})
        platform = http.post("/assistants", json={"name": "e", "model": MODEL, "web_access": True})
        kept = http.get(f"/assistants/{assistant_id}").json()
    assert created.status_code == 200
    for refused in (taken, foreign, looks_like, platform):
        assert refused.status_code == 400, refused.text
    assert "already the id of an assistant" in taken.json()["error"]["message"]
    assert "prefix of another kind of object" in foreign.json()["error"]["message"]
    assert kept["name"] == "a" and kept["agent_mode"] is False


def _content(stream: str) -> str:
    """Return the text of an Entities stream's content lines."""
    lines = [x for x in stream.split("\n\n") if x.startswith("data: {")]
    chunks = [json.loads(x.removeprefix("data: ")) for x in lines]
    return "".join(c["content"] for c in chunks if c["type"] == "content")


def _frames(lines: Any) -> Any:
    """Yield ``(event, data)`` of the SSE frames read from ``lines``."""
    event = None
    for line in lines:
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event is not None:
            yield event, json.loads(line.removeprefix("data: "))
            event = None


def test_run_events_name_the_action_and_the_end(
    entities_server: ThreadedServer, fake_llm: FakeLLM
) -> None:
    fake_llm.script(flight_agent, flight_agent)
    assistant_id = _assistant_id()
    tool = {
        "type": "function",
        "function": {"name": "get_flight_times", "parameters": {"type": "object"}},
    }
    output = json.dumps({"departure_time": "9:00", "arrival_time": "17:00"})
    with _entities(entities_server) as http:
        http.post(
            "/assistants", json={"id": assistant_id, "name": "a", "model": MODEL, "tools": [tool]}
        ).raise_for_status()
        run = _start_run(http, assistant_id, "flights?")
        lines = http.post("/completions", json=_completion(run)).text.split("\n\n")
        chunks = [json.loads(x.removeprefix("data: ")) for x in lines if x.startswith("data: {")]
        manifest = next(c for c in chunks if c["type"] == "tool_call_manifest")
        assert lines[-2] == "data: [DONE]"
        assert http.get(f"/runs/{run['id']}").json()["status"] == "action_required"
        with http.stream("GET", f"/runs/{run['id']}/events") as events:
            frames = _frames(events.iter_lines())
            name, action = next(frames)
            assert name == "action_required"
            assert action["action_id"] == manifest["action_id"]
            assert action["tool_call_id"] == manifest["tool_call_id"]
            assert action["function_arguments"] == manifest["args"]
            put = http.put(f"/actions/{action['action_id']}", json={"status": "processing"})
            assert put.status_code == 200 and put.json()["status"] == "processing"
            sent = http.post(
                "/messages/tools",
                json={
                    "thread_id": run["thread_id"],
                    "assistant_id": assistant_id,
                    "role": "tool",
                    "content": output,
                    "tool_id": action["action_id"],
                    "tool_call_id": action["tool_call_id"],
                },
            ).json()
            name, end = next(frames)
        message = http.get(f"/messages/{sent['id']}").json()
        answer = _content(http.post("/completions", json=_completion(run)).text)
        bad_status = http.put(f"/actions/{action['action_id']}", json={"status": "done"})
    assert name == "run.completed" and end["status"] == "completed"
    assert set(put.json()) == {
        "id", "run_id", "tool_id", "tool_name", "tool_call_id", "turn_index", "decision",
        "confidence_score", "triggered_at", "expires_at", "is_processed", "processed_at",
        "status", "function_args", "result",
    }  # fmt: skip
    assert message["role"] == "tool" and message["content"] == output
    assert message["tool_call_id"] == action["tool_call_id"]
    assert "Your flight leaves at 9:00 and lands at 17:00." in answer
    assert bad_status.status_code == 400


def test_cancelling_a_waiting_run_through_entities(
    entities_server: ThreadedServer, fake_llm: FakeLLM
) -> None:
    fake_llm.script(flight_agent)
    assistant_id = _assistant_id()
    tool = {"type": "function", "function": {"name": "get_flight_times"}}
    with _entities(entities_server) as http:
        http.post(
            "/assistants", json={"id": assistant_id, "name": "a", "model": MODEL, "tools": [tool]}
        ).raise_for_status()
        run = _start_run(http, assistant_id, "flights?")
        http.post("/completions", json=_completion(run)).raise_for_status()
        pending = http.get(f"/actions/pending/{run['id']}").json()
        cancelled = http.post(f"/runs/{run['id']}/cancel")
        stream = http.post("/completions", json=_completion(run)).text
        action = http.get(f"/actions/{pending[0]['action_id']}").json()
        listed = http.get("/runs", params={"order": "desc", "limit": 1}).json()
    assert [p["tool_name"] for p in pending] == ["get_flight_times"]
    assert cancelled.status_code == 200
    assert '"type": "error", "message": "The run was cancelled."' in stream
    assert action["status"] == "cancelled" and action["is_processed"] is False
    assert listed["data"][0]["id"] == run["id"] and listed["data"][0]["status"] == "cancelled"


@pytest.mark.redis
def test_two_processes_on_one_database_serve_one_conversation(
    make_server: Callable[..., ThreadedServer], fake_llm: FakeLLM
) -> None:
    """Stream on one server; the action, the output and the next stream on another one.

    The servers share the database (actions, stream positions) and a Redis event log.
    """
    reason = redis_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    hyperbolic = ProviderSettings(kind="openai", base_url=fake_llm.base_url, max_retries=0)
    settings = {"api_key": ENTITIES_KEY, "providers": {"hyperbolic": hyperbolic}}
    first, second = (
        make_server(event_log="redis", redis_url=redis_url(), **settings) for _ in range(2)
    )
    fake_llm.script(flight_agent, flight_agent)
    assistant_id = _assistant_id()
    tool = {"type": "function", "function": {"name": "get_flight_times"}}
    output = json.dumps({"departure_time": "7:00", "arrival_time": "15:00"})
    with _entities(first) as one, _entities(second) as two:
        one.post(
            "/assistants", json={"id": assistant_id, "name": "a", "model": MODEL, "tools": [tool]}
        ).raise_for_status()
        run = _start_run(one, assistant_id, "flights?")
        started = one.post("/completions", json=_completion(run)).text
        [action] = two.get(f"/actions/pending/{run['id']}").json()
        assert f'"action_id": "{action["action_id"]}"' in started
        two.put(f"/actions/{action['action_id']}", json={"status": "processing"})
        two.post(
            "/messages/tools",
            json={
                "thread_id": run["thread_id"],
                "content": output,
                "tool_id": action["action_id"],
                "assistant_id": assistant_id,
            },
        ).raise_for_status()
        answer = _content(two.post("/completions", json=_completion(run)).text)
        status = one.get(f"/runs/{run['id']}").json()["status"]
    assert answer == "Your flight leaves at 7:00 and lands at 15:00."
    assert status == "completed"
    # The key came with the first server's request; the second server's turn used it too.
    assert [r.headers["authorization"] for r in fake_llm.requests] == [f"Bearer {PROVIDER_KEY}"] * 2


def test_the_entities_example_runs(
    make_server: Callable[..., ThreadedServer], tmp_path: Path
) -> None:
    """``examples/entities_flight_times.py`` on the built-in offline model."""
    server = make_server(api_key=ENTITIES_KEY)
    script = (EXAMPLES / "entities_flight_times.py").read_text()
    out = run_sdk(CURRENT_SDK, server, tmp_path, "example", script)
    assert "[calling get_flight_times with {'departure': 'LAX', 'arrival': 'JFK'}]" in out
    assert "5h 30m" in out


def test_a_refused_provider_key_is_a_failed_event_and_a_failed_run(
    make_server: Callable[..., ThreadedServer], tmp_path: Path
) -> None:
    with FakeLLM(api_key=PROVIDER_KEY) as strict_llm:
        hyperbolic = ProviderSettings(kind="openai", base_url=strict_llm.base_url, max_retries=0)
        server = make_server(api_key=ENTITIES_KEY, providers={"hyperbolic": hyperbolic})
        out, actions, _, _ = run_flights(
            server, tmp_path, _assistant_id(), HYPERBOLIC_API_KEY="sk-wrong-provider-key"
        )
        sent = [r.headers.get("authorization") for r in strict_llm.requests]
    assert sent == ["Bearer sk-wrong-provider-key"] and actions == []
    event = json.loads(marked(out, "EVENT"))
    assert event["type"] == "web_status" and event["status"] == "failed"
    assert event["message"].startswith("The model provider failed")
    assert marked(out, "STATUS") == "failed"
    assert "sk-wrong-provider-key" not in out


def test_assistant_updates_and_deletes_as_the_current_sdk_sends_them(
    entities_server: ThreadedServer,
) -> None:
    assistant_id = _assistant_id()
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    with _entities(entities_server) as http:
        http.post("/assistants", json={"id": assistant_id, "name": "a", "model": MODEL})
        updated = http.put(
            f"/assistants/{assistant_id}",
            json={"tools": [tool, {"type": "web_search"}], "max_turns": 4, "agent_mode": True},
        ).json()
        refused = http.put(f"/assistants/{assistant_id}", json={"vector_stores": ["vs_1"]})
        deleted = http.delete(f"/assistants/{assistant_id}", params={"permanent": False})
        gone = http.get(f"/assistants/{assistant_id}")
    assert [t["function"]["name"] for t in updated["tools"]] == ["lookup"]
    assert updated["max_turns"] == 4 and updated["agent_mode"] is True
    assert refused.status_code == 400
    assert deleted.json() == {"id": assistant_id, "object": "assistant.deleted", "deleted": True}
    assert gone.status_code == 404


def test_outputs_of_one_round_sent_at_once_to_two_servers_continue_the_run_once(
    make_server: Callable[..., ThreadedServer], fake_llm: FakeLLM
) -> None:
    """Each of two calls' outputs goes to another server at the same moment, a few times over.

    Exactly one of the two requests completes the round and hands it to the run.
    """
    hyperbolic = ProviderSettings(kind="openai", base_url=fake_llm.base_url, max_retries=0)
    settings = {"api_key": ENTITIES_KEY, "providers": {"hyperbolic": hyperbolic}}
    servers = [make_server(**settings) for _ in range(2)]
    tools = [
        {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
        for name in ("first", "second")
    ]
    assistant_id = _assistant_id()
    rounds = 4
    for _ in range(rounds):
        fake_llm.script(Reply.tool_calls(("first", {}), ("second", {})), Reply.text("Both done."))
    with _entities(servers[0]) as http, ThreadPoolExecutor(2) as pool:
        http.post(
            "/assistants", json={"id": assistant_id, "name": "a", "model": MODEL, "tools": tools}
        ).raise_for_status()
        for _ in range(rounds):
            run = _start_run(http, assistant_id, "both?")
            http.post("/completions", json=_completion(run)).raise_for_status()
            pending = http.get(f"/actions/pending/{run['id']}").json()
            assert len(pending) == 2

            def send(server: ThreadedServer, action: dict[str, Any], run: Any = run) -> int:
                with _entities(server) as client:
                    body = {
                        "thread_id": run["thread_id"],
                        "content": action["tool_name"] + " ok",
                        "tool_id": action["action_id"],
                        "assistant_id": assistant_id,
                    }
                    return client.post("/messages/tools", json=body).status_code

            assert list(pool.map(send, servers, pending)) == [200, 200]
            for _ in range(400):  # bounded wait for the run's next turn to end
                status = http.get(f"/runs/{run['id']}").json()["status"]
                if status not in ("queued", "in_progress"):
                    break
                time.sleep(0.05)
            assert status == "completed"
    answered = [r for r in fake_llm.requests if tool_outputs(r)]
    assert len(fake_llm.requests) == 2 * rounds and len(answered) == rounds
    assert all(sorted(tool_outputs(r)) == ["first ok", "second ok"] for r in answered)
