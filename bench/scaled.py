"""Workload 4, the scaled mode: throughput and CPU per conversation, and takeover after SIGKILL.

Throughput: the streamed tool round trip of :mod:`bench.client` as a closed loop at 64 and 256
conversations in flight, fake model at 200 ms to the first token, through

- ``embedded``: one ``callisto serve`` (runner in the process, memory event log), and
- ``N workers``: one ``callisto serve --dispatch queue`` API process and N ``callisto worker``
  processes (N = 1, 2, 4, each ``--concurrency 256``), events on Redis (the URL raises redis-py's
  pool limit and socket timeout: see :data:`REDIS_OPTIONS`),

each on a fresh PostgreSQL database. Per level: conversations per second, and server CPU
milliseconds per conversation: the user plus system CPU of every Callisto process of the
deployment (API and workers, summed with psutil) over the level, divided by the conversations
completed. PostgreSQL's and Redis's own CPU is not counted. The same level straight to the model
(``direct``) and through the floor server (:mod:`bench.floor`) is measured once per level before
the deployments, and the rows carry the ratios to the floor. Two client processes share each
level.

Takeover: one API process and two workers with ``runs.lease_seconds`` at 3 s (heartbeat 0.5 s,
sweep every 1 s, the defaults). A few turns stream a long answer; the worker holding the most of
them gets SIGKILL; the time from the kill until another process has claimed each of its runs
(``runs.lease_owner`` changes, read every 20 ms) is one sample. A fresh worker replaces the dead
one before the next kill. Every conversation must still reach ``completed``.

Needs PostgreSQL and Redis; skipped with the reason when either is unreachable. Every loop is
bounded in count and time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import psutil

from bench import launch
from bench.client import Direct, ViaCallisto, http_client
from bench.concurrency import closed_loop
from bench.measure import percentile, quantiles

LATENCY_MS = 200
LEVELS = (64, 256)
WORKERS = (0, 1, 2, 4)  # 0: embedded
WORKER_CONCURRENCY = 256
LEASE_SECONDS = 3.0
TAKEOVER_TURNS = 8
TAKEOVER_BOUND = 30.0
REDIS_OPTIONS = "max_connections=4096&socket_timeout=60"
"""Given to every process in the Redis URL's query. redis-py 8's asyncio pool allows 100
connections unless told otherwise and then raises ``MaxConnectionsError``; each streamed run
holds one while it reads its events, so 64 conversations in flight overflowed the default pool
of an API process (HTTP 500s) and of a worker (turns that lost their lease). Its default
``socket_timeout`` of 5 s was shorter than the event log's ``XREAD BLOCK`` until commit 5fa09a1
(reads now block in 1 s slices): a stream idle for 5 s (a run waiting in the queue at 256 in
flight) failed with ``redis.exceptions.TimeoutError`` and an HTTP 500. The timeout is raised
too, so that runs of older commits can be measured."""


def unavailable() -> str | None:
    """Return why the scaled mode cannot run here (PostgreSQL or Redis unreachable), or ``None``."""
    from callisto.testing.databases import redis_unavailable_reason

    if reason := launch.postgres_unavailable():
        return reason
    try:
        return redis_unavailable_reason()
    except ImportError as exc:
        return f"redis is not installed ({exc})"


def _scaled_env(lease_seconds: float | None = None) -> dict[str, str]:
    from callisto.testing.databases import redis_url

    url = f"{redis_url()}{'&' if '?' in redis_url() else '?'}{REDIS_OPTIONS}"
    env = {"CALLISTO_EVENT_LOG": "redis", "CALLISTO_REDIS_URL": url}
    if lease_seconds is not None:
        env["CALLISTO_RUNS__LEASE_SECONDS"] = str(lease_seconds)
    return env


class Deployment:
    """The processes of one deployment: an API process and its workers (none when embedded)."""

    def __init__(self, api: launch.Process, workers: list[launch.Process]) -> None:
        """Hold the started processes."""
        self.api = api
        self.workers = workers

    @property
    def pids(self) -> list[int]:
        """Every Callisto process of the deployment."""
        return [self.api.pid, *(w.pid for w in self.workers)]


@contextlib.contextmanager
def deployment(
    code: launch.Code,
    database_url: str,
    model_url: str,
    workers: int,
    env: dict[str, str] | None = None,
) -> Iterator[Deployment]:
    """Start an embedded server (``workers == 0``) or an API process and ``workers`` workers."""
    if workers == 0:
        with launch.callisto(database_url, model_url, code, env) as api:
            yield Deployment(api, [])
        return
    scaled = {**_scaled_env(), **(env or {})}
    with launch.callisto(database_url, model_url, code, scaled, ["--dispatch", "queue"]) as api:
        started: list[launch.Process] = []
        try:
            for _ in range(workers):
                started.append(
                    launch.start_worker(database_url, model_url, code, scaled, WORKER_CONCURRENCY)
                )
            yield Deployment(api, started)
        finally:
            for worker in started:
                worker.stop()


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
    return total


CLIENT_PROCESSES = 2
"""Client processes sharing each level's conversations, so that one client's CPU is not the
ceiling of what is measured."""


def _counts(level: int, quick: bool) -> tuple[int, float]:
    return (2 if quick else 4) * level, 30.0 if quick else 60.0


def _client_share(url: str, workers: int, total: int, budget: float) -> dict[str, Any]:
    """One client process's share of a level: ``workers`` closed loops through ``url``."""

    async def share() -> dict[str, Any]:
        async with http_client(workers + 16) as http:
            ours = ViaCallisto(http, url)
            await ours.setup()
            return await closed_loop(workers, total, budget, ours.conversation)

    return asyncio.run(share())


def measure_level(url: str, pids: list[int], level: int, quick: bool) -> dict[str, Any]:
    """Run ``level`` conversations in flight through the server at ``url``; CPU of ``pids``.

    The level is shared by :data:`CLIENT_PROCESSES` client processes, after a warm-up.
    """

    async def warm_up() -> None:
        async with http_client(32) as http:
            ours = ViaCallisto(http, url)
            await ours.setup()
            warm = (ours.conversation() for _ in range(min(level, 16)))
            await asyncio.gather(*warm, return_exceptions=True)

    asyncio.run(warm_up())
    total, budget = _counts(level, quick)
    k = CLIENT_PROCESSES
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(k, mp_context=context) as pool:
        list(pool.map(_noop, range(k)))  # the client processes are up before the clock starts
        cpu0 = _cpu_seconds(pids)
        started = time.perf_counter()
        shares = list(
            pool.map(_client_share, [url] * k, [level // k] * k, [total // k] * k, [budget] * k)
        )
        wall = time.perf_counter() - started
        cpu = _cpu_seconds(pids) - cpu0
    latencies = [ms for share in shares for ms in share["latencies_ms"]]
    errors = [e for share in shares for e in share["errors"]]
    done = len(latencies)
    return {
        "n": done,
        "errors": len(errors),
        "error_sample": errors[:3],
        "per_s": done / wall,
        "cpu_ms": 1000 * cpu / done if done else float("nan"),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
    }


def _noop(_: int) -> None:
    """Nothing: starting the pool's processes."""


async def _direct(model_url: str, level: int, quick: bool) -> dict[str, Any]:
    async with http_client(level + 16) as http:
        direct = Direct(http, model_url)
        await direct.conversation()
        result = await closed_loop(level, *_counts(level, quick), direct.conversation)
    done = len(result["latencies_ms"])
    return {"per_s": done / result["wall_s"], "p50_ms": percentile(result["latencies_ms"], 50)}


def _floors(model_url: str, quick: bool) -> dict[int, dict[str, Any]]:
    """Measure each level straight to the model and through the floor server."""
    from bench import floor

    out: dict[int, dict[str, Any]] = {}
    with floor.server(model_url) as null:
        for level in LEVELS:
            null.settle()
            out[level] = {
                "direct": asyncio.run(_direct(model_url, level, quick)),
                "floor": measure_level(null.url, [null.pid], level, quick),
            }
    return out


def _name(workers: int) -> str:
    return "embedded" if workers == 0 else f"{workers} worker{'s' if workers > 1 else ''}"


def run(code: launch.Code, *, quick: bool) -> list[dict[str, Any]]:
    """Measure throughput per deployment and level, then takeover; return the rows."""
    rows: list[dict[str, Any]] = [takeover(code, quick=quick)]
    with launch.fake_model(ttft_ms=LATENCY_MS, tokens=20) as fake:
        floors = _floors(fake.url, quick)
        for workers in WORKERS:
            with (
                launch.database("postgres") as db,
                deployment(code, db.url, fake.url, workers) as dep,
            ):
                for level in LEVELS:
                    dep.api.settle()
                    row = measure_level(dep.api.url, dep.pids, level, quick)
                    ref = floors[level]
                    row.update(
                        workload="scaled",
                        db="postgres",
                        server=code.side,
                        deployment=_name(workers),
                        workers=workers,
                        level=level,
                        direct_per_s=ref["direct"]["per_s"],
                        floor_per_s=ref["floor"]["per_s"],
                        floor_cpu_ms=ref["floor"]["cpu_ms"],
                        per_s_to_floor=row["per_s"] / ref["floor"]["per_s"],
                        cpu_to_floor=row["cpu_ms"] / ref["floor"]["cpu_ms"],
                        per_s_to_direct=row["per_s"] / ref["direct"]["per_s"],
                    )
                    rows.append(row)
                    print(_line(row))
    return rows


def _line(row: dict[str, Any]) -> str:
    return (
        f"  scaled {row['deployment']:<10} {row['level']:>4} in flight  n={row['n']:<5} "
        f"err={row['errors']:<3} {row['per_s']:6.1f} conv/s (floor {row['floor_per_s']:6.1f}, "
        f"direct {row['direct_per_s']:6.1f})  CPU {row['cpu_ms']:5.1f} ms/conv "
        f"(floor {row['floor_cpu_ms']:4.1f}, x{row['cpu_to_floor']:.1f})"
    )


async def _leases(conn: Any) -> dict[str, str | None]:
    cursor = await conn.execute(
        "SELECT id, lease_owner FROM runs WHERE status IN ('queued', 'in_progress')"
    )
    return {row[0]: row[1] for row in await cursor.fetchall()}


async def _one_kill(
    dep: Deployment, url: str, conn: Any, http: Any, assistant: ViaCallisto
) -> dict[str, Any]:
    """Stream turns, SIGKILL the worker holding most of them, time each run's takeover."""
    turns = [asyncio.create_task(assistant.conversation()) for _ in range(TAKEOVER_TURNS)]
    deadline = time.monotonic() + 30
    leases: dict[str, str | None] = {}
    while time.monotonic() < deadline:
        leases = await _leases(conn)
        if len(leases) >= TAKEOVER_TURNS and all(leases.values()):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # let the turns stream for a while
    leases = await _leases(conn)
    owners = [o for o in leases.values() if o]
    victim_owner = max(set(owners), key=owners.count)
    victim_pid = int(victim_owner.split(":")[-2])
    victim = next(w for w in dep.workers if w.pid == victim_pid)
    held = [run for run, owner in leases.items() if owner == victim_owner]
    os.kill(victim_pid, signal.SIGKILL)
    killed = time.monotonic()
    victim.popen.wait(5)
    taken: dict[str, float] = {}
    while len(taken) < len(held) and time.monotonic() - killed < TAKEOVER_BOUND:
        now = await _leases(conn)
        for run in held:
            if run not in taken and now.get(run, "gone") not in (victim_owner, None):
                taken[run] = time.monotonic() - killed
        await asyncio.sleep(0.02)
    results = await asyncio.gather(*turns, return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    dep.workers.remove(victim)
    return {
        "held": len(held),
        "seconds": sorted(taken.values()),
        "not_taken": len(held) - len(taken),
        "failed": [f"{type(e).__name__}: {e}"[:200] for e in failed],
    }


def takeover(code: launch.Code, *, quick: bool) -> dict[str, Any]:
    """Kill a worker with turns streaming, several times; return the takeover row."""
    import psycopg

    kills = 3 if quick else 5
    env = _scaled_env(LEASE_SECONDS)
    samples: list[dict[str, Any]] = []
    with (
        launch.fake_model(ttft_ms=0, token_delay_ms=25, tokens=300) as fake,
        launch.database("postgres") as db,
        deployment(code, db.url, fake.url, 2, env) as dep,
    ):

        async def kill_all() -> None:
            async with (
                await psycopg.AsyncConnection.connect(db.url, autocommit=True) as conn,
                http_client(TAKEOVER_TURNS + 8) as http,
            ):
                assistant = ViaCallisto(http, dep.api.url)
                await assistant.setup(tools=False)
                for _ in range(kills):
                    samples.append(await _one_kill(dep, dep.api.url, conn, http, assistant))
                    last = samples[-1]
                    print(
                        f"  takeover: {last['held']} runs of the killed worker, taken over after "
                        + ", ".join(f"{t:.2f}" for t in last["seconds"])
                        + f" s; {last['not_taken']} not taken, {len(last['failed'])} failed"
                    )
                    dep.workers.append(
                        launch.start_worker(db.url, fake.url, code, env, WORKER_CONCURRENCY)
                    )

        asyncio.run(kill_all())
    seconds = [s for sample in samples for s in sample["seconds"]]
    return {
        "workload": "takeover",
        "db": "postgres",
        "server": code.side,
        "kills": len(samples),
        "lease_seconds": LEASE_SECONDS,
        "runs_held": sum(s["held"] for s in samples),
        "not_taken": sum(s["not_taken"] for s in samples),
        "failed": sum(len(s["failed"]) for s in samples),
        "failed_sample": [f for s in samples for f in s["failed"]][:3],
        "takeover_s": quantiles(seconds) | {"max": max(seconds, default=float("nan"))},
    }


def section(rows: list[dict[str, Any]]) -> list[str]:
    """Return the RESULTS.md section of the scaled rows (empty when there are none)."""
    scaled = [r for r in rows if r["workload"] == "scaled"]
    over = [r for r in rows if r["workload"] == "takeover"]
    if not scaled and not over:
        return []
    out = [
        "",
        f"## Scaled mode (PostgreSQL, fake model at {LATENCY_MS} ms)",
        "",
        "Closed loop of streamed tool round trips. *CPU ms/conv*: CPU of every Callisto process "
        "of the deployment (API and workers) per completed conversation. *Floor*: the null "
        "server of `bench/floor.py` (same traffic, no logic), and *direct* the same "
        "conversation straight to the fake model, each measured once per level before the "
        f"deployments. {CLIENT_PROCESSES} client processes share each level. Workers run "
        f"`--concurrency {WORKER_CONCURRENCY}`; every process's Redis URL carries "
        f"`?{REDIS_OPTIONS}`: redis-py 8's asyncio pool allows 100 connections by default and "
        "raises `MaxConnectionsError` past them (with the default, 64 in flight through 1 "
        "worker gave 34 errors in 128 conversations, 256 in flight 440 in 447), and before "
        "commit 5fa09a1 its default 5 s `socket_timeout` was shorter than the event log's 15 s "
        "`XREAD BLOCK` (with only the pool raised, 256 in flight through 1 worker gave 450 "
        "errors in 466, `redis.exceptions.TimeoutError` in the API process).",
        "",
        "| deployment | in flight | conv done | errors | conv/s | floor conv/s | direct conv/s "
        "| conv/s / floor | CPU ms/conv | floor CPU ms/conv | CPU / floor | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in scaled:
        out.append(
            f"| {r['deployment']} | {r['level']} | {r['n']} | {r['errors']} | {r['per_s']:.1f} "
            f"| {r['floor_per_s']:.1f} | {r['direct_per_s']:.1f} | {r['per_s_to_floor']:.2f} "
            f"| {r['cpu_ms']:.1f} | {r['floor_cpu_ms']:.1f} | {r['cpu_to_floor']:.1f}x "
            f"| {r['p50_ms']:.0f} | {r['p99_ms']:.0f} |"
        )
    if any(r["error_sample"] for r in scaled):
        out += ["", "Errors seen:", ""]
    for r in scaled:
        out += [f"- errors at {r['level']} ({r['deployment']}): `{e}`" for e in r["error_sample"]]
    for r in over:
        t = r["takeover_s"]
        out += [
            "",
            f"Takeover after SIGKILL of a worker (1 API process, 2 workers, lease "
            f"{r['lease_seconds']:g} s, heartbeat 0.5 s, sweep 1 s; {TAKEOVER_TURNS} turns "
            f"streaming per kill): {r['kills']} kills, {r['runs_held']} runs held by the killed "
            f"workers; seconds from the kill until another worker claimed each run: "
            f"p50 {t['p50']:.2f} s, max {t['max']:.2f} s; {r['not_taken']} not taken over "
            f"within {TAKEOVER_BOUND:g} s; {r['failed']} conversations did not complete"
            + (f" (e.g. `{r['failed_sample'][0]}`)" if r["failed_sample"] else "")
            + ".",
        ]
    return out
