"""The benchmark's report: the machine and versions, Markdown tables, targets, PNG plots."""

from __future__ import annotations

import datetime
import importlib.metadata
import math
import os
import platform
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench.launch import ROOT

PACKAGES = (
    "openai",
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "aiosqlite",
    "psycopg",
    "httpx",
)


def machine() -> dict[str, Any]:
    """Describe the machine, the software and the moment of the run."""
    cpu = platform.processor() or ""
    with_model = Path("/proc/cpuinfo")
    if with_model.exists():
        for line in with_model.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for name in ("callisto", *PACKAGES):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "-"
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit or "-",
        "os": f"{platform.system()} {platform.release()}",
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "versions": versions,
        "load_avg": os.getloadavg(),
    }


SIDES = ("floor", "before", "after")


def _ms(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.1f}"


def _ms2(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2f}"


FLOOR_METRICS: dict[str, dict[str, Callable[[dict[str, Any]], float]]] = {
    "roundtrip": {
        "p50": lambda r: float(r["callisto"]["p50"]),
        "server_cpu_ms": lambda r: float(r.get("server_cpu_ms", math.nan)),
    },
    "concurrency": {
        "runs_per_s": lambda r: float(r["runs_per_s"]),
        "server_cpu_ms": lambda r: float(r.get("server_cpu_ms", math.nan)),
    },
    "streaming": {"p50": lambda r: float(r["callisto"]["p50"])},
}
"""Per workload, the figures reported as a ratio to the floor server's (``bench/floor.py``)."""

KEYS = {
    "roundtrip": ("db", "variant", "latency_ms"),
    "concurrency": ("db", "level"),
    "streaming": ("db", "pace"),
}


def with_floor(rows: list[dict[str, Any]]) -> None:
    """Set ``to_floor`` on every row that has a floor row beside it: its figures over the floor's."""
    for workload, metrics in FLOOR_METRICS.items():
        mine = [r for r in rows if r["workload"] == workload]
        for group in _group(mine, KEYS[workload]):
            floor = group.get("floor")
            if floor is None:
                continue
            for row in group.values():
                ratios = {}
                for name, metric in metrics.items():
                    base = metric(floor)
                    ratios[name] = metric(row) / base if base and not math.isnan(base) else math.nan
                row["to_floor"] = ratios


def _ratio(row: dict[str, Any], name: str) -> str:
    value = (row.get("to_floor") or {}).get(name, math.nan)
    return "-" if math.isnan(value) else f"{value:.2f}x"


@dataclass(frozen=True)
class Column:
    """A table column.

    Attributes:
        header: Its heading (``before``/``after`` appended when it is per server).
        cell: The cell's text from a row.
        per_side: One column per server when comparing; else the "after" row's value.
        compare: Shown when comparing (some columns only fit a one-server table).
        bold: The cell is in bold.
        numeric: Right-aligned.
        change: The figure whose change, after against before, gets a column when comparing.
    """

    header: str
    cell: Callable[[dict[str, Any]], str]
    per_side: bool = False
    compare: bool = True
    bold: bool = False
    numeric: bool = True
    change: Callable[[dict[str, Any]], float] | None = None


def _change(column: Column, group: dict[str, dict[str, Any]]) -> str:
    """Return after against before in percent, e.g. ``-35%``."""
    if column.change is None or "before" not in group or "after" not in group:
        return "-"
    before, after = column.change(group["before"]), column.change(group["after"])
    if not before or math.isnan(before) or math.isnan(after):
        return "-"
    return f"{100 * (after - before) / abs(before):+.0f}%"


def _group(rows: list[dict[str, Any]], key: tuple[str, ...]) -> list[dict[str, dict[str, Any]]]:
    """Group rows by ``key``, in order of first appearance: per group, server side -> row."""
    groups: dict[tuple[Any, ...], dict[str, dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r.get(k) for k in key), {})[r.get("server", "after")] = r
    return list(groups.values())


def _sides(rows: list[dict[str, Any]]) -> list[str]:
    present = {r.get("server", "after") for r in rows}
    return [s for s in SIDES if s in present]


def _table(rows: list[dict[str, Any]], key: tuple[str, ...], columns: list[Column]) -> list[str]:
    """Render ``rows`` grouped by ``key``: one line per group, per-server columns side by side."""
    sides = _sides(rows)
    compare = len(sides) > 1
    changes = "before" in sides and "after" in sides
    shown = [c for c in columns if compare is False or c.compare]
    headers: list[str] = []
    aligns: list[str] = []
    for c in shown:
        names = [f"{c.header} {s}" for s in sides] if compare and c.per_side else [c.header]
        if changes and c.change is not None:
            names.append(f"{c.header} change")
        headers += names
        aligns += ["---:" if c.numeric else "---"] * len(names)
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(aligns) + "|"]
    for group in _group(rows, key):
        first = group.get("after") or next(iter(group.values()))
        cells: list[str] = []
        for c in shown:
            picked = [group.get(s) for s in sides] if compare and c.per_side else [first]
            for r in picked:
                text = "-" if r is None else c.cell(r)
                cells.append(f"**{text}**" if c.bold and r is not None else text)
            if changes and c.change is not None:
                cells.append(_change(c, group))
        out.append("| " + " | ".join(cells) + " |")
    return out


ROUNDTRIP = [
    Column("db", lambda r: r["db"], numeric=False),
    Column("client", lambda r: r["variant"], numeric=False),
    Column("fake latency", lambda r: f"{r['latency_ms']} ms"),
    Column("n", lambda r: str(r["n"]), per_side=True),
    Column("baseline p50", lambda r: _ms(r["baseline"]["p50"])),
    Column("Callisto p50", lambda r: _ms(r["callisto"]["p50"]), per_side=True, compare=False),
    Column(
        "added p50",
        lambda r: _ms(r["added"]["p50"]),
        per_side=True,
        bold=True,
        change=lambda r: float(r["added"]["p50"]),
    ),
    Column("added p95", lambda r: _ms(r["added"]["p95"]), per_side=True),
    Column("added p99", lambda r: _ms(r["added"]["p99"]), per_side=True),
    Column("ratio p50", lambda r: f"{r['ratio_p50']:.2f}", per_side=True, compare=False),
    Column("p50 / floor", lambda r: _ratio(r, "p50"), per_side=True),
    Column("CPU ms/conversation", lambda r: _ms(r.get("server_cpu_ms", math.nan)), per_side=True),
    Column("CPU / floor", lambda r: _ratio(r, "server_cpu_ms"), per_side=True),
    Column("thread create p50", lambda r: _ms(r["thread_ms"]["p50"]), per_side=True),
]

CONCURRENCY = [
    Column("db", lambda r: r["db"], numeric=False),
    Column("in flight", lambda r: str(r["level"])),
    Column("direct runs/s", lambda r: f"{r['baseline_runs_per_s']:.1f}"),
    Column("baseline p50", lambda r: _ms(r["baseline"]["p50"])),
    Column("runs done", lambda r: str(r["n"]), per_side=True),
    Column("errors", lambda r: str(r["errors"]), per_side=True),
    Column(
        "runs/s",
        lambda r: f"{r['runs_per_s']:.1f}",
        per_side=True,
        change=lambda r: float(r["runs_per_s"]),
    ),
    Column("runs/s / floor", lambda r: _ratio(r, "runs_per_s"), per_side=True),
    Column("added p50", lambda r: _ms(r["added"]["p50"]), per_side=True, bold=True),
    Column("added p99", lambda r: _ms(r["added"]["p99"]), per_side=True, bold=True),
    Column("CPU ms/run", lambda r: _ms(r.get("server_cpu_ms", math.nan)), per_side=True),
    Column("CPU / floor", lambda r: _ratio(r, "server_cpu_ms"), per_side=True),
    Column("server RSS", lambda r: f"{r['server_rss_mb']:.0f} MB", per_side=True),
    Column("server CPU", lambda r: f"{r['server_cpu_pct']:.0f}%", per_side=True),
    Column("client CPU", lambda r: f"{r['client_cpu_pct']:.0f}%", per_side=True, compare=False),
    Column("fake CPU", lambda r: f"{r['model_cpu_pct']:.0f}%", per_side=True, compare=False),
]

STREAMING = [
    Column("db", lambda r: r["db"], numeric=False),
    Column("pace", lambda r: f"{r['pace']} ({r['token_delay_ms']:g} ms/token)", numeric=False),
    Column("baseline delay p50", lambda r: _ms2(r["baseline"]["p50"])),
    Column("direct chunks/s", lambda r: f"{r['baseline_chunks_per_s']:.0f}"),
    Column("chunks", lambda r: str(r["chunks"]), per_side=True),
    Column(
        "Callisto delay p50", lambda r: _ms2(r["callisto"]["p50"]), per_side=True, compare=False
    ),
    Column("added p50", lambda r: _ms2(r["added"]["p50"]), per_side=True, bold=True),
    Column("added p99", lambda r: _ms2(r["added"]["p99"]), per_side=True),
    Column("delay p50 / floor", lambda r: _ratio(r, "p50"), per_side=True),
    Column(
        "chunks/s",
        lambda r: f"{r['chunks_per_s']:.0f}",
        per_side=True,
        change=lambda r: float(r["chunks_per_s"]),
    ),
]

DBWORK = {
    "xact_commit": "commits (`xact_commit`)",
    "xact_rollback": "rollbacks (`xact_rollback`)",
    "tup_inserted": "rows inserted (`tup_inserted`)",
    "tup_updated": "rows updated (`tup_updated`)",
}


def _dbwork_table(rows: list[dict[str, Any]]) -> list[str]:
    """One line per counter: its figure per conversation on each server."""
    sides = _sides(rows)
    heads = sides if len(sides) > 1 else ["Callisto"]
    out = [
        "| db | per conversation | " + " | ".join(heads) + " |",
        "|---|---|" + "---:|" * len(heads),
    ]
    for group in _group(rows, ("db",)):
        first = next(iter(group.values()))
        for counter, label in DBWORK.items():
            cells = [
                f"{group[s]['per_conversation'][counter]:.1f}" if s in group else "-" for s in sides
            ]
            out.append(f"| {first['db']} | {label} | " + " | ".join(cells) + " |")
    return out


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**missed**")


def _target_roundtrip(mine: list[dict[str, Any]]) -> Iterator[tuple[str, str, bool | None]]:
    trip = [
        r
        for r in mine
        if r["workload"] == "roundtrip" and r["latency_ms"] == 0 and r["variant"] == "SDK stream"
    ]
    if trip:
        p50 = trip[0]["added"]["p50"]
        yield "round trip adds <= 5 ms p50 (SDK stream, concurrency 1)", f"{p50:.1f} ms", p50 <= 5


def _target_concurrency(mine: list[dict[str, Any]]) -> Iterator[tuple[str, str, bool | None]]:
    top = [r for r in mine if r["workload"] == "concurrency"]
    if top:
        big = max(top, key=lambda r: r["level"])
        p99, rss = big["added"]["p99"], big["server_rss_mb"]
        ok: bool | None = p99 <= 100 and rss <= 500 and big["errors"] == 0
        label = "1,000 runs in flight: added p99 <= 100 ms, RSS <= 500 MB"
        if big["level"] != 1000:
            label += f" (measured at {big['level']} only)"
            ok = None
        yield label, f"p99 +{p99:.0f} ms, {rss:.0f} MB, {big['errors']} errors", ok


def _target_streaming(mine: list[dict[str, Any]]) -> Iterator[tuple[str, str, bool | None]]:
    paced = [r for r in mine if r["workload"] == "streaming" and r["pace"] == "paced"]
    if paced:
        p50 = paced[0]["added"]["p50"]
        yield "streaming adds <= 1 ms p50 per chunk", f"{p50:.2f} ms", p50 <= 1


def _target_poll(mine: list[dict[str, Any]]) -> Iterator[tuple[str, str, bool | None]]:
    polled = [
        r for r in mine if r["workload"] == "roundtrip" and r["variant"] == "SDK create_and_poll"
    ]
    if polled:
        after = polled[0]["poll_after_ms"]
        ok = after is not None and after < 1000
        yield "no SDK poll helper waits a full second", f"`openai-poll-after-ms: {after}`", ok


CHECKS = (_target_roundtrip, _target_concurrency, _target_streaming, _target_poll)


def targets(rows: list[dict[str, Any]]) -> list[str]:
    """Return the targets table: each target, the figure measured, met or missed.

    Judged on the "after" server; with a "before" server, its figure stands beside.
    """
    rows = [r for r in rows if r.get("server") != "floor"]
    sides = _sides(rows)
    compare = len(sides) > 1
    if compare:
        out = ["| target | db | before | after | verdict (after) |", "|---|---|---|---|---|"]
    else:
        out = ["| target | db | measured | verdict |", "|---|---|---|---|"]
    for db in sorted({r["db"] for r in rows}):
        found: dict[str, dict[str, tuple[str, bool | None]]] = {}
        for side in sides:
            mine = [r for r in rows if r["db"] == db and r.get("server", "after") == side]
            for check in CHECKS:
                for label, text, ok in check(mine):
                    found.setdefault(label, {})[side] = (text, ok)
        for label, by_side in found.items():
            text, ok = by_side.get("after", ("-", None))
            before = f" {by_side.get('before', ('-', None))[0]} |" if compare else ""
            out.append(f"| {label} | {db} |{before} {text} | {_verdict(ok)} |")
    return out


def _header(info: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    load = ", ".join(f"{x:.2f}" for x in info["load_avg"])
    command = settings.get("command") or "python -m bench"
    timings = ", ".join(f"{k} {v} s" for k, v in (settings.get("timings_s") or {}).items())
    code = settings.get("code") or {}
    parts = [
        "# Callisto benchmark results",
        "",
        f"Generated by `{command}` on {info['date']}, commit `{info['commit']}`.",
        "",
    ]
    if "before" in code:
        parts += [
            f"**before**: commit `{code['before']['commit']}` (`--before {code['before']['ref']}`); "
            f"**after**: `{code['after']['commit']}` ({code['after']['ref']}). Both servers run in "
            "the same run, on the same machine and fake model, against the same baseline, each "
            "on a fresh database of its own. Round trip and streaming alternate baseline, before "
            "and after one conversation at a time (which server goes first alternates too); "
            "concurrency runs the baseline, then each server in turn, at every level, each once "
            "the other has gone quiet. Both use the same venv (the same library versions)"
            + (
                f"; the before server cannot import {', '.join(hidden)}, not among its "
                "dependencies then (uvicorn's auto choice falls back to asyncio and h11)."
                if (hidden := code["before"].get("hidden"))
                else "."
            ),
            "",
        ]
    elif code:
        parts += [f"Server code: `{code['after']['commit']}` ({code['after']['ref']}).", ""]
    if settings.get("after_command"):
        parts += [f"The after server ran `BENCH_CALLISTO={settings['after_command']}`.", ""]
    return [
        *parts,
        "## Machine and settings",
        "",
        f"- {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB, {info['os']}, Python {info['python']}",
        f"- {versions}",
        f"- load average at start: {load} (the machine is shared; see the notes)",
        f"- {settings['description']}",
        f"- run took {settings['elapsed_s']:.0f} s ({timings}); databases: "
        + ", ".join(settings["databases"])
        + (f"; skipped: {settings['skipped']}" if settings.get("skipped") else ""),
        "",
        *_sql_lines(settings),
        "All figures in milliseconds unless marked. *Added* is Callisto's percentile minus the",
        "baseline's (the same conversation straight to the fake model with Chat Completions).",
        *_floor_lines(settings),
    ]


def _sql_lines(settings: dict[str, Any]) -> list[str]:
    sql = settings.get("sql_per_conversation")
    if not sql:
        return []
    return [
        "SQL per conversation of the working tree (`python -m bench.sqlcount`: thread with a "
        "message, streamed run, tool call, streamed tool output, text answer; counted by "
        "SQLAlchemy's events, every engine of the server):",
        "",
        *(f"- {db}: {line}" for db, line in sql.items()),
        "",
    ]


def _floor_lines(settings: dict[str, Any]) -> list[str]:
    differences = settings.get("floor_check")
    if differences is None:
        return []
    check = (
        "its self-check found the same requests, events and upstream bodies as Callisto's"
        if not differences
        else "**its self-check found differences from Callisto's traffic**: "
        + "; ".join(f"`{d}`" for d in differences)
    )
    return [
        "",
        "*floor* is the null server of `bench/floor.py`: the same requests, server-sent events "
        "and upstream Chat Completions calls as Callisto, with no logic (state in dicts, no "
        "database, no validation); *x / floor* is a figure over the floor's, measured in the "
        f"same run; {check}.",
    ]


SECTIONS = (
    ("Round trip (one tool call, concurrency 1)", "roundtrip", ("db", "variant", "latency_ms")),
    ("Concurrency (fake model at 500 ms)", "concurrency", ("db", "level")),
    ("Streaming (1,000-token answer; delay per chunk)", "streaming", ("db", "pace")),
)
COLUMNS = {"roundtrip": ROUNDTRIP, "concurrency": CONCURRENCY, "streaming": STREAMING}
DBWORK_TEXT = (
    "Counted from PostgreSQL's `pg_stat_database` for each server's own database: each server "
    "is started twice, for 2 and for 2 + N streamed SDK round trips (new thread, run, tool "
    "output, answer), and stopped so its sessions flush their statistics; the difference of "
    "the two, divided by N, is one conversation's work, without start, stop and assistant. "
    "PostgreSQL counts every transaction: read-only ones, and each statement run in autocommit "
    "(such as the connection pool's pre-ping `SELECT 1` at every session checkout) count as "
    "commits too; a session closed without commit counts as a rollback. The expiry sweeper is "
    "slowed to once an hour for this count; autovacuum, if it visits the database meanwhile, "
    "adds a few transactions (a jitter of about 0.5 per conversation). Not measured on SQLite."
)


def markdown(
    rows: list[dict[str, Any]], info: dict[str, Any], settings: dict[str, Any], notes: str
) -> str:
    """Return RESULTS.md."""
    with_floor(rows)
    parts = [*_header(info, settings), "", "## Targets", "", *targets(rows)]
    for title, workload, key in SECTIONS:
        mine = [r for r in rows if r["workload"] == workload]
        if mine:
            table = _table(mine, key, COLUMNS[workload])
            parts += ["", f"## {title}", "", *table, "", f"![{workload}]({workload}.png)"]
        work = [r for r in rows if r["workload"] == "dbwork"]
        if workload == "roundtrip" and work:
            n = work[0]["conversations"]
            parts += ["", f"### Database work per conversation (N = {n})", ""]
            parts += [*_dbwork_table(work), "", DBWORK_TEXT]
    from bench import scaled

    parts += scaled.section(rows)
    errors = [r for r in rows if r.get("error_sample") and r["workload"] == "concurrency"]
    if errors:
        parts += ["", "### Errors seen", ""]
        for r in errors:
            side = f" ({r['server']})" if len(_sides(rows)) > 1 else ""
            parts += [f"- {r['db']} at {r['level']}{side}: `{e}`" for e in r["error_sample"]]
    if notes:
        parts += ["", notes.strip()]
    return "\n".join(parts) + "\n"


def _series(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """Return ``(label, side, key)`` per bar series: each key, per server when comparing."""
    sides = _sides(rows)
    if len(sides) == 1:
        return [(f"added {k}", sides[0], k) for k in keys]
    return [(f"{side} added {k}", side, k) for k in keys for side in sides]


def _bars(
    ax: Any, groups: list[dict[str, dict[str, Any]]], series: list[tuple[str, str, str]]
) -> None:
    width = 0.8 / len(series)
    for i, (label, side, key) in enumerate(series):
        offset = (i - (len(series) - 1) / 2) * width
        values = [g[side]["added"][key] if side in g else math.nan for g in groups]
        hatch = "//" if side == "before" and len(series) > 3 else None
        ax.bar(
            [x + offset for x in range(len(groups))], values, width=width, label=label, hatch=hatch
        )


def _roundtrip_plot(trips: list[dict[str, Any]], folder: Path) -> Path:
    import matplotlib.pyplot as plt

    groups = _group(trips, ("db", "variant", "latency_ms"))
    fig, ax = plt.subplots(figsize=(10, 4.5))
    firsts = [next(iter(g.values())) for g in groups]
    labels = [
        f"{r['db']}\n{r['variant'].replace('SDK ', '')}\n{r['latency_ms']} ms" for r in firsts
    ]
    keys = ("p50", "p95", "p99") if len(_sides(trips)) == 1 else ("p50", "p99")
    _bars(ax, groups, _series(trips, keys))
    ax.axhline(5, color="red", linestyle="--", linewidth=1, label="target p50 (5 ms)")
    ax.set_xticks(list(range(len(groups))), labels, fontsize=7)
    ax.set_ylabel("ms added over direct Chat Completions")
    ax.set_title("One function-calling round trip through Callisto")
    ax.legend(fontsize=8)
    return _save(fig, folder / "roundtrip.png")


def _concurrency_plot(conc: list[dict[str, Any]], folder: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    compare = len(_sides(conc)) > 1
    for colour, db in enumerate(sorted({r["db"] for r in conc})):
        for side in _sides(conc):
            mine = sorted(
                (r for r in conc if r["db"] == db and r.get("server", "after") == side),
                key=lambda r: r["level"],
            )
            name = f"{db} {side}" if compare else db
            style = {"linestyle": "--" if side == "before" and compare else "-"}
            one, two = f"C{2 * colour}", f"C{2 * colour + 1}"
            levels = [r["level"] for r in mine]
            p50s, p99s = [r["added"]["p50"] for r in mine], [r["added"]["p99"] for r in mine]
            axes[0][0].plot(levels, p50s, "o", color=one, label=f"{name} p50", **style)
            axes[0][0].plot(levels, p99s, "s", color=two, label=f"{name} p99", **style)
            for ax, key in (
                (axes[0][1], "runs_per_s"),
                (axes[1][0], "server_rss_mb"),
                (axes[1][1], "server_cpu_pct"),
            ):
                ax.plot(levels, [r[key] for r in mine], "o", color=one, label=name, **style)
    first = conc[0]["db"]
    direct = sorted(
        (r for r in conc if r["db"] == first and r.get("server", "after") == "after"),
        key=lambda r: r["level"],
    )
    axes[0][1].plot(
        [r["level"] for r in direct],
        [r["baseline_runs_per_s"] for r in direct],
        "k:",
        label="direct",
    )
    axes[0][0].axhline(100, color="red", linestyle="--", linewidth=1, label="target p99")
    axes[1][0].axhline(500, color="red", linestyle="--", linewidth=1, label="target")
    titles = (
        "added latency (ms)",
        "runs per second",
        "server peak RSS (MB)",
        "server CPU (% of a core)",
    )
    for ax, title in zip([a for pair in axes for a in pair], titles, strict=True):
        ax.set_xscale("log")
        ax.set_xlabel("runs in flight")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=6)
    fig.suptitle("Concurrency, fake model at 500 ms" + (" (dashed: before)" if compare else ""))
    return _save(fig, folder / "concurrency.png")


def _streaming_plot(streams: list[dict[str, Any]], folder: Path) -> Path:
    import matplotlib.pyplot as plt

    groups = _group(streams, ("db", "pace"))
    sides = _sides(streams)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    firsts = [next(iter(g.values())) for g in groups]
    labels = [f"{r['db']}\n{r['pace']}" for r in firsts]
    x = list(range(len(groups)))
    _bars(left, groups, _series(streams, ("p50", "p99")))
    left.axhline(1, color="red", linestyle="--", linewidth=1, label="target p50 (1 ms)")
    left.set_xticks(x, labels, fontsize=8)
    left.set_ylabel("ms added per chunk")
    left.legend(fontsize=7)
    bars = [("direct", [next(iter(g.values()))["baseline_chunks_per_s"] for g in groups])]
    for side in sides:
        name = "Callisto" if len(sides) == 1 else f"Callisto {side}"
        bars.append((name, [g[side]["chunks_per_s"] if side in g else math.nan for g in groups]))
    width = 0.8 / len(bars)
    for i, (name, values) in enumerate(bars):
        offset = (i - (len(bars) - 1) / 2) * width
        right.bar([p + offset for p in x], values, width=width, label=name)
    right.set_xticks(x, labels, fontsize=8)
    right.set_ylabel("chunks per second")
    right.legend(fontsize=8)
    fig.suptitle("Streaming a 1,000-token answer")
    return _save(fig, folder / "streaming.png")


def plots(rows: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Write the PNG plots of the workloads present in ``rows``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    drawers = {
        "roundtrip": _roundtrip_plot,
        "concurrency": _concurrency_plot,
        "streaming": _streaming_plot,
    }
    written: list[Path] = []
    for workload, draw in drawers.items():
        mine = [r for r in rows if r["workload"] == workload]
        if mine:
            written.append(draw(mine, folder))
    return written


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
