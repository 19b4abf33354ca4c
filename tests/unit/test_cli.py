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
from sqlalchemy.engine import make_url

from callisto import __version__
from callisto.cli import build_parser, main
from callisto.testing.databases import (
    fresh_postgres_schema,
    postgres_base_url,
    postgres_unavailable_reason,
)


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
    # What a person starting the server needs, and none of Alembic's plugin chatter.
    for line in (
        f"Callisto {__version__}",
        f"database: sqlite:///{tmp_path / 'serve.db'}",
        "dispatch: embedded",
        "event log: memory",
        "provider offline: offline",
        "OpenAI base_url: http://127.0.0.1:",
    ):
        assert line in output
    assert "alembic" not in output


def test_serve_with_a_key_does_not_warn(tmp_path: Path) -> None:
    provider = {
        "CALLISTO_PROVIDERS__VLLM__BASE_URL": "http://user:s3cret-pw@127.0.0.1:9/v1?key=s3cret-q",
        "CALLISTO_PROVIDERS__VLLM__API_KEY": "sk-s3cret-key",
    }
    with callisto_serve(tmp_path, CALLISTO_API_KEY="secret-key", **provider) as (url, log_path):
        assert httpx.get(url + "/v1/assistants").status_code == 401
        allowed = httpx.get(url + "/v1/assistants", headers={"Authorization": "Bearer secret-key"})
        assert allowed.status_code == 200
    output = log_path.read_text()
    assert "runs OPEN" not in output
    assert "auth: an API key is required (1 accepted)" in output
    # A provider is shown by kind and URL; its key, and credentials in its URL, are not.
    assert "provider vllm: openai, at http://127.0.0.1:9/v1" in output
    assert "s3cret" not in output
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


# --- one line for each mistake --------------------------------------------------------------


def run_cli(cwd: Path, *argv: str, **env_extra: str) -> subprocess.CompletedProcess[str]:
    """Run ``callisto ARGV`` as a process in ``cwd`` with no CALLISTO_* from this shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLISTO_")}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "callisto.cli", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The command failed with status 2 and one stderr line that contains every needle."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("callisto: error: ")
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


@pytest.mark.parametrize("command", ["serve", "migrate"])
@pytest.mark.parametrize(
    ("url", "needles"),
    [
        ("not a url", ["--database-url", "Invalid database URL", "sqlite:///PATH"]),
        ("postgresql://u@h:port/db", ["--database-url", "Invalid database URL"]),
        ("mysql://root@localhost/app", ["--database-url", "Unsupported database 'mysql'"]),
        ("sqlite://", ["--database-url", "in-memory"]),
    ],
)
def test_an_unusable_database_url(
    tmp_path: Path, command: str, url: str, needles: list[str]
) -> None:
    assert_one_line_error(run_cli(tmp_path, command, "--database-url", url), *needles)


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_a_database_that_refuses_the_connection(tmp_path: Path, command: str) -> None:
    url = f"postgresql://postgres:s3cret-pw@127.0.0.1:{_free_port()}/test"
    result = run_cli(tmp_path, command, CALLISTO_DATABASE_URL=url)
    line = assert_one_line_error(
        result, "CALLISTO_DATABASE_URL: cannot open the database", "Connection refused"
    )
    assert "postgres:***@127.0.0.1" in line
    assert "s3cret-pw" not in line


@pytest.mark.postgres
def test_a_role_postgresql_does_not_know(tmp_path: Path) -> None:
    reason = postgres_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    url = make_url(postgres_base_url()).set(username="no_such_role_callisto")
    result = run_cli(tmp_path, "migrate", "--database-url", url.render_as_string(False))
    assert_one_line_error(result, "--database-url", 'role "no_such_role_callisto" does not exist')


@pytest.mark.postgres
def test_migrate_shows_the_url_with_its_password_masked(tmp_path: Path) -> None:
    reason = postgres_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with fresh_postgres_schema() as schema_url:
        # The test server trusts local connections, so any password is accepted.
        url = make_url(schema_url).set(password="s3cret-pw").render_as_string(False)
        result = run_cli(tmp_path, "migrate", "--database-url", url)
    assert result.returncode == 0, result.stderr
    assert ":***@" in result.stdout
    assert "s3cret-pw" not in result.stdout + result.stderr


def test_a_folder_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    url = f"sqlite:///{tmp_path / 'file' / 'sub' / 'callisto.db'}"
    assert_one_line_error(
        run_cli(tmp_path, "migrate", "--database-url", url),
        "--database-url: cannot create the folder of the database",
    )


def test_a_port_out_of_range(tmp_path: Path) -> None:
    assert_one_line_error(run_cli(tmp_path, "serve", "--port", "99999"), "--port", "65535")
    assert_one_line_error(
        run_cli(tmp_path, "serve", CALLISTO_PORT="0"), "CALLISTO_PORT", "greater than or equal"
    )


def test_a_malformed_config_file_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "callisto.toml").write_text('host = "127.0.0.1"\nport = 80 80\n')
    assert_one_line_error(run_cli(tmp_path, "serve"), "callisto.toml line 2: not valid TOML")


def test_an_unreadable_config_file(tmp_path: Path) -> None:
    config = tmp_path / "conf.toml"
    config.write_text("port = 9000\n")
    config.chmod(0)
    try:
        if os.access(config, os.R_OK):
            # This user (root) reads files whatever their mode: take a file nobody can read.
            config = Path("/proc/self/mem")
            if not config.exists():
                pytest.skip("no file here that this user cannot read")
        result = run_cli(tmp_path, "migrate", CALLISTO_CONFIG=str(config))
    finally:
        (tmp_path / "conf.toml").chmod(0o644)
    assert_one_line_error(result, str(config), "cannot read the config file")


def test_a_wrongly_typed_value_names_its_source(tmp_path: Path) -> None:
    (tmp_path / "callisto.toml").write_text('[runs]\n\nmax_concurrent = "many"\n')
    assert_one_line_error(
        run_cli(tmp_path, "serve"), "callisto.toml line 3: runs.max_concurrent = 'many'"
    )
    assert_one_line_error(
        run_cli(tmp_path, "serve", CALLISTO_PORT="abc"), "CALLISTO_PORT: port = 'abc'", "integer"
    )


def test_config_paths_that_name_nothing_or_a_directory(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    assert_one_line_error(
        run_cli(tmp_path, "serve", CALLISTO_CONFIG=str(missing)),
        f"CALLISTO_CONFIG={missing}: no such file",
    )
    assert_one_line_error(
        run_cli(tmp_path, "serve", CALLISTO_CONFIG=str(tmp_path)), "is a directory"
    )
    (tmp_path / "callisto.toml").mkdir()
    assert_one_line_error(run_cli(tmp_path, "migrate"), "callisto.toml is a directory")


def test_a_misspelled_key_warns_with_the_nearest_name(tmp_path: Path) -> None:
    (tmp_path / "callisto.toml").write_text(
        f'prot = 9000\ndatabase_url = "sqlite:///{tmp_path / "x.db"}"\n'
    )
    result = run_cli(tmp_path, "migrate")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "callisto: warning: callisto.toml line 1: unknown setting 'prot' is ignored; "
        "did you mean 'port'?"
    ]


def test_version_and_help(tmp_path: Path) -> None:
    version = run_cli(tmp_path, "--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"callisto {__version__}")
    top = run_cli(tmp_path, "--help").stdout
    assert "``" not in top and "serve" in top
    serve = run_cli(tmp_path, "serve", "--help").stdout
    for name in ("callisto.toml", "CALLISTO_CONFIG", "CALLISTO_DATABASE_URL", "CALLISTO_PORT"):
        assert name in serve
    assert "CALLISTO_RUNS__<SETTING>" in serve


def test_the_scaled_mode_names_what_it_lacks(tmp_path: Path) -> None:
    assert_one_line_error(
        run_cli(tmp_path, "serve", "--dispatch", "queue"),
        "--dispatch: dispatch = 'queue' is not valid",
        "needs a PostgreSQL database_url",
    )
    assert_one_line_error(
        run_cli(tmp_path, "worker", "--database-url", "mysql://root@db/app"),
        "--database-url: Unsupported database 'mysql'",
    )
    assert_one_line_error(
        run_cli(tmp_path, "worker", "--database-url", f"sqlite:///{tmp_path / 'w.db'}"),
        "--database-url: callisto worker takes its jobs from PostgreSQL",
    )


def test_a_redis_event_log_without_a_reachable_redis(tmp_path: Path) -> None:
    assert_one_line_error(
        run_cli(tmp_path, "serve", CALLISTO_EVENT_LOG="redis"),
        "CALLISTO_EVENT_LOG: event_log = 'redis' needs redis_url",
    )
    line = assert_one_line_error(
        run_cli(
            tmp_path,
            "serve",
            CALLISTO_EVENT_LOG="redis",
            CALLISTO_REDIS_URL=f"redis://:s3cret-pw@127.0.0.1:{_free_port()}/0",
        ),
        "CALLISTO_REDIS_URL: cannot reach Redis at redis://:***@127.0.0.1:",
    )
    assert "s3cret-pw" not in line
