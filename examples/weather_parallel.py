"""A weather bot with two functions; one question gives two calls, answered in parallel.

"What's the weather in Tokyo and Paris?" makes the model call ``get_weather`` twice in one
``requires_action``; both run at once (each waits for the other to be running, which only
parallel calls can do), so the wait is one call's, not two. The answer streams as it is written.

Run it against a Callisto server (the built-in offline model needs no API key)::

    .venv/bin/callisto serve &
    .venv/bin/python examples/weather_parallel.py

``CALLISTO_BASE_URL``, ``CALLISTO_API_KEY`` and ``CALLISTO_MODEL`` choose another server, key or
model (see ``examples/_common.py``).
"""

from __future__ import annotations

import threading
import time

from _common import MODEL, check, client, run

from callisto.tools import Toolbox, run_until_done, tool

WEATHER = {"tokyo": "22C and sunny", "paris": "15C with light rain"}
# Each call waits here until the other call is running too: calls made one after the other
# would break the barrier after its timeout instead.
BOTH_CALLS = threading.Barrier(2, timeout=10)


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city.

    Args:
        city: The city name, e.g. "Tokyo".
    """
    BOTH_CALLS.wait()  # raises BrokenBarrierError unless the other call runs meanwhile
    return WEATHER.get(city.lower(), "unknown")


@tool
def get_forecast(city: str, days: int = 3) -> str:
    """Get the forecast for the coming days.

    Args:
        city: The city name.
        days: How many days ahead.
    """
    return f"{city}: {days} days of mild temperatures"


def main() -> None:
    """Ask about two cities and stream the answer."""
    sdk = client()
    toolbox = Toolbox([get_weather, get_forecast])
    assistant = sdk.beta.assistants.create(
        name="Weather bot", model=MODEL, tools=toolbox.openai_tools()
    )
    thread = sdk.beta.threads.create(
        messages=[{"role": "user", "content": "What's the weather in Tokyo and Paris?"}]
    )
    started = time.perf_counter()
    print("assistant: ", end="")
    outcome = run_until_done(
        sdk,
        thread.id,
        assistant.id,
        toolbox,
        stream=True,
        on_text=lambda text: print(text, end="", flush=True),
    )
    print()
    elapsed = time.perf_counter() - started
    calls = [f"{r.name}({r.output})" for r in outcome.tool_results]
    print(f"{len(calls)} calls in {elapsed:.2f} s: {', '.join(calls)}")
    check(outcome.run.status == "completed", f"run ended {outcome.run.status}")
    check(len(outcome.tool_results) == 2, f"expected two parallel calls, got {calls}")
    check(
        all(r.ok for r in outcome.tool_results),
        "the two calls did not run in parallel: " + ", ".join(calls),
    )
    check("Tokyo" in outcome.text and "Paris" in outcome.text, "the answer misses a city")


if __name__ == "__main__":
    run(main)
