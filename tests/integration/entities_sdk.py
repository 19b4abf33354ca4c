"""Running the real Entities SDKs against a test server: one folder per SDK generation.

``make install`` installs each generation with ``pip install --no-deps --target`` into
``.venv/entities/<version>`` (``tests/entities-requirements.txt`` for 1.36.1,
``tests/entities-current-requirements.txt`` for 1.113.1). A script runs in a subprocess of the
test's Python with ``PYTHONPATH`` set to its generation's folder and the stand-ins for the heavy
packages the SDK imports but never uses (``entities_stubs/``), so the two generations never
meet in one interpreter. The model is the fake LLM serving as provider ``hyperbolic``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from callisto.config import ProviderSettings
from callisto.testing._server import ThreadedServer
from callisto.testing.fake_llm import FakeLLM, RecordedRequest, Reply

SEED_SDK = "1.36.1"
CURRENT_SDK = "1.113.1"
SDK_ROOT = Path(sys.prefix) / "entities"
STUBS = Path(__file__).parent / "entities_stubs"
ENTITIES_KEY = "entities-test-key"
PROVIDER_KEY = "hb-test-key"
MODEL = "hyperbolic/deepseek-ai/DeepSeek-V3"


def sdk_skip_reason(version: str) -> str | None:
    """Return why the SDK ``version`` cannot run here, or ``None`` when it can."""
    if (SDK_ROOT / version / "projectdavid").is_dir():
        return None
    return (
        f"the Entities SDK {version} is not installed in {SDK_ROOT / version}: run `make install`"
    )


@pytest.fixture
def entities_server(
    make_server: Callable[..., ThreadedServer], fake_llm: FakeLLM
) -> ThreadedServer:
    """A server with an API key, whose provider ``hyperbolic`` is the fake LLM, keyless."""
    hyperbolic = ProviderSettings(
        kind="openai", base_url=fake_llm.base_url, timeout=5, max_retries=0
    )
    return make_server(api_key=ENTITIES_KEY, providers={"hyperbolic": hyperbolic})


def run_sdk(
    version: str,
    server: ThreadedServer,
    tmp_path: Path,
    name: str,
    script: str,
    *args: str,
    env: dict[str, str] | None = None,
) -> str:
    """Run a script with the SDK ``version`` against ``server`` in a subprocess; return stdout."""
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(script))
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SDK_ROOT / version), str(STUBS)]),
        "ENTITIES_BASE_URL": server.url + "/entities",
        "ENTITIES_API_KEY": ENTITIES_KEY,
        "ENTITIES_USER_ID": "user_test",
        "HYPERBOLIC_API_KEY": PROVIDER_KEY,
        **(env or {}),
    }
    done = subprocess.run(
        [sys.executable, str(path), *args],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr[-4000:]}"
    return done.stdout


def marked(stdout: str, marker: str) -> str:
    """Return the rest of the last stdout line that starts with ``marker``."""
    lines = [line for line in stdout.splitlines() if line.startswith(marker + " ")]
    assert lines, f"no {marker} line in:\n{stdout}"
    return lines[-1][len(marker) + 1 :]


def text_of(content: Any) -> str:
    """Return the text of a chat message's content (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [] if isinstance(part, dict))


def tool_outputs(request: RecordedRequest) -> list[str]:
    """Return the tool outputs in a recorded model request, oldest first."""
    return [text_of(m.get("content")) for m in request.messages if m.get("role") == "tool"]


def flight_agent(request: RecordedRequest) -> Reply:
    """Call get_flight_times first; once its output is in the prompt, answer from it."""
    outputs = tool_outputs(request)
    if not outputs:
        return Reply.tool_calls(("get_flight_times", {"departure": "LAX", "arrival": "JFK"}))
    result = json.loads(outputs[-1])
    if "error" in result:
        return Reply.text(f"The flight lookup failed: {result['error']}")
    return Reply.text(
        f"Your flight leaves at {result['departure_time']} and lands at {result['arrival_time']}."
    )
