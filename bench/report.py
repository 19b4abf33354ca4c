"""The benchmark's report: the machine and versions, Markdown tables, targets, PNG plots."""

from __future__ import annotations

import datetime
import importlib.metadata
import math
import os
import platform
import subprocess
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


def _ms(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.1f}"


def _roundtrip_table(rows: list[dict[str, Any]]) -> list[str]:
    out = [
        "| db | client | fake latency | n | baseline p50 | Callisto p50 | added p50 | added p95 | added p99 | ratio p50 | thread create p50 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        a = r["added"]
        out.append(
            f"| {r['db']} | {r['variant']} | {r['latency_ms']} ms | {r['n']} | {_ms(r['baseline']['p50'])} | "
            f"{_ms(r['callisto']['p50'])} | **{_ms(a['p50'])}** | {_ms(a['p95'])} | {_ms(a['p99'])} | "
            f"{r['ratio_p50']:.2f} | {_ms(r['thread_ms']['p50'])} |"
        )
    return out


def _concurrency_table(rows: list[dict[str, Any]]) -> list[str]:
    out = [
        "| db | in flight | runs done | errors | runs/s | direct runs/s | baseline p50 | added p50 | added p99 | server RSS | server CPU | client CPU | fake CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        a = r["added"]
        out.append(
            f"| {r['db']} | {r['level']} | {r['n']} | {r['errors']} | {r['runs_per_s']:.1f} | "
            f"{r['baseline_runs_per_s']:.1f} | {_ms(r['baseline']['p50'])} | **{_ms(a['p50'])}** | "
            f"**{_ms(a['p99'])}** | {r['server_rss_mb']:.0f} MB | {r['server_cpu_pct']:.0f}% | "
            f"{r['client_cpu_pct']:.0f}% | {r['model_cpu_pct']:.0f}% |"
        )
    return out


def _streaming_table(rows: list[dict[str, Any]]) -> list[str]:
    out = [
        "| db | pace | chunks | baseline delay p50 | Callisto delay p50 | added p50 | added p99 | chunks/s | direct chunks/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        a = r["added"]
        out.append(
            f"| {r['db']} | {r['pace']} ({r['token_delay_ms']:g} ms/token) | {r['chunks']} | "
            f"{r['baseline']['p50']:.2f} | {r['callisto']['p50']:.2f} | **{a['p50']:.2f}** | "
            f"{a['p99']:.2f} | {r['chunks_per_s']:.0f} | {r['baseline_chunks_per_s']:.0f} |"
        )
    return out


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**missed**")


def targets(rows: list[dict[str, Any]]) -> list[str]:
    """Return the targets table: each target, the figure measured, met or missed."""
    out = ["| target | db | measured | verdict |", "|---|---|---|---|"]
    for db in sorted({r["db"] for r in rows}):
        mine = [r for r in rows if r["db"] == db]
        trip = [
            r
            for r in mine
            if r["workload"] == "roundtrip"
            and r["latency_ms"] == 0
            and r["variant"] == "SDK stream"
        ]
        if trip:
            p50 = trip[0]["added"]["p50"]
            out.append(
                f"| round trip adds <= 5 ms p50 (SDK stream, concurrency 1) | {db} | {p50:.1f} ms | {_verdict(p50 <= 5)} |"
            )
        top = [r for r in mine if r["workload"] == "concurrency"]
        if top:
            big = max(top, key=lambda r: r["level"])
            p99, rss = big["added"]["p99"], big["server_rss_mb"]
            ok = p99 <= 100 and rss <= 500 and big["errors"] == 0
            label = "1,000 runs in flight: added p99 <= 100 ms, RSS <= 500 MB"
            if big["level"] != 1000:
                label += f" (measured at {big['level']} only)"
                ok = None
            out.append(
                f"| {label} | {db} | p99 +{p99:.0f} ms, {rss:.0f} MB, {big['errors']} errors | {_verdict(ok)} |"
            )
        paced = [r for r in mine if r["workload"] == "streaming" and r["pace"] == "paced"]
        if paced:
            p50 = paced[0]["added"]["p50"]
            out.append(
                f"| streaming adds <= 1 ms p50 per chunk | {db} | {p50:.2f} ms | {_verdict(p50 <= 1)} |"
            )
        polled = [
            r
            for r in mine
            if r["workload"] == "roundtrip" and r["variant"] == "SDK create_and_poll"
        ]
        if polled:
            after = polled[0]["poll_after_ms"]
            ok = after is not None and after < 1000
            out.append(
                f"| no SDK poll helper waits a full second | {db} | `openai-poll-after-ms: {after}` | {_verdict(ok)} |"
            )
    return out


def markdown(
    rows: list[dict[str, Any]], info: dict[str, Any], settings: dict[str, Any], notes: str
) -> str:
    """Return RESULTS.md."""
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    load = ", ".join(f"{x:.2f}" for x in info["load_avg"])
    parts = [
        "# Callisto benchmark results",
        "",
        f"Generated by `make bench` (`python -m bench{' --quick' if settings['quick'] else ''}`) on {info['date']}, commit `{info['commit']}`.",
        "",
        "## Machine and settings",
        "",
        f"- {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB, {info['os']}, Python {info['python']}",
        f"- {versions}",
        f"- load average at start: {load} (the machine is shared; see the notes)",
        f"- {settings['description']}",
        f"- run took {settings['elapsed_s']:.0f} s; databases: {', '.join(settings['databases'])}"
        + (f"; skipped: {settings['skipped']}" if settings.get("skipped") else ""),
        "",
        "All figures in milliseconds unless marked. *Added* is Callisto's percentile minus the",
        "baseline's (the same conversation straight to the fake model with Chat Completions).",
        "",
        "## Targets",
        "",
        *targets(rows),
    ]
    sections = [
        (
            "Round trip (one tool call, concurrency 1)",
            "roundtrip",
            _roundtrip_table,
            "roundtrip.png",
        ),
        (
            "Concurrency (fake model at 500 ms)",
            "concurrency",
            _concurrency_table,
            "concurrency.png",
        ),
        (
            "Streaming (1,000-token answer; delay per chunk)",
            "streaming",
            _streaming_table,
            "streaming.png",
        ),
    ]
    for title, workload, table, image in sections:
        mine = [r for r in rows if r["workload"] == workload]
        if mine:
            parts += ["", f"## {title}", "", *table(mine), "", f"![{workload}]({image})"]
    errors = [r for r in rows if r.get("error_sample")]
    if errors:
        parts += ["", "### Errors seen", ""]
        for r in errors:
            parts += [f"- {r['db']} at {r['level']}: `{e}`" for e in r["error_sample"]]
    if notes:
        parts += ["", notes.strip()]
    return "\n".join(parts) + "\n"


def plots(rows: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Write the PNG plots of the workloads present in ``rows``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    trips = [r for r in rows if r["workload"] == "roundtrip"]
    if trips:
        fig, ax = plt.subplots(figsize=(9, 4.5))
        labels = [
            f"{r['db']}\n{r['variant'].replace('SDK ', '')}\n{r['latency_ms']} ms" for r in trips
        ]
        x = range(len(trips))
        for offset, key in ((-0.27, "p50"), (0, "p95"), (0.27, "p99")):
            ax.bar(
                [i + offset for i in x],
                [r["added"][key] for r in trips],
                width=0.27,
                label=f"added {key}",
            )
        ax.axhline(5, color="red", linestyle="--", linewidth=1, label="target p50 (5 ms)")
        ax.set_xticks(list(x), labels, fontsize=7)
        ax.set_ylabel("ms added over direct Chat Completions")
        ax.set_title("One function-calling round trip through Callisto")
        ax.legend(fontsize=8)
        written.append(_save(fig, folder / "roundtrip.png"))
    conc = [r for r in rows if r["workload"] == "concurrency"]
    if conc:
        fig, axes = plt.subplots(2, 2, figsize=(10, 7))
        for db in sorted({r["db"] for r in conc}):
            mine = sorted((r for r in conc if r["db"] == db), key=lambda r: r["level"])
            levels = [r["level"] for r in mine]
            axes[0][0].plot(levels, [r["added"]["p50"] for r in mine], "o-", label=f"{db} p50")
            axes[0][0].plot(levels, [r["added"]["p99"] for r in mine], "s--", label=f"{db} p99")
            axes[0][1].plot(levels, [r["runs_per_s"] for r in mine], "o-", label=db)
            axes[1][0].plot(levels, [r["server_rss_mb"] for r in mine], "o-", label=db)
            axes[1][1].plot(levels, [r["server_cpu_pct"] for r in mine], "o-", label=db)
        direct = sorted((r for r in conc if r["db"] == conc[0]["db"]), key=lambda r: r["level"])
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
            ax.legend(fontsize=7)
        fig.suptitle("Concurrency, fake model at 500 ms")
        written.append(_save(fig, folder / "concurrency.png"))
    streams = [r for r in rows if r["workload"] == "streaming"]
    if streams:
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
        labels = [f"{r['db']}\n{r['pace']}" for r in streams]
        x = list(range(len(streams)))
        left.bar(
            [i - 0.2 for i in x], [r["added"]["p50"] for r in streams], width=0.4, label="added p50"
        )
        left.bar(
            [i + 0.2 for i in x], [r["added"]["p99"] for r in streams], width=0.4, label="added p99"
        )
        left.axhline(1, color="red", linestyle="--", linewidth=1, label="target p50 (1 ms)")
        left.set_xticks(x, labels, fontsize=8)
        left.set_ylabel("ms added per chunk")
        left.legend(fontsize=8)
        right.bar(
            [i - 0.2 for i in x],
            [r["baseline_chunks_per_s"] for r in streams],
            width=0.4,
            label="direct",
        )
        right.bar(
            [i + 0.2 for i in x], [r["chunks_per_s"] for r in streams], width=0.4, label="Callisto"
        )
        right.set_xticks(x, labels, fontsize=8)
        right.set_ylabel("chunks per second")
        right.legend(fontsize=8)
        fig.suptitle("Streaming a 1,000-token answer")
        written.append(_save(fig, folder / "streaming.png"))
    return written


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
