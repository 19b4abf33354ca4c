"""Streaming through the official SDK: ``runs.stream``, ``submit_tool_outputs_stream`` called from
inside ``on_event`` while the first stream is still open, ``create_and_run_stream``, and the
async client, all with the SDK's own ``AssistantEventHandler`` doing the merging."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai import AssistantEventHandler, AsyncAssistantEventHandler
from openai.types.beta import AssistantStreamEvent
from openai.types.beta.threads import Message, Text, TextDelta
from openai.types.beta.threads.runs import RunStep, ToolCall, ToolCallDelta

from callisto.testing.fake_llm import FakeLLM, Reply
from tests.integration.helpers import WEATHER_TOOL


def setup(
    client: openai.OpenAI, text: str = "Hi", tools: list[Any] | None = None
) -> tuple[str, str]:
    """Create an assistant on the fake model and a thread with one user message."""
    assistant = client.beta.assistants.create(model="fake/m", tools=tools or [WEATHER_TOOL])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": text}])
    return assistant.id, thread.id


class Recorder(AssistantEventHandler):
    """Records what the SDK reports; answers ``requires_action`` from inside ``on_event``.

    It submits the outputs with ``submit_tool_outputs_stream`` and a new handler of its own
    kind while its stream is still open: the pattern OpenAI documented.
    """

    def __init__(self, client: openai.OpenAI, shared: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.client = client
        self.shared = shared if shared is not None else {"events": [], "text": [], "done_calls": []}
        self.shared.setdefault("handlers", []).append(self)

    def on_event(self, event: AssistantStreamEvent) -> None:
        self.shared["events"].append(event.event)
        if event.event == "thread.run.requires_action":
            calls = event.data.required_action.submit_tool_outputs.tool_calls  # type: ignore[union-attr]
            outputs = [
                {
                    "tool_call_id": c.id,
                    "output": f"sunny in {json.loads(c.function.arguments)['city']}",
                }
                for c in calls
            ]
            with self.client.beta.threads.runs.submit_tool_outputs_stream(
                thread_id=event.data.thread_id,
                run_id=event.data.id,
                tool_outputs=outputs,  # type: ignore[arg-type]
                event_handler=type(self)(self.client, self.shared),
            ) as stream:
                stream.until_done()

    def on_text_delta(self, delta: TextDelta, snapshot: Text) -> None:
        self.shared["text"].append(delta.value)

    def on_tool_call_done(self, tool_call: ToolCall) -> None:
        self.shared["done_calls"].append(tool_call)


def test_plain_answer_streams_text_deltas(openai_client: openai.OpenAI, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.text("Hello there, streaming world."))
    assistant_id, thread_id = setup(openai_client)
    with openai_client.beta.threads.runs.stream(
        thread_id=thread_id, assistant_id=assistant_id
    ) as stream:
        deltas = list(stream.text_deltas)
        run = stream.get_final_run()
        [message] = stream.get_final_messages()
        steps = stream.get_final_run_steps()
    assert len(deltas) > 1 and "".join(deltas) == "Hello there, streaming world."
    assert run.status == "completed" and run.usage is not None
    assert message.status == "completed" and message.content[0].text.value == "".join(deltas)  # type: ignore[union-attr]
    assert message.content[0].text.annotations == []  # type: ignore[union-attr]
    assert [s.type for s in steps] == ["message_creation"]
    stored = openai_client.beta.threads.messages.list(thread_id=thread_id, run_id=run.id)
    assert stored.data[0].id == message.id


def test_tool_call_answered_inside_on_event(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(
        Reply.tool_calls(("get_weather", {"city": "Oslo"})), Reply.text("It is sunny in Oslo.")
    )
    assistant_id, thread_id = setup(openai_client, "Weather in Oslo?")
    first = Recorder(openai_client)
    with openai_client.beta.threads.runs.stream(
        thread_id=thread_id, assistant_id=assistant_id, event_handler=first
    ) as stream:
        stream.until_done()
    shared = first.shared
    assert first.current_run is not None and first.current_run.status == "requires_action"
    [call] = shared["done_calls"]
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Oslo"}
    second: Recorder = shared["handlers"][1]
    assert second.get_final_run().status == "completed"
    assert "".join(shared["text"]) == "It is sunny in Oslo."
    assert second.get_final_messages()[0].content[0].text.value == "It is sunny in Oslo."  # type: ignore[union-attr]
    # The continuation stream begins with the tool step completed, its outputs filled in.
    events = shared["events"]
    cut = events.index("thread.run.requires_action") + 1
    assert events[cut : cut + 3] == [
        "thread.run.step.completed",
        "thread.run.queued",
        "thread.run.in_progress",
    ]
    assert events[-1] == "thread.run.completed"
    steps = openai_client.beta.threads.runs.steps.list(
        thread_id=thread_id, run_id=second.get_final_run().id, order="asc"
    )
    assert steps.data[0].step_details.tool_calls[0].function.output == "sunny in Oslo"  # type: ignore[union-attr]


class CallWatcher(Recorder):
    """Also records the SDK's tool-call callbacks and merged step snapshots."""

    def on_tool_call_created(self, tool_call: ToolCall) -> None:
        self.shared.setdefault("created", []).append((tool_call.id, tool_call.type))

    def on_tool_call_delta(self, delta: ToolCallDelta, snapshot: ToolCall) -> None:
        self.shared.setdefault("delta_types", set()).add(delta.type)

    def on_run_step_done(self, run_step: RunStep) -> None:
        self.shared.setdefault("steps_done", []).append(run_step)


def test_two_parallel_calls(openai_client: openai.OpenAI, fake_llm: FakeLLM) -> None:
    fake_llm.script(
        Reply.tool_calls(("get_weather", {"city": "Tokyo"}), ("get_weather", {"city": "Paris"})),
        Reply.text("Sunny in both."),
    )
    assistant_id, thread_id = setup(openai_client, "Weather in Tokyo and Paris?")
    first = CallWatcher(openai_client)
    with openai_client.beta.threads.runs.stream(
        thread_id=thread_id, assistant_id=assistant_id, event_handler=first
    ) as stream:
        stream.until_done()
        [step] = stream.get_final_run_steps()
    shared = first.shared
    calls = shared["done_calls"]
    assert [json.loads(c.function.arguments)["city"] for c in calls] == ["Tokyo", "Paris"]
    assert len({c.id for c in calls}) == 2
    assert [kind for _, kind in shared["created"]] == ["function", "function"]
    # Every argument fragment parses as a function delta (the SDK's union is keyed on type).
    assert shared["delta_types"] == {"function"}
    # The SDK's merged snapshot of the streamed step holds both calls in full.
    merged = step.step_details.tool_calls  # type: ignore[union-attr]
    assert [(c.id, c.function.name, c.function.arguments) for c in merged] == [  # type: ignore[union-attr]
        (c.id, c.function.name, c.function.arguments) for c in calls
    ]
    # step.completed of the tool step arrives on the continuation stream, outputs filled in.
    done = shared["steps_done"][0]
    assert done.type == "tool_calls" and done.status == "completed"
    assert [c.function.output for c in done.step_details.tool_calls] == [  # type: ignore[union-attr]
        "sunny in Tokyo",
        "sunny in Paris",
    ]
    assert "".join(shared["text"]) == "Sunny in both."


def test_several_rounds(openai_client: openai.OpenAI, fake_llm: FakeLLM) -> None:
    fake_llm.script(
        Reply.tool_calls(("get_weather", {"city": "Oslo"})),
        Reply.tool_calls(("get_weather", {"city": "Rome"}), text="Now Rome. "),
        Reply.tool_calls(("get_weather", {"city": "Lima"})),
        Reply.text("Done with three cities."),
    )
    assistant_id, thread_id = setup(openai_client, "Weather in three cities, one at a time")
    first = Recorder(openai_client)
    with openai_client.beta.threads.runs.stream(
        thread_id=thread_id, assistant_id=assistant_id, event_handler=first
    ) as stream:
        stream.until_done()
    shared = first.shared
    assert len(shared["handlers"]) == 4
    # Each call reported done once. (Inner handlers finish first: the SDK calls on_tool_call_done
    # after on_event, and on_event is where the next round's stream runs.)
    cities = [json.loads(c.function.arguments)["city"] for c in shared["done_calls"]]
    assert sorted(cities) == ["Lima", "Oslo", "Rome"]
    last: Recorder = shared["handlers"][-1]
    assert last.get_final_run().status == "completed"
    assert "".join(shared["text"]) == "Now Rome. Done with three cities."
    assert shared["events"].count("thread.run.requires_action") == 3
    assert shared["events"].count("thread.run.completed") == 1
    messages = openai_client.beta.threads.messages.list(thread_id=thread_id, order="asc")
    assert [m.role for m in messages.data] == ["user", "assistant", "assistant"]


def test_create_and_run_stream(openai_client: openai.OpenAI, fake_llm: FakeLLM) -> None:
    fake_llm.script(Reply.text("A new thread, streamed."))
    assistant = openai_client.beta.assistants.create(model="fake/m")
    events: list[str] = []
    with openai_client.beta.threads.create_and_run_stream(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "Hello"}]},
    ) as stream:
        for event in stream:
            events.append(event.event)
            if event.event == "thread.created":
                thread_id = event.data.id
        run = stream.get_final_run()
    assert events[:4] == [
        "thread.created",
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
    ]
    assert events[-1] == "thread.run.completed"
    assert run.thread_id == thread_id and run.status == "completed"
    stored = openai_client.beta.threads.messages.list(thread_id=thread_id, order="asc")
    assert [m.content[0].text.value for m in stored.data] == ["Hello", "A new thread, streamed."]  # type: ignore[union-attr]


def test_text_is_relayed_as_the_model_writes_it(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    # 12 words at 0.15 s each: the run lasts ~2 s; the first word must come while it goes on.
    fake_llm.script(Reply.text(" ".join(f"word{i}" for i in range(12)), token_delay=0.15))
    assistant_id, thread_id = setup(openai_client)
    with openai_client.beta.threads.runs.stream(
        thread_id=thread_id, assistant_id=assistant_id
    ) as stream:
        for event in stream:
            if event.event == "thread.message.delta":
                current = stream.current_run
                assert current is not None
                live = openai_client.beta.threads.runs.retrieve(
                    thread_id=thread_id, run_id=current.id
                )
                assert live.status == "in_progress", "the first delta came only after the run ended"
                break
        stream.until_done()
        assert stream.get_final_run().status == "completed"


def test_tool_arguments_are_relayed_as_the_model_writes_them(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    long_city = "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch"
    fake_llm.script(
        Reply.tool_calls(("get_weather", {"city": long_city}), arg_chunk=4, token_delay=0.1)
    )
    assistant_id, thread_id = setup(openai_client)
    fragments = 0
    with openai_client.beta.threads.runs.stream(
        thread_id=thread_id, assistant_id=assistant_id
    ) as stream:
        for event in stream:
            if event.event == "thread.run.step.delta":
                fragments += 1
                if fragments == 2:
                    current = stream.current_run
                    assert current is not None
                    live = openai_client.beta.threads.runs.retrieve(
                        thread_id=thread_id, run_id=current.id
                    )
                    assert live.status == "in_progress"
        run = stream.get_final_run()
    assert fragments > 5 and run.status == "requires_action"
    openai_client.beta.threads.runs.cancel(thread_id=thread_id, run_id=run.id)


class FailureWatcher(AssistantEventHandler):
    """Records the events and the text the SDK's handler is given."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self.text: list[str] = []

    def on_event(self, event: AssistantStreamEvent) -> None:
        self.events.append(event.event)

    def on_text_delta(self, delta: TextDelta, snapshot: Text) -> None:
        self.text.append(delta.value or "")


def watch(client: openai.OpenAI, assistant_id: str, thread_id: str) -> tuple[FailureWatcher, Any]:
    """Stream a new run to its end through a :class:`FailureWatcher`; return it and the run."""
    handler = FailureWatcher()
    with client.beta.threads.runs.stream(
        thread_id=thread_id, assistant_id=assistant_id, event_handler=handler
    ) as stream:
        stream.until_done()
        return handler, stream.get_final_run()


def test_failure_mid_stream_reaches_the_event_handler(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Reply.cut("This answer stops in the middle", after=3))
    assistant_id, thread_id = setup(openai_client)
    handler, run = watch(openai_client, assistant_id, thread_id)
    assert handler.events[-1] == "thread.run.failed" and "thread.message.delta" in handler.events
    assert "".join(handler.text).startswith("This answer")
    assert run.status == "failed" and run.last_error is not None
    assert run.last_error.code == "server_error" and "provider" in run.last_error.message.lower()
    [stored] = openai_client.beta.threads.runs.list(thread_id=thread_id).data
    assert stored.status == "failed" and stored.last_error == run.last_error


def test_a_run_refused_by_the_model_fails_in_the_handler(
    openai_client: openai.OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Reply.error(400, "This model's maximum context length is 10 tokens."))
    assistant_id, thread_id = setup(openai_client)
    handler, run = watch(openai_client, assistant_id, thread_id)
    assert handler.events[-1] == "thread.run.failed"
    assert run.status == "failed" and run.last_error is not None
    assert run.last_error.code == "invalid_prompt" and "context length" in run.last_error.message


def test_failure_before_the_stream_is_a_json_error(openai_client: openai.OpenAI) -> None:
    thread = openai_client.beta.threads.create()
    runs = openai_client.beta.threads.runs
    with pytest.raises(openai.NotFoundError, match="asst_missing"):
        runs.stream(thread_id=thread.id, assistant_id="asst_missing").__enter__()
    with pytest.raises(openai.NotFoundError, match="run_missing"):
        runs.submit_tool_outputs_stream(
            thread_id=thread.id, run_id="run_missing", tool_outputs=[]
        ).__enter__()


class AsyncRecorder(AsyncAssistantEventHandler):
    def __init__(self, client: openai.AsyncOpenAI, log: list[str]) -> None:
        super().__init__()
        self.client = client
        self.log = log
        self.last: AsyncRecorder = self

    async def on_event(self, event: AssistantStreamEvent) -> None:
        self.log.append(event.event)
        if event.event == "thread.run.requires_action":
            calls = event.data.required_action.submit_tool_outputs.tool_calls  # type: ignore[union-attr]
            self.last = AsyncRecorder(self.client, self.log)
            async with self.client.beta.threads.runs.submit_tool_outputs_stream(
                thread_id=event.data.thread_id,
                run_id=event.data.id,
                tool_outputs=[{"tool_call_id": c.id, "output": "22C"} for c in calls],
                event_handler=self.last,
            ) as stream:
                await stream.until_done()

    async def on_message_done(self, message: Message) -> None:
        self.log.append("text:" + message.content[0].text.value)  # type: ignore[union-attr]


async def test_async_client_round_trip(
    async_openai_client: openai.AsyncOpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(
        Reply.tool_calls(("get_weather", {"city": "Cairo"})), Reply.text("22C in Cairo.")
    )
    client = async_openai_client
    assistant = await client.beta.assistants.create(model="fake/m", tools=[WEATHER_TOOL])  # type: ignore[list-item]
    thread = await client.beta.threads.create(messages=[{"role": "user", "content": "Cairo?"}])
    log: list[str] = []
    handler = AsyncRecorder(client, log)
    async with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=handler
    ) as stream:
        await stream.until_done()
    assert (await handler.last.get_final_run()).status == "completed"
    assert "text:22C in Cairo." in log
    assert log.index("thread.run.requires_action") < log.index("thread.run.completed")
