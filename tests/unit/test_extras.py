"""The optional parts are optional: a plain install (no extras) serves runs on SQLite, and a
setting that needs an extra says which one to install."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

# opentelemetry-api is a dependency of FastAPI itself; the [otel] extra adds the SDK.
EXTRAS_MODULES = ("psycopg", "procrastinate", "redis", "openai", "opentelemetry.sdk")

BLOCK = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in EXTRAS_MODULES)
"""Makes importing each module of an extra fail, as if it were not installed."""


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLISTO_")}
    return subprocess.run(
        [sys.executable, "-c", BLOCK + textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_run_completes_without_any_extra(tmp_path: Path) -> None:
    done = _python(
        f"""
        import time

        import httpx
        from callisto.testing.server import serve_callisto

        with serve_callisto(database_url="sqlite:///{tmp_path / "plain.db"}") as server:
            api = httpx.Client(base_url=server.url + "/v1", timeout=30)
            assistant = api.post("/assistants", json={{"model": "offline/demo"}}).json()
            run = api.post(
                "/threads/runs",
                json={{
                    "assistant_id": assistant["id"],
                    "thread": {{"messages": [{{"role": "user", "content": "hello"}}]}},
                }},
            ).json()
            for _ in range(200):
                run = api.get(f"/threads/{{run['thread_id']}}/runs/{{run['id']}}").json()
                if run["status"] not in ("queued", "in_progress"):
                    break
                time.sleep(0.05)
            print(run["status"])
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["completed"]


def test_settings_that_need_an_extra_name_it(tmp_path: Path) -> None:
    cases = [
        (["migrate", "--database-url", "postgresql://u@127.0.0.1/x"], "callisto[postgres]"),
        (["demo"], "callisto[demo]"),
    ]
    for argv, extra in cases:
        done = _python(f"from callisto.cli import main\nsys.exit(main({argv!r}))", tmp_path)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and extra in done.stderr, done.stderr
