"""The floor's self-check: one conversation of each kind through Callisto and through the floor.

Both run against one in-process fake model that records every upstream request. The check
compares, per conversation: the HTTP status and JSON shape of every answer (of a polled run,
the one at rest), the names and order
of the server-sent events and the shape of each event's data, and the upstream Chat Completions
bodies. A *shape* keeps a JSON document's keys, list lengths and the types of its values, and
the values themselves where they carry meaning (``object``, ``status``, ``type``, ``role``,
names, arguments, outputs, text); ids and timestamps differ and are not compared. Upstream
bodies are compared whole, with the tool call ids (each server mints its own) replaced by their
order of appearance.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx

from bench import floor, launch
from bench.client import QUESTION, TOOL, TOOL_OUTPUT
from bench.fake_model import round_trip_responder

KEPT = {"object", "status", "type", "role", "name", "arguments", "output", "value", "content"}
CALL_ID = re.compile(r"call_[0-9a-z]+")


def shape(value: Any, key: str = "") -> Any:
    """Return ``value``'s shape (see the module docstring)."""
    if isinstance(value, dict):
        return {k: shape(v, k) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(v, key) for v in value]
    if key in KEPT and not isinstance(value, (dict, list)):
        return value
    return type(value).__name__


def _events(response: httpx.Response) -> list[tuple[str, Any]]:
    """Return the ``(event, data)`` pairs of a stream, data parsed (``[DONE]`` kept as is)."""
    out: list[tuple[str, Any]] = []
    event = ""
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data = line[5:].strip()
            out.append((event, data if data == "[DONE]" else json.loads(data)))
    return out


def _wait(http: httpx.Client, path: str, statuses: set[str]) -> Any:
    deadline = time.monotonic() + 30
    while True:
        run = http.get(path).json()
        if run["status"] in statuses or time.monotonic() > deadline:
            return run


def _outputs(run: dict[str, Any]) -> list[dict[str, str]]:
    calls = (run.get("required_action") or {}).get("submit_tool_outputs", {}).get("tool_calls")
    return [{"tool_call_id": c["id"], "output": TOOL_OUTPUT} for c in calls or []]


def traffic(url: str) -> dict[str, Any]:
    """Run a streamed, a polled and a tool-less conversation through ``url``; record them."""
    seen: dict[str, Any] = {}
    with httpx.Client(base_url=url + "/v1", timeout=30) as http:

        def post(name: str, path: str, body: dict[str, Any]) -> Any:
            response = http.post(path, json=body)
            seen[name] = (response.status_code, shape(response.json()))
            return response.json()

        def stream(name: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
            with http.stream("POST", path, json={**body, "stream": True}) as response:
                events = _events(response)
            seen[name] = (response.status_code, [(e, shape(d)) for e, d in events])
            rest = [d for e, d in events if e == "thread.run.requires_action"]
            return rest[0] if rest else {}

        tools = {"model": "fake/x", "name": "b", "tools": [TOOL]}
        assistant = post("assistant", "/assistants", tools)
        plain = post("assistant (no tools)", "/assistants", {"model": "fake/x", "name": "b"})
        question = {"messages": [{"role": "user", "content": QUESTION}]}

        thread = post("thread", "/threads", question)
        runs = f"/threads/{thread['id']}/runs"
        run = stream("run, streamed", runs, {"assistant_id": assistant["id"]})
        submit = f"{runs}/{run.get('id')}/submit_tool_outputs"
        stream("submit, streamed", submit, {"tool_outputs": _outputs(run)})

        thread = post("thread 2", "/threads", question)
        runs = f"/threads/{thread['id']}/runs"
        run = post("run, polled", runs, {"assistant_id": assistant["id"]})
        run_path = f"{runs}/{run['id']}"
        run = _wait(http, run_path, {"requires_action", "failed", "completed"})
        seen["run, polled: at rest"] = shape(run)
        post("submit, polled", f"{run_path}/submit_tool_outputs", {"tool_outputs": _outputs(run)})
        seen["submit, polled: at rest"] = shape(_wait(http, run_path, {"completed", "failed"}))

        thread = post("thread 3", "/threads", question)
        runs = f"/threads/{thread['id']}/runs"
        stream("run without tools, streamed", runs, {"assistant_id": plain["id"]})
    return seen


def _upstream(bodies: list[dict[str, Any]]) -> list[Any]:
    ids: dict[str, str] = {}

    def rename(match: re.Match[str]) -> str:
        return ids.setdefault(match.group(0), f"call#{len(ids)}")

    return [json.loads(CALL_ID.sub(rename, json.dumps(b, sort_keys=True))) for b in bodies]


def first_difference(ours: Any, theirs: Any, path: str = "") -> str | None:
    """Return where two JSON documents first differ and how, or ``None`` when they are equal."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for key in sorted(set(ours) | set(theirs)):
            if key not in ours or key not in theirs:
                return f"{path}.{key}: only in {'callisto' if key in ours else 'the floor'}"
            if found := first_difference(ours[key], theirs[key], f"{path}.{key}"):
                return found
        return None
    if isinstance(ours, (list, tuple)) and isinstance(theirs, (list, tuple)):
        for i, (a, b) in enumerate(zip(ours, theirs, strict=False)):
            if found := first_difference(a, b, f"{path}[{i}]"):
                return found
        if len(ours) != len(theirs):
            return f"{path}: {len(ours)} items from callisto, {len(theirs)} from the floor"
        return None
    if ours != theirs:
        return f"{path}: callisto {json.dumps(ours)[:300]}, the floor {json.dumps(theirs)[:300]}"
    return None


def _diff(name: str, ours: Any, theirs: Any) -> list[str]:
    found = first_difference(ours, theirs)
    return [f"{name}: {found}"] if found else []


def check(code: launch.Code) -> list[str]:
    """Return the differences between Callisto's traffic and the floor's (empty: the same)."""
    from callisto.testing.fake_llm import FakeLLM

    recorded: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    for name in ("callisto", "floor"):
        with (
            FakeLLM(default=round_trip_responder(5), models=("x",)) as llm,
            launch.database("sqlite") as db,
        ):
            model_url = llm.base_url.removesuffix("/v1")
            server = (
                launch.callisto(db.url, model_url, code)
                if name == "callisto"
                else floor.server(model_url)
            )
            with server as process:
                seen = traffic(process.url)
            recorded[name] = (seen, [r.body for r in llm.requests])
    ours, theirs = recorded["callisto"], recorded["floor"]
    out: list[str] = []
    for key in ours[0]:
        out += _diff(key, ours[0][key], theirs[0].get(key))
    out += _diff("upstream Chat Completions bodies", _upstream(ours[1]), _upstream(theirs[1]))
    return out
