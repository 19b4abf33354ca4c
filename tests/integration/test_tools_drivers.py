"""The toolkit's drivers against a real Callisto server (offline model) and the fake LLM.

Needs the integration fixtures (``openai_client``, ``async_openai_client``, ``fake_llm``) from
``tests/integration/conftest.py``; without them the module is skipped.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

pytest.importorskip("callisto.testing.server", reason="the Callisto test server is not available")
openai = pytest.importorskip("openai")

from callisto.testing.fake_llm import FakeLLM, Reply  # noqa: E402
from callisto.tools import (  # noqa: E402
    AuditTrail,
    MemorySink,
    Toolbox,
    ToolExecutor,
    async_complete_with_tools,
    async_run_until_done,
    complete_with_tools,
    run_until_done,
    tool,
)

MODEL = "offline/demo"


@tool
def get_flight_times(departure: str, arrival: str) -> dict[str, str]:
    """Get the flight times between two airports.

    Args:
        departure: The departure airport code.
        arrival: The arrival airport code.
    """
    return {"departure": departure, "arrival": arrival, "duration": "5h 30m"}


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city.

    Args:
        city: The city name.
    """
    time.sleep(0.2)  # long enough that sequential calls would show
    return f"{city}: 22C sunny"


def assistant_and_thread(client: Any, toolbox: Toolbox, question: str) -> tuple[str, str]:
    assistant = client.beta.assistants.create(model=MODEL, tools=toolbox.openai_tools())
    thread = client.beta.threads.create(messages=[{"role": "user", "content": question}])
    return assistant.id, thread.id


FLIGHT_QUESTION = "What's the flight time between LAX and JFK?"


def test_polling_driver_completes_the_flight_run(openai_client: Any) -> None:
    toolbox = Toolbox([get_flight_times])
    assistant_id, thread_id = assistant_and_thread(openai_client, toolbox, FLIGHT_QUESTION)
    outcome = run_until_done(openai_client, thread_id, assistant_id, toolbox)
    assert outcome.run.status == "completed"
    [result] = outcome.tool_results
    assert result.ok and result.value["departure"] == "LAX" and result.value["arrival"] == "JFK"
    assert "5h 30m" in outcome.text


def test_streaming_driver_forwards_text(openai_client: Any) -> None:
    toolbox = Toolbox([get_flight_times])
    assistant_id, thread_id = assistant_and_thread(openai_client, toolbox, FLIGHT_QUESTION)
    texts: list[str] = []
    outcome = run_until_done(
        openai_client, thread_id, assistant_id, toolbox, stream=True, on_text=texts.append
    )
    assert outcome.run.status == "completed"
    assert "5h 30m" in "".join(texts)
    assert outcome.text.strip() == "".join(texts).strip()


def test_parallel_weather_calls_in_one_round(openai_client: Any) -> None:
    toolbox = Toolbox([get_weather])
    audit = MemorySink()
    question = "What's the weather in Tokyo and Paris?"
    assistant_id, thread_id = assistant_and_thread(openai_client, toolbox, question)
    with ToolExecutor(toolbox, audit=AuditTrail(audit)) as executor:
        outcome = run_until_done(openai_client, thread_id, assistant_id, executor, caller="ann")
    assert outcome.run.status == "completed"
    assert sorted(r.value for r in outcome.tool_results) == ["Paris: 22C sunny", "Tokyo: 22C sunny"]
    assert {r.caller for r in audit.records} == {"ann"}
    assert "Tokyo" in outcome.text and "Paris" in outcome.text


def test_continuing_an_existing_run_with_per_run_instructions(openai_client: Any) -> None:
    @tool
    def get_user_id(username: str) -> str:
        """Look up a user id from a username."""
        return f"id-of-{username}"

    toolbox = Toolbox([get_user_id])
    assistant_id, thread_id = assistant_and_thread(
        openai_client, toolbox, "Find the user id for username Alice"
    )
    run = openai_client.beta.threads.runs.create(
        thread_id=thread_id, assistant_id=assistant_id, instructions="Answer with the id only."
    )
    outcome = run_until_done(openai_client, thread_id, None, toolbox, run_id=run.id)
    assert outcome.run.status == "completed"
    assert outcome.run.instructions == "Answer with the id only."
    assert "id-of-Alice" in outcome.text


@pytest.mark.parametrize("stream", [False, True], ids=["poll", "stream"])
async def test_async_driver(async_openai_client: Any, stream: bool) -> None:
    toolbox = Toolbox([get_flight_times])
    assistant = await async_openai_client.beta.assistants.create(
        model=MODEL, tools=toolbox.openai_tools()
    )
    thread = await async_openai_client.beta.threads.create(
        messages=[{"role": "user", "content": FLIGHT_QUESTION}]
    )
    outcome = await async_run_until_done(
        async_openai_client, thread.id, assistant.id, toolbox, stream=stream
    )
    assert outcome.run.status == "completed"
    assert "5h 30m" in outcome.text


def test_chat_completions_loop_on_the_fake_llm(fake_llm: FakeLLM) -> None:
    fake_llm.script(
        Reply.tool_calls(("get_weather", {"city": "Tokyo"}), ("get_weather", {"city": "Paris"})),
        Reply.text("Sunny in Tokyo and Paris."),
    )
    client = openai.OpenAI(base_url=fake_llm.base_url, api_key="sk-test", max_retries=0)
    with client:
        outcome = complete_with_tools(
            client,
            [{"role": "user", "content": "What's the weather in Tokyo and Paris?"}],
            Toolbox([get_weather]),
            model="fake-model",
        )
    assert outcome.text == "Sunny in Tokyo and Paris."
    second = fake_llm.requests[-1].body["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "tool", "tool"]
    assert second[2]["content"] == "Tokyo: 22C sunny"


async def test_async_chat_completions_loop_on_the_fake_llm(fake_llm: FakeLLM) -> None:
    fake_llm.script(
        Reply.tool_calls(("get_flight_times", {"departure": "LAX", "arrival": "JFK"})),
        Reply.text("About 5h 30m."),
    )
    client = openai.AsyncOpenAI(base_url=fake_llm.base_url, api_key="sk-test", max_retries=0)
    async with client:
        outcome = await async_complete_with_tools(
            client,
            [{"role": "user", "content": FLIGHT_QUESTION}],
            Toolbox([get_flight_times]),
            model="fake-model",
        )
    assert outcome.text == "About 5h 30m."
    assert outcome.tool_results[0].value["duration"] == "5h 30m"
