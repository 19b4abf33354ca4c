"""Conversations per second per server core at N in flight: floor, before and now, interleaved.

Per round, each server in turn (the order flips every round) carries ``--total`` conversations
at ``--level`` in flight from ``--clients`` client processes (:mod:`bench.scaled`'s client
share), the fake model answering after ``--ttft`` ms. Server CPU is the server process's user +
system time over the round; on PostgreSQL also the CPU of the database's backends (the pids
of ``pg_stat_activity``). Per core = conversations / server CPU seconds. Timing never fails it::

    python -m bench.inflight --before c3f1068 --databases sqlite,postgres --level 64
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import multiprocessing
import statistics
import time
from typing import Any

import psutil

from bench import launch, scaled
from bench.client import ViaCallisto, http_client


def _cpu(pid: int) -> float:
    with contextlib.suppress(psutil.Error):
        t = psutil.Process(pid).cpu_times()
        return t.user + t.system
    return 0.0


def _backends(dbname: str | None) -> dict[int, float]:
    if not dbname:
        return {}
    import psycopg

    with psycopg.connect(launch._postgres_admin(), autocommit=True) as conn:
        pids = [
            r[0]
            for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (dbname,)
            ).fetchall()
        ]
    return {p: _cpu(p) for p in pids}


def _warm(url: str) -> None:
    async def go() -> None:
        async with http_client(32) as http:
            ours = ViaCallisto(http, url)
            await ours.setup()
            await asyncio.gather(*(ours.conversation() for _ in range(16)))

    asyncio.run(go())


def _level(server: launch.Server, pool: Any, k: int, level: int, total: int) -> dict[str, float]:
    url, pid = server.process.url, server.process.pid
    dbname = server.database.name if server.database.kind == "postgres" else None
    pg0 = _backends(dbname)
    cpu0 = _cpu(pid)
    started = time.perf_counter()
    shares = list(
        pool.map(scaled._client_share, [url] * k, [level // k] * k, [total // k] * k, [60.0] * k)
    )
    wall = time.perf_counter() - started
    cpu = _cpu(pid) - cpu0
    pg1 = _backends(dbname)
    pg = sum(v - pg0.get(p, 0.0) for p, v in pg1.items())
    lat = [ms for s in shares for ms in s["latencies_ms"]]
    errors = sum(len(s["errors"]) for s in shares)
    n = len(lat)
    return {
        "n": n,
        "errors": errors,
        "per_s": n / wall,
        "cores": cpu / wall,
        "cpu_ms": 1000 * cpu / n,
        "pg_ms": 1000 * pg / n,
        "p50": statistics.median(lat),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.inflight", description=__doc__)
    parser.add_argument("--before", default=None, help="also run Callisto at this git ref")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--level", type=int, default=64)
    parser.add_argument("--total", type=int, default=384)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--ttft", type=float, default=200)
    args = parser.parse_args()
    code = launch.codes(args.before, None)
    context = multiprocessing.get_context("spawn")
    with (
        launch.fake_model(ttft_ms=args.ttft, tokens=20) as fake,
        concurrent.futures.ProcessPoolExecutor(args.clients, mp_context=context) as pool,
    ):
        list(pool.map(scaled._noop, range(args.clients)))
        for db in args.databases.split(","):
            with launch.targets(db, code) as targets, launch.servers(targets, fake.url) as running:
                for s in running:
                    _warm(s.process.url)
                rows: dict[str, list[dict[str, float]]] = {s.side: [] for s in running}
                for r in range(args.rounds):
                    for s in launch.in_turn(running, r):
                        s.process.settle()
                        row = _level(s, pool, args.clients, args.level, args.total)
                        rows[s.side].append(row)
                        print(
                            f"  {db:<8} round {r} {s.side:<6} n={row['n']} err={row['errors']} "
                            f"{row['per_s']:6.1f} conv/s  {row['cores']:.2f} cores  "
                            f"CPU {row['cpu_ms']:6.2f} ms/conv  PG {row['pg_ms']:5.2f} ms/conv  "
                            f"-> {1000 / row['cpu_ms']:6.1f} conv/s/core  p50 {row['p50']:.0f} ms",
                            flush=True,
                        )
                for side, rs in rows.items():
                    n = sum(r["n"] for r in rs)
                    cpu = sum(r["cpu_ms"] * r["n"] for r in rs) / n
                    pg = sum(r["pg_ms"] * r["n"] for r in rs) / n
                    per_s = statistics.median(r["per_s"] for r in rs)
                    cores = statistics.median(r["cores"] for r in rs)
                    print(
                        f"  {db:<8} TOTAL {side:<6} n={n} median {per_s:6.1f} conv/s on "
                        f"{cores:.2f} cores; CPU {cpu:6.2f} ms/conv -> {1000 / cpu:6.1f} "
                        f"conv/s/core (server+PG: {1000 / (cpu + pg):6.1f}); PG {pg:5.2f} ms/conv",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
