"""/metrics, the metrics port, and the logs: what an operator sees of runs made through the SDK."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from callisto.testing._server import ThreadedServer
from callisto.testing.databases import (
    fresh_postgres_schema,
    postgres_unavailable_reason,
    redis_unavailable_reason,
    redis_url,
)
from callisto.testing.fake_llm import FakeLLM, RecordedRequest, Reply
from callisto.testing.server import serve_callisto
from tests.integration.conftest import make_settings, sdk_client
from tests.integration.helpers import WEATHER_TOOL, wait_for

KEY = "metrics-key"


def scrape(url: str, key: str | None = KEY) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Return every sample of ``url`` as ``{(name, labels): value}``."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def keyed(make_server: Callable[..., ThreadedServer]) -> ThreadedServer:
    return make_server(api_key=KEY)


def tool_run(client: openai.OpenAI, fake_llm: FakeLLM, *replies: Reply) -> tuple[str, str]:
    """Run a conversation that calls get_weather, answer it, and return (thread, run) ids."""
    fake_llm.script(*replies, Reply.text("It is 3C in Oslo."))
    assistant = client.beta.assistants.create(model="fake/fake-model", tools=[WEATHER_TOOL])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Oslo?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "requires_action"
    calls = run.required_action.submit_tool_outputs.tool_calls
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        thread_id=thread.id,
        run_id=run.id,
        tool_outputs=[{"tool_call_id": c.id, "output": "3C"} for c in calls],
    )
    assert run.status == "completed"
    return thread.id, run.id


def test_metrics_need_a_key(keyed: ThreadedServer) -> None:
    response = httpx.get(keyed.url + "/metrics")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert httpx.get(keyed.url + "/metrics", headers={"X-API-Key": "wrong"}).status_code == 401


def test_a_run_is_counted_from_start_to_end(keyed: ThreadedServer, fake_llm: FakeLLM) -> None:
    before = scrape(keyed.url + "/metrics")
    client = sdk_client(keyed.url, api_key=KEY)
    tool_run(client, fake_llm, Reply.tool_calls(("get_weather", {"city": "Oslo"})))
    after = scrape(keyed.url + "/metrics")

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    model = "fake/fake-model"
    assert delta("callisto_runs_started_total", model=model) == 1
    assert delta("callisto_runs_ended_total", model=model, status="completed") == 1
    # Two turns (the tool call, then the answer), each one model call.
    assert delta("callisto_turn_duration_seconds_count", model=model) == 2
    assert delta("callisto_provider_calls_total", provider="fake", outcome="ok") == 2
    assert delta("callisto_provider_call_duration_seconds_count", provider="fake") == 2
    assert delta("callisto_time_to_first_token_seconds_count", provider="fake") == 2
    assert delta("callisto_writer_batch_size_count") >= 4
    assert delta("callisto_writer_commit_seconds_count") == delta(
        "callisto_writer_batch_size_count"
    )
    assert ("callisto_runs_in_flight", frozenset()) in after
    assert delta("callisto_tool_call_repairs_total", model=model) == 0


def test_a_tool_call_repair_and_a_failed_provider_call_are_counted(
    keyed: ThreadedServer, fake_llm: FakeLLM
) -> None:
    before = scrape(keyed.url + "/metrics")
    client = sdk_client(keyed.url, api_key=KEY)
    tool_run(
        client,
        fake_llm,
        Reply.error(503, "overloaded"),  # retried: a failed call, then a good one
        Reply.tool_calls(("get_weather", {"town": "Oslo"})),  # refused: no 'city'
        Reply.tool_calls(("get_weather", {"city": "Oslo"})),
    )
    after = scrape(keyed.url + "/metrics")
    model = "fake/fake-model"
    repairs = ("callisto_tool_call_repairs_total", frozenset({("model", model)}))
    assert after.get(repairs, 0) - before.get(repairs, 0) == 1
    failed = {
        key: after[key] - before.get(key, 0)
        for key in after
        if key[0] == "callisto_provider_calls_total"
        and ("provider", "fake") in key[1]
        and ("outcome", "ok") not in key[1]
        and after[key] - before.get(key, 0) > 0
    }
    assert sum(failed.values()) == 1, failed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_the_metrics_port_serves_without_a_key(make_server: Callable[..., ThreadedServer]) -> None:
    port = _free_port()
    make_server(api_key=KEY, metrics_port=port)
    samples = scrape(f"http://127.0.0.1:{port}/metrics", key=None)
    assert any(name == "callisto_runs_in_flight" for name, _ in samples)


def test_each_run_state_change_is_one_info_line(
    keyed: ThreadedServer, fake_llm: FakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    client = sdk_client(keyed.url, api_key=KEY)
    with caplog.at_level(logging.INFO, logger="callisto.runs"):
        thread_id, run_id = tool_run(
            client, fake_llm, Reply.tool_calls(("get_weather", {"city": "Oslo"}))
        )
    records = [r for r in caplog.records if getattr(r, "run_id", None) == run_id]
    changes = [(r.previous_status, r.status) for r in records]  # type: ignore[attr-defined]
    assert changes == [
        ("queued", "in_progress"),
        ("in_progress", "requires_action"),
        ("requires_action", "queued"),
        ("queued", "in_progress"),
        ("in_progress", "completed"),
    ]
    for record in records:
        assert record.levelno == logging.INFO
        message = record.getMessage()
        assert run_id in message and thread_id in message and "fake/fake-model" in message
    last = records[-1]
    assert last.total_tokens > 0  # type: ignore[attr-defined]
    assert f"{last.total_tokens} tokens" in last.getMessage()  # type: ignore[attr-defined]
    assert last.duration_s is not None  # type: ignore[attr-defined]


def test_requests_are_logged_at_debug_with_the_reason_of_an_error(
    keyed: ThreadedServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="callisto.http"):
        httpx.get(keyed.url + "/v1/threads/thread_nope", headers={"Authorization": f"Bearer {KEY}"})
    lines = [r for r in caplog.records if r.name == "callisto.http"]
    assert lines and all(r.levelno == logging.DEBUG for r in lines)
    (line,) = [r for r in lines if "/v1/threads/thread_nope" in r.getMessage()]
    assert " 404 " in line.getMessage()
    assert "thread_nope" in line.getMessage().split(": ", 1)[1]  # the error's message


def test_serve_logs_json_lines(tmp_path: Path) -> None:
    """``callisto serve --log-format json``: every line is JSON; a run's changes carry fields."""
    port = _free_port()
    env = {**os.environ, "CALLISTO_API_KEY": KEY, "PYTHONWARNINGS": "ignore"}
    command = [
        sys.executable,
        "-m",
        "callisto.cli",
        "serve",
        "--port",
        str(port),
        "--database-url",
        f"sqlite:///{tmp_path / 'json.db'}",
        "--log-format",
        "json",
    ]
    server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_up(url, server)
        client = sdk_client(url, api_key=KEY)
        assistant = client.beta.assistants.create(model="offline/demo")
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hello"}])
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id
        )
        assert run.status == "completed"
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert all({"asctime", "levelname", "name", "message"} <= set(line) for line in lines)
    changes = [line for line in lines if line.get("run_id") == run.id]
    assert [c["status"] for c in changes] == ["in_progress", "completed"]
    assert changes[-1]["thread_id"] == thread.id and changes[-1]["model"] == "offline/demo"
    assert not any(line["name"] == "uvicorn.access" for line in lines)
    assert not any(line["name"] == "alembic.runtime.plugins" for line in lines)
    assert any(line["message"].startswith("Callisto ") for line in lines)  # the start-up lines


def _wait_until_up(url: str, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url + "/health")
            return
        except httpx.TransportError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("the server did not start") from None
            time.sleep(0.1)


@pytest.mark.postgres
@pytest.mark.redis
def test_the_dispatch_queue_is_measured_in_the_scaled_mode(fake_llm: FakeLLM) -> None:
    """An API process of the scaled mode, with no worker yet: the queued turn waits, and shows."""
    reason = postgres_unavailable_reason() or redis_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with fresh_postgres_schema() as url:
        settings = make_settings(
            url, fake_llm, api_key=KEY, dispatch="queue", event_log="redis", redis_url=redis_url()
        )
        with serve_callisto(settings) as api:
            empty = scrape(api.url + "/metrics")
            assert value(empty, "callisto_dispatch_queue_depth") == 0
            assert value(empty, "callisto_dispatch_queue_age_seconds") == 0
            client = sdk_client(api.url, api_key=KEY)
            assistant = client.beta.assistants.create(model="fake/fake-model")
            thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
            client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
            waiting = scrape(api.url + "/metrics")
            assert value(waiting, "callisto_dispatch_queue_depth") == 1
            assert value(waiting, "callisto_dispatch_queue_age_seconds") >= 0
        # The collector leaves with its server.
        assert "callisto_dispatch_queue_depth" not in generate_latest(REGISTRY).decode()


def test_runs_in_flight_counts_a_turn_while_it_executes(
    keyed: ThreadedServer, fake_llm: FakeLLM
) -> None:
    release = threading.Event()

    def held(request: RecordedRequest) -> Reply:
        release.wait(30)
        return Reply.text("Done.")

    fake_llm.script(held)
    client = sdk_client(keyed.url, api_key=KEY)
    assistant = client.beta.assistants.create(model="fake/fake-model")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
    try:
        run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
        wait_for(client, thread.id, run.id, {"in_progress"})
        assert value(scrape(keyed.url + "/metrics"), "callisto_runs_in_flight") >= 1
    finally:
        release.set()
    wait_for(client, thread.id, run.id, {"completed"})
