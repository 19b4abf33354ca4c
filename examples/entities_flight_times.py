"""Flight times through the Entities V1 SDK (``projectdavid`` 1.113), unchanged, on Callisto.

The current SDK's function-calling flow: the assistant carries the tool, ``stream_events``
yields the model's text and a ``ToolCallRequestEvent`` per tool call, and ``event.execute``
runs the handler and sends its output; the SDK then streams again until the answer is done.
Run it against a Callisto server, with the SDK installed where it runs (its default model is
the built-in offline one, so no provider key is needed)::

    .venv/bin/pip install projectdavid==1.113.1
    .venv/bin/callisto serve &
    ENTITIES_BASE_URL=http://127.0.0.1:8000/entities ENTITIES_API_KEY=anything \\
        .venv/bin/python examples/entities_flight_times.py

``ENTITIES_MODEL=hyperbolic/deepseek-ai/DeepSeek-V3 PROVIDER_API_KEY=...`` runs it on a real
model (configure provider ``hyperbolic`` on the server).
"""

from __future__ import annotations

import json
import os
import sys

from projectdavid import ContentEvent, Entity, ToolCallRequestEvent

MODEL = os.environ.get("ENTITIES_MODEL", "offline/demo")

FLIGHT_TOOL = {
    "type": "function",
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
    },
}


def get_flight_times(tool_name: str, arguments: dict[str, str]) -> str:
    """Answer a tool call (the SDK passes the tool's name and its arguments)."""
    return json.dumps(
        {
            "departure": arguments.get("departure"),
            "arrival": arguments.get("arrival"),
            "duration": "5h 30m",
        }
    )


def main() -> None:
    """Ask for flight times, answer the tool call, print the answer."""
    client = Entity()
    assistant = client.assistants.create_assistant(
        name="Flight helper",
        model=MODEL,
        instructions="You help travellers. Use your tools.",
        tools=[FLIGHT_TOOL],
    )
    thread = client.threads.create_thread()
    message = client.messages.create_message(
        thread_id=thread.id,
        role="user",
        content="What are the flight times from LAX to JFK? Use get_flight_times.",
        assistant_id=assistant.id,
    )
    run = client.runs.create_run(assistant_id=assistant.id, thread_id=thread.id)

    stream = client.synchronous_inference_stream
    stream.setup(
        thread_id=thread.id,
        assistant_id=assistant.id,
        message_id=message.id,
        run_id=run.id,
        api_key=os.environ.get("PROVIDER_API_KEY"),
    )
    answer = []
    for event in stream.stream_events(model=MODEL):
        if isinstance(event, ContentEvent):
            answer.append(event.content)
            print(event.content, end="", flush=True)
        elif isinstance(event, ToolCallRequestEvent):
            print(f"[calling {event.tool_name} with {event.args}]")
            event.execute(get_flight_times)
    print()
    status = client.runs.retrieve_run(run.id).status.value
    if status != "completed" or "5h 30m" not in "".join(answer):
        print(f"FAILED: the run ended {status} without the tool's result", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
