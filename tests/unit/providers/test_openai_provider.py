"""The OpenAI-compatible adapter, against the fake LLM over real loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from pydantic import SecretStr

from callisto.config import ProviderSettings
from callisto.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
)
from callisto.providers.base import (
    ChatMessage,
    ChatRequest,
    CollectedReply,
    Finish,
    Provider,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    Usage,
    collect,
)
from callisto.providers.openai import OpenAIProvider, build_body
from callisto.testing.fake_llm import FakeLLM, Reply

KEY = "sk-test-secret-0123456789abcdef"
WEATHER = ToolSpec(
    name="get_weather",
    description="Weather of a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
HELLO = ChatRequest(model="fake-model", messages=(ChatMessage(role="user", content="Hello there"),))


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


@pytest.fixture
async def provider(llm: FakeLLM) -> AsyncIterator[OpenAIProvider]:
    llm.reset()
    settings = ProviderSettings(base_url=llm.base_url, api_key=SecretStr(KEY), timeout=2.0)
    provider = OpenAIProvider("fake", settings)
    yield provider
    await provider.aclose()
    assert llm.pending == 0, "a scripted reply was not used"


async def ask(provider: OpenAIProvider, request: ChatRequest = HELLO) -> CollectedReply:
    return await collect(provider.stream(request))


def test_is_a_provider() -> None:
    assert isinstance(OpenAIProvider("x", ProviderSettings()), Provider)


async def test_streams_text_and_usage(provider: OpenAIProvider, llm: FakeLLM) -> None:
    llm.script(Reply.text("Sunny and warm today", usage=(7, 4)))
    events = [e async for e in provider.stream(HELLO)]
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert texts == ["Sunny", " and", " warm", " today"]
    assert events[-2:] == [Usage(prompt_tokens=7, completion_tokens=4), Finish("stop")]


async def test_sends_the_request_as_openai_expects(provider: OpenAIProvider, llm: FakeLLM) -> None:
    call = ToolCall(id="call_1", name="get_weather", arguments='{"city": "Oslo"}')
    request = ChatRequest(
        model="fake-model",
        messages=(
            ChatMessage(role="system", content="Be brief."),
            ChatMessage(role="user", content="Weather in Oslo?"),
            ChatMessage(role="assistant", tool_calls=(call,)),
            ChatMessage(role="tool", tool_call_id="call_1", content="5C"),
        ),
        tools=(WEATHER,),
        forced_tool="get_weather",
        parallel_tool_calls=False,
        temperature=0.2,
        max_tokens=50,
        response_format={"type": "json_object"},
    )
    await ask(provider, request)
    sent = llm.requests[-1]
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.body["stream"] is True
    assert sent.body["stream_options"] == {"include_usage": True}
    assert sent.body["messages"][2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
            }
        ],
    }
    assert sent.body["messages"][3] == {"role": "tool", "tool_call_id": "call_1", "content": "5C"}
    assert sent.body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather of a city",
                "parameters": WEATHER.parameters,
            },
        }
    ]
    assert sent.body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent.body["parallel_tool_calls"] is False
    assert sent.body["max_tokens"] == 50 and "max_completion_tokens" not in sent.body
    assert sent.body["temperature"] == 0.2 and "top_p" not in sent.body
    assert sent.body["response_format"] == {"type": "json_object"}


def test_no_tool_options_without_tools() -> None:
    body = build_body(ChatRequest(model="m", messages=HELLO.messages, tool_choice="required"))
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & body.keys()
    strict = ToolSpec(name="f", strict=True)
    body = build_body(ChatRequest(model="m", messages=HELLO.messages, tools=(strict,)))
    assert body["tools"][0]["function"]["strict"] is True
    assert body["tool_choice"] == "auto" and body["parallel_tool_calls"] is True


async def test_request_key_overrides_configured_key(provider: OpenAIProvider, llm: FakeLLM) -> None:
    request = ChatRequest(model="fake-model", messages=HELLO.messages, api_key="sk-per-request")
    await ask(provider, request)
    assert llm.requests[-1].headers["authorization"] == "Bearer sk-per-request"


@pytest.mark.parametrize("style", ["openai", "repeat_ids", "whole", "no_index"])
async def test_parallel_tool_calls_in_every_style(
    provider: OpenAIProvider, llm: FakeLLM, style: str
) -> None:
    llm.script(
        Reply.tool_calls(
            ("get_weather", {"city": "Tokyo"}, "call_a"),
            ("get_weather", {"city": "Paris"}, "call_b"),
            style=style,  # type: ignore[arg-type]
            arg_chunk=5,
        )
    )
    events = [e async for e in provider.stream(HELLO)]
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    # id and name come once per call, on its first fragment, whatever the server repeats.
    assert [(d.index, d.id, d.name) for d in deltas if d.id or d.name] == [
        (0, "call_a", "get_weather"),
        (1, "call_b", "get_weather"),
    ]
    reply = await collect(_replay(events))
    assert reply.tool_calls == [
        ToolCall(id="call_a", name="get_weather", arguments='{"city": "Tokyo"}'),
        ToolCall(id="call_b", name="get_weather", arguments='{"city": "Paris"}'),
    ]
    assert reply.finish_reason == "tool_calls"


async def _replay(events: list[object]) -> AsyncIterator[ToolCallDelta | Finish]:
    for event in events:
        if isinstance(event, ToolCallDelta | Finish):
            yield event


async def test_stop_after_tool_calls_means_tool_calls(
    provider: OpenAIProvider, llm: FakeLLM
) -> None:
    llm.script(Reply.tool_calls(("get_weather", "{}"), text="Let me look.", finish_reason="stop"))
    reply = await ask(provider)
    assert reply.text == "Let me look."
    assert reply.tool_calls[0].id.startswith("call_")
    assert reply.finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("reply", "error", "message"),
    [
        (Reply.error(401, "bad key"), ProviderAuthError, "bad key"),
        (Reply.error(403, "forbidden"), ProviderAuthError, "forbidden"),
        (Reply.error(400, "messages[0] is broken"), ProviderBadRequest, "messages[0] is broken"),
        (Reply.error(404, "The model `x` does not exist"), ProviderBadRequest, "model `x` does"),
        (Reply.error(422, "unprocessable"), ProviderBadRequest, "unprocessable"),
        (Reply.error(500, "boom"), ProviderServerError, "boom"),
        (Reply.error(503, body="<html>overloaded</html>"), ProviderServerError, "overloaded"),
        (Reply.error(502, body={"detail": "bad gateway"}), ProviderServerError, "bad gateway"),
    ],
)
async def test_error_statuses(
    provider: OpenAIProvider,
    llm: FakeLLM,
    reply: Reply,
    error: type[ProviderError],
    message: str,
) -> None:
    llm.script(reply)
    with pytest.raises(error) as caught:
        await ask(provider)
    assert type(caught.value) is error
    assert caught.value.status == reply.status
    assert message in str(caught.value)
    assert not caught.value.retryable or reply.status >= 500


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [({"retry-after-ms": "1500"}, 1.5), ({"retry-after": "3"}, 3.0), ({}, None)],
)
async def test_rate_limited_honours_retry_after(
    provider: OpenAIProvider, llm: FakeLLM, headers: dict[str, str], seconds: float | None
) -> None:
    llm.script(Reply.error(429, "slow down", headers=headers))
    with pytest.raises(ProviderRateLimited) as caught:
        await ask(provider)
    assert caught.value.retry_after == seconds
    assert caught.value.retryable


async def test_key_never_in_error_even_when_echoed(provider: OpenAIProvider, llm: FakeLLM) -> None:
    llm.script(
        Reply.error(401, f"Incorrect API key provided: {KEY}."),
        Reply.error(400, f"bad request from key {KEY}"),
    )
    for expected in (ProviderAuthError, ProviderBadRequest):
        with pytest.raises(expected) as caught:
            await ask(provider)
        assert KEY not in str(caught.value) and KEY not in caught.value.message
        assert KEY not in repr(caught.value.args)
        assert "***" in str(caught.value)


async def test_per_request_key_is_redacted_too(llm: FakeLLM) -> None:
    with FakeLLM(api_key="the-right-key") as strict_llm:
        provider = OpenAIProvider("fake", ProviderSettings(base_url=strict_llm.base_url))
        request = ChatRequest(model="fake-model", messages=HELLO.messages, api_key="sk-wrong-key")
        with pytest.raises(ProviderAuthError) as caught:
            await ask(provider, request)
        await provider.aclose()
    assert "sk-wrong-key" not in str(caught.value)


async def test_timeout_on_a_hang(llm: FakeLLM) -> None:
    llm.reset()
    llm.script(Reply.hang(5), Reply.hang(5, after_text="I was saying"))
    settings = ProviderSettings(base_url=llm.base_url, timeout=0.2)
    provider = OpenAIProvider("fake", settings)
    with pytest.raises(ProviderTimeout):
        await ask(provider)
    # A stream that stalls after some text times out too: the timeout bounds each read.
    seen: list[str] = []
    with pytest.raises(ProviderTimeout):
        async for event in provider.stream(HELLO):
            if isinstance(event, TextDelta):
                seen.append(event.text)
    assert "".join(seen) == "I was saying"
    await provider.aclose()


@pytest.mark.parametrize("abort", [True, False])
async def test_stream_cut_is_a_server_error(
    provider: OpenAIProvider, llm: FakeLLM, abort: bool
) -> None:
    llm.script(Reply.cut("one two three four", after=2, abort=abort))
    with pytest.raises(ProviderServerError):
        await ask(provider)


async def test_connection_refused_is_a_server_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = OpenAIProvider("down", ProviderSettings(base_url=f"http://127.0.0.1:{port}/v1"))
    with pytest.raises(ProviderServerError) as caught:
        await ask(provider)
    assert caught.value.retryable
    # The message names the URL tried, so a wrong base_url shows at once.
    assert f"down connection failed at http://127.0.0.1:{port}/v1/chat/completions" in str(
        caught.value
    )
    await provider.aclose()


async def test_length_finish_and_connection_reuse(provider: OpenAIProvider, llm: FakeLLM) -> None:
    llm.script(Reply.text("cut short", finish_reason="length"), Reply.text("again"))
    first = await ask(provider)
    second = await ask(provider)
    assert (first.finish_reason, second.text) == ("length", "again")


async def test_calls_and_error_answers_keep_one_connection(
    provider: OpenAIProvider, llm: FakeLLM
) -> None:
    # Each body is read to its end, past [DONE], so its connection carries the next call.
    start = len(llm.requests)
    llm.script(Reply.text("one"), Reply.error(429, "slow down"), Reply.tool_calls(("f", {})))
    assert (await ask(provider)).text == "one"
    with pytest.raises(ProviderRateLimited):
        await ask(provider)
    for _ in range(10):
        await ask(provider)
    used = {r.connection for r in llm.requests[start:]}
    assert len(llm.requests) - start == 12
    assert len(used) == 1, used


# --- quirks of compatible servers that the fake does not imitate, from a raw server ---


@asynccontextmanager
async def _sse_provider(body: str) -> AsyncIterator[OpenAIProvider]:
    """An adapter whose API answers every request with ``body`` as an event stream."""
    raw = body.encode()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(raw), raw)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    provider = OpenAIProvider("mock", ProviderSettings(base_url=f"http://127.0.0.1:{port}/v1"))
    async with server:
        yield provider
        await provider.aclose()


def _chunk(delta: dict[str, object], finish: str | None = None, **extra: object) -> str:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return "data:" + json.dumps({"choices": [choice], **extra}) + "\n\n"


async def test_tolerates_comments_no_space_usage_everywhere_and_no_done() -> None:
    usage = {"prompt_tokens": 5, "completion_tokens": 1}
    body = (
        ": OPENROUTER PROCESSING\n\n"
        + _chunk({"content": "Hi"}, usage={"prompt_tokens": 5, "completion_tokens": 0})
        + _chunk({}, "stop", usage=usage)
    )
    async with _sse_provider(body) as provider:
        events = [e async for e in provider.stream(HELLO)]
    assert events == [TextDelta("Hi"), Usage(5, 1), Finish("stop")]


async def test_every_call_at_index_zero_with_distinct_ids() -> None:
    whole = {"index": 0, "type": "function"}
    body = (
        _chunk({"tool_calls": [{**whole, "id": "a", "function": {"name": "f", "arguments": "{}"}}]})
        + _chunk(
            {"tool_calls": [{**whole, "id": "b", "function": {"name": "g", "arguments": "{}"}}]}
        )
        + _chunk({}, "tool_calls")
        + "data: [DONE]\n\n"
    )
    async with _sse_provider(body) as provider:
        reply = await ask(provider)
    assert [(c.id, c.name) for c in reply.tool_calls] == [("a", "f"), ("b", "g")]


@pytest.mark.parametrize(
    "body",
    [
        'data: {"error": {"message": "upstream overloaded"}}\n\n',
        "data: {not json\n\n",
        _chunk({"content": "partial"}),
    ],
)
async def test_broken_streams_are_server_errors(body: str) -> None:
    async with _sse_provider(body) as provider:
        with pytest.raises(ProviderServerError):
            await ask(provider)


async def test_reasoning_never_reaches_the_content() -> None:
    # reasoning_content (vLLM, DeepSeek) and reasoning (Ollama, OpenRouter) fields are not
    # content; nor is a <think> block left in the content, however its tags are cut.
    body = (
        _chunk({"reasoning_content": "secret one"})
        + _chunk({"reasoning": "secret two"})
        + _chunk({"content": "<thi"})
        + _chunk({"content": "nk>secret three</th"})
        + _chunk({"content": "ink>\n\nHel"})
        + _chunk({"content": "lo <think> stays"}, "stop")
        + "data: [DONE]\n\n"
    )
    async with _sse_provider(body) as provider:
        events = [e async for e in provider.stream(HELLO)]
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "Hello <think> stays"
    assert events[-1] == Finish("stop")
    # They are reasoning, kept with the turn (see test_reasoning_replay.py).
    thoughts = [e.text for e in events if isinstance(e, ReasoningDelta)]
    assert thoughts == ["secret one", "secret two", "secret three"]
