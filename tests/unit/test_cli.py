"""The ``callisto`` command: its parser, ``migrate``, and ``serve`` as a real process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from callisto import __version__
from callisto.cli import build_parser, main


def test_parser_commands_and_flags() -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["serve", "--host", "0.0.0.0", "--port", "9000", "--database-url", "sqlite:///x.db"]
    )
    assert (args.command, args.host, args.port, args.database_url) == (
        "serve",
        "0.0.0.0",
        9000,
        "sqlite:///x.db",
    )
    args = parser.parse_args(["serve"])
    assert (args.host, args.port, args.database_url) == (None, None, None)
    assert parser.parse_args(["migrate", "--database-url", "sqlite:///y.db"]).database_url == (
        "sqlite:///y.db"
    )
    assert parser.parse_args(["demo"]).command == "demo"


@pytest.mark.parametrize("argv", [[], ["launch"], ["serve", "--port", "eighty"]])
def test_parser_refuses_bad_input(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(argv)
    assert info.value.code == 2
    assert "usage: callisto" in capsys.readouterr().err


def test_migrate_creates_the_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "nested" / "callisto.db"
    url = f"sqlite:///{db}"
    assert main(["migrate", "--database-url", url]) == 0
    assert "up to date" in capsys.readouterr().out
    assert db.is_file()
    engine = sa.create_engine(url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"assistants", "threads", "messages", "runs", "run_steps"} <= tables
    # A second run is a no-op.
    assert main(["migrate", "--database-url", url]) == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def callisto_serve(tmp_path: Path, **env_extra: str) -> Iterator[tuple[str, Path]]:
    """Run ``callisto serve`` as a process; yield its URL (once it answers) and its log file."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLISTO_")}
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        env.pop(key, None)
    env.update(env_extra)
    command = [sys.executable, "-m", "callisto.cli", "serve", "--port", str(port)]
    command += ["--database-url", f"sqlite:///{tmp_path / 'serve.db'}"]
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                try:
                    httpx.get(url + "/health", timeout=2)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            yield url, log_path
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_serve_starts_answers_health_and_warns_when_open(tmp_path: Path) -> None:
    with callisto_serve(tmp_path) as (url, log_path):
        health = httpx.get(url + "/health")
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "version": __version__}
        assert httpx.get(url + "/v1/assistants").status_code == 200
    output = log_path.read_text()
    assert "WARNING" in output
    assert "runs OPEN" in output


def test_serve_with_a_key_does_not_warn(tmp_path: Path) -> None:
    with callisto_serve(tmp_path, CALLISTO_API_KEY="secret-key") as (url, log_path):
        assert httpx.get(url + "/v1/assistants").status_code == 401
        allowed = httpx.get(url + "/v1/assistants", headers={"Authorization": "Bearer secret-key"})
        assert allowed.status_code == 200
    output = log_path.read_text()
    assert "runs OPEN" not in output
    assert "secret-key" not in output


def test_serve_on_a_taken_port_exits_before_touching_any_run(tmp_path: Path) -> None:
    with callisto_serve(tmp_path) as (url, _):
        port = url.rsplit(":", 1)[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLISTO_")}
        db = f"sqlite:///{tmp_path / 'serve.db'}"
        second = subprocess.run(
            [sys.executable, "-m", "callisto.cli", "serve", "--port", port, "--database-url", db],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )
        assert second.returncode == 2
        lines = [line for line in second.stderr.splitlines() if "cannot listen" in line]
        assert lines and f"127.0.0.1:{port}" in lines[0], second.stderr
        # The app never started: no migration ran, no run was resumed or taken over.
        assert "taking over" not in second.stderr and "alembic" not in second.stderr.lower()
        assert httpx.get(url + "/health").status_code == 200
