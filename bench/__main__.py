"""``python -m bench``: measure what Callisto adds to a model's own time, and write the results.

Every workload runs against its baseline (the same conversation straight to the fake model)
on SQLite and, when reachable, PostgreSQL; the results go to ``bench/results/``: RESULTS.md (the
tables, the targets, the machine), ``results.json`` and PNG plots. Timing never fails the run:
figures are printed and recorded. Everything stays on loopback, and every loop is bounded in
count and time (``--quick`` about 3 minutes, the full run about 11 on 2 cores).

``--before REF`` (or ``BENCH_BEFORE``) also runs the server as it was at commit ``REF`` and
measures it side by side with the current one in every workload: same venv, the old
``callisto/`` package first on its ``PYTHONPATH``, its own fresh database. The current
("after") server runs a copy of the working tree's ``callisto/`` taken when the run starts
(or of ``--after REF``). With ``--before``, ``--quick`` takes about 4-5 minutes and the full
run 16-20 (most of it the concurrency levels 256 and 1,000); ``--levels`` picks the levels, e.g.
``--levels 1,16,64,256`` saves about 7 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import (
    concurrency,
    floor_check,
    launch,
    profiling,
    report,
    roundtrip,
    scaled,
    sqlcount,
    streaming,
)

RESULTS = Path(__file__).resolve().parent / "results"
WORKLOADS = ("roundtrip", "concurrency", "streaming")
OPTIONAL = ("scaled",)
"""Workloads run only when asked for (``--workloads scaled``): the scaled mode needs PostgreSQL
and Redis, and takes about 5 minutes with ``--quick``."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts: a short run")
    parser.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help=f"comma-separated, of {', '.join(WORKLOADS + OPTIONAL)} (default: all but scaled)",
    )
    parser.add_argument(
        "--no-floor",
        action="store_true",
        help="leave out the floor server (bench/floor.py) and its self-check",
    )
    parser.add_argument("--databases", default="sqlite,postgres", help="comma-separated")
    parser.add_argument("--levels", default=None, help="concurrency levels, e.g. 1,16,256")
    parser.add_argument(
        "--before",
        default=os.environ.get("BENCH_BEFORE") or None,
        metavar="REF",
        help="also measure the server at git commit REF, side by side (env BENCH_BEFORE)",
    )
    parser.add_argument(
        "--after",
        default=None,
        metavar="REF",
        help="measure the server at git commit REF as the current one (default: the working tree)",
    )
    parser.add_argument(
        "--before-hide",
        default=os.environ.get("BENCH_BEFORE_HIDE") or None,
        metavar="MODULES",
        help="modules the before server must not import, comma-separated, or 'none' (default: "
        "uvloop,httptools when only the current pyproject.toml asks for them)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results are written")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the server with py-spy (concurrency 256 or the largest level, streaming burst)",
    )
    return parser


def _profiler(out: Path, db: str, enabled: bool, levels: tuple[int, ...], compare: bool) -> Any:
    if not enabled:
        return None
    target = 256 if 256 in levels else max(levels)

    def start(pid: int, key: Any, side: str) -> Any:
        if key not in (target, "burst") or side == "floor":
            return None
        workload = "concurrency-" + str(key) if isinstance(key, int) else "streaming-" + key
        name = f"{db}-{side}-{workload}" if compare else f"{db}-{workload}"
        return profiling.record(pid, out / "profiles" / f"{name}.txt")

    return start


def _workload(
    workload: str, db: str, targets: list[launch.Target], args: argparse.Namespace, **extra: Any
) -> list[dict[str, Any]]:
    if workload == "roundtrip":
        return roundtrip.run(db, targets, quick=args.quick)
    if workload == "concurrency":
        return concurrency.run(
            db, targets, quick=args.quick, levels=extra["levels"], on_server=extra["hook"]
        )
    if workload == "streaming":
        return streaming.run(db, targets, quick=args.quick, on_server=extra["hook"])
    raise SystemExit(f"unknown workload {workload!r}; known: {', '.join(WORKLOADS + OPTIONAL)}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return 0 (timings never fail it)."""
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    args = _parser().parse_args(argv)
    workloads = [w for w in args.workloads.split(",") if w]
    databases = [d for d in args.databases.split(",") if d]
    levels = tuple(int(x) for x in args.levels.split(",")) if args.levels else None
    levels = levels or (concurrency.QUICK_LEVELS if args.quick else concurrency.FULL_LEVELS)
    code = launch.codes(args.before, args.after, args.before_hide)
    for c in code:
        hidden = f"; hiding {', '.join(c.hidden)}" if c.hidden else ""
        print(f"{c.side}: callisto of {c.describe()}, copied to {c.path}{hidden}")
    info = report.machine()
    started = time.monotonic()
    rows: list[dict[str, Any]] = []
    skipped = []
    timings: dict[str, int] = {}
    launch.with_floor = not args.no_floor
    floor_differences = None if args.no_floor else floor_check.check(code[-1])
    if floor_differences:
        print("the floor server's traffic differs from Callisto's:", *floor_differences, sep="\n  ")
    elif floor_differences is not None:
        print("floor self-check: the floor server speaks Callisto's traffic")
    # Counts, not timings: the working tree's SQL per conversation, on each backend.
    sql = sqlcount.measure(databases)
    per_db = [w for w in workloads if w not in OPTIONAL]
    for db in databases if per_db else []:
        if db == "postgres" and (reason := launch.postgres_unavailable()):
            print(f"skipping PostgreSQL: {reason}")
            skipped.append(f"postgres ({reason})")
            continue
        hook = _profiler(args.out, db, args.profile, levels, len(code) > 1)
        print(f"== {db}")
        for workload in per_db:
            began = time.monotonic()
            with launch.targets(db, code) as targets:
                rows += _workload(workload, db, targets, args, levels=levels, hook=hook)
            timings[f"{db} {workload}"] = round(time.monotonic() - began)
            print(f"  ({db} {workload} took {timings[f'{db} {workload}']} s)")
    if "scaled" in workloads:
        if reason := scaled.unavailable():
            print(f"skipping the scaled workload: {reason}")
            skipped.append(f"scaled ({reason})")
        else:
            print("== scaled (PostgreSQL + Redis)")
            began = time.monotonic()
            rows += scaled.run(code[-1], quick=args.quick)
            timings["scaled"] = round(time.monotonic() - began)
    elapsed = time.monotonic() - started
    servers = (
        "two `callisto serve` processes (before and after, each uvicorn, 1 worker, embedded "
        "dispatch, each on its own database)"
        if len(code) > 1
        else "one `callisto serve` process (uvicorn, 1 worker, embedded dispatch)"
    )
    settings = {
        "quick": args.quick,
        "elapsed_s": elapsed,
        "timings_s": timings,
        "after_command": os.environ.get("BENCH_CALLISTO") or None,
        "databases": [d for d in databases if not any(s.startswith(d) for s in skipped)],
        "skipped": "; ".join(skipped),
        "floor_check": floor_differences,
        "sql_per_conversation": sql,
        "code": {
            c.side: {"ref": c.ref, "commit": c.commit, "hidden": list(c.hidden)} for c in code
        },
        "command": " ".join(["python -m bench", *(sys.argv[1:] if argv is None else argv)]),
        "description": (
            f"{servers}, the fake model (`bench.fake_model`) and the client in separate processes "
            "on this machine; round trip: 20-token answers; concurrency: "
            f"levels {', '.join(map(str, levels))}, fake time to first token 500 ms; streaming: "
            "1,000 tokens at 2 ms/token (paced) and 0 ms (burst)"
        ),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    notes_file = args.out / "NOTES.md"
    notes = notes_file.read_text() if notes_file.exists() else ""
    text = report.markdown(rows, info, settings, notes)
    (args.out / "RESULTS.md").write_text(text)
    payload = {"machine": info, "settings": settings, "rows": rows}
    (args.out / "results.json").write_text(json.dumps(payload, indent=1, default=str))
    written = report.plots(rows, args.out)
    if args.profile:
        for raw in sorted((args.out / "profiles").glob("*.txt")):
            summary = raw.with_suffix(".md")
            summary.write_text(f"# {raw.stem}\n\n" + profiling.summarise(raw))
            written.append(summary)
    print()
    print("\n".join(line for line in text.splitlines() if not line.startswith("![")))
    print(f"wrote {args.out / 'RESULTS.md'}, results.json and {', '.join(p.name for p in written)}")
    print(f"took {elapsed:.0f} s; logs and code copies in {launch.SCRATCH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
