"""PostgreSQL connections killed under load: no 500, and no run fails that a retry could save."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import psycopg
import pytest

from callisto.testing.databases import (
    fresh_postgres_schema,
    postgres_base_url,
    postgres_unavailable_reason,
)
from callisto.testing.fake_llm import FakeLLM, RecordedRequest, Reply
from callisto.testing.server import serve_callisto
from tests.integration.conftest import make_settings
from tests.integration.helpers import TERMINAL, WEATHER_TOOL

pytestmark = pytest.mark.postgres
APP_NAME = "callisto_fault_test"


def agent(request: RecordedRequest) -> Reply:
    last = request.messages[-1]
    if last.get("role") == "tool":
        return Reply.text(f"Answer: {last['content']}", token_delay=0.01)
    return Reply.tool_calls(("get_weather", {"city": str(last.get("content"))}))


@pytest.fixture
def url() -> Iterator[str]:
    reason = postgres_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with fresh_postgres_schema() as schema_url:
        yield f"{schema_url}&application_name={APP_NAME}"


def terminate_backends(stop: threading.Event, killed: list[int]) -> None:
    with psycopg.connect(postgres_base_url(), autocommit=True) as conn:
        while not stop.is_set():
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s AND pid <> pg_backend_pid()",
                (APP_NAME,),
            ).fetchall()
            killed.append(len(rows))
            stop.wait(0.4)


def test_terminated_backends_under_load(url: str) -> None:
    statuses: list[int] = []
    with (
        FakeLLM(default=agent) as fake,
        serve_callisto(make_settings(url, fake)) as server,
        httpx.Client(event_hooks={"response": [lambda r: statuses.append(r.status_code)]}) as http,
    ):
        client = openai.OpenAI(
            base_url=server.url + "/v1", api_key="k", max_retries=8, http_client=http, timeout=30
        )
        assistant = client.beta.assistants.create(model="fake/m", tools=[WEATHER_TOOL])  # type: ignore[list-item]

        def conversation(i: int) -> str:
            thread = client.beta.threads.create(messages=[{"role": "user", "content": f"c{i}"}])
            run = client.beta.threads.runs.create_and_poll(
                thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20
            )
            while run.status == "requires_action":
                calls = run.required_action.submit_tool_outputs.tool_calls  # type: ignore[union-attr]
                run = client.beta.threads.runs.submit_tool_outputs_and_poll(
                    thread_id=thread.id,
                    run_id=run.id,
                    tool_outputs=[{"tool_call_id": c.id, "output": "sunny"} for c in calls],
                    poll_interval_ms=20,
                )
            assert run.status in TERMINAL
            return f"{run.status}:{run.last_error}"

        stop, killed = threading.Event(), []
        killer = threading.Thread(target=terminate_backends, args=(stop, killed))
        killer.start()
        try:
            with ThreadPoolExecutor(8) as pool:
                outcomes = list(pool.map(conversation, range(40)))
        finally:
            stop.set()
            killer.join()
    assert sum(killed) > 0, "no connection was terminated: the test proved nothing"
    assert outcomes == ["completed:None"] * 40
    assert 500 not in statuses
