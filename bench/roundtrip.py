"""Workload 1, the round trip: one run with one tool call, through the official SDK.

create -> ``requires_action`` -> submit the output -> ``completed``, two ways: streamed
(``runs.stream`` then ``submit_tool_outputs_stream``) and polled (``create_and_poll`` then
``submit_tool_outputs_and_poll``). The baseline is the same conversation straight to the fake
model with the SDK's ``chat.completions.create(stream=True)``. Iterations of the three are
interleaved so that noise from the machine falls on all of them alike.

The thread holding the question is created before the clock starts (the baseline starts with the
question in hand too); its creation is timed apart and reported as ``thread_ms``.
"""

from __future__ import annotations

import json
import time
import warnings
from typing import Any

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


def run(db: str, database_url: str, *, quick: bool) -> list[dict[str, Any]]:
    """Measure the round trip at fake latencies 0 and 200 ms on one database."""
    import openai

    rows: list[dict[str, Any]] = []
    for latency in (0, 200):
        count = (20 if latency == 0 else 5) if quick else (100 if latency == 0 else 20)
        budget = 30.0 if quick else 120.0
        with (
            launch.fake_model(ttft_ms=latency, tokens=20) as fake,
            launch.callisto(database_url, fake.url) as server,
        ):
            direct = openai.OpenAI(base_url=fake.url + "/v1", api_key="bench", max_retries=0)
            ours = openai.OpenAI(base_url=server.url + "/v1", api_key="bench", max_retries=0)
            assistant = ours.beta.assistants.create(model="fake/x", tools=[TOOL])  # type: ignore[list-item]
            samples: dict[str, list[float]] = {
                "baseline": [],
                "stream": [],
                "poll": [],
                "thread": [],
            }
            poll_after = _poll_after_ms(ours, _thread(ours, samples), assistant.id)
            samples["thread"].clear()
            for _ in range(3):  # warm up connections, caches and the database
                _direct(direct)
                _streamed(ours, _thread(ours, samples), assistant.id)
            samples["thread"].clear()
            deadline = time.monotonic() + budget
            for _ in range(count):
                if time.monotonic() > deadline:
                    break
                samples["baseline"].append(_direct(direct))
                samples["stream"].append(_streamed(ours, _thread(ours, samples), assistant.id))
                samples["poll"].append(_polled(ours, _thread(ours, samples), assistant.id))
            direct.close()
            ours.close()
        base = samples["baseline"]
        for variant in ("stream", "poll"):
            ms = [s * 1000 for s in samples[variant]]
            base_ms = [s * 1000 for s in base]
            rows.append(
                {
                    "workload": "roundtrip",
                    "db": db,
                    "variant": "SDK stream" if variant == "stream" else "SDK create_and_poll",
                    "latency_ms": latency,
                    "n": len(ms),
                    "callisto": quantiles(ms),
                    "baseline": quantiles(base_ms),
                    "added": added(ms, base_ms),
                    "ratio_p50": quantiles(ms)["p50"] / quantiles(base_ms)["p50"],
                    "thread_ms": quantiles([s * 1000 for s in samples["thread"]]),
                    "poll_after_ms": poll_after,
                }
            )
        print(_line(rows[-2]))
        print(_line(rows[-1]))
    return rows


def _thread(client: Any, samples: dict[str, list[float]]) -> str:
    started = time.perf_counter()
    thread = client.beta.threads.create(messages=[{"role": "user", "content": QUESTION}])
    samples["thread"].append(time.perf_counter() - started)
    return str(thread.id)


def _line(row: dict[str, Any]) -> str:
    a = row["added"]
    return (
        f"  roundtrip {row['db']:<8} {row['variant']:<20} latency {row['latency_ms']:>3} ms  "
        f"n={row['n']:<4} added p50 {a['p50']:7.1f}  p95 {a['p95']:7.1f}  p99 {a['p99']:7.1f} ms  "
        f"x{row['ratio_p50']:.2f}"
    )
