"""Start and stop the benchmark's processes: the fake model and a Callisto server, on loopback.

Each runs as its own process so that its CPU and memory are its own and can be measured, as a
deployment would run it. Output goes to log files in a scratch folder, printed if a process
fails to start. ``BENCH_CALLISTO`` replaces the server command (default ``.venv/bin/callisto``),
e.g. with a script that patches settings before calling ``callisto.cli.main``, to try a change.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = Path(tempfile.mkdtemp(prefix="callisto-bench-"))


def free_port() -> int:
    """Return a loopback port free at the time of the call."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Process:
    """A started child process and the URL it serves."""

    name: str
    popen: subprocess.Popen[bytes]
    url: str
    log: Path

    @property
    def pid(self) -> int:
        """The process id."""
        return self.popen.pid

    def wait_ready(self, path: str, timeout: float = 30.0) -> None:
        """Poll ``url + path`` until it answers 200, at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + path, timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        self.stop()
        tail = self.log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{self.name} did not start at {self.url}:\n{tail}")

    def stop(self) -> None:
        """Interrupt the process (SIGINT, then SIGKILL after 10 s) and wait for it."""
        if self.popen.poll() is None:
            self.popen.send_signal(2)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


def _spawn(name: str, argv: list[str], url: str, env: dict[str, str] | None = None) -> Process:
    log = SCRATCH / f"{name}-{int(time.time() * 1000)}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    return Process(name, popen, url, log)


@contextlib.contextmanager
def fake_model(
    *, ttft_ms: float = 0, token_delay_ms: float = 0, tokens: int = 20, stamp: bool = False
) -> Iterator[Process]:
    """Run ``bench.fake_model`` in its own process; yield it once it answers."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.fake_model", "--port", str(port)]
    argv += ["--ttft-ms", str(ttft_ms), "--token-delay-ms", str(token_delay_ms)]
    argv += ["--tokens", str(tokens)] + (["--stamp"] if stamp else [])
    process = _spawn("fake", argv, f"http://127.0.0.1:{port}")
    try:
        process.wait_ready("/v1/models")
        yield process
    finally:
        process.stop()


@contextlib.contextmanager
def callisto(database_url: str, model_url: str) -> Iterator[Process]:
    """Run ``callisto serve`` on ``database_url`` with provider ``fake`` at ``model_url``."""
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "CALLISTO_PROVIDERS__FAKE__KIND": "openai",
            "CALLISTO_PROVIDERS__FAKE__BASE_URL": model_url + "/v1",
            "CALLISTO_PROVIDERS__FAKE__TIMEOUT": "300",
            "CALLISTO_LOG_LEVEL": "WARNING",
        }
    )
    env.pop("CALLISTO_API_KEY", None)
    exe = os.environ.get("BENCH_CALLISTO") or str(Path(sys.executable).parent / "callisto")
    argv = [*exe.split(), "serve", "--port", str(port), "--database-url", database_url]
    process = _spawn("callisto", argv, f"http://127.0.0.1:{port}", env)
    try:
        process.wait_ready("/health", timeout=60)
        yield process
    finally:
        process.stop()


def postgres_unavailable() -> str | None:
    """Return why PostgreSQL cannot be used, or ``None`` when it can."""
    from callisto.testing.databases import postgres_unavailable_reason

    try:
        return postgres_unavailable_reason()
    except ImportError as exc:
        return f"psycopg is not installed ({exc})"


@contextlib.contextmanager
def database(kind: str) -> Iterator[str]:
    """Yield the URL of a fresh database: a new SQLite file, or a new PostgreSQL schema."""
    if kind == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="db-", dir=SCRATCH))
        yield f"sqlite:///{folder}/callisto.db"
        return
    from callisto.testing.databases import fresh_postgres_schema

    with fresh_postgres_schema() as url:
        yield url
