"""OpenTelemetry spans: a request, the turn it starts and the model call, in the client's trace."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from callisto import telemetry
from callisto.testing._server import ThreadedServer
from callisto.testing.fake_llm import FakeLLM, Reply
from tests.integration.conftest import sdk_client
from tests.integration.helpers import WEATHER_TOOL

pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind

_EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    """The in-memory exporter behind the process's tracer provider (set once per process)."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)
    return _EXPORTER


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    exporter.clear()
    yield exporter


TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
PARENT_ID = 0xB7AD6B7169203331
TRACEPARENT = f"00-{TRACE_ID:032x}-{PARENT_ID:016x}-01"


def test_a_run_is_traced_in_the_clients_trace(
    server: ThreadedServer, fake_llm: FakeLLM, spans: InMemorySpanExporter
) -> None:
    fake_llm.script(Reply.tool_calls(("get_weather", {"city": "Oslo"})))
    client = sdk_client(server.url)
    assistant = client.beta.assistants.create(model="fake/fake-model", tools=[WEATHER_TOOL])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Oslo weather?"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant.id,
        extra_headers={"traceparent": TRACEPARENT},
    )
    assert run.status == "requires_action"
    finished = spans.get_finished_spans()
    in_trace = [s for s in finished if s.context is not None and s.context.trace_id == TRACE_ID]

    # The request's span (FastAPI's), continuing the client's trace.
    (request,) = [
        s
        for s in in_trace
        if s.kind == SpanKind.SERVER and (s.attributes or {}).get("http.request.method") == "POST"
    ]
    assert (request.attributes or {})["http.route"] == "/v1/threads/{thread_id}/runs"
    assert request.parent is not None and request.parent.span_id == PARENT_ID

    (turn,) = [s for s in in_trace if s.name.startswith("invoke_agent")]
    # Started by the request (its task begins inside the request's endpoint span).
    assert request.context.span_id in _ancestors(turn, in_trace)  # type: ignore[union-attr]
    attributes = dict(turn.attributes or {})
    assert attributes["gen_ai.operation.name"] == "invoke_agent"
    assert attributes["gen_ai.request.model"] == "fake/fake-model"
    assert attributes["gen_ai.conversation.id"] == thread.id
    assert attributes["gen_ai.agent.id"] == assistant.id
    assert attributes["callisto.run.id"] == run.id
    assert attributes["gen_ai.usage.input_tokens"] > 0

    (chat,) = [s for s in in_trace if s.name == "chat fake-model"]
    assert chat.kind == SpanKind.CLIENT
    assert _parent(chat) == turn.context.span_id  # type: ignore[union-attr]
    attributes = dict(chat.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "fake-model"
    assert attributes["gen_ai.provider.name"] == "fake"
    assert attributes["gen_ai.usage.input_tokens"] > 0
    assert attributes["gen_ai.usage.output_tokens"] > 0
    assert attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)


def test_a_failed_model_call_is_an_error_span(
    server: ThreadedServer, fake_llm: FakeLLM, spans: InMemorySpanExporter
) -> None:
    fake_llm.script(Reply.error(400, "the model refuses"))
    client = sdk_client(server.url)
    assistant = client.beta.assistants.create(model="fake/fake-model")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "failed"
    chats = [s for s in spans.get_finished_spans() if s.name == "chat fake-model"]
    assert len(chats) == 1
    assert chats[0].status.status_code == trace.StatusCode.ERROR


def _parent(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def _ancestors(span: ReadableSpan, spans: list[ReadableSpan]) -> list[int]:
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    found: list[int] = []
    parent = _parent(span)
    while parent is not None:
        found.append(parent)
        above = by_id.get(parent)
        parent = None if above is None else _parent(above)
    return found


def test_everything_works_without_opentelemetry(
    server: ThreadedServer,
    fake_llm: FakeLLM,
    spans: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without OpenTelemetry (older FastAPI does not bring it), runs go on and nothing is traced."""
    monkeypatch.setattr(telemetry, "otel_trace", None)
    fake_llm.script(Reply.tool_calls(("get_weather", {"city": "Oslo"})), Reply.text("Cold."))
    client = sdk_client(server.url)
    assistant = client.beta.assistants.create(model="fake/fake-model", tools=[WEATHER_TOOL])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Oslo weather?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "requires_action"
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        thread_id=thread.id,
        run_id=run.id,
        tool_outputs=[
            {
                "tool_call_id": run.required_action.submit_tool_outputs.tool_calls[0].id,
                "output": "3C",
            }
        ],
    )
    assert run.status == "completed"
    names = [s.name for s in spans.get_finished_spans()]
    assert not any(n.startswith(("invoke_agent", "chat ")) for n in names)
