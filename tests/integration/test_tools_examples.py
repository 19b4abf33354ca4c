"""The programs in ``examples/`` run against a real Callisto server and exit 0."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("callisto.testing.server", reason="the Callisto test server is not available")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    "script", ["flight_times.py", "weather_parallel.py", "user_lookup.py", "chat_weather_loop.py"]
)
def test_example_succeeds(server: Any, script: str) -> None:
    env = {**os.environ, "CALLISTO_BASE_URL": server.url + "/v1"}
    env.pop("CHAT_BASE_URL", None)
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FAILED" not in done.stderr


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize(
    ("script", "variable", "args"),
    [
        ("flight_times.py", "CALLISTO_BASE_URL", []),
        ("weather_parallel.py", "CALLISTO_BASE_URL", []),
        ("user_lookup.py", "CALLISTO_BASE_URL", []),
        ("chat_weather_loop.py", "CHAT_BASE_URL", []),
        ("order_workflow.py", "CALLISTO_BASE_URL", ["--assistants"]),
    ],
)
def test_example_without_a_server_ends_in_one_line(
    script: str, variable: str, args: list[str]
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        env={**os.environ, variable: url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [done.stderr.strip()], done.stderr
    assert done.stderr.startswith(f"FAILED: no server answers at {url}: ")


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("[!_]*.py")))
def test_example_docstring_says_how_to_run_it(script: str) -> None:
    source = (EXAMPLES / script).read_text()
    docstring = source.split('"""', 2)[1]
    assert f".venv/bin/python examples/{script}" in docstring
