"""Small helpers shared by the integration tests."""

from __future__ import annotations

import time
from typing import Any

import openai

TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete"}

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}

FLIGHT_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_flight_times",
        "description": "Get the flight times between two airports",
        "parameters": {
            "type": "object",
            "properties": {"departure": {"type": "string"}, "arrival": {"type": "string"}},
            "required": ["departure", "arrival"],
        },
    },
}


def wait_for(
    client: openai.OpenAI, thread_id: str, run_id: str, statuses: set[str], timeout: float = 15.0
) -> Any:
    """Poll a run until its status is one of ``statuses``; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    run = client.beta.threads.runs.retrieve(thread_id=thread_id, run_id=run_id)
    while run.status not in statuses:
        if time.monotonic() > deadline:
            raise AssertionError(f"run stayed {run.status}, wanted {sorted(statuses)}")
        time.sleep(0.01)
        run = client.beta.threads.runs.retrieve(thread_id=thread_id, run_id=run_id)
    return run


def start(
    client: openai.OpenAI,
    text: str,
    *,
    tools: list[Any] | None = None,
    model: str = "fake/m",
    **run_kwargs: Any,
) -> tuple[Any, Any, Any]:
    """Create an assistant and a thread with one user message, and start a run."""
    assistant = client.beta.assistants.create(
        model=model, tools=tools if tools is not None else [WEATHER_TOOL]
    )
    thread = client.beta.threads.create(messages=[{"role": "user", "content": text}])
    run = client.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=assistant.id, **run_kwargs
    )
    return assistant, thread, run


def nested_schema(levels: int) -> Any:
    """A JSON Schema of arrays nested ``levels`` deep, strings at the bottom."""
    value: Any = {"type": "string"}
    for _ in range(levels):
        value = {"type": "array", "items": value}
    return value


def function_tool(name: str = "f", parameters: Any = None) -> dict[str, Any]:
    """A function tool named ``name`` (an object with no properties unless ``parameters``)."""
    return {
        "type": "function",
        "function": {"name": name, "parameters": parameters or {"type": "object"}},
    }
