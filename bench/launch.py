"""Start and stop the benchmark's processes: the fake model and Callisto servers, on loopback.

Each runs as its own process so that its CPU and memory are its own and can be measured, as a
deployment would run it. Output goes to log files in a scratch folder, printed if a process
fails to start.

Which code a server runs is a :class:`Code`: a copy of a ``callisto/`` package in the scratch
folder (the working tree's as it was when the run started, or a commit's via ``git archive``),
put first on ``PYTHONPATH`` of the same venv's Python. ``-P`` keeps the working directory off
``sys.path``, so ``import callisto`` finds the copy, not the editable install; the server
prints where it loaded ``callisto`` from and :func:`callisto` checks it. ``BENCH_CALLISTO``
replaces the "after" server's command (default: the copy, as above), e.g. with a script that
patches settings before calling ``callisto.cli.main``, to try a change.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = Path(tempfile.mkdtemp(prefix="callisto-bench-"))
T = TypeVar("T")
LOADED = "bench: callisto loaded from "
STRAY = "bench: callisto modules from elsewhere: "
HIDDEN = "bench: modules hidden: "
LAUNCHER = f"""
import atexit, os, sys
hidden = [name for name in os.environ.get("BENCH_HIDE", "").split(",") if name]
for name in hidden:
    sys.modules[name] = None  # import raises ImportError: uvicorn's "auto" falls back
if hidden:
    print({HIDDEN!r} + ", ".join(hidden), file=sys.stderr, flush=True)
import callisto
root = os.path.dirname(callisto.__file__)
print({LOADED!r} + callisto.__file__, file=sys.stderr, flush=True)
def stray():
    names = [n for n, m in list(sys.modules.items()) if n.startswith("callisto.")
             and getattr(m, "__file__", None) and not m.__file__.startswith(root)]
    if names:
        print({STRAY!r} + ", ".join(sorted(names)), file=sys.stderr, flush=True)
atexit.register(stray)
from callisto.cli import main
sys.argv[0] = "callisto"
sys.exit(main())
"""


def free_port() -> int:
    """Return a loopback port free at the time of the call."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


@dataclass(frozen=True)
class Code:
    """One version of the server's code, and where its ``callisto/`` package lies.

    Attributes:
        side: ``"before"`` or ``"after"``: its place in the comparison.
        ref: What was asked for: a git ref, or ``"working tree"``.
        commit: The commit (short hash), with ``+ uncommitted changes`` for a dirty tree.
        path: The folder holding the ``callisto/`` copy, first on the server's ``PYTHONPATH``.
        hidden: Modules the server must not import (installed in the venv for newer code).
    """

    side: str
    ref: str
    commit: str
    path: Path
    hidden: tuple[str, ...] = ()

    def describe(self) -> str:
        """Return the commit, and the ref asked for when it is not the commit itself."""
        return self.commit if self.ref == self.commit else f"{self.commit} ({self.ref})"


def from_commit(side: str, ref: str) -> Code:
    """Copy the ``callisto/`` package of commit ``ref`` into the scratch folder."""
    try:
        full = _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except RuntimeError:
        raise SystemExit(f"--{side} {ref}: not a commit of {ROOT}") from None
    short = _git("rev-parse", "--short", full)
    folder = SCRATCH / f"code-{side}-{short}"
    folder.mkdir()
    archive = subprocess.Popen(
        ["git", "-C", str(ROOT), "archive", full, "callisto"], stdout=subprocess.PIPE
    )
    assert archive.stdout is not None
    subprocess.run(["tar", "-x", "-C", str(folder)], stdin=archive.stdout, check=True)
    archive.stdout.close()
    if archive.wait() != 0 or not (folder / "callisto" / "__init__.py").exists():
        raise RuntimeError(f"git archive {ref} callisto gave no callisto package")
    return Code(side, ref, short, folder)


def from_working_tree(side: str) -> Code:
    """Copy the working tree's ``callisto/`` (as it is now) into the scratch folder.

    The copy keeps one run on one version of the code while others edit the tree.
    """
    head = _git("rev-parse", "--short", "HEAD")
    changed = [
        line for line in _git("status", "--porcelain", "--", "callisto").splitlines() if line
    ]
    commit = f"{head} + uncommitted changes ({len(changed)} files)" if changed else head
    folder = SCRATCH / f"code-{side}-worktree"
    shutil.copytree(
        ROOT / "callisto", folder / "callisto", ignore=shutil.ignore_patterns("__pycache__")
    )
    return Code(side, "working tree", commit, folder)


SERVING_MODULES = ("uvloop", "httptools")
"""Dependencies a newer pyproject may add that change how any version of the server runs:
uvicorn's ``loop``/``http`` "auto" take uvloop and httptools whenever they are importable."""


def _pyproject(ref: str | None) -> str:
    if ref is None:
        return (ROOT / "pyproject.toml").read_text()
    return _git("show", f"{ref}:pyproject.toml")


def _asks_for(pyproject: str, module: str) -> bool:
    """Whether a pyproject.toml depends on ``module``, by name or through uvicorn[standard]."""
    return "uvicorn[standard]" in pyproject or f'"{module}>' in pyproject


def auto_hidden(before: str, after: str | None) -> tuple[str, ...]:
    """Return the modules to hide from the ``before`` server: those of
    :data:`SERVING_MODULES` that ``after``'s pyproject.toml asks for and ``before``'s does not.

    Both servers share one venv; without this the old code would run on what the new
    dependencies installed, and the comparison would miss their gain.
    """
    old, new = _pyproject(before), _pyproject(after)
    return tuple(m for m in SERVING_MODULES if _asks_for(new, m) and not _asks_for(old, m))


def codes(before: str | None, after: str | None, hide: str | None = None) -> list[Code]:
    """Return the code to measure: ``[after]``, or ``[before, after]`` with a ``before`` ref.

    ``hide`` lists modules (comma-separated) the before server must not import; ``None`` picks
    them with :func:`auto_hidden`, ``"none"`` hides nothing.
    """
    current = from_commit("after", after) if after else from_working_tree("after")
    if not before:
        return [current]
    if hide is None:
        hidden = auto_hidden(before, after)
    else:
        hidden = tuple(m for m in hide.split(",") if m and m != "none")
    old = from_commit("before", before)
    return [Code(old.side, old.ref, old.commit, old.path, hidden), current]


def in_turn(items: Sequence[T], step: int) -> list[T]:
    """Return ``items`` in order on even steps and reversed on odd ones.

    Alternating which server goes first spreads the machine's drift over both.
    """
    return list(items) if step % 2 == 0 else list(reversed(items))


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
        raise RuntimeError(f"{self.name} did not start at {self.url}:\n{self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        """Return the end of the process's log."""
        return self.log.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        """Interrupt the process (SIGINT, then SIGKILL after 10 s) and wait for it."""
        if self.popen.poll() is None:
            self.popen.send_signal(2)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)

    def settle(self, timeout: float = 30.0, busy_pct: float = 10.0) -> None:
        """Wait until the process uses under ``busy_pct`` of a core, at most ``timeout`` s.

        A server that has just carried a load may still be finishing runs whose clients gave
        up; waiting keeps that work out of the next measurement.
        """
        deadline = time.monotonic() + timeout
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(self.pid)
            while time.monotonic() < deadline and process.cpu_percent(0.5) > busy_pct:
                pass


def spawn(name: str, argv: list[str], url: str, env: dict[str, str] | None = None) -> Process:
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
    process = spawn("fake", argv, f"http://127.0.0.1:{port}")
    try:
        process.wait_ready("/v1/models")
        yield process
    finally:
        process.stop()


def _check_code(process: Process, code: Code) -> None:
    """Raise unless the server's log says it loaded ``callisto`` from ``code``'s copy."""
    expected = (code.path / "callisto").resolve()
    lines = process.log.read_text(errors="replace").splitlines()
    if code.hidden and f"{HIDDEN}{', '.join(code.hidden)}" not in lines:
        process.stop()
        raise RuntimeError(f"the {code.side} server did not hide {code.hidden}:\n{process.tail()}")
    for line in lines:
        if line.startswith(LOADED):
            loaded = Path(line[len(LOADED) :].strip()).resolve()
            if loaded.is_relative_to(expected):
                return
            break
    process.stop()
    raise RuntimeError(
        f"the {code.side} server did not load callisto from {expected}:\n{process.tail()}"
    )


def _warn_stray(process: Process, code: Code) -> None:
    for line in process.log.read_text(errors="replace").splitlines():
        if line.startswith(STRAY):
            print(
                f"  WARNING: the {code.side} server loaded {line[len(STRAY) :]} outside {code.path}"
            )


def _callisto_command(
    code: Code, model_url: str, extra_env: dict[str, str] | None
) -> tuple[list[str], dict[str, str], bool]:
    """Return the argv prefix (before the subcommand), environment and whether it is overridden."""
    env = dict(os.environ)
    env.update(
        {
            "CALLISTO_PROVIDERS__FAKE__KIND": "openai",
            "CALLISTO_PROVIDERS__FAKE__BASE_URL": model_url + "/v1",
            "CALLISTO_PROVIDERS__FAKE__TIMEOUT": "300",
            "CALLISTO_LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        }
    )
    env.pop("CALLISTO_API_KEY", None)
    override = os.environ.get("BENCH_CALLISTO") if code.side == "after" else None
    if override:
        return override.split(), env, True
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(code.path), env.get("PYTHONPATH")) if p)
    env["BENCH_HIDE"] = ",".join(code.hidden)
    return [sys.executable, "-P", "-c", LAUNCHER], env, False


@contextlib.contextmanager
def callisto(
    database_url: str,
    model_url: str,
    code: Code,
    extra_env: dict[str, str] | None = None,
    serve_args: Sequence[str] = (),
) -> Iterator[Process]:
    """Run ``callisto serve`` from ``code`` on ``database_url``, provider ``fake`` at ``model_url``.

    ``serve_args`` are added to the command line (e.g. ``--dispatch queue``).
    """
    port = free_port()
    argv, env, override = _callisto_command(code, model_url, extra_env)
    argv += ["serve", "--port", str(port), "--database-url", database_url, *serve_args]
    process = spawn(f"callisto-{code.side}", argv, f"http://127.0.0.1:{port}", env)
    try:
        process.wait_ready("/health", timeout=60)
        if not override:
            _check_code(process, code)
        yield process
    finally:
        process.stop()
        _warn_stray(process, code)


def start_worker(
    database_url: str,
    model_url: str,
    code: Code,
    extra_env: dict[str, str] | None = None,
    concurrency: int = 64,
) -> Process:
    """Start ``callisto worker`` from ``code`` (the scaled mode); the caller stops it.

    A worker serves no HTTP: it is ready once its log says which code it loaded.
    """
    argv, env, override = _callisto_command(code, model_url, extra_env)
    argv += ["worker", "--database-url", database_url, "--concurrency", str(concurrency)]
    process = spawn(f"worker-{code.side}", argv, "", env)
    deadline = time.monotonic() + 60
    while not override and LOADED not in process.log.read_text(errors="replace"):
        if process.popen.poll() is not None or time.monotonic() > deadline:
            process.stop()
            raise RuntimeError(f"the worker did not start:\n{process.tail()}")
        time.sleep(0.1)
    if not override:
        _check_code(process, code)
    return process


@dataclass(frozen=True)
class Database:
    """A fresh database for one server.

    Attributes:
        kind: ``"sqlite"`` or ``"postgres"``.
        url: What the server is given.
        name: The PostgreSQL database that is the server's alone (its statistics are the
            server's), or ``None`` (SQLite, or a schema in a shared database).
    """

    kind: str
    url: str
    name: str | None = None


@dataclass(frozen=True)
class Target:
    """One server of the comparison: its code and its database."""

    code: Code
    database: Database

    @property
    def side(self) -> str:
        """``"before"`` or ``"after"``."""
        return self.code.side


@dataclass(frozen=True)
class Server(Target):
    """A running server of the comparison: a target and its process."""

    process: Process


FLOOR = Code("floor", "bench/floor.py", "bench/floor.py", ROOT)
"""The floor server (``bench/floor.py``) as a side of the comparison."""
with_floor = True
"""Whether :func:`servers` adds the floor server (``python -m bench --no-floor`` clears it)."""


@contextlib.contextmanager
def servers(targets: Sequence[Target], model_url: str) -> Iterator[list[Server]]:
    """Run one server per target, all at once, and the floor server (when :data:`with_floor`);
    yield them once every one answers."""
    from bench import floor

    with contextlib.ExitStack() as stack:
        started = [
            Server(
                t.code, t.database, stack.enter_context(callisto(t.database.url, model_url, t.code))
            )
            for t in targets
        ]
        if with_floor:
            null = stack.enter_context(floor.server(model_url))
            started.insert(0, Server(FLOOR, Database("none", ""), null))
        yield started


def postgres_unavailable() -> str | None:
    """Return why PostgreSQL cannot be used, or ``None`` when it can."""
    from callisto.testing.databases import postgres_unavailable_reason

    try:
        return postgres_unavailable_reason()
    except ImportError as exc:
        return f"psycopg is not installed ({exc})"


def _postgres_admin() -> str:
    from callisto.testing.databases import postgres_base_url

    return postgres_base_url()


@contextlib.contextmanager
def _postgres_database() -> Iterator[Database]:
    """Create a database of its own (dropped after); a fresh schema if that is refused."""
    import psycopg

    base = _postgres_admin()
    name = "callisto_bench_" + secrets.token_hex(6)
    try:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    except psycopg.Error as exc:
        print(f"  (CREATE DATABASE refused: {exc}; a schema instead, no database statistics)")
        from callisto.testing.databases import fresh_postgres_schema

        with fresh_postgres_schema() as url:
            yield Database("postgres", url)
        return
    parts = urlsplit(base)
    try:
        yield Database("postgres", urlunsplit(parts._replace(path="/" + name)), name)
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def database(kind: str) -> Iterator[Database]:
    """Yield a fresh database: a new SQLite file, or a new PostgreSQL database."""
    if kind == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="db-", dir=SCRATCH))
        yield Database(kind, f"sqlite:///{folder}/callisto.db")
        return
    with _postgres_database() as db:
        yield db


@contextlib.contextmanager
def targets(kind: str, code: Sequence[Code]) -> Iterator[list[Target]]:
    """Yield one target per code, each with a fresh database of ``kind``."""
    with contextlib.ExitStack() as stack:
        yield [Target(c, stack.enter_context(database(kind))) for c in code]


STATS = ("xact_commit", "xact_rollback", "tup_inserted", "tup_updated", "tup_deleted")
"""The ``pg_stat_database`` counters read around a workload."""


def pg_counters(db: Database, timeout: float = 15.0) -> dict[str, int]:
    """Return ``db``'s :data:`STATS` once no session is connected to it.

    A backend flushes its statistics when it exits; with every connection closed (the server
    stopped), the counters are complete. The admin connection is to another database.
    """
    import psycopg

    query = f"SELECT numbackends, {', '.join(STATS)} FROM pg_stat_database WHERE datname = %s"
    deadline = time.monotonic() + timeout
    with psycopg.connect(_postgres_admin(), autocommit=True) as conn:
        while True:
            row = conn.execute(query, (db.name,)).fetchone()
            if row is None:
                raise RuntimeError(f"no statistics for database {db.name}")
            if row[0] == 0:
                return dict(zip(STATS, row[1:], strict=True))
            if time.monotonic() > deadline:
                raise RuntimeError(f"{row[0]} sessions still connected to {db.name}")
            time.sleep(0.2)
