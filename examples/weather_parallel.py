"""A weather bot with two functions; one question gives two calls, answered in parallel.

"What's the weather in Tokyo and Paris?" makes the model call ``get_weather`` twice in one
``requires_action``; both run at once, so the wait is one call's, not two. The answer streams
as it is written.
"""

from __future__ import annotations

import time

from _common import MODEL, check, client

from callisto.tools import Toolbox, run_until_done, tool

WEATHER = {"tokyo": "22C and sunny", "paris": "15C with light rain"}


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city.

    Args:
        city: The city name, e.g. "Tokyo".
    """
    time.sleep(0.5)  # a slow weather service
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
    check(elapsed < 0.95, "the two 0.5 s calls did not run in parallel")
    check("Tokyo" in outcome.text and "Paris" in outcome.text, "the answer misses a city")


if __name__ == "__main__":
    main()
