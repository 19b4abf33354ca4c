"""Workload 3, streaming: a 1,000-token answer, and what Callisto adds to each chunk.

The fake model stamps every token with the time it sent it (``bench.fake_model --stamp``; the
monotonic clock is shared by the processes of one machine), and the client notes when each text
delta arrives. A chunk's delay is arrival minus send time; the baseline is the same answer read
straight from the model, so the added delay per chunk is Callisto's relay: provider parsing, the
event log, SSE framing, one more loopback hop.

Two paces: ``paced`` (2 ms between tokens, a fast model) for the per-chunk delay, and ``burst``
(no delay at all) for the most chunks per second each path can carry. Answers alternate: the
baseline, then each server (before and after, in alternating order).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from bench import launch
from bench.client import Direct, ViaCallisto, http_client
from bench.fake_model import parse_stamp
from bench.measure import added, quantiles

TOKENS = 1000
PACES_MS = {"paced": 2.0, "burst": 0.0}


class ChunkClock:
    """Collects each chunk's delay (ms) and arrival times of one answer."""

    def __init__(self) -> None:
        """Start empty."""
        self.delays_ms: list[float] = []
        self.arrivals: list[int] = []

    def __call__(self, text: str, arrived_ns: int) -> None:
        """Record one text delta."""
        sent = parse_stamp(text)
        if sent is not None:
            self.delays_ms.append((arrived_ns - sent) / 1e6)
            self.arrivals.append(arrived_ns)

    @property
    def chunks_per_s(self) -> float:
        """Chunks per second from the first to the last arrival."""
        if len(self.arrivals) < 2:
            return 0.0
        return (len(self.arrivals) - 1) / ((self.arrivals[-1] - self.arrivals[0]) / 1e9)


async def _measure(
    model_url: str, servers: list[launch.Server], answers: int, budget: float
) -> dict[str, list[ChunkClock]]:
    async with http_client(8) as http:
        direct = Direct(http, model_url, tools=False)
        ours = {server.side: ViaCallisto(http, server.process.url) for server in servers}
        await direct.conversation()
        for side in ours.values():
            await side.setup(tools=False)
            await side.conversation()
        sides: dict[str, list[ChunkClock]] = {"baseline": [], **{name: [] for name in ours}}
        deadline = time.monotonic() + budget
        for step in range(answers):
            if time.monotonic() > deadline:
                break
            clock = ChunkClock()
            await direct.conversation(clock)
            sides["baseline"].append(clock)
            for name in launch.in_turn(list(ours), step):
                clock = ChunkClock()
                await ours[name].conversation(clock)
                sides[name].append(clock)
        return sides


def run(
    db: str, targets: list[launch.Target], *, quick: bool, on_server: Any = None
) -> list[dict[str, Any]]:
    """Measure both paces on one database; ``on_server(pid, pace, side)`` may return a profiler."""
    rows: list[dict[str, Any]] = []
    for pace, delay in PACES_MS.items():
        answers = 2 if quick else (6 if pace == "paced" else 4)
        with (
            launch.fake_model(tokens=TOKENS, token_delay_ms=delay, stamp=True) as fake,
            launch.servers(targets, fake.url) as servers,
            contextlib.ExitStack() as profilers,
        ):
            for server in servers:
                if on_server and (found := on_server(server.process.pid, pace, server.side)):
                    profilers.enter_context(found)
            coroutine = _measure(fake.url, servers, answers, 30 if quick else 90)
            sides = asyncio.run(coroutine)
        base = [d for clock in sides["baseline"] for d in clock.delays_ms]
        for server in servers:
            ours = [d for clock in sides[server.side] for d in clock.delays_ms]
            row = {
                "workload": "streaming",
                "db": db,
                "server": server.side,
                "pace": pace,
                "token_delay_ms": delay,
                "tokens": TOKENS,
                "answers": len(sides[server.side]),
                "chunks": len(ours),
                "callisto": quantiles(ours),
                "baseline": quantiles(base),
                "added": added(ours, base),
                "chunks_per_s": _mean([c.chunks_per_s for c in sides[server.side]]),
                "baseline_chunks_per_s": _mean([c.chunks_per_s for c in sides["baseline"]]),
            }
            rows.append(row)
            print(_line(row))
    return rows


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _line(row: dict[str, Any]) -> str:
    a = row["added"]
    return (
        f"  streaming {row['db']:<8} {row['server']:<6} {row['pace']:<6} chunks={row['chunks']:<5} "
        f"added/chunk p50 {a['p50']:6.2f} p99 {a['p99']:7.2f} ms  "
        f"{row['chunks_per_s']:8.0f} chunks/s (direct {row['baseline_chunks_per_s']:8.0f})"
    )
