"""Limits: per-key request rate and runs in flight (429), bounded headers, slow clients cut off,
CORS origins, and instructions capped everywhere."""

from __future__ import annotations

import select
import socket
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from callisto.testing._server import ThreadedServer
from callisto.testing.fake_llm import FakeLLM, Reply
from tests.integration.conftest import sdk_client
from tests.integration.helpers import WEATHER_TOOL, wait_for

MakeServer = Callable[..., ThreadedServer]
ASK: Any = {"messages": [{"role": "user", "content": "Weather in Oslo?"}]}


def test_request_rate_is_limited_per_key_with_429_and_retry_after(make_server: MakeServer) -> None:
    # One token every 100 s: the fourth request in a row finds the bucket empty.
    limited = make_server(api_key="k1,k2", limits={"requests_per_second": 0.01, "request_burst": 3})
    first = sdk_client(limited.url, api_key="k1")
    for _ in range(3):
        first.beta.assistants.list()
    with pytest.raises(openai.RateLimitError) as caught:
        first.beta.assistants.list()
    response = caught.value.response
    assert int(response.headers["retry-after"]) >= 1
    body = response.json()["error"]
    assert body["code"] == "rate_limit_exceeded" and body["type"] == "requests"
    assert "requests per second" in body["message"]
    # Another key has its own bucket.
    sdk_client(limited.url, api_key="k2").beta.assistants.list()


def test_runs_in_flight_are_limited_per_key(make_server: MakeServer, fake_llm: FakeLLM) -> None:
    limited = make_server(api_key="k1,k2", limits={"runs_in_flight": 2})
    client = sdk_client(limited.url, api_key="k1")
    fake_llm.default = Reply.tool_calls(("get_weather", {"city": "Oslo"}))
    try:
        assistant = client.beta.assistants.create(model="fake/m", tools=[WEATHER_TOOL])  # type: ignore[list-item]
        first = client.beta.threads.create_and_run(assistant_id=assistant.id, thread=ASK)
        # A streamed run counts too: its id is read from the stream's first events.
        thread = client.beta.threads.create(**ASK)
        with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as s:
            s.until_done()
            second = s.get_final_run()
        wait_for(client, first.thread_id, first.id, {"requires_action"})
        assert second.status == "requires_action"
        for attempt in (
            lambda: client.beta.threads.create_and_run(assistant_id=assistant.id, thread=ASK),
            lambda: client.beta.threads.runs.create(
                thread_id=client.beta.threads.create(**ASK).id, assistant_id=assistant.id
            ),
        ):
            with pytest.raises(openai.RateLimitError) as caught:
                attempt()
            assert "runs in flight" in caught.value.message
            assert caught.value.response.headers["retry-after"] == "1"
        # Another key is not held back by k1's runs.
        other = sdk_client(limited.url, api_key="k2")
        other.beta.threads.create_and_run(assistant_id=assistant.id, thread=ASK)
        # Once one of k1's runs ends, k1 may start another.
        client.beta.threads.runs.cancel(thread_id=first.thread_id, run_id=first.id)
        wait_for(client, first.thread_id, first.id, {"cancelled"})
        client.beta.threads.create_and_run(assistant_id=assistant.id, thread=ASK)
    finally:
        fake_llm.default = Reply.text("Hello from the fake LLM.")


def test_limits_are_off_only_for_the_open_loopback_server(server: ThreadedServer) -> None:
    # The session's server runs open on loopback: many requests in a row, no 429.
    with httpx.Client(base_url=server.url, timeout=30) as http:
        statuses = {http.get("/v1/assistants").status_code for _ in range(50)}
    assert statuses == {200}


def read_response(sock: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def test_endless_headers_get_431_and_a_closed_connection(make_server: MakeServer) -> None:
    bounded = make_server(limits={"max_header_bytes": 8192})
    sent = 0
    with socket.create_connection(("127.0.0.1", bounded.port), timeout=30) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        line = b"X-Fill: " + b"a" * 1000 + b"\r\n"
        answered = False
        while sent < 64 * 1024 * 1024:  # without a limit this would go on to 64 MiB
            try:
                sock.sendall(line)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(line)
            readable, _, _ = select.select([sock], [], [], 0.001)
            if readable:
                answered = True
                break
        response = read_response(sock)
    assert answered or response, f"no answer after {sent} bytes of headers"
    assert response.startswith(b"HTTP/1.1 431"), response[:200]


def test_slow_headers_and_idle_connections_are_cut_off(make_server: MakeServer) -> None:
    bounded = make_server(limits={"header_timeout": 1, "keep_alive_timeout": 1})
    # A client that sends a header byte now and then never finishes its request.
    with socket.create_connection(("127.0.0.1", bounded.port), timeout=30) as sock:
        request = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
        response = b""
        for byte in request:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable:
                break
        response = read_response(sock)
    assert response.startswith(b"HTTP/1.1 408"), response[:200]
    # A connection that says nothing at all is closed too.
    with socket.create_connection(("127.0.0.1", bounded.port), timeout=30) as sock:
        assert read_response(sock).startswith(b"HTTP/1.1 408")
    # And one left idle after a request is closed (uvicorn's keep-alive timeout).
    with socket.create_connection(("127.0.0.1", bounded.port), timeout=30) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b'"status":"ok"' in read_response(sock)


def test_a_slow_body_is_cut_off(make_server: MakeServer) -> None:
    bounded = make_server(limits={"body_timeout": 1})
    with socket.create_connection(("127.0.0.1", bounded.port), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/assistants HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"model":'
        )
        response = read_response(sock)
    assert response.startswith(b"HTTP/1.1 408"), response[:200]
    assert b"did not arrive within 1 seconds" in response


def preflight(url: str, origin: str) -> httpx.Response:
    return httpx.options(
        url + "/v1/assistants",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )


def test_cors_origins_are_configurable_and_none_by_default(
    make_server: MakeServer, server: ThreadedServer
) -> None:
    assert "access-control-allow-origin" not in preflight(server.url, "https://app.example").headers
    browser = make_server(api_key="k1", cors_origins=["https://app.example"])
    allowed = preflight(browser.url, "https://app.example")
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    refused = preflight(browser.url, "https://evil.example")
    assert refused.headers.get("access-control-allow-origin") != "https://evil.example"
    # A real request from the allowed origin, even a refused one, can be read by the page.
    unauthorised = httpx.get(
        browser.url + "/v1/assistants", headers={"Origin": "https://app.example"}
    )
    assert unauthorised.status_code == 401
    assert unauthorised.headers["access-control-allow-origin"] == "https://app.example"


def test_instructions_are_capped_everywhere(
    openai_client: openai.OpenAI, server: ThreadedServer
) -> None:
    too_long = "x" * 256_001
    assistant = openai_client.beta.assistants.create(model="fake/m", instructions="x" * 256_000)
    thread = openai_client.beta.threads.create()
    attempts: list[Callable[[], Any]] = [
        lambda: openai_client.beta.assistants.create(model="fake/m", instructions=too_long),
        lambda: openai_client.beta.assistants.update(assistant.id, instructions=too_long),
        lambda: openai_client.beta.threads.runs.create(
            thread_id=thread.id, assistant_id=assistant.id, instructions=too_long
        ),
        lambda: openai_client.beta.threads.runs.create(
            thread_id=thread.id, assistant_id=assistant.id, additional_instructions=too_long
        ),
        lambda: openai_client.beta.threads.create_and_run(
            assistant_id=assistant.id, instructions=too_long
        ),
    ]
    for attempt in attempts:
        with pytest.raises(openai.BadRequestError) as caught:
            attempt()
        assert "256000" in caught.value.message
    entities = server.url + "/entities/v1"
    for method, path, body in (
        ("POST", "/assistants", {"model": "fake/m", "instructions": too_long}),
        ("PUT", f"/assistants/{assistant.id}", {"instructions": too_long}),
        (
            "POST",
            "/runs",
            {"assistant_id": assistant.id, "thread_id": thread.id, "instructions": too_long},
        ),
    ):
        response = httpx.request(method, entities + path, json=body, timeout=30)
        assert response.status_code == 400 and "256000" in response.text, response.text


def test_a_providers_masked_echo_of_its_key_is_redacted(
    openai_client: openai.OpenAI, fake_llm: FakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    # The fake provider's key is "sk-fake-test-key"; OpenAI echoes a refused key half-masked.
    masked = "sk-fake-********-key"
    fake_llm.script(Reply.error(401, f"Incorrect API key provided: {masked}. You can find yours."))
    assistant = openai_client.beta.assistants.create(model="fake/m")
    run = openai_client.beta.threads.create_and_run(assistant_id=assistant.id, thread=ASK)
    run = wait_for(openai_client, run.thread_id, run.id, {"failed"})
    assert run.last_error is not None
    assert "Incorrect API key provided: ***" in run.last_error.message
    for text in (run.last_error.message, caplog.text):
        assert masked not in text and "sk-fake" not in text
