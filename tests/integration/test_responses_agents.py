"""The OpenAI Agents SDK (``openai-agents``) against Callisto's Responses API.

An ``Agent`` with a ``@function_tool``, its model pointed at Callisto through an OpenAI client,
runs several turns (a tool call, the tool's output, the answer) and answers with what the tool
returned. Tracing is off: nothing leaves the machine.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from callisto.testing.fake_llm import FakeLLM, Reply
from tests.integration.test_responses import EXCHANGE_ITEMS, RECALL_ROLES

agents = pytest.importorskip("agents")


async def test_agent_with_a_function_tool(server: Any, fake_llm: FakeLLM) -> None:
    agents.set_tracing_disabled(True)
    seen: list[str] = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """Return the weather in a city."""
        seen.append(city)
        return f"{city}: 19C, light wind"

    fake_llm.script(
        Reply.tool_calls(("get_weather", {"city": "Kyoto"})),
        Reply.text("In Kyoto it is 19C with a light wind."),
    )
    client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0)
    agent = agents.Agent(
        name="weather",
        instructions="Answer weather questions with the tool.",
        tools=[get_weather],
        model=agents.OpenAIResponsesModel(model="fake/m", openai_client=client),
    )
    result = await agents.Runner.run(agent, "What is the weather in Kyoto?")
    assert seen == ["Kyoto"]
    assert result.final_output == "In Kyoto it is 19C with a light wind."
    second = fake_llm.requests[1].messages
    assert second[0]["role"] == "system"
    tool = [m for m in second if m["role"] == "tool"]
    assert tool and tool[0]["content"] == "Kyoto: 19C, light wind"
    assert json.loads(second[-2]["tool_calls"][0]["function"]["arguments"]) == {"city": "Kyoto"}
    await client.close()


async def test_agent_streamed_run(server: Any, fake_llm: FakeLLM) -> None:
    agents.set_tracing_disabled(True)

    @agents.function_tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    fake_llm.script(Reply.tool_calls(("add", {"a": 2, "b": 40})), Reply.text("The sum is 42."))
    client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0)
    agent = agents.Agent(
        name="calc",
        tools=[add],
        model=agents.OpenAIResponsesModel(model="fake/m", openai_client=client),
    )
    run = agents.Runner.run_streamed(agent, "2 + 40?")
    kinds = [event.type async for event in run.stream_events()]
    assert "raw_response_event" in kinds
    assert run.final_output == "The sum is 42."
    assert fake_llm.requests[1].messages[-1] == {
        "role": "tool",
        "tool_call_id": fake_llm.requests[1].messages[-2]["tool_calls"][0]["id"],
        "content": "42",
    }
    await client.close()


def word_agent(server: Any, fake_llm: FakeLLM, word: str, meaning: str) -> tuple[Any, Any]:
    """An agent with a ``lookup`` tool, and a script: look ``word`` up, answer, then recall it."""

    @agents.function_tool
    def lookup(word: str) -> str:
        """Look a word up."""
        return f"{word} means {meaning}"

    fake_llm.script(
        Reply.tool_calls(("lookup", {"word": word})),
        Reply.text(f"{word.title()} means {meaning}."),
        Reply.text(f"You asked about {word}."),
    )
    client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0)
    agent = agents.Agent(
        name="words",
        tools=[lookup],
        model=agents.OpenAIResponsesModel(model="fake/m", openai_client=client),
    )
    return client, agent


@pytest.mark.parametrize("mode", ["conversation_id", "auto_previous_response_id"])
async def test_agent_keeps_context_on_the_server(server: Any, fake_llm: FakeLLM, mode: str) -> None:
    agents.set_tracing_disabled(True)
    client, agent = word_agent(server, fake_llm, "hola", "hello")
    options: dict[str, Any] = {"auto_previous_response_id": True}
    if mode == "conversation_id":
        options = {"conversation_id": (await client.conversations.create()).id}
    first = await agents.Runner.run(agent, "What does hola mean?", **options)
    assert first.final_output == "Hola means hello."
    if mode != "conversation_id":
        options = {"previous_response_id": first.last_response_id}
    second = await agents.Runner.run(agent, "What did I ask?", **options)
    assert second.final_output == "You asked about hola."
    assert [m["role"] for m in fake_llm.requests[2].messages] == RECALL_ROLES
    await client.close()


async def test_agent_with_a_conversations_session(server: Any, fake_llm: FakeLLM) -> None:
    agents.set_tracing_disabled(True)
    client, agent = word_agent(server, fake_llm, "danke", "thanks")
    session = agents.OpenAIConversationsSession(openai_client=client)
    first = await agents.Runner.run(agent, "What does danke mean?", session=session)
    assert first.final_output == "Danke means thanks."
    second = await agents.Runner.run(agent, "What did I ask?", session=session)
    assert second.final_output == "You asked about danke."
    # The session stored the exchange as conversation items and sent it back as input.
    assert [m["role"] for m in fake_llm.requests[2].messages] == RECALL_ROLES
    kinds = [item["type"] for item in await session.get_items()]
    assert kinds == [*EXCHANGE_ITEMS, "message", "message"]
    await client.close()
