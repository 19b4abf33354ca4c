"""The core function-calling round trip through the official SDK on the offline model."""

from __future__ import annotations

import openai

FLIGHT_TOOL = {
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


def test_create_and_poll_round_trip(openai_client: openai.OpenAI) -> None:
    assistant = openai_client.beta.assistants.create(model="offline/demo", tools=[FLIGHT_TOOL])
    thread = openai_client.beta.threads.create(
        messages=[{"role": "user", "content": "What's the flight time between LAX and JFK?"}]
    )
    run = openai_client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id
    )
    assert run.status == "requires_action"
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [(c.function.name, c.function.arguments) for c in calls] == [
        ("get_flight_times", '{"departure": "LAX", "arrival": "JFK"}')
    ]
    run = openai_client.beta.threads.runs.submit_tool_outputs_and_poll(
        thread_id=thread.id,
        run_id=run.id,
        tool_outputs=[{"tool_call_id": calls[0].id, "output": "5h 30m"}],
    )
    assert run.status == "completed"
    assert run.usage is not None and run.usage.total_tokens > 0
    messages = openai_client.beta.threads.messages.list(thread_id=thread.id, run_id=run.id)
    assert "5h 30m" in messages.data[0].content[0].text.value
    steps = openai_client.beta.threads.runs.steps.list(
        thread_id=thread.id, run_id=run.id, order="asc"
    )
    assert [s.type for s in steps.data] == ["tool_calls", "message_creation"]
    assert steps.data[0].step_details.tool_calls[0].function.output == "5h 30m"
