"""Limits that need no server: defaults, the token bucket, key redaction, and ``serve`` refusing
to run open on a network address."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from callisto.api.limits import Limits, RateLimitMiddleware
from callisto.config import Settings
from callisto.providers._http import redact
from tests.unit.test_cli import callisto_serve

KEY = "sk-proj-AbCdEfGhIjKlMnOp1234"


@pytest.mark.parametrize(
    "text",
    [
        f"Incorrect API key provided: {KEY}.",
        "Incorrect API key provided: sk-proj-****************************1234. You can find it",
        "Incorrect API key provided: sk-pro*****1234.",
        "the key sk-proj-Ab...1234 was refused",
        "the key sk-••••••1234 was refused",
        "key ****************************1234",
    ],
)
def test_a_key_is_redacted_whole_or_half_masked(text: str) -> None:
    redacted = redact(text, KEY)
    assert "***" in redacted
    assert "1234" not in redacted and "sk-pro" not in redacted


@pytest.mark.parametrize("text", ["loading...done", "a *** b", "rated ***** (5/5)"])
def test_other_masked_looking_text_stays(text: str) -> None:
    assert redact(text, KEY) == text


def test_client_limits_are_off_only_when_open_on_loopback() -> None:
    assert Settings(host="127.0.0.1").client_limits() == (0.0, 1, 0)
    assert Settings(host="127.0.0.1", api_key="k").client_limits() == (500.0, 1000, 256)
    assert Settings(host="0.0.0.0", allow_open=True).client_limits() == (500.0, 1000, 256)
    explicit = Settings(limits={"requests_per_second": 5, "runs_in_flight": 3})
    assert explicit.client_limits() == (5.0, 10, 3)
    keyed_off = Settings(api_key="k", limits={"requests_per_second": 0, "runs_in_flight": 0})
    assert keyed_off.client_limits()[::2] == (0.0, 0)


def test_cors_origins_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLISTO_CORS_ORIGINS", "https://a.example, https://b.example")
    assert Settings().cors_origins == ["https://a.example", "https://b.example"]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def statuses(middleware: RateLimitMiddleware, key: str, count: int) -> list[int]:
    seen: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    middleware.app = app
    for _ in range(count):

        async def send(message: Any) -> None:
            if message["type"] == "http.response.start":
                seen.append(message["status"])

        scope = {
            "type": "http",
            "method": "GET",
            "path": "/v1/assistants",
            "headers": [(b"authorization", f"Bearer {key}".encode())],
        }
        await middleware(scope, None, send)  # type: ignore[arg-type]
    return seen


async def test_the_bucket_refills_at_the_rate() -> None:
    clock = Clock()
    middleware = RateLimitMiddleware(None, Limits(2.0, 4, 0), lambda ids: ids, clock=clock)  # type: ignore[arg-type]
    assert await statuses(middleware, "a", 5) == [200, 200, 200, 200, 429]
    assert await statuses(middleware, "b", 1) == [200]
    clock.now += 1.0  # two tokens back
    assert await statuses(middleware, "a", 3) == [200, 200, 429]
    clock.now += 100.0  # never more than the burst
    assert await statuses(middleware, "a", 5) == [200, 200, 200, 200, 429]


def test_serve_refuses_to_run_open_on_a_network_address(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLISTO_")}
    env.update(CALLISTO_HOST="0.0.0.0", CALLISTO_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    done = subprocess.run(
        # Refused before it binds: the port is never used.
        [sys.executable, "-m", "callisto.cli", "serve", "--port", "8399"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Refusing to serve OPEN" in done.stderr and "--allow-open" in done.stderr


def test_serve_runs_open_on_a_network_address_when_told(tmp_path: Path) -> None:
    with callisto_serve(tmp_path, CALLISTO_HOST="0.0.0.0", CALLISTO_ALLOW_OPEN="1") as (url, log):
        assert httpx.get(url + "/v1/assistants").status_code == 200
    assert "Serving OPEN on non-loopback address 0.0.0.0" in log.read_text()


def test_allow_open_flag() -> None:
    from callisto.cli import build_parser

    assert build_parser().parse_args(["serve", "--allow-open"]).allow_open is True
    assert build_parser().parse_args(["serve"]).allow_open is None
