"""Driver loops against tiny in-process fake clients (no server): rounds, outputs, streaming."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace as NS
from typing import Any

import pytest

from callisto.tools import (
    MaxRoundsExceeded,
    Toolbox,
    ToolLoopError,
    async_complete_with_tools,
    async_run_until_done,
    complete_with_tools,
    run_until_done,
    tool,
)


@tool
def get_weather(city: str) -> str:
    """Get the weather."""
    return f"sunny in {city}"


@tool
async def get_time(city: str) -> str:
    """Get the local time."""
    await asyncio.sleep(0)
    return f"noon in {city}"


TOOLBOX = Toolbox([get_weather, get_time])


def call(call_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


def waiting(*calls: dict[str, Any]) -> NS:
    action = NS(submit_tool_outputs=NS(tool_calls=list(calls)))
    return NS(id="run_1", status="requires_action", required_action=action)


DONE = NS(id="run_1", status="completed", required_action=None)
ANSWER = NS(role="assistant", content=[NS(type="text", text=NS(value="It is sunny."))])


class Stream:
    """Stands in for the SDK's AssistantStreamManager and the handler it yields."""

    def __init__(self, run: NS, texts: list[str]) -> None:
        self.current_run: NS | None = None
        self._events = [NS(event="thread.run.created", data=run)]
        self._events += [
            NS(
                event="thread.message.delta",
                data=NS(delta=NS(content=[NS(type="text", text=NS(value=t))])),
            )
            for t in texts
        ]
        self._final = run

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *args: object) -> None:
        pass

    def __iter__(self) -> Iterator[NS]:
        yield from self._events
        self.current_run = self._final

    async def __aenter__(self) -> Stream:
        return self

    async def __aexit__(self, *args: object) -> None:
        pass

    async def _aiter(self) -> AsyncIterator[NS]:
        for event in self:
            yield event

    def __aiter__(self) -> AsyncIterator[NS]:
        return self._aiter()


class FakeRuns:
    def __init__(self, script: list[NS]) -> None:
        self.script = list(script)
        self.log: list[tuple[str, dict[str, Any]]] = []

    def _next(self, method: str, **kwargs: Any) -> NS:
        self.log.append((method, kwargs))
        return self.script.pop(0)

    def create_and_poll(self, **kw: Any) -> NS:
        return self._next("create_and_poll", **kw)

    def submit_tool_outputs_and_poll(self, **kw: Any) -> NS:
        return self._next("submit_tool_outputs_and_poll", **kw)

    def retrieve(self, run_id: str, **kw: Any) -> NS:
        return self._next("retrieve", run_id=run_id, **kw)

    def poll(self, run_id: str, thread_id: str, **kw: Any) -> NS:
        return self._next("poll", run_id=run_id, **kw)

    def cancel(self, run_id: str, **kw: Any) -> None:
        self.log.append(("cancel", {"run_id": run_id, **kw}))

    def stream(self, **kw: Any) -> Stream:
        return Stream(self._next("stream", **kw), ["It is ", "sunny."])

    def submit_tool_outputs_stream(self, **kw: Any) -> Stream:
        return Stream(self._next("submit_tool_outputs_stream", **kw), ["Done."])


class FakeMessages:
    def list(self, thread_id: str, **kw: Any) -> list[NS]:
        return [ANSWER]


def fake_client(script: list[NS]) -> NS:
    return NS(beta=NS(threads=NS(runs=FakeRuns(script), messages=FakeMessages())))


def submitted(runs: FakeRuns) -> list[list[dict[str, str]]]:
    return [kw["tool_outputs"] for method, kw in runs.log if method.startswith("submit")]


def test_polling_loop_answers_every_round() -> None:
    client = fake_client(
        [waiting(call("c1", "get_weather", city="Tokyo"), call("c2", "get_time", city="Paris")),
         waiting(call("c3", "nope")), DONE]
    )  # fmt: skip
    outcome = run_until_done(client, "thread_1", "asst_1", TOOLBOX, instructions="Be brief.")
    runs = client.beta.threads.runs
    assert runs.log[0] == (
        "create_and_poll",
        {"thread_id": "thread_1", "assistant_id": "asst_1", "instructions": "Be brief."},
    )
    first, second = submitted(runs)
    assert first == [
        {"tool_call_id": "c1", "output": "sunny in Tokyo"},
        {"tool_call_id": "c2", "output": "noon in Paris"},
    ]
    assert json.loads(second[0]["output"])["error"]["code"] == "FUNCTION_NOT_FOUND"
    assert outcome.run is DONE and outcome.text == "It is sunny."
    assert len(outcome.tool_results) == 3


def test_poll_interval_is_passed_only_when_given() -> None:
    client = fake_client([waiting(call("c1", "get_weather", city="x")), DONE])
    run_until_done(client, "t", "a", TOOLBOX, poll_interval_ms=50)
    assert all(kw.get("poll_interval_ms") == 50 for _, kw in client.beta.threads.runs.log)


def test_existing_run_id_is_continued() -> None:
    client = fake_client([waiting(call("c1", "get_weather", city="Oslo")), DONE])
    outcome = run_until_done(client, "t", None, TOOLBOX, run_id="run_1")
    assert [m for m, _ in client.beta.threads.runs.log] == [
        "retrieve",
        "submit_tool_outputs_and_poll",
    ]
    assert outcome.run.status == "completed"


def test_round_limit_cancels_the_run() -> None:
    client = fake_client([waiting(call("c", "get_weather", city="x"))] * 3)
    with pytest.raises(MaxRoundsExceeded) as info:
        run_until_done(client, "t", "a", TOOLBOX, max_rounds=2)
    assert client.beta.threads.runs.log[-1][0] == "cancel"
    assert info.value.last.status == "requires_action"


def test_streaming_loop_forwards_text_and_submits_by_stream() -> None:
    client = fake_client([waiting(call("c1", "get_weather", city="Tokyo")), DONE])
    texts: list[str] = []
    outcome = run_until_done(client, "t", "a", TOOLBOX, stream=True, on_text=texts.append)
    assert [m for m, _ in client.beta.threads.runs.log] == ["stream", "submit_tool_outputs_stream"]
    assert texts == ["It is ", "sunny.", "Done."]
    assert submitted(client.beta.threads.runs) == [
        [{"tool_call_id": "c1", "output": "sunny in Tokyo"}]
    ]
    assert outcome.run is DONE


def test_stream_that_stops_mid_run_is_an_error() -> None:
    client = fake_client([NS(id="run_1", status="in_progress", required_action=None)])
    with pytest.raises(ToolLoopError, match="still in_progress"):
        run_until_done(client, "t", "a", TOOLBOX, stream=True)


class AsyncRuns(FakeRuns):
    async def create_and_poll(self, **kw: Any) -> NS:  # type: ignore[override]
        return super().create_and_poll(**kw)

    async def submit_tool_outputs_and_poll(self, **kw: Any) -> NS:  # type: ignore[override]
        return super().submit_tool_outputs_and_poll(**kw)

    async def cancel(self, run_id: str, **kw: Any) -> None:  # type: ignore[override]
        super().cancel(run_id, **kw)


class AsyncMessages:
    def list(self, thread_id: str, **kw: Any) -> AsyncIterator[NS]:
        async def pages() -> AsyncIterator[NS]:
            yield ANSWER

        return pages()


def async_client(script: list[NS]) -> NS:
    return NS(beta=NS(threads=NS(runs=AsyncRuns(script), messages=AsyncMessages())))


@pytest.mark.parametrize("stream", [False, True])
async def test_async_run_loop(stream: bool) -> None:
    client = async_client([waiting(call("c1", "get_time", city="Lima")), DONE])
    texts: list[str] = []
    outcome = await async_run_until_done(
        client, "t", "a", TOOLBOX, stream=stream, on_text=texts.append
    )
    assert submitted(client.beta.threads.runs) == [
        [{"tool_call_id": "c1", "output": "noon in Lima"}]
    ]
    assert outcome.text == "It is sunny."
    assert texts == (["It is ", "sunny.", "Done."] if stream else [])


async def test_async_round_limit() -> None:
    client = async_client([waiting(call("c", "get_time", city="x"))] * 2)
    with pytest.raises(MaxRoundsExceeded):
        await async_run_until_done(client, "t", "a", TOOLBOX, max_rounds=1)
    assert client.beta.threads.runs.log[-1][0] == "cancel"


# --- Chat Completions ----------------------------------------------------------------------


def completion(content: str | None, *calls: dict[str, Any]) -> NS:
    tool_calls = [
        NS(
            id=c["id"],
            type="function",
            function=NS(name=c["function"]["name"], arguments=c["function"]["arguments"]),
        )
        for c in calls
    ]
    return NS(choices=[NS(message=NS(content=content, tool_calls=tool_calls or None))])


class FakeCompletions:
    def __init__(self, script: list[NS]) -> None:
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []

    def create(self, **kw: Any) -> NS:
        self.requests.append({**kw, "messages": list(kw["messages"])})
        return self.script.pop(0)


def test_chat_loop_runs_tools_until_an_answer() -> None:
    completions = FakeCompletions(
        [completion(None, call("a", "get_weather", city="Tokyo"), call("b", "get_weather", city="Paris")),
         completion("Sunny in both.")]
    )  # fmt: skip
    client = NS(chat=NS(completions=completions))
    question = [{"role": "user", "content": "Weather in Tokyo and Paris?"}]
    outcome = complete_with_tools(client, question, TOOLBOX, model="m", temperature=0)
    assert outcome.text == "Sunny in both."
    first, second = completions.requests
    assert first["tools"] == TOOLBOX.openai_tools() and first["temperature"] == 0
    sent = second["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
    assert sent[1]["tool_calls"][1]["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
    }
    assert sent[3] == {"role": "tool", "tool_call_id": "b", "content": "sunny in Paris"}
    assert question == [{"role": "user", "content": "Weather in Tokyo and Paris?"}]  # not modified
    assert outcome.messages[-1] == {"role": "assistant", "content": "Sunny in both."}


def test_chat_round_limit() -> None:
    completions = FakeCompletions([completion(None, call("a", "get_weather", city="x"))] * 3)
    with pytest.raises(MaxRoundsExceeded):
        complete_with_tools(
            NS(chat=NS(completions=completions)), [], TOOLBOX, model="m", max_rounds=2
        )
    assert len(completions.requests) == 3


async def test_async_chat_loop() -> None:
    completions = FakeCompletions(
        [completion(None, call("a", "get_time", city="Rome")), completion("Noon.")]
    )

    async def create(**kw: Any) -> NS:
        return completions.create(**kw)

    client = NS(chat=NS(completions=NS(create=create)))
    outcome = await async_complete_with_tools(
        client, [{"role": "user", "content": "time?"}], TOOLBOX, model="m"
    )
    assert outcome.text == "Noon."
    assert outcome.tool_results[0].output == "noon in Rome"
