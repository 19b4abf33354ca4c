"""Tool schemas are checked when they arrive, and model arguments are checked at bounded cost."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from callisto.testing._server import ThreadedServer
from callisto.testing.fake_llm import FakeLLM, Reply
from tests.integration.helpers import function_tool, nested_schema, wait_for

UNUSABLE: dict[str, tuple[list[dict[str, Any]], str]] = {
    "nested 100 levels": ([function_tool(parameters=nested_schema(100))], "levels deep"),
    "129 tools": ([function_tool(f"f{i}") for i in range(129)], "at most 128"),
    "duplicate names": ([function_tool(), function_tool()], "named 'f'"),
    "bad name": ([function_tool("no spaces allowed")], "should match pattern"),
    "backreference": (
        [
            function_tool(
                parameters={
                    "type": "object",
                    "properties": {"x": {"type": "string", "pattern": r"(a)\1"}},
                }
            )
        ],
        "cannot be used",
    ),
    "reference cycle": ([function_tool(parameters={"$ref": "#"})], "refers to itself"),
    "huge": (
        [function_tool(parameters={"type": "object", "enum": ["x" * 100_001]})],
        "the limit is",
    ),
    "not a schema": ([function_tool(parameters={"type": "nothing"})], "not a valid JSON Schema"),
}


@pytest.mark.parametrize("case", sorted(UNUSABLE))
def test_unusable_tools_are_400_at_every_door(
    case: str, openai_client: openai.OpenAI, server: ThreadedServer
) -> None:
    tools, words = UNUSABLE[case]
    assistant = openai_client.beta.assistants.create(model="fake/m")
    thread = openai_client.beta.threads.create()
    attempts: list[Callable[[], Any]] = [
        lambda: openai_client.beta.assistants.create(model="fake/m", tools=tools),  # type: ignore[arg-type]
        lambda: openai_client.beta.assistants.update(assistant.id, tools=tools),  # type: ignore[arg-type]
        lambda: openai_client.beta.threads.runs.create(
            thread_id=thread.id, assistant_id=assistant.id, tools=tools
        ),  # type: ignore[arg-type]
        lambda: openai_client.beta.threads.create_and_run(assistant_id=assistant.id, tools=tools),  # type: ignore[arg-type]
    ]
    for attempt in attempts:
        with pytest.raises(openai.BadRequestError) as caught:
            attempt()
        assert words in caught.value.message
    entities = [{"type": "function", "function": t["function"]} for t in tools]
    response = httpx.post(
        server.url + "/entities/v1/assistants",
        json={"model": "fake/m", "tools": entities},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    if len(tools) == 1:
        response = httpx.post(
            server.url + "/entities/v1/tools",
            json={"name": tools[0]["function"]["name"], "function": tools[0]["function"]},
            timeout=30,
        )
        assert response.status_code == 400 and words in response.text, response.text
    assert openai_client.beta.assistants.retrieve(assistant.id).tools == []


def test_entities_association_stops_at_128_tools(server: ThreadedServer) -> None:
    with httpx.Client(base_url=server.url + "/entities/v1", timeout=30) as http:
        tools = [function_tool(f"f{i}") for i in range(128)]
        assistant = http.post("/assistants", json={"model": "fake/m", "tools": tools}).json()
        created = http.post(
            "/tools", json={"name": "extra", "function": function_tool("extra")["function"]}
        )
        response = http.post(f"/assistants/{assistant['id']}/tools/{created.json()['id']}")
        assert response.status_code == 400 and "at most 128" in response.text
        assert len(http.get(f"/assistants/{assistant['id']}/tools").json()["tools"]) == 128


def test_a_catastrophic_pattern_does_not_stall_the_server(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    """Python's re would need about 2**40 steps for this argument, holding the GIL throughout."""
    tool = function_tool(
        "lookup",
        {
            "type": "object",
            "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}},
            "required": ["code"],
        },
    )
    fake_llm.script(
        Reply.tool_calls(("lookup", {"code": "a" * 40 + "!"})),
        Reply.tool_calls(("lookup", {"code": "aaaa"})),
    )
    assistant = openai_client.beta.assistants.create(model="fake/m", tools=[tool])  # type: ignore[list-item]
    thread = openai_client.beta.threads.create(messages=[{"role": "user", "content": "look up"}])
    run = openai_client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    run = wait_for(openai_client, thread.id, run.id, {"requires_action", "failed", "completed"})
    assert run.status == "requires_action", run.last_error
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    assert call.function.arguments == '{"code": "aaaa"}'
    # The model was told why its first call was refused.
    assert "does not match" in str(fake_llm.requests[-1].body["messages"])
