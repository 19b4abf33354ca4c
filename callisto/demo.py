"""``make demo``: a function-calling conversation end to end, on the built-in offline model.

It starts a real Callisto server on a free loopback port (SQLite in a temporary folder unless a
database URL is given), then, with the official ``openai`` SDK, asks two questions:

1. "What's the flight time between LAX and JFK?" -> one call to ``get_flight_times``;
2. "What's the weather in Tokyo and Paris?" -> two parallel calls to ``get_weather``.

It executes the Python functions for the calls, submits their outputs and prints every status
change, call, output and the final answer. It exits 0 only when both conversations complete.
The offline model is a deterministic stand-in, not a real model (see
``callisto.providers.offline``).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

FLIGHTS = {("LAX", "JFK"): ("08:00", "16:30", "5h30m"), ("JFK", "LAX"): ("09:15", "12:45", "6h30m")}
WEATHER = {"Tokyo": ("22C", "sunny"), "Paris": ("14C", "light rain")}


def get_flight_times(departure: str, arrival: str) -> str:
    """Return the flight times between two airports, as JSON."""
    dep, arr, duration = FLIGHTS.get((departure, arrival), ("10:00", "14:00", "4h"))
    return json.dumps({"departure": dep, "arrival": arr, "duration": duration})


def get_weather(city: str) -> str:
    """Return the current weather of a city, as JSON."""
    temperature, sky = WEATHER.get(city, ("18C", "clear"))
    return json.dumps({"city": city, "temperature": temperature, "conditions": sky})


FUNCTIONS: dict[str, Callable[..., str]] = {
    "get_flight_times": get_flight_times,
    "get_weather": get_weather,
}

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_flight_times",
            "description": "Get the flight times between two airports",
            "parameters": {
                "type": "object",
                "properties": {
                    "departure": {"type": "string", "description": "IATA code, e.g. LAX"},
                    "arrival": {"type": "string", "description": "IATA code, e.g. JFK"},
                },
                "required": ["departure", "arrival"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
]


def converse(client: Any, assistant_id: str, question: str) -> bool:
    """Ask one question and drive the run to its end; return whether it completed."""
    print(f"\nuser: {question}")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": question}])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant_id)
    last = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if run.status != last:
            print(f"  run {run.id}: {run.status}")
            last = run.status
        if run.status == "requires_action":
            outputs = []
            for call in run.required_action.submit_tool_outputs.tool_calls:
                args = json.loads(call.function.arguments)
                output = FUNCTIONS[call.function.name](**args)
                print(f"  call {call.function.name}({call.function.arguments}) -> {output}")
                outputs.append({"tool_call_id": call.id, "output": output})
            run = client.beta.threads.runs.submit_tool_outputs(
                thread_id=thread.id, run_id=run.id, tool_outputs=outputs
            )
            continue
        if run.status in ("completed", "failed", "cancelled", "expired", "incomplete"):
            break
        time.sleep(0.02)
        run = client.beta.threads.runs.retrieve(thread_id=thread.id, run_id=run.id)
    if run.status != "completed":
        print(f"  run ended {run.status}: {run.last_error}")
        return False
    answer = client.beta.threads.messages.list(thread_id=thread.id, run_id=run.id, limit=1)
    print(f"assistant: {answer.data[0].content[0].text.value}")
    return True


def main(database_url: str | None = None) -> int:
    """Run the demo; return the process exit code."""
    import openai

    from callisto.testing.server import serve_callisto

    with tempfile.TemporaryDirectory(prefix="callisto-demo-") as folder:
        url = database_url or f"sqlite:///{folder}/demo.db"
        with serve_callisto(database_url=url) as server:
            print(f"Callisto is serving on {server.url} (database {url})")
            print("model: offline/demo, Callisto's built-in deterministic offline model")
            client = openai.OpenAI(base_url=server.url + "/v1", api_key="demo")
            assistant = client.beta.assistants.create(
                model="offline/demo",
                name="Travel helper",
                instructions="Answer travel questions with the tools.",
                tools=TOOLS,  # type: ignore[arg-type]
            )
            ok = [
                converse(client, assistant.id, "What's the flight time between LAX and JFK?"),
                converse(client, assistant.id, "What's the weather in Tokyo and Paris?"),
            ]
            client.close()
    print("\ndemo " + ("passed: both conversations completed" if all(ok) else "FAILED"))
    return 0 if all(ok) else 1


if __name__ == "__main__":
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
