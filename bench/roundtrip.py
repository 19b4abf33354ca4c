"""Workload 1, the round trip: one run with one tool call, through the official SDK.

create -> ``requires_action`` -> submit the output -> ``completed``, two ways: streamed
(``runs.stream`` then ``submit_tool_outputs_stream``) and polled (``create_and_poll`` then
``submit_tool_outputs_and_poll``). The baseline is the same conversation straight to the fake
model with the SDK's ``chat.completions.create(stream=True)``. Iterations of the three are
interleaved so that noise from the machine falls on all of them alike; with a "before" server,
each round runs the baseline, then both servers, in alternating order.

On PostgreSQL, :func:`db_work` also counts each server's database work per conversation
(commits, rows written) from ``pg_stat_database``.

The thread holding the question is created before the clock starts (the baseline starts with the
question in hand too); its creation is timed apart and reported as ``thread_ms``.

Each server's CPU time (user and system, from ``/proc``) is read around each of its
conversations, thread creation included, and reported as ``server_cpu_ms``: the mean per
conversation, since the kernel counts CPU time in ticks of 10 ms. Background work that falls
inside a conversation (the sweeper, lease renewal) counts too.
"""

from __future__ import annotations

import json
import time
import warnings
from typing import Any

import psutil

from bench import launch
from bench.client import QUESTION, TOOL, TOOL_OUTPUT
from bench.measure import added, quantiles

warnings.filterwarnings("ignore", category=DeprecationWarning)


def _direct(client: Any) -> float:
    started = time.perf_counter()
    messages: list[dict[str, Any]] = [{"role": "user", "content": QUESTION}]
    for _ in range(2):
        stream = client.chat.completions.create(
            model="x", messages=messages, tools=[TOOL], stream=True
        )
        calls: dict[int, dict[str, str]] = {}
        text = []
        for chunk in stream:
            delta = chunk.choices[0].delta if chunk.choices else None
            if delta is None:
                continue
            if delta.content:
                text.append(delta.content)
            for fragment in delta.tool_calls or []:
                call = calls.setdefault(fragment.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = call["id"] or fragment.id or ""
                if fragment.function is not None:
                    call["name"] = call["name"] or fragment.function.name or ""
                    call["arguments"] += fragment.function.arguments or ""
        if not calls:
            break
        tool_calls = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"]},
            }
            for c in calls.values()
        ]
        messages.append({"role": "assistant", "content": None, "tool_calls": tool_calls})
        for c in calls.values():
            json.loads(c["arguments"])
            messages.append({"role": "tool", "tool_call_id": c["id"], "content": TOOL_OUTPUT})
    assert text, "the direct conversation gave no answer"
    return time.perf_counter() - started


def _streamed(client: Any, thread_id: str, assistant_id: str) -> float:
    runs = client.beta.threads.runs
    started = time.perf_counter()
    run = None
    with runs.stream(thread_id=thread_id, assistant_id=assistant_id) as stream:
        for event in stream:
            if event.event == "thread.run.requires_action":
                run = event.data
    assert run is not None, "the run did not ask for tool outputs"
    outputs = [
        {"tool_call_id": c.id, "output": TOOL_OUTPUT}
        for c in run.required_action.submit_tool_outputs.tool_calls
    ]
    last = None
    with runs.submit_tool_outputs_stream(
        thread_id=thread_id, run_id=run.id, tool_outputs=outputs
    ) as stream:
        for event in stream:
            last = event.event
    assert last == "thread.run.completed", f"the run ended with {last}"
    return time.perf_counter() - started


def _polled(client: Any, thread_id: str, assistant_id: str) -> float:
    runs = client.beta.threads.runs
    started = time.perf_counter()
    run = runs.create_and_poll(thread_id=thread_id, assistant_id=assistant_id)
    assert run.status == "requires_action", run.status
    outputs = [
        {"tool_call_id": c.id, "output": TOOL_OUTPUT}
        for c in run.required_action.submit_tool_outputs.tool_calls
    ]
    run = runs.submit_tool_outputs_and_poll(
        thread_id=thread_id, run_id=run.id, tool_outputs=outputs
    )
    assert run.status == "completed", run.status
    return time.perf_counter() - started


def _poll_after_ms(client: Any, thread_id: str, assistant_id: str) -> int | None:
    """Return the ``openai-poll-after-ms`` a fresh run is served with (what the SDK waits)."""
    runs = client.beta.threads.runs
    raw = runs.with_raw_response.create(thread_id=thread_id, assistant_id=assistant_id)
    header = raw.headers.get("openai-poll-after-ms")
    run = raw.parse()
    if runs.poll(run.id, thread_id=thread_id).status == "requires_action":
        runs.cancel(thread_id=thread_id, run_id=run.id)
    return int(header) if header else None


def run(db: str, targets: list[launch.Target], *, quick: bool) -> list[dict[str, Any]]:
    """Measure the round trip at fake latencies 0 and 200 ms on one database, every server."""
    rows: list[dict[str, Any]] = []
    for latency in (0, 200):
        count = (20 if latency == 0 else 5) if quick else (100 if latency == 0 else 20)
        with (
            launch.fake_model(ttft_ms=latency, tokens=20) as fake,
            launch.servers(targets, fake.url) as servers,
        ):
            samples = _interleaved(fake.url, servers, count, 30.0 if quick else 120.0)
        for server in servers:
            rows += _rows(db, latency, server.side, samples["baseline"], samples[server.side])
            print(_line(rows[-2]))
            print(_line(rows[-1]))
    if all(t.database.name for t in targets):
        rows += db_work(db, targets, 10 if quick else 30)
    return rows


class _Side:
    """One server's SDK client, assistant and samples during the round trip."""

    def __init__(self, server: launch.Server) -> None:
        import openai

        self.side = server.side
        self.client = openai.OpenAI(
            base_url=server.process.url + "/v1", api_key="bench", max_retries=0
        )
        self.assistant = self.client.beta.assistants.create(model="fake/x", tools=[TOOL])  # type: ignore[list-item]
        self.process = psutil.Process(server.process.pid)
        self.samples: dict[str, Any] = {"stream": [], "poll": [], "thread": []}
        self.clear()
        thread = _thread(self.client, self.samples["thread"])
        self.samples["poll_after_ms"] = _poll_after_ms(self.client, thread, self.assistant.id)

    def clear(self) -> None:
        self.samples["thread"].clear()
        self.samples["cpu"] = {"stream": [], "poll": []}

    def _cpu(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def streamed(self) -> float:
        began = self._cpu()
        took = _streamed(
            self.client, _thread(self.client, self.samples["thread"]), self.assistant.id
        )
        self.samples["cpu"]["stream"].append(self._cpu() - began)
        return took

    def polled(self) -> float:
        began = self._cpu()
        took = _polled(self.client, _thread(self.client, self.samples["thread"]), self.assistant.id)
        self.samples["cpu"]["poll"].append(self._cpu() - began)
        return took


def _interleaved(
    model_url: str, servers: list[launch.Server], count: int, budget: float
) -> dict[str, Any]:
    """Run ``count`` rounds of baseline, then each server streamed and polled; bounded by time."""
    import openai

    direct = openai.OpenAI(base_url=model_url + "/v1", api_key="bench", max_retries=0)
    sides = [_Side(server) for server in servers]
    for _ in range(3):  # warm up connections, caches and the database
        _direct(direct)
        for side in sides:
            side.streamed()
    baseline: list[float] = []
    for side in sides:
        side.clear()
    deadline = time.monotonic() + budget
    for step in range(count):
        if time.monotonic() > deadline:
            break
        baseline.append(_direct(direct))
        for side in launch.in_turn(sides, step):
            side.samples["stream"].append(side.streamed())
            side.samples["poll"].append(side.polled())
    direct.close()
    for side in sides:
        side.client.close()
    return {"baseline": baseline, **{side.side: side.samples for side in sides}}


def _rows(
    db: str, latency: int, side: str, baseline: list[float], samples: dict[str, Any]
) -> list[dict[str, Any]]:
    base_ms = [s * 1000 for s in baseline]
    rows = []
    for variant in ("stream", "poll"):
        ms = [s * 1000 for s in samples[variant]]
        cpu = samples["cpu"][variant]
        rows.append(
            {
                "workload": "roundtrip",
                "db": db,
                "server": side,
                "variant": "SDK stream" if variant == "stream" else "SDK create_and_poll",
                "latency_ms": latency,
                "n": len(ms),
                "callisto": quantiles(ms),
                "baseline": quantiles(base_ms),
                "added": added(ms, base_ms),
                "ratio_p50": quantiles(ms)["p50"] / quantiles(base_ms)["p50"],
                "thread_ms": quantiles([s * 1000 for s in samples["thread"]]),
                "poll_after_ms": samples["poll_after_ms"],
                "server_cpu_ms": 1000 * sum(cpu) / len(cpu) if cpu else float("nan"),
            }
        )
    return rows


def db_work(db: str, targets: list[launch.Target], conversations: int) -> list[dict[str, Any]]:
    """Count each server's PostgreSQL work per streamed round trip, from the database's statistics.

    Each server is started twice on its own database, once for 2 conversations and once for
    ``2 + conversations``, and stopped each time so its sessions flush their statistics; the
    difference of the two deltas, divided by ``conversations``, leaves out what a start, the
    assistant and a stop cost. The expiry sweeper is slowed to once an hour so that its
    once-a-second transaction does not count.
    """
    rows: list[dict[str, Any]] = []
    with launch.fake_model(ttft_ms=0, tokens=20) as fake:
        for target in targets:
            small = _db_delta(target, fake.url, 2)
            big = _db_delta(target, fake.url, 2 + conversations)
            per = {key: (big[key] - small[key]) / conversations for key in big}
            rows.append(
                {
                    "workload": "dbwork",
                    "db": db,
                    "server": target.side,
                    "conversations": conversations,
                    "per_conversation": per,
                }
            )
            print(
                f"  dbwork    {db:<8} {target.side:<6} per conversation: "
                + ", ".join(f"{k} {v:.1f}" for k, v in per.items())
            )
    return rows


def _db_delta(target: launch.Target, model_url: str, conversations: int) -> dict[str, int]:
    import openai

    database = target.database
    first = launch.pg_counters(database)
    slow_sweeper = {"CALLISTO_SWEEP_INTERVAL": "3600"}
    with launch.callisto(database.url, model_url, target.code, slow_sweeper) as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="bench", max_retries=0)
        assistant = client.beta.assistants.create(model="fake/x", tools=[TOOL])  # type: ignore[list-item]
        for _ in range(conversations):
            _streamed(client, _thread(client, []), assistant.id)
        client.close()
    last = launch.pg_counters(database)
    return {key: last[key] - first[key] for key in first}


def _thread(client: Any, samples: list[float]) -> str:
    started = time.perf_counter()
    thread = client.beta.threads.create(messages=[{"role": "user", "content": QUESTION}])
    samples.append(time.perf_counter() - started)
    return str(thread.id)


def _line(row: dict[str, Any]) -> str:
    a = row["added"]
    return (
        f"  roundtrip {row['db']:<8} {row['server']:<6} {row['variant']:<20} "
        f"latency {row['latency_ms']:>3} ms  n={row['n']:<4} added p50 {a['p50']:7.1f}  "
        f"p95 {a['p95']:7.1f}  p99 {a['p99']:7.1f} ms  x{row['ratio_p50']:.2f}  "
        f"CPU {row['server_cpu_ms']:5.1f} ms"
    )
