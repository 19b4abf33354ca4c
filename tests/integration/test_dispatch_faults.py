"""Dispatch never loses a slot or strands a run: cancel/submit races, a cancel while a run
waits for a slot, and an event log that fails after the state change committed."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from types import SimpleNamespace

import openai
import pytest

from callisto.engine.service import RunService
from callisto.store.database import create_sync_engine, run_migrations
from callisto.store.writer import Writer
from callisto.testing._server import ThreadedServer
from callisto.testing.databases import fresh_postgres_schema
from callisto.testing.fake_llm import FakeLLM, RecordedRequest, Reply
from tests.integration.conftest import sdk_client
from tests.integration.helpers import TERMINAL, WEATHER_TOOL, start, wait_for


def weather(request: RecordedRequest) -> Reply:
    if request.messages[-1].get("role") == "tool":
        return Reply.text("done")
    return Reply.tool_calls(("get_weather", {"city": "Oslo"}))


def test_cancel_racing_submit_never_strands_a_run_or_a_slot(
    make_server: Callable[..., ThreadedServer], fake_llm: FakeLLM
) -> None:
    fake_llm.default = weather
    server = make_server(runs={"max_concurrent": 3})
    client = sdk_client(server.url)
    assistant = client.beta.assistants.create(model="fake/m", tools=[WEATHER_TOOL])  # type: ignore[list-item]
    outcomes: dict[str, int] = {}
    for _ in range(100):
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "Oslo?"}])
        run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
        run = wait_for(client, thread.id, run.id, {"requires_action"})
        call = run.required_action.submit_tool_outputs.tool_calls[0]  # type: ignore[union-attr]
        barrier = threading.Barrier(2)

        def submit(
            thread_id: str = thread.id,
            run_id: str = run.id,
            call_id: str = call.id,
            barrier: threading.Barrier = barrier,
        ) -> None:
            barrier.wait()
            with contextlib.suppress(openai.BadRequestError):  # the cancel won
                client.beta.threads.runs.submit_tool_outputs(
                    thread_id=thread_id,
                    run_id=run_id,
                    tool_outputs=[{"tool_call_id": call_id, "output": "sunny"}],
                )

        racer = threading.Thread(target=submit)
        racer.start()
        barrier.wait()
        with contextlib.suppress(openai.BadRequestError):  # the submit won; the run ended
            client.beta.threads.runs.cancel(thread_id=thread.id, run_id=run.id)
        racer.join()
        final = wait_for(client, thread.id, run.id, TERMINAL, timeout=20)
        outcomes[final.status] = outcomes.get(final.status, 0) + 1
    assert set(outcomes) <= {"cancelled", "completed"}, outcomes
    # No slot was lost: three runs at once still start and finish.
    runs = [start(client, "Oslo?", model="fake/m") for _ in range(3)]
    for _, thread, run in runs:
        assert wait_for(client, thread.id, run.id, {"requires_action"}).status == "requires_action"
    client.close()


def test_a_run_cancelled_while_waiting_for_a_slot_is_cancelled(
    make_server: Callable[..., ThreadedServer], fake_llm: FakeLLM
) -> None:
    fake_llm.script(*[Reply.text("slow " * 100, token_delay=0.05)] * 2)
    server = make_server(runs={"max_concurrent": 1})
    client = sdk_client(server.url)
    _, busy_thread, busy = start(client, "first")
    wait_for(client, busy_thread.id, busy.id, {"in_progress"})
    _, thread, waiting = start(client, "second")
    assert (
        client.beta.threads.runs.retrieve(thread_id=thread.id, run_id=waiting.id).status == "queued"
    )
    client.beta.threads.runs.cancel(thread_id=thread.id, run_id=waiting.id)
    assert wait_for(client, thread.id, waiting.id, TERMINAL, timeout=10).status == "cancelled"
    client.beta.threads.runs.cancel(thread_id=busy_thread.id, run_id=busy.id)
    assert wait_for(client, busy_thread.id, busy.id, TERMINAL, timeout=10).status == "cancelled"
    # The slot is free again.
    fake_llm.script(Reply.text("third"))
    _, third_thread, third = start(client, "third")
    assert wait_for(client, third_thread.id, third.id, TERMINAL, timeout=10).status == "completed"
    client.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_an_event_log_that_fails_strands_no_run_and_no_slot(
    make_server: Callable[..., ThreadedServer], fake_llm: FakeLLM
) -> None:
    # Redis is unreachable: every event append fails after its change committed.
    server = make_server(
        event_log="redis",
        redis_url=f"redis://127.0.0.1:{_closed_port()}/0",
        runs={"max_concurrent": 1},
    )
    client = sdk_client(server.url)
    for text in ("one", "two", "three"):
        fake_llm.script(Reply.text(text))
        _, thread, run = start(client, text)
        # Each run comes to rest (it cannot stream, so it fails clearly) and frees its slot.
        assert wait_for(client, thread.id, run.id, TERMINAL, timeout=15).status in TERMINAL
    client.close()


async def test_one_process_sweeps_for_the_deployment(database_url: str) -> None:
    # Two processes' writers (one connection each) on one PostgreSQL: one holds the sweeper's
    # lock; when its connection goes, the other takes the role at its next sweep.
    if not database_url.startswith("postgresql"):
        pytest.skip("on SQLite every process sweeps its own file")
    with fresh_postgres_schema() as url:  # a deployment of its own (the lock is per schema)
        await _two_sweepers(url)


async def _two_sweepers(url: str) -> None:
    run_migrations(url)
    writers = [Writer(create_sync_engine(url)) for _ in range(2)]
    for writer in writers:
        writer.start()
    try:
        processes = [SimpleNamespace(writer=w) for w in writers]

        async def sweeps(process: SimpleNamespace) -> bool:
            return await RunService.is_sweeper(process)  # type: ignore[arg-type]

        first = [await sweeps(p) for p in processes]
        assert first.count(True) == 1
        holder = first.index(True)
        assert await sweeps(processes[holder]) and not await sweeps(processes[1 - holder])
        await writers[holder].aclose()  # its connection closes: the lock is free
        assert await sweeps(processes[1 - holder])
    finally:
        for writer in writers:
            await writer.aclose()
