"""Entities V1 compatibility: scripts written for the seed-era ``projectdavid`` SDK run unchanged.

The real SDK (``projectdavid==1.36.1``, installed by ``make install`` from
``tests/entities-requirements.txt`` into a folder of its own) runs in a subprocess with that
folder and empty stand-ins for the heavy packages it imports but never uses
(``entities_stubs/``) on its path (see ``tests/integration/entities_sdk.py``). The model is the
fake LLM serving as provider ``hyperbolic``: it calls ``get_flight_times``, then answers with
what the tool returned, so the answer proves the output reached the model. The current SDK's
flow is in ``test_entities_current.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from callisto.config import ProviderSettings
from callisto.testing._server import ThreadedServer
from callisto.testing.fake_llm import FakeLLM
from tests.integration.conftest import sdk_client
from tests.integration.entities_sdk import (
    ENTITIES_KEY,
    MODEL,
    PROVIDER_KEY,
    SEED_SDK,
    entities_server,
    flight_agent,
    marked,
    sdk_skip_reason,
    text_of,
)
from tests.integration.entities_sdk import run_sdk as run_any_sdk

__all__ = ["entities_server"]  # a fixture, used by name

pytestmark = pytest.mark.skipif(
    sdk_skip_reason(SEED_SDK) is not None, reason=sdk_skip_reason(SEED_SDK) or ""
)

SETUP_SCRIPT = """
from projectdavid import Entity

client = Entity()
assistant = client.assistants.create_assistant(
    assistant_id="default",
    name="Default",
    model="hyperbolic/deepseek-ai/DeepSeek-V3",
    instructions="You help travellers. Use your tools.",
)
tool = client.tools.create_tool(
    name="get_flight_times",
    type="function",
    function={
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
        }
    },
)
client.tools.associate_tool_with_assistant(tool_id=tool.id, assistant_id=assistant.id)
print("TOOLS", [t["name"] for t in client.tools.list_tools(assistant.id)])
print("TOOL_ID", tool.id, client.tools.get_tool_by_id(tool.id).name)
"""

# The Entities V1 function-calling seed script, as its users ran it (ids from the environment,
# and one last line printing the ids for the test).
SEED_SCRIPT = """
import os
import json
import time
from projectdavid import Entity
from dotenv import load_dotenv

load_dotenv()

client = Entity(api_key=os.getenv("ENTITIES_API_KEY"))


def get_flight_times(tool_name, arguments):
    if tool_name == "get_flight_times":
        return json.dumps(
            {
                "status": "success",
                "message": f"Flight from {arguments.get('departure')} to {arguments.get('arrival')}: 4h 30m",
                "departure_time": "10:00 AM PST",
                "arrival_time": "06:30 PM EST",
            }
        )
    return json.dumps(
        {"status": "success", "message": f"Executed tool '{tool_name}' successfully."}
    )


user_id = os.getenv("ENTITIES_USER_ID")
assistant_id = "default"
thread = client.threads.create_thread(participant_ids=[user_id])

message = client.messages.create_message(
    thread_id=thread.id,
    role="user",
    content="Please fetch me the flight times between LAX and NYC, JFK",
    assistant_id=assistant_id,
)

run = client.runs.create_run(assistant_id=assistant_id, thread_id=thread.id)

sync_stream = client.synchronous_inference_stream
sync_stream.setup(
    user_id=user_id,
    thread_id=thread.id,
    assistant_id=assistant_id,
    message_id=message.id,
    run_id=run.id,
    api_key=os.getenv("HYPERBOLIC_API_KEY"),
)

# --- Stream initial LLM response ---
for chunk in sync_stream.stream_chunks(
    provider="Hyperbolic",
    model="hyperbolic/deepseek-ai/DeepSeek-V3",
    timeout_per_chunk=15.0,
    api_key=os.getenv("HYPERBOLIC_API_KEY"),
):
    content = chunk.get("content", "")
    if content:
        print(content, end="", flush=True)

# --- Function call execution ---
try:
    action_was_handled = client.runs.poll_and_execute_action(
        run_id=run.id,
        thread_id=thread.id,
        assistant_id=assistant_id,
        tool_executor=get_flight_times,
        actions_client=client.actions,
        messages_client=client.messages,
        timeout=45.0,
        interval=1.5,
    )

    if action_was_handled:
        print("\\n[Tool executed. Generating final response...]\\n")
        sync_stream.setup(
            user_id=user_id,
            thread_id=thread.id,
            assistant_id=assistant_id,
            message_id="regenerated",
            run_id=run.id,
            api_key=os.getenv("HYPERBOLIC_API_KEY"),
        )
        for final_chunk in sync_stream.stream_chunks(
            provider="Hyperbolic",
            model="hyperbolic/deepseek-ai/DeepSeek-V3",
            timeout_per_chunk=15.0,
            api_key=os.getenv("HYPERBOLIC_API_KEY"),
        ):
            content = final_chunk.get("content", "")
            if content:
                print(content, end="", flush=True)
except Exception as e:
    print(f"\\n[Error during tool execution or final stream]: {str(e)}")

print(f"\\nIDS {thread.id} {run.id}")
"""

ERRORS_SCRIPT = """
import json
import os
import sys

import httpx
from projectdavid import Entity

THREAD, RUN = sys.argv[1], sys.argv[2]
MODEL = "hyperbolic/deepseek-ai/DeepSeek-V3"
client = Entity()
wrong = Entity(api_key="wrong-key")


def outcome(call):
    try:
        call()
        return "ok"
    except httpx.HTTPStatusError as exc:
        return exc.response.status_code


def streamed(entity, run_id):
    stream = entity.synchronous_inference_stream
    stream.setup(
        user_id="user_test",
        thread_id=THREAD,
        assistant_id="default",
        message_id="regenerated",
        run_id=run_id,
        api_key=os.environ["HYPERBOLIC_API_KEY"],
    )
    return list(stream.stream_chunks(provider="Hyperbolic", model=MODEL, timeout_per_chunk=10.0))


report = {
    "unknown_run": outcome(lambda: client.runs.retrieve_run("run_unknown")),
    "unknown_thread": outcome(
        lambda: client.messages.create_message(
            thread_id="thread_unknown", content="hi", assistant_id="default"
        )
    ),
    "unknown_assistant_run": outcome(
        lambda: client.runs.create_run(assistant_id="asst_unknown", thread_id=THREAD)
    ),
    "poll_unknown_run": outcome(
        lambda: client.runs.poll_and_execute_action(
            run_id="run_unknown",
            thread_id=THREAD,
            assistant_id="default",
            tool_executor=lambda name, arguments: "",
            actions_client=client.actions,
            messages_client=client.messages,
            timeout=5.0,
            interval=0.1,
        )
    ),
    "wrong_key": outcome(lambda: wrong.threads.create_thread()),
    "finished_run_status": client.runs.retrieve_run(RUN).status.value,
    "finished_stream": streamed(client, RUN),
    "unknown_stream": streamed(client, "run_unknown"),
    "wrong_key_stream": streamed(wrong, RUN),
}
print("REPORT " + json.dumps(report))
"""


def run_sdk(server: ThreadedServer, tmp_path: Path, name: str, script: str, *args: str) -> str:
    """Run a seed-era SDK script against ``server`` in a subprocess; return its stdout."""
    return run_any_sdk(SEED_SDK, server, tmp_path, name, script, *args)


def test_seed_script_runs_unchanged(
    entities_server: ThreadedServer, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    setup = run_sdk(entities_server, tmp_path, "setup", SETUP_SCRIPT)
    assert marked(setup, "TOOLS") == "['get_flight_times']"
    assert marked(setup, "TOOL_ID").endswith(" get_flight_times")

    fake_llm.script(flight_agent, flight_agent)
    out = run_sdk(entities_server, tmp_path, "seed", SEED_SCRIPT)

    assert "[Tool executed. Generating final response...]" in out
    final = out.split("[Tool executed. Generating final response...]")[1]
    assert "Your flight leaves at 10:00 AM PST and lands at 06:30 PM EST." in final
    assert "[Error during tool execution" not in out

    # The model saw the tool, was called with the key from the request body, and saw the output.
    assert len(fake_llm.requests) == 2
    first, second = fake_llm.requests
    assert [t["function"]["name"] for t in first.body["tools"]] == ["get_flight_times"]
    assert first.body["model"] == "deepseek-ai/DeepSeek-V3"
    for request in fake_llm.requests:
        assert request.headers["authorization"] == f"Bearer {PROVIDER_KEY}"
    tool_message = next(m for m in second.messages if m.get("role") == "tool")
    assert "06:30 PM EST" in text_of(tool_message["content"])

    # The same run, seen through the Assistants API.
    thread_id, run_id = marked(out, "IDS").split()
    with sdk_client(entities_server.url, api_key=ENTITIES_KEY) as openai_client:
        run = openai_client.beta.threads.runs.retrieve(thread_id=thread_id, run_id=run_id)
        assert run.status == "completed"
        assert run.assistant_id == "default"
        assert run.model == MODEL
        messages = openai_client.beta.threads.messages.list(thread_id=thread_id, order="asc")
        texts = [m.content[0].text.value for m in messages.data]  # type: ignore[union-attr]
        assert texts[0] == "Please fetch me the flight times between LAX and NYC, JFK"
        assert texts[-1] == "Your flight leaves at 10:00 AM PST and lands at 06:30 PM EST."
        steps = openai_client.beta.threads.runs.steps.list(
            thread_id=thread_id, run_id=run_id, order="asc"
        )
        assert [s.type for s in steps.data] == ["tool_calls", "message_creation"]

    # Errors, in the shapes the SDK handles.
    report = json.loads(
        marked(
            run_sdk(entities_server, tmp_path, "errors", ERRORS_SCRIPT, thread_id, run_id), "REPORT"
        )
    )
    assert report["unknown_run"] == 404
    assert report["unknown_thread"] == 404
    assert report["unknown_assistant_run"] == 404
    assert report["poll_unknown_run"] == 404
    assert report["wrong_key"] == 401
    assert report["finished_run_status"] == "completed"
    [finished] = report["finished_stream"]
    assert finished["type"] == "error"
    assert "has already ended (completed)" in finished["message"]
    [unknown] = report["unknown_stream"]
    assert unknown == {
        "type": "error",
        "message": "No run found with id 'run_unknown'.",
        "run_id": "run_unknown",
    }
    # A refused key on the streaming call is an HTTP 401, which the SDK logs and ends on.
    assert report["wrong_key_stream"] == []
    assert len(fake_llm.requests) == 2


def test_entities_auth_accepts_x_api_key_and_bearer(entities_server: ThreadedServer) -> None:
    base = entities_server.url + "/entities/v1"
    with httpx.Client(base_url=base, timeout=10) as http:
        by_header = http.post("/threads", json={}, headers={"X-API-Key": ENTITIES_KEY})
        by_bearer = http.post(
            "/threads", json={}, headers={"Authorization": f"Bearer {ENTITIES_KEY}"}
        )
        refused = http.post("/threads", json={}, headers={"X-API-Key": "nope"})
        stream = http.post(
            "/completions",
            json={
                "provider": "Hyperbolic",
                "model": MODEL,
                "thread_id": "t",
                "run_id": "r",
                "assistant_id": "a",
            },
            headers={"Authorization": "Bearer nope"},
        )
    assert by_header.status_code == by_bearer.status_code == 200
    assert by_header.json()["object"] == "thread" and isinstance(
        by_header.json()["created_at"], int
    )
    assert refused.status_code == 401 and stream.status_code == 401


def test_completions_refuses_an_unconfigured_provider(
    entities_server: ThreadedServer, fake_llm: FakeLLM
) -> None:
    headers = {"X-API-Key": ENTITIES_KEY}
    with httpx.Client(
        base_url=entities_server.url + "/entities/v1", timeout=10, headers=headers
    ) as http:
        assistant = http.post("/assistants", json={"name": "a", "model": MODEL}).json()
        thread = http.post("/threads", json={}).json()
        http.post(
            "/messages",
            json={
                "thread_id": thread["id"],
                "content": "hi",
                "assistant_id": assistant["id"],
                "role": "user",
            },
        ).raise_for_status()
        run = http.post(
            "/runs", json={"assistant_id": assistant["id"], "thread_id": thread["id"]}
        ).json()
        assert run["status"] == "queued" and run["tool_choice"] == "auto"
        body = {
            "provider": "together",
            "model": "together/meta-llama/Llama-3-8b",
            "api_key": "k",
            "thread_id": thread["id"],
            "message_id": "m",
            "run_id": run["id"],
            "assistant_id": assistant["id"],
        }
        lines = http.post("/completions", json=body).text.strip().split("\n\n")
        held = http.get(f"/runs/{run['id']}").json()
        # A held run is resumed by a server starting on the same database: end it.
        assert http.post(f"/runs/{run['id']}/cancel").json()["status"] == "in_progress"
    error = json.loads(lines[0].removeprefix("data: "))
    assert error["type"] == "error" and "'together'" in error["message"]
    assert lines[-1] == "data: [DONE]"
    assert held["status"] == "queued" and fake_llm.requests == []


def test_a_refused_provider_key_fails_the_run_without_showing_the_key(
    make_server: Callable[..., ThreadedServer],
) -> None:
    with FakeLLM(api_key=PROVIDER_KEY) as strict_llm:
        hyperbolic = ProviderSettings(
            kind="openai", base_url=strict_llm.base_url, timeout=5, max_retries=0
        )
        server = make_server(providers={"hyperbolic": hyperbolic})
        with httpx.Client(base_url=server.url + "/entities/v1", timeout=10) as http:
            http.post(
                "/assistants", json={"id": "strict", "name": "s", "model": MODEL}
            ).raise_for_status()
            thread = http.post("/threads", json={}).json()
            http.post(
                "/messages",
                json={"thread_id": thread["id"], "content": "hi", "assistant_id": "strict"},
            )
            run = http.post(
                "/runs", json={"assistant_id": "strict", "thread_id": thread["id"]}
            ).json()
            body = {
                "provider": "Hyperbolic",
                "model": MODEL,
                "api_key": "sk-wrong-provider-key",
                "thread_id": thread["id"],
                "message_id": "m",
                "run_id": run["id"],
                "assistant_id": "strict",
            }
            text = http.post("/completions", json=body).text
            ended = http.get(f"/runs/{run['id']}").json()
        sent = [r.headers.get("authorization") for r in strict_llm.requests]
        assert sent == ["Bearer sk-wrong-provider-key"]
    [error, done] = text.strip().split("\n\n")
    assert done == "data: [DONE]"
    chunk = json.loads(error.removeprefix("data: "))
    assert chunk["type"] == "error" and chunk["message"].startswith("The model provider failed")
    assert ended["status"] == "failed" and ended["last_error"] == chunk["message"]
    assert "sk-wrong-provider-key" not in text
