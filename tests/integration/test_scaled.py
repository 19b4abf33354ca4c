"""The scaled mode, with real processes: 2 API processes (``serve --dispatch queue``) and 2
``callisto worker`` processes on PostgreSQL, events on Redis, the fake model in this process.

The tests start, kill (SIGKILL), freeze (SIGSTOP) and restart those processes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from callisto.testing.databases import (
    fresh_postgres_schema,
    postgres_unavailable_reason,
    redis_unavailable_reason,
    redis_url,
)
from callisto.testing.fake_llm import FakeLLM, RecordedRequest, Reply
from tests.integration.helpers import TERMINAL, WEATHER_TOOL

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

LEASE_SECONDS = 3.0
# A dead worker's turn is taken over within its lease plus a sweep (and process start-up).
TAKEOVER_BOUND = 20.0


def _unavailable() -> str | None:
    return postgres_unavailable_reason() or redis_unavailable_reason()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def weather_agent(request: RecordedRequest) -> Reply:
    """Call get_weather for the user's city; answer from the tool's output once it is there."""
    messages = request.messages
    last = messages[-1]
    if last.get("role") == "tool":
        return Reply.text(f"Answer: {last['content']}")
    text = str(last.get("content"))
    if "slow" in text:
        return Reply.text("slow " * 60, token_delay=0.1)
    return Reply.tool_calls(("get_weather", {"city": text}))


@dataclass
class Deployment:
    """The processes of one scaled deployment."""

    env: dict[str, str]
    logs: Path
    apis: list[tuple[subprocess.Popen[bytes], str]] = field(default_factory=list)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_api(self) -> str:
        port = _free_port()
        name = f"api{len(self.apis)}"
        proc = self._spawn(name, "serve", "--port", str(port), "--dispatch", "queue")
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc, self.logs / f"{name}.log")
        self.apis.append((proc, url))
        return url

    def start_worker(self) -> subprocess.Popen[bytes]:
        proc = self._spawn(f"worker{len(self.workers)}", "worker", "--concurrency", "32")
        self.workers.append(proc)
        return proc

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "callisto.cli", *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        for proc in [p for p, _ in self.apis] + self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.terminate()
        for proc in [p for p, _ in self.apis] + self.workers:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise AssertionError(f"{url} exited with {proc.returncode}:\n{tail}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not become healthy")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLM]:
    with FakeLLM(default=weather_agent) as llm:
        yield llm


@pytest.fixture
def deployment(fake: FakeLLM, tmp_path: Path) -> Iterator[Deployment]:
    reason = _unavailable()
    if reason is not None:
        pytest.skip(reason)
    with fresh_postgres_schema() as url:
        env = {
            **os.environ,
            "CALLISTO_DATABASE_URL": url,
            "CALLISTO_EVENT_LOG": "redis",
            "CALLISTO_REDIS_URL": redis_url(),
            "CALLISTO_PROVIDERS__FAKE__KIND": "openai",
            "CALLISTO_PROVIDERS__FAKE__BASE_URL": fake.base_url,
            "CALLISTO_PROVIDERS__FAKE__API_KEY": "sk-fake",
            "CALLISTO_RUNS__LEASE_SECONDS": str(LEASE_SECONDS),
            "CALLISTO_RUNS__HEARTBEAT_INTERVAL": "0.25",
            "CALLISTO_RUNS__SWEEP_INTERVAL": "0.5",
            "CALLISTO_RUNS__POLL_AFTER_MS": "20",
            "CALLISTO_LOG_LEVEL": "INFO",
        }
        deployment = Deployment(env=env, logs=tmp_path)
        try:
            deployment.start_api()
            deployment.start_api()
            deployment.start_worker()
            deployment.start_worker()
            yield deployment
        finally:
            deployment.stop()


def client_for(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=30)


def wait_status(
    client: openai.OpenAI, thread_id: str, run_id: str, wanted: set[str], timeout: float
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        run = client.beta.threads.runs.retrieve(thread_id=thread_id, run_id=run_id)
        if run.status in wanted:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} stayed {run.status}, wanted {sorted(wanted)}")
        time.sleep(0.05)


def wait_for_text(client: openai.OpenAI, thread_id: str, run_id: str) -> None:
    """Wait until the run's reply has started streaming (its message exists)."""
    deadline = time.monotonic() + 30
    while not client.beta.threads.messages.list(thread_id=thread_id, run_id=run_id).data:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def conversation(api_a: str, api_b: str, assistant_id: str, city: str) -> tuple[str, str]:
    """Create on A, submit on B, read the answer on A; return the thread id and the answer."""
    a, b = client_for(api_a), client_for(api_b)
    with a, b:
        thread = a.beta.threads.create(messages=[{"role": "user", "content": city}])
        run = a.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant_id)
        run = wait_status(b, thread.id, run.id, {"requires_action", *TERMINAL}, 60)
        assert run.status == "requires_action", run.last_error
        calls = run.required_action.submit_tool_outputs.tool_calls
        assert [json.loads(c.function.arguments) for c in calls] == [{"city": city}]
        b.beta.threads.runs.submit_tool_outputs(
            thread_id=thread.id,
            run_id=run.id,
            tool_outputs=[{"tool_call_id": calls[0].id, "output": f"sunny in {city}"}],
        )
        run = wait_status(a, thread.id, run.id, TERMINAL, 60)
        assert run.status == "completed", run.last_error
        messages = a.beta.threads.messages.list(thread_id=thread.id, order="asc").data
        texts = [(m.role, m.content[0].text.value) for m in messages]
        return thread.id, json.dumps(texts)


def test_many_conversations_across_api_processes_and_workers(deployment: Deployment) -> None:
    (_, api_a), (_, api_b) = deployment.apis
    with client_for(api_a) as client:
        assistant = client.beta.assistants.create(model="fake/m", tools=[WEATHER_TOOL])  # type: ignore[list-item]
    cities = [f"city{i}" for i in range(200)]
    with ThreadPoolExecutor(16) as pool:
        results = list(
            pool.map(
                lambda ic: conversation(
                    *((api_a, api_b) if ic[0] % 2 else (api_b, api_a)), assistant.id, ic[1]
                ),
                enumerate(cities),
            )
        )
    for city, (_, texts) in zip(cities, results, strict=True):
        # The user's message and exactly one reply, built from the tool's output.
        assert json.loads(texts) == [["user", city], ["assistant", f"Answer: sunny in {city}"]]


def test_a_killed_worker_s_turns_are_taken_over(deployment: Deployment) -> None:
    (_, api_a), _ = deployment.apis
    client = client_for(api_a)
    assistant = client.beta.assistants.create(model="fake/m", tools=[WEATHER_TOOL])  # type: ignore[list-item]
    runs = []
    for i in range(20):
        thread = client.beta.threads.create(messages=[{"role": "user", "content": f"slow {i}"}])
        runs.append(
            (
                thread.id,
                client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id).id,
            )
        )
    for thread_id, run_id in runs:
        wait_status(client, thread_id, run_id, {"in_progress"}, 30)
    time.sleep(1.0)  # the replies are streaming, on both workers
    # The API process's poll hint counts the deployment's runs in flight (2 ms each).
    thread_id, run_id = runs[0]
    hint = httpx.get(f"{api_a}/v1/threads/{thread_id}/runs/{run_id}").headers
    assert int(hint["openai-poll-after-ms"]) >= 2 * len(runs)
    victim = deployment.workers[0]
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = time.monotonic()
    for thread_id, run_id in runs:
        run = wait_status(client, thread_id, run_id, TERMINAL, TAKEOVER_BOUND + 30)
        assert run.status == "completed", run.last_error
        messages = client.beta.threads.messages.list(thread_id=thread_id, order="asc").data
        # One reply each: no partial or empty message left by the killed worker.
        assert [m.role for m in messages] == ["user", "assistant"]
        assert messages[1].content[0].text.value.strip() == " ".join(["slow"] * 60)
    assert time.monotonic() - killed_at < TAKEOVER_BOUND + 30
    client.close()


def _events(
    api: str, thread_id: str, run_id: str, after: int = 0, *, limit: int | None = None
) -> list[tuple[int, str, str]]:
    """Read a run's events through ``/events`` until its log closes (or ``limit`` events)."""
    out: list[tuple[int, str, str]] = []
    headers = {"Last-Event-ID": str(after)} if after else {}
    url = f"{api}/v1/threads/{thread_id}/runs/{run_id}/events"
    with httpx.stream("GET", url, headers=headers, timeout=60) as response:
        assert response.status_code == 200, response.read()
        seq, name = 0, ""
        for line in response.iter_lines():
            if line.startswith("id: "):
                seq = int(line[4:])
            elif line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                if seq:  # the closing "done" event carries no id
                    out.append((seq, name, line[6:]))
                    if limit is not None and len(out) >= limit:
                        break
                seq, name = 0, ""
    return out


def test_cancel_through_one_api_stops_a_turn_on_a_worker(deployment: Deployment) -> None:
    (_, api_a), (_, api_b) = deployment.apis
    client = client_for(api_a)
    assistant = client.beta.assistants.create(model="fake/m", tools=[WEATHER_TOOL])  # type: ignore[list-item]
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "slow cancel"}])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    # Wait until text streams, then cancel through the other API process.
    wait_for_text(client, thread.id, run.id)
    with client_for(api_b) as other:
        other.beta.threads.runs.cancel(thread_id=thread.id, run_id=run.id)
    run = wait_status(client, thread.id, run.id, TERMINAL, 10)
    assert run.status == "cancelled"
    events = _events(api_b, thread.id, run.id)
    names = [name for _, name, _ in events]
    assert "thread.run.cancelled" in names
    after_cancel = names[names.index("thread.run.cancelled") + 1 :]
    assert not [n for n in after_cancel if n.endswith(".delta")], after_cancel
    seqs = [s for s, _, _ in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # Resuming after an id replays exactly the rest, through the other process.
    middle = seqs[len(seqs) // 2]
    assert _events(api_a, thread.id, run.id, after=middle) == [e for e in events if e[0] > middle]
    client.close()


def test_a_frozen_worker_writes_nothing_after_takeover(deployment: Deployment) -> None:
    (_, api_a), _ = deployment.apis
    # One worker only, so the frozen one holds the turn.
    spare = deployment.workers[1]
    spare.send_signal(signal.SIGKILL)
    spare.wait()
    client = client_for(api_a)
    assistant = client.beta.assistants.create(model="fake/m", tools=[WEATHER_TOOL])  # type: ignore[list-item]
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "slow frozen"}])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    wait_for_text(client, thread.id, run.id)
    frozen = deployment.workers[0]
    frozen.send_signal(signal.SIGSTOP)
    deployment.start_worker()  # takes the run over once the frozen worker's lease runs out
    run = wait_status(client, thread.id, run.id, TERMINAL, TAKEOVER_BOUND + 30)
    assert run.status == "completed"
    events_before = _events(api_a, thread.id, run.id)
    frozen.send_signal(signal.SIGCONT)
    time.sleep(2 * LEASE_SECONDS)  # the thawed worker had time to write, if it were going to
    messages = client.beta.threads.messages.list(thread_id=thread.id, order="asc").data
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[1].content[0].text.value.strip() == " ".join(["slow"] * 60)
    assert _events(api_a, thread.id, run.id) == events_before
    assert (
        client.beta.threads.runs.retrieve(thread_id=thread.id, run_id=run.id).status == "completed"
    )
    client.close()


def test_every_process_restarts_mid_run_and_the_stream_resumes(deployment: Deployment) -> None:
    (_, api_a), _ = deployment.apis
    with client_for(api_a) as client:
        assistant = client.beta.assistants.create(model="fake/m", tools=[WEATHER_TOOL])  # type: ignore[list-item]
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "slow restart"}])
        run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
        wait_for_text(client, thread.id, run.id)
    seen = _events(api_a, thread.id, run.id, limit=12)  # then hang up
    assert any(name == "thread.message.delta" for _, name, _ in seen)
    # Every process of the deployment dies at once, mid-turn; a new set starts.
    for proc in [p for p, _ in deployment.apis] + deployment.workers:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deployment.apis.clear()
    deployment.workers.clear()
    api_new = deployment.start_api()
    deployment.start_worker()
    last = seen[-1][0]
    rest = _events(api_new, thread.id, run.id, after=last)
    seqs = [s for s, _, _ in rest]
    # The stream resumes exactly after the last event read, through a new process, and follows
    # the turn another worker took over to its end.
    assert seqs and seqs[0] == last + 1 and seqs == sorted(set(seqs))
    assert rest[-1][1] == "thread.run.completed"
    with client_for(api_new) as client:
        messages = client.beta.threads.messages.list(thread_id=thread.id, order="asc").data
        assert [m.role for m in messages] == ["user", "assistant"]
        assert messages[1].content[0].text.value.strip() == " ".join(["slow"] * 60)
