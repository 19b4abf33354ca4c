"""Workload 2, concurrency: N function-calling conversations in flight, fake model at 500 ms.

N workers each run conversations back to back (a closed loop) until the level's count or time
budget is spent; the conversation is the streamed tool round trip of :mod:`bench.client`. The
baseline runs the same N workers straight to the fake model, right before the level; with a
"before" server, both servers then run the level, in alternating order, each once the other has
gone quiet. Reported per level and server: completed runs per second, added p50/p99 (difference
of the percentiles), Callisto's peak RSS and CPU, and the CPU of the client and the fake (all on
the same machine: when they are busy, so is the server's share of it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench import launch
from bench.client import Direct, ViaCallisto, http_client
from bench.measure import ResourceMonitor, added, quantiles

LATENCY_MS = 500
FULL_LEVELS = (1, 16, 64, 256, 1000)
QUICK_LEVELS = (1, 16, 64)
CONVERSATION_TIMEOUT = 90.0


async def closed_loop(
    workers: int, total: int, budget: float, conversation: Callable[[], Awaitable[float]]
) -> dict[str, Any]:
    """Run ``total`` conversations on ``workers`` workers, starting none after ``budget`` s."""
    latencies: list[float] = []
    errors: list[str] = []
    remaining = total
    deadline = time.monotonic() + budget

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0 and time.monotonic() < deadline:
            remaining -= 1
            try:
                latencies.append(await asyncio.wait_for(conversation(), CONVERSATION_TIMEOUT))
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:300])

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    wall = time.perf_counter() - started
    return {"latencies_ms": [s * 1000 for s in latencies], "errors": errors, "wall_s": wall}


def _count(level: int, quick: bool) -> int:
    return max(4 if quick else 10, (1 if quick else 3) * level)


async def _baseline(model_url: str, level: int, quick: bool) -> dict[str, Any]:
    async with http_client(level + 16) as http:
        direct = Direct(http, model_url)
        await direct.conversation()
        return await closed_loop(
            level, _count(level, quick), 15 if quick else 30, direct.conversation
        )


async def _through(server_url: str, level: int, quick: bool) -> dict[str, Any]:
    async with http_client(level + 16) as http:
        ours = ViaCallisto(http, server_url)
        await ours.setup()
        await ours.conversation()
        return await closed_loop(
            level, _count(level, quick), 15 if quick else 30, ours.conversation
        )


def run(
    db: str,
    targets: list[launch.Target],
    *,
    quick: bool,
    levels: tuple[int, ...] | None = None,
    on_server: Callable[[int, int, str], Any] | None = None,
) -> list[dict[str, Any]]:
    """Measure every concurrency level on one database, on every server.

    Args:
        db: The database's name in the results.
        targets: The servers' code and fresh databases (one server or before and after).
        quick: Small counts and budgets.
        levels: The levels (default: all, or fewer when quick).
        on_server: Called with (server pid, level, side) before each level (to start a
            profiler); what it returns, if a context manager, is entered around the level.
    """
    levels = levels or (QUICK_LEVELS if quick else FULL_LEVELS)
    rows: list[dict[str, Any]] = []
    with (
        launch.fake_model(ttft_ms=LATENCY_MS, tokens=20) as fake,
        launch.servers(targets, fake.url) as servers,
    ):
        for step, level in enumerate(levels):
            # The baseline right before its level, so all see the machine in the same mood.
            base = asyncio.run(_baseline(fake.url, level, quick))
            for server in launch.in_turn(servers, step):
                server.process.settle()
                profiler = on_server(server.process.pid, level, server.side) if on_server else None
                row = _level(server, fake, level, quick, profiler)
                row.update(
                    db=db,
                    baseline_runs_per_s=len(base["latencies_ms"]) / base["wall_s"],
                    baseline=quantiles(base["latencies_ms"]),
                    added=added(row.pop("latencies_ms"), base["latencies_ms"]),
                )
                rows.append(row)
                print(_line(row))
    return rows


def _level(
    server: launch.Server, fake: launch.Process, level: int, quick: bool, profiler: Any
) -> dict[str, Any]:
    """Run one level through ``server``; return its row without the baseline's figures."""
    with (
        ResourceMonitor(server.process.pid) as srv,
        ResourceMonitor(os.getpid()) as client,
        ResourceMonitor(fake.pid) as model,
        profiler if profiler is not None else contextlib.nullcontext(),
    ):
        result = asyncio.run(_through(server.process.url, level, quick))
    ms = result["latencies_ms"]
    return {
        "workload": "concurrency",
        "server": server.side,
        "level": level,
        "latency_ms": LATENCY_MS,
        "n": len(ms),
        "errors": len(result["errors"]),
        "error_sample": result["errors"][:3],
        "runs_per_s": len(ms) / result["wall_s"] if result["wall_s"] else 0.0,
        "callisto": quantiles(ms),
        "latencies_ms": ms,
        "server_rss_mb": srv.peak_rss / 2**20,
        "server_cpu_pct": srv.cpu_percent,
        "server_cpu_ms": 1000 * srv.cpu_seconds / len(ms) if ms else float("nan"),
        "client_cpu_pct": client.cpu_percent,
        "model_cpu_pct": model.cpu_percent,
    }


def _line(row: dict[str, Any]) -> str:
    a = row["added"]
    return (
        f"  concurrency {row['db']:<8} {row['server']:<6} {row['level']:>5} in flight  "
        f"n={row['n']:<5} err={row['errors']:<3} {row['runs_per_s']:7.1f} runs/s "
        f"(direct {row['baseline_runs_per_s']:7.1f})  added p50 {a['p50']:8.1f} "
        f"p99 {a['p99']:8.1f} ms  RSS {row['server_rss_mb']:6.0f} MB  "
        f"CPU {row['server_cpu_pct']:4.0f}%"
    )
