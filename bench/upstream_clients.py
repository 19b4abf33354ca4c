"""Compare HTTP clients for the upstream model call, in one interleaved run.

Each candidate makes streamed Chat Completions calls to the benchmarks' fake model
(``bench.fake_model``, 20-token answers) in a process of its own, on uvloop as the server runs,
and reports the wall time per call (p50 at concurrency 1) and its own CPU time per call; at
concurrency 64 also calls a second. Rounds alternate the candidates' order so that the machine's
noise falls on all of them alike, and every figure is printed as a ratio to the first
candidate, the client as it was::

    python -m bench.upstream_clients                      # about 2 minutes on 2 cores
    python -m bench.upstream_clients --rounds 3 --calls 200 --concurrency 1,64,256

The candidates:

- ``httpx-close``: httpx, the body left at ``[DONE]`` (the connection is dropped every call);
- ``httpx-keepalive``: httpx, the body read to its end, keep-alive pool of 1,024;
- ``httpx-pool-8``: the same with at most 8 idle connections kept;
- ``httpx-aiohttp``: httpx's API on the ``httpx-aiohttp`` transport, body read to its end;
- ``aiohttp``: aiohttp's ``ClientSession`` as is, body read to its end;
- ``callisto``: Callisto's :class:`~callisto.providers._client.UpstreamClient` (aiohttp), which
  reads the body's end after ``[DONE]`` itself.

A candidate whose library is not installed (``httpx-aiohttp`` is in no extra) is left out.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bench import launch
from bench.measure import percentile

CANDIDATES = (
    "httpx-close",
    "httpx-keepalive",
    "httpx-pool-8",
    "httpx-aiohttp",
    "aiohttp",
    "callisto",
)
NEEDS = {"httpx-aiohttp": "httpx_aiohttp", "aiohttp": "aiohttp", "callisto": "aiohttp"}
BODY = {
    "model": "x",
    "messages": [{"role": "user", "content": "hello"}],
    "stream": True,
    "stream_options": {"include_usage": True},
}
DONE = b"data: [DONE]"

Call = Callable[[], Awaitable[None]]


def _httpx_call(candidate: str, url: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    import httpx

    if candidate == "httpx-aiohttp":
        from httpx_aiohttp import HttpxAiohttpClient

        limits = httpx.Limits(max_connections=1024, max_keepalive_connections=1024)
        client: httpx.AsyncClient = HttpxAiohttpClient(limits=limits, timeout=60)
    else:
        keep = 8 if candidate == "httpx-pool-8" else 1024
        limits = httpx.Limits(max_connections=1024, max_keepalive_connections=keep)
        client = httpx.AsyncClient(limits=limits, timeout=60)
    drain = candidate != "httpx-close"

    async def call() -> None:
        async with client.stream("POST", url, json=BODY) as response:
            async for chunk in response.aiter_bytes():
                if DONE in chunk and not drain:
                    break

    return call, client.aclose


def _aiohttp_call(url: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1024))

    async def call() -> None:
        async with session.post(url, json=BODY) as response:
            async for _chunk in response.content.iter_any():
                pass

    return call, session.close


def _callisto_call(url: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    from callisto.config import ProviderSettings
    from callisto.providers._client import UpstreamClient

    upstream = UpstreamClient("bench", ProviderSettings(max_connections=1024))

    async def call() -> None:
        async with upstream.stream("POST", url, json=BODY) as response:
            async for chunk in response.aiter_bytes():
                if DONE in chunk:
                    break  # the client reads the rest itself

    return call, upstream.aclose


async def _measure(candidate: str, url: str, calls: int, concurrency: int) -> dict[str, Any]:
    if candidate == "aiohttp":
        call, close = _aiohttp_call(url)
    elif candidate == "callisto":
        call, close = _callisto_call(url)
    else:
        call, close = _httpx_call(candidate, url)
    for _ in range(min(concurrency, 8)):
        await call()  # connect, and warm up, before the clock starts
    times: list[float] = []
    queue = iter(range(calls))

    async def worker() -> None:
        for _ in queue:
            began = time.perf_counter()
            await call()
            times.append(time.perf_counter() - began)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await close()
    return {
        "p50_ms": percentile(times, 50) * 1000,
        "cpu_ms": cpu / calls * 1000,
        "per_s": calls / wall,
    }


def _worker(argv: Sequence[str]) -> None:
    candidate, url, calls, concurrency = argv[0], argv[1], int(argv[2]), int(argv[3])
    import uvloop

    result = uvloop.run(_measure(candidate, url, calls, concurrency))
    print(json.dumps(result))


def _once(candidate: str, url: str, calls: int, concurrency: int) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.upstream_clients", "--worker", candidate, url]
    argv += [str(calls), str(concurrency)]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=launch.ROOT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{candidate} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _table(results: dict[str, list[dict[str, Any]]], concurrency: int) -> str:
    base = next(iter(results))
    median = {
        name: {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        for name, rows in results.items()
    }
    lines = [
        f"concurrency {concurrency} (medians of rounds; ratios to {base})",
        f"{'client':<16} {'p50 ms':>8} {'ratio':>6} {'CPU ms/call':>12} {'ratio':>6} "
        f"{'calls/s':>8} {'ratio':>6}",
    ]
    for name, m in median.items():
        b = median[base]
        lines.append(
            f"{name:<16} {m['p50_ms']:8.2f} {m['p50_ms'] / b['p50_ms']:6.2f} "
            f"{m['cpu_ms']:12.3f} {m['cpu_ms'] / b['cpu_ms']:6.2f} "
            f"{m['per_s']:8.0f} {m['per_s'] / b['per_s']:6.2f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison and print its tables; timings never fail it."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--worker"]:
        _worker(args[1:])
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.upstream_clients", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=300, help="calls per candidate and round")
    parser.add_argument("--concurrency", default="1,64", help="comma-separated levels")
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="the fake model's delay")
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    options = parser.parse_args(args)
    candidates = []
    for name in (c for c in options.candidates.split(",") if c):
        if NEEDS.get(name) and importlib.util.find_spec(NEEDS[name]) is None:
            print(f"leaving out {name}: {NEEDS[name]} is not installed")
        else:
            candidates.append(name)
    levels = [int(x) for x in options.concurrency.split(",")]
    with launch.fake_model(ttft_ms=options.ttft_ms, tokens=20) as fake:
        url = fake.url + "/v1/chat/completions"
        for level in levels:
            results: dict[str, list[dict[str, Any]]] = {c: [] for c in candidates}
            for step in range(options.rounds):
                for candidate in launch.in_turn(candidates, step):
                    calls = max(options.calls, level * 4)
                    results[candidate].append(_once(candidate, url, calls, level))
            print(_table(results, level), flush=True)
            print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
