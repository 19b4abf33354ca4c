"""A lean async HTTP client for the load workloads: one conversation via Callisto or direct.

The concurrency and streaming workloads drive hundreds of conversations from one process, so
they speak raw HTTP with a minimal server-sent-events reader instead of the SDK, the same way on
both sides: through Callisto (Assistants API, streamed) and directly to the model (Chat
Completions, streamed). The client's own cost is then small and equal on both sides, and what
remains between them is Callisto's.

The conversation is the function-calling round trip: the user asks, the model calls
``get_weather``, the client answers with the tool's output, the model answers in text.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from callisto.demo import TOOLS

QUESTION = "What is the weather in Tokyo?"
TOOL_OUTPUT = json.dumps({"city": "Tokyo", "temperature": "22C", "conditions": "sunny"})
TOOL: dict[str, Any] = TOOLS[1]  # get_weather(city), the demo's own tool

OnText = Callable[[str, int], None]
"""Called with each text delta and the ``time.monotonic_ns()`` of its arrival."""


class ConversationFailed(Exception):
    """A conversation did not end as expected."""


def http_client(connections: int) -> httpx.AsyncClient:
    """Return an async client with room for ``connections`` streams at once."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(300.0))


async def sse(response: httpx.Response) -> AsyncIterator[tuple[str, str, int]]:
    """Yield ``(event, data, arrival_ns)`` for each server-sent event of ``response``."""
    event, data = "message", ""
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            data = line[5:].lstrip()
            arrived = time.monotonic_ns()
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif not line and data:
            yield event, data, arrived
            event, data = "message", ""


class ViaCallisto:
    """Conversations through a Callisto server, streamed as the Assistants API streams them."""

    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        """Use ``http`` to talk to the server at ``base_url`` (``http://host:port``)."""
        self.http = http
        self.api = base_url + "/v1"
        self.assistant_id = ""

    async def setup(self, *, tools: bool = True) -> None:
        """Create the assistant the conversations run with."""
        body = {"model": "fake/x", "name": "bench", "tools": [TOOL] if tools else []}
        response = await self.http.post(f"{self.api}/assistants", json=body)
        response.raise_for_status()
        self.assistant_id = response.json()["id"]

    async def new_thread(self) -> str:
        """Create a thread holding the user's question; return its id."""
        body = {"messages": [{"role": "user", "content": QUESTION}]}
        response = await self.http.post(f"{self.api}/threads", json=body)
        response.raise_for_status()
        thread_id: str = response.json()["id"]
        return thread_id

    async def _stream(
        self, url: str, body: dict[str, Any], on_text: OnText | None
    ) -> tuple[str, dict[str, Any]]:
        async with self.http.stream("POST", url, json=body) as response:
            if response.status_code != 200:
                await response.aread()
                raise ConversationFailed(f"{response.status_code} {response.text[:300]}")
            async for event, data, arrived in sse(response):
                if event == "thread.message.delta":
                    if on_text is not None:
                        delta = json.loads(data)["delta"]["content"][0]["text"]["value"]
                        on_text(delta, arrived)
                elif event in ("thread.run.requires_action", "thread.run.completed"):
                    return event, json.loads(data)
                elif event in ("error", "thread.run.failed", "thread.run.expired"):
                    raise ConversationFailed(f"{event}: {data[:300]}")
        raise ConversationFailed("the stream ended without a resting state")

    async def round_trip(self, thread_id: str, on_text: OnText | None = None) -> float:
        """Run one tool round trip on ``thread_id``; return seconds from create to completed."""
        started = time.perf_counter()
        body = {"assistant_id": self.assistant_id, "stream": True}
        event, run = await self._stream(f"{self.api}/threads/{thread_id}/runs", body, on_text)
        if event == "thread.run.requires_action":
            calls = run["required_action"]["submit_tool_outputs"]["tool_calls"]
            outputs = [{"tool_call_id": c["id"], "output": TOOL_OUTPUT} for c in calls]
            url = f"{self.api}/threads/{thread_id}/runs/{run['id']}/submit_tool_outputs"
            event, run = await self._stream(url, {"tool_outputs": outputs, "stream": True}, on_text)
        if event != "thread.run.completed":
            raise ConversationFailed(f"the run ended {event}")
        return time.perf_counter() - started

    async def conversation(self, on_text: OnText | None = None) -> float:
        """A new thread (not timed) and one round trip on it (timed)."""
        return await self.round_trip(await self.new_thread(), on_text)


class Direct:
    """The same conversation straight to the model with Chat Completions: the baseline."""

    def __init__(self, http: httpx.AsyncClient, model_url: str, *, tools: bool = True) -> None:
        """Use ``http`` to talk to the fake model at ``model_url`` (``http://host:port``)."""
        self.http = http
        self.url = model_url + "/v1/chat/completions"
        self.tools = [TOOL] if tools else []

    async def _complete(
        self, messages: list[dict[str, Any]], on_text: OnText | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"model": "x", "messages": messages, "stream": True}
        if self.tools:
            body["tools"] = self.tools
        calls: dict[int, dict[str, Any]] = {}
        text: list[str] = []
        async with self.http.stream("POST", self.url, json=body) as response:
            if response.status_code != 200:
                await response.aread()
                raise ConversationFailed(f"{response.status_code} {response.text[:300]}")
            async for _, data, arrived in sse(response):
                if data == "[DONE]":
                    break
                choices = json.loads(data).get("choices") or [{}]
                delta = choices[0].get("delta") or {}
                if delta.get("content"):
                    text.append(delta["content"])
                    if on_text is not None:
                        on_text(delta["content"], arrived)
                for fragment in delta.get("tool_calls") or []:
                    call = calls.setdefault(fragment.get("index", 0), {"arguments": ""})
                    function = fragment.get("function") or {}
                    call.setdefault("id", fragment.get("id"))
                    call.setdefault("name", function.get("name"))
                    call["arguments"] += function.get("arguments") or ""
        message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
        if calls:
            message["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for c in calls.values()
            ]
        return message

    async def conversation(self, on_text: OnText | None = None) -> float:
        """Run the round trip; return its seconds."""
        started = time.perf_counter()
        messages: list[dict[str, Any]] = [{"role": "user", "content": QUESTION}]
        reply = await self._complete(messages, on_text)
        if reply.get("tool_calls"):
            messages.append(reply)
            for call in reply["tool_calls"]:
                messages.append(
                    {"role": "tool", "tool_call_id": call["id"], "content": TOOL_OUTPUT}
                )
            reply = await self._complete(messages, on_text)
        if not reply.get("content"):
            raise ConversationFailed("the model gave no answer")
        return time.perf_counter() - started
