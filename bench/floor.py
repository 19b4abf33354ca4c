"""The floor server: Callisto's traffic with none of its work, to measure Callisto against.

It answers the requests of the benchmark's workloads (create an assistant and a thread; create
a run, streamed or not; poll it; submit tool outputs, streamed or not; cancel) with the same
server-sent events, in the same order and shapes, as ``callisto serve``, and makes the same
streamed Chat Completions calls upstream, but keeps its state in dicts: no database, no
validation, no event log, no retries. Uvicorn serves it as it serves Callisto (uvloop and
httptools when installed), and one keep-alive aiohttp session (the library of Callisto's upstream
client) reads every upstream body to its end.

Whatever Callisto costs above this server is Callisto's own work; the workloads report each
figure as a ratio to it beside the direct baseline. :func:`check` runs one conversation of each
kind through both and compares requests, events and upstream bodies, so the floor cannot drift
from what Callisto sends::

    python -m bench.floor --port 8002 --model-url http://127.0.0.1:8001
    python -m bench.floor --check        # compare with the working tree's Callisto
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import secrets
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

POLL_AFTER_MS = "10"


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class Floor:
    """The null server's state and routes."""

    def __init__(self, model_url: str) -> None:
        """Call the Chat Completions API at ``model_url`` (``http://host:port``)."""
        self.upstream = model_url + "/v1/chat/completions"
        self.http: aiohttp.ClientSession | None = None
        self.assistants: dict[str, dict[str, Any]] = {}
        self.threads: dict[str, list[dict[str, Any]]] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.app = Starlette(
            routes=[
                Route("/health", self.health),
                Route("/v1/assistants", self.create_assistant, methods=["POST"]),
                Route("/v1/threads", self.create_thread, methods=["POST"]),
                Route("/v1/threads/{tid}/runs", self.create_run, methods=["POST"]),
                Route("/v1/threads/{tid}/runs/{rid}", self.get_run),
                Route(
                    "/v1/threads/{tid}/runs/{rid}/submit_tool_outputs",
                    self.submit,
                    methods=["POST"],
                ),
                Route("/v1/threads/{tid}/runs/{rid}/cancel", self.cancel, methods=["POST"]),
            ],
            lifespan=self.lifespan,
        )

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Any) -> AsyncIterator[None]:
        """Open the upstream client for the server's life."""
        connector = aiohttp.TCPConnector(limit=1024)
        timeout = aiohttp.ClientTimeout(total=300)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as self.http:
            yield

    async def health(self, _request: Request) -> Response:
        """Answer 200."""
        return JSONResponse({"status": "ok"})

    async def create_assistant(self, request: Request) -> Response:
        """Keep the assistant as given."""
        body = await request.json()
        tools = body.get("tools") or []
        assistant = {
            "id": _id("asst"),
            "object": "assistant",
            "created_at": int(time.time()),
            "name": body.get("name"),
            "description": None,
            "model": body["model"],
            "instructions": None,
            "tools": tools,
            "metadata": {},
            "tool_resources": None,
            "temperature": None,
            "top_p": None,
            "response_format": "auto",
        }
        self.assistants[assistant["id"]] = assistant
        return JSONResponse(assistant)

    async def create_thread(self, request: Request) -> Response:
        """Keep the thread's messages as chat messages."""
        body = await request.json()
        thread_id = _id("thread")
        self.threads[thread_id] = [
            {"role": m["role"], "content": m["content"]} for m in body.get("messages") or []
        ]
        thread = {
            "id": thread_id,
            "object": "thread",
            "created_at": int(time.time()),
            "tool_resources": None,
            "metadata": {},
        }
        return JSONResponse(thread)

    async def create_run(self, request: Request) -> Response:
        """Start a run: stream its turn, or answer the queued run and run the turn aside."""
        body = await request.json()
        tid = request.path_params["tid"]
        assistant = self.assistants[body["assistant_id"]]
        now = int(time.time())
        run = {
            "id": _id("run"),
            "object": "thread.run",
            "created_at": now,
            "thread_id": tid,
            "assistant_id": assistant["id"],
            "status": "queued",
            "required_action": None,
            "last_error": None,
            "expires_at": now + 600,
            "started_at": None,
            "cancelled_at": None,
            "failed_at": None,
            "completed_at": None,
            "incomplete_details": None,
            "model": assistant["model"],
            "instructions": None,
            "tools": assistant["tools"],
            "metadata": {},
            "usage": None,
            "max_prompt_tokens": None,
            "max_completion_tokens": None,
            "truncation_strategy": {"type": "auto", "last_messages": None},
            "tool_choice": "auto",
            "parallel_tool_calls": True,
            "response_format": "auto",
            "temperature": None,
            "top_p": None,
            "reasoning_effort": None,
        }
        self.runs[run["id"]] = {"run": run, "seq": itertools.count(1), "step": None}
        first = [("thread.run.created", dict(run))]
        return self._answer(body, run["id"], first, dict(run))

    async def get_run(self, request: Request) -> Response:
        """Return the run as it is now."""
        run = self.runs[request.path_params["rid"]]["run"]
        return JSONResponse(run, headers={"openai-poll-after-ms": POLL_AFTER_MS})

    async def cancel(self, request: Request) -> Response:
        """Mark the run cancelled."""
        run = self.runs[request.path_params["rid"]]["run"]
        run.update(status="cancelled", required_action=None, cancelled_at=int(time.time()))
        return JSONResponse(run)

    async def submit(self, request: Request) -> Response:
        """Add the outputs to the thread and run the next turn."""
        body = await request.json()
        state = self.runs[request.path_params["rid"]]
        run, step = state["run"], state["step"]
        outputs = {o["tool_call_id"]: o["output"] for o in body["tool_outputs"]}
        history = self.threads[run["thread_id"]]
        for call in step["step_details"]["tool_calls"]:
            call["function"]["output"] = outputs[call["id"]]
            history.append(
                {"role": "tool", "content": outputs[call["id"]], "tool_call_id": call["id"]}
            )
        step.update(status="completed", completed_at=int(time.time()))
        run.update(status="queued", required_action=None)
        return self._answer(body, run["id"], [("thread.run.step.completed", step)], dict(run))

    def _answer(
        self,
        body: dict[str, Any],
        run_id: str,
        first: list[tuple[str, dict[str, Any]]],
        now: dict[str, Any],
    ) -> Response:
        events = self._turn(run_id, first)
        if body.get("stream"):
            return StreamingResponse(
                self._sse(run_id, events),
                media_type="text/event-stream",
                headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
            )
        task = asyncio.create_task(self._drain(events))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return JSONResponse(now, headers={"openai-poll-after-ms": POLL_AFTER_MS})

    async def _drain(self, events: AsyncIterator[tuple[str, dict[str, Any]]]) -> None:
        async for _ in events:
            pass

    async def _sse(
        self, run_id: str, events: AsyncIterator[tuple[str, dict[str, Any]]]
    ) -> AsyncIterator[str]:
        seq = self.runs[run_id]["seq"]
        async for event, data in events:
            yield f"id: {next(seq)}\nevent: {event}\ndata: {_dumps(data)}\n\n"
        yield "event: done\ndata: [DONE]\n\n"

    async def _turn(
        self, run_id: str, first: list[tuple[str, dict[str, Any]]]
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Yield a turn's events: call the model once, relay its stream, come to rest."""
        state = self.runs[run_id]
        run = state["run"]
        for event in first:
            yield event
        yield "thread.run.queued", dict(run)
        now = int(time.time())
        run.update(status="in_progress", started_at=run["started_at"] or now)
        yield "thread.run.in_progress", dict(run)
        history = self.threads[run["thread_id"]]
        request = self._chat_request(run, history)
        step: dict[str, Any] | None = None
        message: dict[str, Any] | None = None
        calls: list[dict[str, Any]] = []
        text: list[str] = []
        assert self.http is not None
        async with self.http.post(self.upstream, json=request) as response:
            async for raw in response.content:  # lines, to the body's end
                line = raw.decode().rstrip("\r\n")
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if chunk.get("usage"):
                    used = state.get("usage") or {}
                    state["usage"] = {
                        k: used.get(k, 0) + chunk["usage"][k]
                        for k in ("prompt_tokens", "completion_tokens", "total_tokens")
                    }
                if not chunk.get("choices"):
                    continue
                delta = chunk["choices"][0].get("delta") or {}
                for fragment in delta.get("tool_calls") or []:
                    if step is None:
                        step = self._step(run, {"type": "tool_calls", "tool_calls": []})
                        state["step"] = step
                        yield "thread.run.step.created", dict(step)
                        yield "thread.run.step.in_progress", dict(step)
                    out = self._call_delta(calls, fragment)
                    yield "thread.run.step.delta", self._step_delta(step, out)
                if delta.get("content"):
                    if message is None:
                        message, step = self._message(run)
                        yield "thread.run.step.created", dict(step)
                        yield "thread.run.step.in_progress", dict(step)
                        yield "thread.message.created", dict(message)
                        yield "thread.message.in_progress", dict(message)
                    text.append(delta["content"])
                    yield "thread.message.delta", self._text_delta(message, delta["content"])
        now = int(time.time())
        if calls and step is not None:
            tool_calls = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["args"]},
                }
                for c in calls
            ]
            history.append({"role": "assistant", "content": None, "tool_calls": tool_calls})
            step["step_details"]["tool_calls"] = [
                {**c, "function": {**c["function"], "output": None}} for c in tool_calls
            ]
            action = {
                "type": "submit_tool_outputs",
                "submit_tool_outputs": {"tool_calls": tool_calls},
            }
            run.update(status="requires_action", required_action=action)
            yield "thread.run.requires_action", dict(run)
            return
        if message is not None and step is not None:
            value = "".join(text)
            history.append({"role": "assistant", "content": value})
            message.update(
                status="completed",
                completed_at=now,
                content=[{"type": "text", "text": {"value": value, "annotations": []}}],
            )
            yield "thread.message.completed", message
            step.update(status="completed", completed_at=now)
            yield "thread.run.step.completed", step
        run.update(status="completed", completed_at=now, expires_at=None, usage=state["usage"])
        yield "thread.run.completed", dict(run)

    @staticmethod
    def _chat_request(run: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
        """Return the Chat Completions body Callisto sends for ``run`` (key order aside)."""
        request: dict[str, Any] = {
            "model": run["model"].split("/", 1)[1],
            "messages": history,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        tools = [
            {
                "type": "function",
                "function": {
                    "name": t["function"]["name"],
                    "parameters": t["function"]["parameters"],
                    "description": t["function"]["description"],
                },
            }
            for t in run["tools"]
        ]
        if tools:
            request |= {"tools": tools, "tool_choice": "auto", "parallel_tool_calls": True}
        return request

    @staticmethod
    def _call_delta(calls: list[dict[str, Any]], fragment: dict[str, Any]) -> dict[str, Any]:
        """Note a streamed tool-call fragment; return it as a run step delta's tool call."""
        function = fragment.get("function") or {}
        index = fragment.get("index", 0)
        arguments = function.get("arguments") or ""
        if index == len(calls):
            calls.append({"id": _id("call"), "name": function["name"], "args": arguments})
            return {
                "index": index,
                "id": calls[index]["id"],
                "type": "function",
                "function": {"name": function["name"], "arguments": arguments, "output": None},
            }
        calls[index]["args"] += arguments
        return {"index": index, "type": "function", "function": {"arguments": arguments}}

    @staticmethod
    def _step(run: dict[str, Any], details: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": _id("step"),
            "object": "thread.run.step",
            "created_at": int(time.time()),
            "assistant_id": run["assistant_id"],
            "thread_id": run["thread_id"],
            "run_id": run["id"],
            "type": details["type"],
            "status": "in_progress",
            "step_details": details,
            "last_error": None,
            "expired_at": None,
            "cancelled_at": None,
            "failed_at": None,
            "completed_at": None,
            "metadata": {},
            "usage": None,
        }

    @staticmethod
    def _step_delta(step: dict[str, Any], call: dict[str, Any]) -> dict[str, Any]:
        details = {"type": "tool_calls", "tool_calls": [call]}
        return {
            "id": step["id"],
            "object": "thread.run.step.delta",
            "delta": {"step_details": details},
        }

    def _message(self, run: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        message_id = _id("msg")
        step = self._step(
            run, {"type": "message_creation", "message_creation": {"message_id": message_id}}
        )
        message = {
            "id": message_id,
            "object": "thread.message",
            "created_at": int(time.time()),
            "thread_id": run["thread_id"],
            "status": "in_progress",
            "incomplete_details": None,
            "completed_at": None,
            "incomplete_at": None,
            "role": "assistant",
            "content": [],
            "assistant_id": run["assistant_id"],
            "run_id": run["id"],
            "attachments": [],
            "metadata": {},
        }
        return message, step

    @staticmethod
    def _text_delta(message: dict[str, Any], value: str) -> dict[str, Any]:
        content = [{"index": 0, "type": "text", "text": {"value": value, "annotations": []}}]
        return {
            "id": message["id"],
            "object": "thread.message.delta",
            "delta": {"content": content},
        }


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the floor until interrupted, or (``--check``) compare its traffic with Callisto's."""
    parser = argparse.ArgumentParser(description="The benchmark's floor server.")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--model-url", default="http://127.0.0.1:8001")
    parser.add_argument("--check", action="store_true", help="compare with Callisto's traffic")
    args = parser.parse_args(argv)
    if args.check:
        from bench import launch
        from bench.floor_check import check

        differences = check(launch.from_working_tree("after"))
        print("\n".join(differences) or "the floor speaks Callisto's traffic")
        return 1 if differences else 0
    import uvicorn

    uvicorn.run(
        Floor(args.model_url).app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        backlog=4096,
    )
    return 0


@contextlib.contextmanager
def server(model_url: str) -> Iterator[Any]:
    """Run the floor in its own process against the model at ``model_url``; yield it."""
    from bench import launch

    port = launch.free_port()
    argv = [sys.executable, "-m", "bench.floor", "--port", str(port), "--model-url", model_url]
    process = launch.spawn("floor", argv, f"http://127.0.0.1:{port}")
    try:
        process.wait_ready("/health")
        yield process
    finally:
        process.stop()


if __name__ == "__main__":
    raise SystemExit(main())
