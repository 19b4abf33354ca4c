"""Server CPU per conversation and latency at concurrency 1, as ratios to the floor: a quick check.

The floor server, the current Callisto and, with ``--before REF``, Callisto at commit ``REF`` run
side by side (each on a fresh database of its own); rounds of conversations alternate between
them (the order flips every round), so noise from a shared machine falls on all alike. Each
conversation is the benchmarks' streamed tool round trip (:mod:`bench.client`), thread
creation included; CPU is the server process's user + system time around each round (not the
database's own processes). Timing never fails it::

    python -m bench.cpu --before main --databases sqlite,postgres --rounds 16 --per-round 25
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from collections.abc import Sequence

import psutil

from bench import launch
from bench.client import ViaCallisto, http_client


async def _measure(db: str, servers: Sequence[launch.Server], rounds: int, per: int) -> None:
    http = http_client(8)
    sides = []
    for server in servers:
        client = ViaCallisto(http, server.process.url)
        await client.setup()
        for _ in range(5):  # warm-up, not counted
            await client.conversation()
        sides.append((server.side, client, psutil.Process(server.process.pid)))
    cpu = {side: 0.0 for side, _, _ in sides}
    latency: dict[str, list[float]] = {side: [] for side, _, _ in sides}
    for number in range(rounds):
        for side, client, process in sides if number % 2 == 0 else sides[::-1]:
            before = sum(process.cpu_times()[:2])
            for _ in range(per):
                latency[side].append(await client.conversation())
            cpu[side] += sum(process.cpu_times()[:2]) - before
    await http.aclose()
    n = rounds * per
    floor_cpu = cpu["floor"] / n * 1000
    floor_p50 = statistics.median(latency["floor"]) * 1000
    for side, _, _ in sides:
        ms = cpu[side] / n * 1000
        p50 = statistics.median(latency[side]) * 1000
        print(
            f"  {db:<8} {side:<6} n={n}  p50 {p50:6.1f} ms (x{p50 / floor_p50:.2f} the floor's)  "
            f"CPU {ms:6.2f} ms per conversation (x{ms / floor_cpu:.2f} the floor's)",
            flush=True,
        )


def main(argv: Sequence[str] | None = None) -> None:
    """Print each server's p50 and CPU per conversation, and their ratios to the floor."""
    parser = argparse.ArgumentParser(prog="python -m bench.cpu", description=__doc__)
    parser.add_argument("--before", default=None, metavar="REF", help="also measure commit REF")
    parser.add_argument("--databases", default="sqlite,postgres", help="comma-separated")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=20)
    args = parser.parse_args(argv)
    code = launch.codes(args.before, None)
    with launch.fake_model(ttft_ms=0, tokens=20) as fake:
        for db in args.databases.split(","):
            if db == "postgres" and (reason := launch.postgres_unavailable()):
                print(f"  skipping PostgreSQL: {reason}")
                continue
            with launch.targets(db, code) as targets, launch.servers(targets, fake.url) as running:
                asyncio.run(_measure(db, running, args.rounds, args.per_round))


if __name__ == "__main__":
    main()
