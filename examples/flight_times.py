"""Flight times: the classic function-calling example, with a tool-call handler.

The user asks "What's the flight time between LAX and JFK?"; the model calls
``get_flight_times(departure, arrival)``, this program answers the call, and the model replies
from the result.

Run it against a Callisto server (the built-in offline model needs no API key)::

    .venv/bin/callisto serve &
    .venv/bin/python examples/flight_times.py

``CALLISTO_BASE_URL``, ``CALLISTO_API_KEY`` and ``CALLISTO_MODEL`` choose another server, key or
model (see ``examples/_common.py``).
"""

from __future__ import annotations

import json

from _common import MODEL, check, client, run

from callisto.tools import Toolbox, run_until_done, tool

FLIGHTS = {
    ("LAX", "JFK"): ("08:00", "16:30", "5h 30m"),
    ("JFK", "LAX"): ("09:00", "12:15", "6h 15m"),
}


@tool
def get_flight_times(departure: str, arrival: str) -> str:
    """Get the flight times between two airports.

    Args:
        departure: The departure airport code, e.g. "LAX".
        arrival: The arrival airport code, e.g. "JFK".
    """
    found = FLIGHTS.get((departure.upper(), arrival.upper()))
    if found is None:
        return json.dumps({"error": "no such flight"})
    departs, lands, duration = found
    return json.dumps({"departure": departs, "arrival": lands, "duration": duration})


def main() -> None:
    """Ask the question and print the answer."""
    sdk = client()
    toolbox = Toolbox([get_flight_times])
    assistant = sdk.beta.assistants.create(
        name="Flight helper", model=MODEL, tools=toolbox.openai_tools()
    )
    thread = sdk.beta.threads.create(
        messages=[{"role": "user", "content": "What's the flight time between LAX and JFK?"}]
    )
    outcome = run_until_done(sdk, thread.id, assistant.id, toolbox)
    for result in outcome.tool_results:
        print(f"called {result.name}: {result.output}")
    print(f"assistant: {outcome.text}")
    check(outcome.run.status == "completed", f"run ended {outcome.run.status}")
    check(any(r.ok for r in outcome.tool_results), "the model never called get_flight_times")
    check("5h 30m" in outcome.text, "the answer does not use the tool's result")


if __name__ == "__main__":
    run(main)
