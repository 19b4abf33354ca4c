"""The programs in ``examples/`` run against a real Callisto server and exit 0."""

from __future__ import annotations

import os
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
