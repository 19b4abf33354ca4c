"""The fake LLM speaks OpenAI's wire format: checked with raw HTTP and with the official SDK."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from callisto.testing._fake_llm_wire import split_tokens
from callisto.testing.fake_llm import FakeLLM, RecordedRequest, Reply

MESSAGES = [{"role": "user", "content": "Hi there you"}]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLM]:
    with FakeLLM(models=("fake-model", "other")) as fake:
        yield fake


@pytest.fixture
def llm(server: FakeLLM) -> Iterator[FakeLLM]:
    server.reset()
    yield server
    assert server.pending == 0, "a scripted reply was not used"


@pytest.fixture
def client(llm: FakeLLM) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=llm.base_url, api_key="sk-fake", max_retries=0) as sdk:
        yield sdk


def sse_chunks(response: httpx.Response) -> list[Any]:
    lines = [line[len("data: ") :] for line in response.text.splitlines() if line]
    return [line if line == "[DONE]" else json.loads(line) for line in lines]


def post(llm: FakeLLM, **body: Any) -> httpx.Response:
    body = {"model": "fake-model", "messages": MESSAGES, **body}
    return httpx.post(llm.base_url + "/chat/completions", json=body, timeout=5)


def test_split_tokens_round_trips() -> None:
    for text in ["", "  ", "a", " lead and trail  ", "two\nlines\n"]:
        assert "".join(split_tokens(text)) == text


def test_stream_wire_format(llm: FakeLLM) -> None:
    llm.script(Reply.text("Hello big world"))
    response = post(llm, stream=True, stream_options={"include_usage": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    chunks = sse_chunks(response)
    assert chunks[-1] == "[DONE]"
    first, *middle, finish, usage, _ = chunks
    assert first["object"] == "chat.completion.chunk"
    assert first["choices"][0]["delta"]["role"] == "assistant"
    assert [c["choices"][0]["delta"]["content"] for c in middle] == ["Hello", " big", " world"]
    assert all(c["usage"] is None for c in [first, *middle, finish])
    assert finish["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}


def test_no_usage_chunk_unless_asked(llm: FakeLLM) -> None:
    chunks = sse_chunks(post(llm, stream=True))
    assert all("usage" not in c for c in chunks[:-1])
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


def test_tool_call_fragments(llm: FakeLLM) -> None:
    llm.script(Reply.tool_calls(("f", {"a": 1}, "call_x"), arg_chunk=4))
    chunks = sse_chunks(post(llm, stream=True))
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks[1:-2]]
    assert calls[0] == {
        "index": 0,
        "id": "call_x",
        "type": "function",
        "function": {"name": "f", "arguments": '{"a"'},
    }
    assert calls[1] == {"index": 0, "function": {"arguments": ": 1}"}}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_records_requests_and_uses_responders(llm: FakeLLM) -> None:
    def echo(request: RecordedRequest) -> Reply:
        return Reply.text("You said: " + request.messages[-1]["content"])

    llm.script(echo)
    response = httpx.post(
        llm.base_url + "/chat/completions",
        json={"model": "fake-model", "messages": MESSAGES},
        headers={"Authorization": "Bearer k", "X-Trace": "1"},
    )
    assert response.json()["choices"][0]["message"]["content"] == "You said: Hi there you"
    recorded = llm.requests[-1]
    assert recorded.path == "/v1/chat/completions"
    assert recorded.body["messages"] == MESSAGES
    assert recorded.headers["authorization"] == "Bearer k" and recorded.headers["x-trace"] == "1"


def test_errors_bad_bodies_and_models(llm: FakeLLM) -> None:
    llm.script(Reply.error(429, "slow", headers={"retry-after": "2"}))
    response = post(llm)
    assert response.status_code == 429 and response.headers["retry-after"] == "2"
    assert response.json()["error"]["message"] == "slow"
    assert post(llm, messages=[]).status_code == 400
    models = httpx.get(llm.base_url + "/models").json()
    assert [m["id"] for m in models["data"]] == ["fake-model", "other"]


def test_api_key_check_echoes_the_key() -> None:
    with FakeLLM(api_key="right") as llm:
        response = httpx.post(
            llm.base_url + "/chat/completions",
            json={"model": "m", "messages": MESSAGES},
            headers={"Authorization": "Bearer wrong"},
        )
        assert llm.requests[0].headers["authorization"] == "Bearer wrong"
    assert response.status_code == 401
    assert "wrong" in response.json()["error"]["message"]


def test_cut_drops_the_connection(llm: FakeLLM) -> None:
    llm.script(Reply.cut("a b c d", after=2))
    with pytest.raises(httpx.RemoteProtocolError):
        post(llm, stream=True)


def test_delays_and_hang(llm: FakeLLM) -> None:
    llm.script(Reply.text("x y", ttft=0.15, token_delay=0.05), Reply.hang(5))
    started = time.monotonic()
    post(llm, stream=True)
    assert time.monotonic() - started >= 0.2
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            llm.base_url + "/chat/completions",
            json={"model": "m", "messages": MESSAGES},
            timeout=0.2,
        )


def test_sdk_non_streaming_with_tool_calls(llm: FakeLLM, client: openai.OpenAI) -> None:
    llm.script(
        Reply.tool_calls(("get_weather", {"city": "Tokyo"}), ("get_weather", {"city": "Paris"}))
    )
    completion = client.chat.completions.create(model="fake-model", messages=MESSAGES)  # type: ignore[arg-type]
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [json.loads(c.function.arguments) for c in calls] == [  # type: ignore[union-attr]
        {"city": "Tokyo"},
        {"city": "Paris"},
    ]
    assert calls[0].id != calls[1].id
    assert completion.usage is not None and completion.usage.prompt_tokens == 3


def test_sdk_streaming(llm: FakeLLM, client: openai.OpenAI) -> None:
    llm.script(Reply.text("Sunny in Tokyo"))
    stream = client.chat.completions.create(
        model="fake-model",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    with stream:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
            usage = chunk.usage or usage
    assert text == "Sunny in Tokyo"
    assert usage is not None and usage.completion_tokens == 3


def test_sdk_stream_helper_assembles_tool_calls(llm: FakeLLM, client: openai.OpenAI) -> None:
    llm.script(Reply.tool_calls(("lookup", {"q": "a longer query string"}), arg_chunk=3))
    with client.chat.completions.stream(model="fake-model", messages=MESSAGES) as stream:  # type: ignore[arg-type]
        final = stream.get_final_completion()
    call = (final.choices[0].message.tool_calls or [])[0]
    assert call.function.name == "lookup"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"q": "a longer query string"}  # type: ignore[union-attr]


def test_runs_as_a_process() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "callisto.testing.fake_llm", "--port", str(port)]
    command += ["--tokens", "5", "--ttft-ms", "10", "--token-delay-ms", "1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(url + "/models", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        with openai.OpenAI(base_url=url, api_key="k", max_retries=0) as sdk:
            completion = sdk.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
        assert completion.choices[0].message.content == "w1 w2 w3 w4 w5"
    finally:
        process.terminate()
        process.wait(timeout=10)
        assert process.stderr is not None
        process.stderr.close()
