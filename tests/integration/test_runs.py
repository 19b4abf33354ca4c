"""Runs and function calling through the official SDK, on the scripted fake model."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from callisto.testing._server import ThreadedServer
from callisto.testing.fake_llm import FakeLLM, Reply
from tests.integration.conftest import sdk_client
from tests.integration.helpers import FLIGHT_TOOL, TERMINAL, WEATHER_TOOL, start, wait_for


def test_one_call_with_poll_helpers(openai_client: openai.OpenAI, fake_llm: FakeLLM) -> None:
    fake_llm.script(
        Reply.tool_calls(("get_weather", {"city": "Oslo"})), Reply.text("It is 3C in Oslo.")
    )
    assistant = openai_client.beta.assistants.create(
        model="fake/m", tools=[WEATHER_TOOL], instructions="Be brief."
    )
    thread = openai_client.beta.threads.create(
        messages=[{"role": "user", "content": "Weather in Oslo?"}]
    )
    run = openai_client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id
    )
    assert run.status == "requires_action"
    assert run.usage is None and run.expires_at is not None and run.started_at is not None
    [call] = run.required_action.submit_tool_outputs.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {
        "city": "Oslo"
    }
    run = openai_client.beta.threads.runs.submit_tool_outputs_and_poll(
        thread_id=thread.id, run_id=run.id, tool_outputs=[{"tool_call_id": call.id, "output": "3C"}]
    )
    assert run.status == "completed" and run.completed_at is not None and run.expires_at is None
    assert run.usage.total_tokens == run.usage.prompt_tokens + run.usage.completion_tokens > 0
    # The model saw the system prompt, the user message, its own call and the output.
    second = fake_llm.requests[1].messages
    assert second[0] == {"role": "system", "content": "Be brief."}
    assert second[-1]["role"] == "tool" and second[-1]["content"] == "3C"
    assert second[-1]["tool_call_id"] == second[-2]["tool_calls"][0]["id"] == call.id
    answer = openai_client.beta.threads.messages.list(thread_id=thread.id, run_id=run.id)
    assert answer.data[0].content[0].text.value == "It is 3C in Oslo."
    assert answer.data[0].assistant_id == assistant.id


def test_hand_written_polling_loop(openai_client: openai.OpenAI, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.text("Hello there."))
    _, thread, run = start(openai_client, "Hi")
    seen = []
    while run.status not in TERMINAL:
        seen.append(run.status)
        run = openai_client.beta.threads.runs.retrieve(thread_id=thread.id, run_id=run.id)
    assert run.status == "completed"
    assert seen[0] == "queued"
    steps = openai_client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id)
    [step] = steps.data
    assert step.type == "message_creation" and step.status == "completed"
    fetched = openai_client.beta.threads.runs.steps.retrieve(
        thread_id=thread.id, run_id=run.id, step_id=step.id
    )
    assert fetched.step_details.message_creation.message_id


def test_parallel_calls_and_several_rounds(openai_client: openai.OpenAI, fake_llm: FakeLLM) -> None:
    fake_llm.script(
        Reply.tool_calls(("get_weather", {"city": "Tokyo"}), ("get_weather", {"city": "Paris"})),
        Reply.tool_calls(("get_flight_times", {"departure": "NRT", "arrival": "CDG"})),
        Reply.text("Done."),
    )
    _, thread, run = start(openai_client, "Plan my trip", tools=[WEATHER_TOOL, FLIGHT_TOOL])
    run = wait_for(openai_client, thread.id, run.id, {"requires_action"})
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [json.loads(c.function.arguments)["city"] for c in calls] == ["Tokyo", "Paris"]
    run = openai_client.beta.threads.runs.submit_tool_outputs_and_poll(
        thread_id=thread.id,
        run_id=run.id,
        tool_outputs=[{"tool_call_id": c.id, "output": "sunny"} for c in calls],
    )
    assert run.status == "requires_action"
    [call] = run.required_action.submit_tool_outputs.tool_calls
    assert call.function.name == "get_flight_times"
    run = openai_client.beta.threads.runs.submit_tool_outputs_and_poll(
        thread_id=thread.id,
        run_id=run.id,
        tool_outputs=[{"tool_call_id": call.id, "output": "12h"}],
    )
    assert run.status == "completed"
    steps = openai_client.beta.threads.runs.steps.list(
        thread_id=thread.id, run_id=run.id, order="asc"
    ).data
    assert [s.type for s in steps] == ["tool_calls", "tool_calls", "message_creation"]
    assert [c.function.output for c in steps[0].step_details.tool_calls] == ["sunny", "sunny"]
    assert len(fake_llm.requests) == 3


def test_parallel_tool_calls_false_gives_one_call_per_round(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(
        Reply.tool_calls(("get_weather", {"city": "Tokyo"}), ("get_weather", {"city": "Paris"}))
    )
    _, thread, run = start(openai_client, "Tokyo and Paris?", parallel_tool_calls=False)
    run = wait_for(openai_client, thread.id, run.id, {"requires_action"})
    assert len(run.required_action.submit_tool_outputs.tool_calls) == 1
    assert fake_llm.requests[0].body["parallel_tool_calls"] is False
    openai_client.beta.threads.runs.cancel(thread_id=thread.id, run_id=run.id)


def test_run_parameters_reach_the_model(openai_client: openai.OpenAI, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.text("ok"))
    assistant = openai_client.beta.assistants.create(
        model="fake/base", instructions="Base.", tools=[WEATHER_TOOL, FLIGHT_TOOL]
    )
    thread = openai_client.beta.threads.create(
        messages=[{"role": "user", "content": f"m{i}"} for i in range(4)]
    )
    run = openai_client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant.id,
        model="fake/override",
        instructions="Override.",
        additional_instructions="Also this.",
        additional_messages=[{"role": "user", "content": "extra"}],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        temperature=0.3,
        top_p=0.9,
        truncation_strategy={"type": "last_messages", "last_messages": 2},
        response_format={"type": "json_object"},
        metadata={"k": "v"},
    )
    assert run.status == "completed"
    assert run.model == "fake/override" and run.instructions == "Override.\n\nAlso this."
    assert run.metadata == {"k": "v"} and run.truncation_strategy.last_messages == 2
    body = fake_llm.requests[0].body
    assert body["model"] == "override"
    assert body["messages"][0] == {"role": "system", "content": "Override.\n\nAlso this."}
    assert [m["content"] for m in body["messages"][1:]] == ["m3", "extra"]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["temperature"] == 0.3 and body["top_p"] == 0.9
    assert body["response_format"] == {"type": "json_object"}


def test_thread_lock(openai_client: openai.OpenAI, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.tool_calls(("get_weather", {"city": "Rome"})))
    assistant, thread, run = start(openai_client, "Rome?")
    run = wait_for(openai_client, thread.id, run.id, {"requires_action"})
    with pytest.raises(openai.BadRequestError) as err:
        openai_client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    assert run.id in err.value.message and "already has an active run" in err.value.message
    with pytest.raises(openai.BadRequestError) as err:
        openai_client.beta.threads.messages.create(thread_id=thread.id, role="user", content="more")
    assert "while a run" in err.value.message
    openai_client.beta.threads.runs.cancel(thread_id=thread.id, run_id=run.id)
    wait_for(openai_client, thread.id, run.id, {"cancelled"})
    openai_client.beta.threads.messages.create(
        thread_id=thread.id, role="user", content="now it works"
    )


def test_concurrent_run_creates_one_wins(openai_client: openai.OpenAI, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.hang(5.0))
    assistant = openai_client.beta.assistants.create(model="fake/m")
    thread = openai_client.beta.threads.create(messages=[{"role": "user", "content": "x"}])
    results: list[Any] = []

    def create() -> None:
        try:
            results.append(
                openai_client.beta.threads.runs.create(
                    thread_id=thread.id, assistant_id=assistant.id
                )
            )
        except openai.BadRequestError as exc:
            results.append(exc)

    workers = [threading.Thread(target=create) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    runs = [r for r in results if not isinstance(r, Exception)]
    assert len(runs) == 1 and len(results) == 4
    openai_client.beta.threads.runs.cancel(thread_id=thread.id, run_id=runs[0].id)
    wait_for(openai_client, thread.id, runs[0].id, {"cancelled"})


@pytest.mark.parametrize("moment", ["in_progress", "requires_action"])
def test_cancel(openai_client: openai.OpenAI, fake_llm: FakeLLM, moment: str) -> None:
    if moment == "in_progress":
        fake_llm.script(Reply.text("slow " * 50, token_delay=0.1))
    else:
        fake_llm.script(Reply.tool_calls(("get_weather", {"city": "Rome"})))
    _, thread, run = start(openai_client, "hi")
    wait_for(openai_client, thread.id, run.id, {moment})
    if moment == "in_progress":
        # Wait until the reply is streaming, so the cancel aborts a live model stream.
        for _ in range(500):
            if openai_client.beta.threads.messages.list(thread_id=thread.id, run_id=run.id).data:
                break
    cancelled = openai_client.beta.threads.runs.cancel(thread_id=thread.id, run_id=run.id)
    assert cancelled.status == "cancelling"
    run = wait_for(openai_client, thread.id, run.id, {"cancelled"})
    assert run.cancelled_at is not None and run.required_action is None
    steps = openai_client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id).data
    assert steps and all(s.status == "cancelled" for s in steps)
    with pytest.raises(openai.BadRequestError, match="Cannot cancel run with status 'cancelled'"):
        openai_client.beta.threads.runs.cancel(thread_id=thread.id, run_id=run.id)


def test_cancel_completed_run_is_400(openai_client: openai.OpenAI, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.text("done"))
    _, thread, run = start(openai_client, "hi")
    wait_for(openai_client, thread.id, run.id, {"completed"})
    with pytest.raises(openai.BadRequestError, match="Cannot cancel run with status 'completed'"):
        openai_client.beta.threads.runs.cancel(thread_id=thread.id, run_id=run.id)


def test_tool_output_errors(openai_client: openai.OpenAI, fake_llm: FakeLLM) -> None:
    fake_llm.script(
        Reply.tool_calls(("get_weather", {"city": "A"}), ("get_weather", {"city": "B"})),
        Reply.text("ok"),
    )
    _, thread, run = start(openai_client, "A and B")
    run = wait_for(openai_client, thread.id, run.id, {"requires_action"})
    a, b = (c.id for c in run.required_action.submit_tool_outputs.tool_calls)
    submit = openai_client.beta.threads.runs.submit_tool_outputs
    with pytest.raises(
        openai.BadRequestError, match="Expected tool outputs for call_ids"
    ) as missing:
        submit(
            thread_id=thread.id, run_id=run.id, tool_outputs=[{"tool_call_id": a, "output": "1"}]
        )
    assert b in missing.value.message
    with pytest.raises(openai.BadRequestError, match="call_nope"):
        submit(
            thread_id=thread.id,
            run_id=run.id,
            tool_outputs=[
                {"tool_call_id": a, "output": "1"},
                {"tool_call_id": b, "output": "2"},
                {"tool_call_id": "call_nope", "output": "3"},
            ],
        )
    with pytest.raises(openai.BadRequestError, match="more than once"):
        submit(
            thread_id=thread.id,
            run_id=run.id,
            tool_outputs=[{"tool_call_id": a, "output": "1"}, {"tool_call_id": a, "output": "1"}],
        )
    with pytest.raises(openai.NotFoundError):
        submit(thread_id=thread.id, run_id="run_missing", tool_outputs=[])
    # Nothing was lost by the refused requests: the run still waits, and then completes.
    assert (
        openai_client.beta.threads.runs.retrieve(thread_id=thread.id, run_id=run.id).status
        == "requires_action"
    )
    run = openai_client.beta.threads.runs.submit_tool_outputs_and_poll(
        thread_id=thread.id,
        run_id=run.id,
        tool_outputs=[{"tool_call_id": a, "output": "1"}, {"tool_call_id": b, "output": "2"}],
    )
    assert run.status == "completed"
    with pytest.raises(
        openai.BadRequestError, match='Runs in status "completed" do not accept tool outputs'
    ):
        submit(
            thread_id=thread.id, run_id=run.id, tool_outputs=[{"tool_call_id": a, "output": "1"}]
        )
    with pytest.raises(openai.BadRequestError, match="do not accept tool outputs"):
        submit(
            thread_id=thread.id,
            run_id=run.id,
            tool_outputs=[{"tool_call_id": a, "output": "1"}, {"tool_call_id": b, "output": "3"}],
        )


def test_a_repeated_submission_gets_the_same_answer(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    """A client whose answer was lost (a dropped connection) retries: it is not an error."""
    fake_llm.script(Reply.tool_calls(("get_weather", {"city": "A"})), Reply.text("ok"))
    _, thread, run = start(openai_client, "A")
    run = wait_for(openai_client, thread.id, run.id, {"requires_action"})
    [call] = run.required_action.submit_tool_outputs.tool_calls
    outputs = [{"tool_call_id": call.id, "output": "x"}]
    openai_client.beta.threads.runs.submit_tool_outputs_and_poll(
        thread_id=thread.id,
        run_id=run.id,
        tool_outputs=outputs,  # type: ignore[arg-type]
    )
    again = openai_client.beta.threads.runs.submit_tool_outputs(
        thread_id=thread.id,
        run_id=run.id,
        tool_outputs=outputs,  # type: ignore[arg-type]
    )
    assert (again.id, again.status) == (run.id, "completed")
    with openai_client.beta.threads.runs.submit_tool_outputs_stream(
        thread_id=thread.id,
        run_id=run.id,
        tool_outputs=outputs,  # type: ignore[arg-type]
    ) as stream:
        events = [e.event for e in stream]
    assert events[0] == "thread.run.step.completed"
    assert events[-1] == "thread.run.completed"
    assert len(fake_llm.requests) == 2


def test_concurrent_submits_one_wins(openai_client: openai.OpenAI, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.tool_calls(("get_weather", {"city": "A"})), Reply.text("ok"))
    _, thread, run = start(openai_client, "A")
    run = wait_for(openai_client, thread.id, run.id, {"requires_action"})
    [call] = run.required_action.submit_tool_outputs.tool_calls
    results: list[Any] = []

    def submit(i: int) -> None:
        # Different outputs: a repeat of the same submission would get the same answer.
        try:
            results.append(
                openai_client.beta.threads.runs.submit_tool_outputs(
                    thread_id=thread.id,
                    run_id=run.id,
                    tool_outputs=[{"tool_call_id": call.id, "output": f"x{i}"}],
                )
            )
        except openai.BadRequestError as exc:
            results.append(exc)

    workers = [threading.Thread(target=submit, args=(i,)) for i in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert wait_for(openai_client, thread.id, run.id, TERMINAL).status == "completed"
    assert len(fake_llm.requests) == 2


def test_invented_tool_and_bad_arguments_are_repaired(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(
        Reply.tool_calls(("get_wether", {"city": "Oslo"})),
        Reply.tool_calls(("get_weather", {"town": "Oslo"})),
        Reply.tool_calls(("get_weather", {"city": "Oslo"})),
    )
    _, thread, run = start(openai_client, "Oslo weather")
    run = wait_for(openai_client, thread.id, run.id, {"requires_action"})
    [call] = run.required_action.submit_tool_outputs.tool_calls
    assert json.loads(call.function.arguments) == {"city": "Oslo"}
    # The model was told what was wrong each time.
    feedback = [m for m in fake_llm.requests[1].messages if m["role"] == "tool"]
    assert (
        "get_wether" in feedback[0]["content"] and "not an available tool" in feedback[0]["content"]
    )
    feedback = [m for m in fake_llm.requests[2].messages if m["role"] == "tool"]
    assert "town" in feedback[-1]["content"] or "city" in feedback[-1]["content"]
    steps = openai_client.beta.threads.runs.steps.list(
        thread_id=thread.id, run_id=run.id, order="asc"
    ).data
    assert [s.status for s in steps] == ["failed", "failed", "in_progress"]
    openai_client.beta.threads.runs.cancel(thread_id=thread.id, run_id=run.id)


def test_model_that_keeps_calling_badly_fails_the_run(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(*[Reply.tool_calls(("get_weather", '{"city": ')) for _ in range(3)])
    _, thread, run = start(openai_client, "Oslo weather")
    run = wait_for(openai_client, thread.id, run.id, TERMINAL)
    assert run.status == "failed" and run.failed_at is not None
    assert run.last_error.code == "server_error"
    assert "not valid JSON" in run.last_error.message and "3 times" in run.last_error.message
    assert len(fake_llm.requests) == 3


def test_provider_500_is_retried(openai_client: openai.OpenAI, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.error(500), Reply.text("recovered"))
    _, thread, run = start(openai_client, "hi")
    run = wait_for(openai_client, thread.id, run.id, TERMINAL)
    assert run.status == "completed" and len(fake_llm.requests) == 2


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (Reply.error(500, "upstream exploded"), "server_error"),
        (Reply.error(429, "slow down", headers={"retry-after": "0"}), "rate_limit_exceeded"),
        (Reply.hang(30.0), "server_error"),
        (Reply.error(401, "bad key sk-fake-test-key"), "server_error"),
    ],
    ids=["500", "429", "timeout", "auth"],
)
def test_provider_failures_fail_the_run(
    make_server: Any, fake_llm: FakeLLM, reply: Reply, code: str
) -> None:
    from tests.integration.conftest import sdk_client

    srv = make_server(
        providers={
            "flaky": {
                "kind": "openai",
                "base_url": fake_llm.base_url,
                "api_key": "sk-fake-test-key",
                "timeout": 0.5,
                "max_retries": 1,
            }
        }
    )
    client = sdk_client(srv.url)
    fake_llm.script(reply, reply)
    _, thread, run = start(client, "hi", model="flaky/m")
    run = wait_for(client, thread.id, run.id, TERMINAL)
    assert run.status == "failed" and run.last_error.code == code
    assert "sk-fake-test-key" not in run.last_error.message
    client.close()


def test_stream_cut_in_the_middle_fails_the_run(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Reply.cut("one two three four five", after=2))
    _, thread, run = start(openai_client, "hi")
    run = wait_for(openai_client, thread.id, run.id, TERMINAL)
    assert run.status == "failed" and run.last_error.code == "server_error"
    [message] = openai_client.beta.threads.messages.list(thread_id=thread.id, run_id=run.id).data
    assert message.status == "incomplete"


def test_max_completion_tokens_makes_the_run_incomplete(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Reply.text("a b c d e f g h", finish_reason="length"))
    _, thread, run = start(openai_client, "hi", max_completion_tokens=4)
    run = wait_for(openai_client, thread.id, run.id, TERMINAL)
    assert run.status == "incomplete" and run.incomplete_details.reason == "max_completion_tokens"
    assert fake_llm.requests[0].body["max_tokens"] == 4


def test_expiry(make_server: Any, fake_llm: FakeLLM) -> None:
    from tests.integration.conftest import sdk_client

    srv = make_server(runs={"expires_after": 0.5})
    client = sdk_client(srv.url)
    fake_llm.script(Reply.tool_calls(("get_weather", {"city": "A"})))
    _, thread, run = start(client, "A")
    run = wait_for(client, thread.id, run.id, {"requires_action", "expired"})
    run = wait_for(client, thread.id, run.id, {"expired"}, timeout=10)
    assert run.required_action is None and run.expires_at is None
    steps = client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id).data
    assert [s.status for s in steps] == ["expired"]
    with pytest.raises(openai.BadRequestError, match='status "expired"'):
        client.beta.threads.runs.submit_tool_outputs(
            thread_id=thread.id, run_id=run.id, tool_outputs=[]
        )
    client.close()


def test_create_thread_and_run_list_update(openai_client: openai.OpenAI, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.text("first"), Reply.text("second"))
    assistant = openai_client.beta.assistants.create(model="fake/m")
    run = openai_client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "hi"}], "metadata": {"a": "b"}},
    )
    assert run.status == "completed"
    assert openai_client.beta.threads.retrieve(run.thread_id).metadata == {"a": "b"}
    second = openai_client.beta.threads.runs.create_and_poll(
        thread_id=run.thread_id, assistant_id=assistant.id
    )
    listed = openai_client.beta.threads.runs.list(thread_id=run.thread_id)
    assert [r.id for r in listed.data] == [second.id, run.id]
    updated = openai_client.beta.threads.runs.update(
        thread_id=run.thread_id, run_id=run.id, metadata={"x": "y"}
    )
    assert updated.metadata == {"x": "y"}


def test_bad_run_requests(openai_client: openai.OpenAI, server: Any) -> None:
    assistant = openai_client.beta.assistants.create(model="fake/m", tools=[WEATHER_TOOL])
    thread = openai_client.beta.threads.create()
    with pytest.raises(openai.NotFoundError, match="asst_missing"):
        openai_client.beta.threads.runs.create(thread_id=thread.id, assistant_id="asst_missing")
    with pytest.raises(openai.NotFoundError):
        openai_client.beta.threads.runs.create(
            thread_id="thread_missing", assistant_id=assistant.id
        )
    with pytest.raises(openai.BadRequestError, match="tool_choice"):
        openai_client.beta.threads.runs.create(
            thread_id=thread.id,
            assistant_id=assistant.id,
            tool_choice={"type": "function", "function": {"name": "nope"}},
        )
    response = httpx.post(
        f"{server.url}/v1/threads/{thread.id}/runs", json={"assistant_id": assistant.id, "bogus": 1}
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "bogus"


def test_poll_after_header(openai_client: openai.OpenAI, fake_llm: FakeLLM, server: Any) -> None:
    fake_llm.script(Reply.tool_calls(("get_weather", {"city": "A"})))
    _, thread, run = start(openai_client, "A")
    wait_for(openai_client, thread.id, run.id, {"requires_action"})
    response = httpx.get(f"{server.url}/v1/threads/{thread.id}/runs/{run.id}")
    assert response.headers["openai-poll-after-ms"] == "10"
    openai_client.beta.threads.runs.cancel(thread_id=thread.id, run_id=run.id)
    wait_for(openai_client, thread.id, run.id, {"cancelled"})
    response = httpx.get(f"{server.url}/v1/threads/{thread.id}/runs/{run.id}")
    assert "openai-poll-after-ms" not in response.headers


def test_poll_after_grows_with_runs_in_flight(make_server: Any, fake_llm: FakeLLM) -> None:
    server = make_server(runs={"poll_after_ms": 10, "poll_after_max_ms": 14})
    client = sdk_client(server.url)
    fake_llm.script(*(Reply.text("slow", ttft=1.0) for _ in range(4)))
    runs = [start(client, f"q{i}")[1:] for i in range(4)]
    thread, run = runs[0]
    wait_for(client, thread.id, run.id, {"in_progress"})
    response = httpx.get(f"{server.url}/v1/threads/{thread.id}/runs/{run.id}")
    # 4 runs in flight: 2 ms each is 8, under the floor of 10; with 7 (14 ms) it would cap.
    assert response.headers["openai-poll-after-ms"] == "10"
    fake_llm.script(*(Reply.text("slow", ttft=1.0) for _ in range(4)))
    runs += [start(client, f"r{i}")[1:] for i in range(4)]
    response = httpx.get(f"{server.url}/v1/threads/{thread.id}/runs/{run.id}")
    # 8 in flight would ask 16 ms: capped at the most, 14.
    assert response.headers["openai-poll-after-ms"] == "14"
    for thread, run in runs:
        wait_for(client, thread.id, run.id, {"completed"})
    client.close()


def test_metadata_update_does_not_disturb_a_turn(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Reply.text("Done after a while.", ttft=0.5))
    _, thread, run = start(openai_client, "Take your time", metadata={"a": "1"})
    wait_for(openai_client, thread.id, run.id, {"in_progress"})
    updated = openai_client.beta.threads.runs.update(
        thread_id=thread.id, run_id=run.id, metadata={"a": "2"}
    )
    assert updated.metadata == {"a": "2"} and updated.status == "in_progress"
    run = wait_for(openai_client, thread.id, run.id, {"completed", "failed", "cancelled"})
    assert run.status == "completed" and run.metadata == {"a": "2"}


def test_model_calls_share_one_upstream_connection(
    make_server: Callable[..., ThreadedServer], fake_llm: FakeLLM
) -> None:
    # The provider reads each streamed body to its end (past [DONE]), so one kept connection
    # carries every model call of these runs. A server of its own: a pool no other test used.
    server = make_server()
    client = sdk_client(server.url)
    assistant = client.beta.assistants.create(model="fake/m", tools=[WEATHER_TOOL])
    for city in ("Oslo", "Lima", "Pune"):
        fake_llm.script(Reply.tool_calls(("get_weather", {"city": city})), Reply.text("Mild."))
        thread = client.beta.threads.create(messages=[{"role": "user", "content": city}])
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id
        )
        assert run.status == "requires_action"
        call = run.required_action.submit_tool_outputs.tool_calls[0]
        run = client.beta.threads.runs.submit_tool_outputs_and_poll(
            thread_id=thread.id,
            run_id=run.id,
            tool_outputs=[{"tool_call_id": call.id, "output": "9C"}],
        )
        assert run.status == "completed"
    client.close()
    assert len(fake_llm.requests) == 6
    assert len({r.connection for r in fake_llm.requests}) == 1
