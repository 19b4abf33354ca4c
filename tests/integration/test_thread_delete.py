"""Deleting a thread with an active run cancels the run: its streams end, its turn stops."""

from __future__ import annotations

import threading
import time

import httpx
import openai

from callisto.testing._server import ThreadedServer
from callisto.testing.fake_llm import FakeLLM, Reply
from tests.integration.helpers import WEATHER_TOOL, start, wait_for


def _stream_events(url: str, names: list[str], done: threading.Event) -> None:
    with httpx.stream("GET", url, timeout=30) as response:
        for line in response.iter_lines():
            if line.startswith("event: "):
                names.append(line[7:])
    done.set()


def follow(
    server: ThreadedServer, thread_id: str, run_id: str, *, until: str
) -> tuple[list[str], threading.Event]:
    """Stream the run's events in a thread; return once ``until`` has arrived."""
    names: list[str] = []
    done = threading.Event()
    url = f"{server.url}/v1/threads/{thread_id}/runs/{run_id}/events"
    reader = threading.Thread(target=_stream_events, args=(url, names, done), daemon=True)
    reader.start()
    while until not in names:
        assert reader.is_alive()
        time.sleep(0.01)
    return names, done


def test_deleting_a_thread_mid_turn_ends_its_streams(
    openai_client: openai.OpenAI, server: ThreadedServer, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Reply.text("slow " * 200, token_delay=0.05))
    _, thread, run = start(openai_client, "hi")
    wait_for(openai_client, thread.id, run.id, {"in_progress"})
    names, done = follow(server, thread.id, run.id, until="thread.message.delta")
    deleted = openai_client.beta.threads.delete(thread.id)
    assert deleted.deleted
    # The stream ends by itself (no keep-alives forever), with the run cancelled.
    assert done.wait(10), names
    assert "thread.run.cancelled" in names
    after = names[names.index("thread.run.cancelled") + 1 :]
    assert not [n for n in after if n.endswith(".delta")]


def test_deleting_a_thread_waiting_for_tool_outputs(
    openai_client: openai.OpenAI, server: ThreadedServer, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Reply.tool_calls(("get_weather", {"city": "Oslo"})))
    _, thread, run = start(openai_client, "Oslo?", tools=[WEATHER_TOOL])
    wait_for(openai_client, thread.id, run.id, {"requires_action"})
    names, done = follow(server, thread.id, run.id, until="thread.run.requires_action")
    openai_client.beta.threads.delete(thread.id)
    assert done.wait(10), names
    assert "thread.run.cancelled" in names
