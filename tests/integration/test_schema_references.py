"""Tool schemas never make the server fetch anything: external ``$ref`` is refused on arrival.

A listener on a loopback port counts every connection; a file on disk holds a secret. Neither
may be reached or shown, whichever API the schema arrives through.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from callisto.testing._server import ThreadedServer
from callisto.testing.fake_llm import FakeLLM, Reply
from tests.integration.helpers import wait_for

SECRET = "s3cr3t-file-content"


class CountingListener:
    """A TCP listener that accepts and counts connections, answering nothing."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[CountingListener]:
    counting = CountingListener()
    yield counting
    counting.close()


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.json"
    path.write_text('{"x": {"type": "string", "description": "' + SECRET + '"}}')
    return path


def tool_with_ref(ref: str, *, nested: bool = True) -> dict[str, Any]:
    prop: dict[str, Any] = {"$ref": ref}
    parameters: dict[str, Any] = (
        {"type": "object", "properties": {"city": prop}} if nested else {"$ref": ref}
    )
    return {"type": "function", "function": {"name": "get_weather", "parameters": parameters}}


def references(listener: CountingListener, secret_file: Path) -> list[str]:
    return [
        f"http://127.0.0.1:{listener.port}/schema.json#/x",
        f"file://{secret_file}#/x",
        "other.json",
        "urn:example:thing",
    ]


def test_external_refs_are_refused_at_every_door(
    openai_client: openai.OpenAI,
    server: ThreadedServer,
    listener: CountingListener,
    secret_file: Path,
) -> None:
    assistant = openai_client.beta.assistants.create(model="fake/m")
    thread = openai_client.beta.threads.create()
    for ref in references(listener, secret_file):
        for nested in (True, False):
            tool = tool_with_ref(ref, nested=nested)
            pointer = "/properties/city/$ref" if nested else "/$ref"
            attempts = [
                lambda t=tool: openai_client.beta.assistants.create(model="fake/m", tools=[t]),
                lambda t=tool: openai_client.beta.assistants.update(assistant.id, tools=[t]),
                lambda t=tool: openai_client.beta.threads.runs.create(
                    thread_id=thread.id, assistant_id=assistant.id, tools=[t]
                ),
                lambda t=tool: openai_client.beta.threads.create_and_run(
                    assistant_id=assistant.id, tools=[t]
                ),
            ]
            for attempt in attempts:
                with pytest.raises(openai.BadRequestError) as caught:
                    attempt()
                message = caught.value.body["message"]  # type: ignore[index]
                assert pointer in message and "refer outside" in message, message
                assert SECRET not in message
        with httpx.Client(base_url=server.url + "/entities/v1", timeout=10) as http:
            response = http.post(
                "/tools",
                json={
                    "name": "get_weather",
                    "type": "function",
                    "function": tool_with_ref(ref)["function"],
                },
            )
            assert response.status_code == 400, response.text
            assert "/properties/city/$ref" in response.text and SECRET not in response.text
    assert listener.connections == 0
    # Nothing was stored: the assistant still has no tools, and the thread has no run.
    assert openai_client.beta.assistants.retrieve(assistant.id).tools == []
    assert openai_client.beta.threads.runs.list(thread_id=thread.id).data == []


def test_refs_that_look_like_data_or_stay_inside_are_accepted(
    openai_client: openai.OpenAI, fake_llm: FakeLLM, listener: CountingListener
) -> None:
    outside = f"http://127.0.0.1:{listener.port}/x"
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "$defs": {"city": {"type": "string", "minLength": 2}},
                # A property named "$ref" and a default holding "$ref" are data, not references.
                "properties": {
                    "city": {"$ref": "#/$defs/city"},
                    "$ref": {"type": "string", "default": outside},
                    "options": {"type": "object", "default": {"$ref": outside}},
                },
                "required": ["city"],
            },
        },
    }
    fake_llm.script(
        Reply.tool_calls(("get_weather", {"city": "X"})),  # breaks minLength via the local $ref
        Reply.tool_calls(("get_weather", {"city": "Oslo"})),
    )
    assistant = openai_client.beta.assistants.create(model="fake/m", tools=[tool])  # type: ignore[list-item]
    thread = openai_client.beta.threads.create(messages=[{"role": "user", "content": "Oslo?"}])
    run = openai_client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    run = wait_for(openai_client, thread.id, run.id, {"requires_action", "failed"})
    assert run.status == "requires_action", run.last_error
    [call] = run.required_action.submit_tool_outputs.tool_calls  # type: ignore[union-attr]
    assert call.function.arguments == '{"city": "Oslo"}'
    # The model was told what broke the schema of the referenced definition.
    correction = fake_llm.requests[-1].messages[-1]["content"]
    assert "city" in correction
    openai_client.beta.threads.runs.cancel(thread_id=thread.id, run_id=run.id)
    assert listener.connections == 0
