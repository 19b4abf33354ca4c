"""Counters and latencies of tool calls, readable as a dict or as Prometheus text."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from typing import Any

from callisto.tools.results import ToolResult

# Latency histogram bounds in seconds (Prometheus style, cumulative).
DEFAULT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _Latency:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.count = 0
        self.total = 0.0
        self.maximum = 0.0
        self.buckets = [0] * len(buckets)

    def add(self, seconds: float, bounds: tuple[float, ...]) -> None:
        self.count += 1
        self.total += seconds
        self.maximum = max(self.maximum, seconds)
        for index, bound in enumerate(bounds):
            if seconds <= bound:
                self.buckets[index] += 1


class ToolMetrics:
    """Counts calls, errors by code, latencies and cache hits, per tool.

    Args:
        buckets: Latency histogram bounds in seconds, ascending.
        prefix: The metric name prefix for :meth:`prometheus`.
    """

    def __init__(
        self, *, buckets: tuple[float, ...] = DEFAULT_BUCKETS, prefix: str = "callisto_tool"
    ) -> None:
        self._bounds = tuple(sorted(buckets))
        self._prefix = prefix
        self._calls: Counter[str] = Counter()
        self._errors: dict[str, Counter[str]] = defaultdict(Counter)
        self._latency: dict[str, _Latency] = {}
        self._cache: Counter[str] = Counter()
        self._lock = threading.Lock()

    def record(self, result: ToolResult) -> None:
        """Count one finished call."""
        with self._lock:
            self._calls[result.name] += 1
            if result.code is not None:
                self._errors[result.name][result.code.value] += 1
            latency = self._latency.setdefault(result.name, _Latency(self._bounds))
            latency.add(result.duration, self._bounds)

    def record_cache(self, *, hit: bool) -> None:
        """Count one cache lookup."""
        with self._lock:
            self._cache["hits" if hit else "misses"] += 1

    def snapshot(self) -> dict[str, Any]:
        """Return the metrics as plain data.

        Returns:
            ``{"calls": {tool: n}, "errors": {tool: {code: n}}, "latency": {tool: {"count",
            "mean", "max"}}, "cache": {"hits", "misses", "hit_rate"}}``.
        """
        with self._lock:
            lookups = self._cache["hits"] + self._cache["misses"]
            return {
                "calls": dict(self._calls),
                "errors": {tool: dict(codes) for tool, codes in self._errors.items()},
                "latency": {
                    tool: {
                        "count": lat.count,
                        "mean": lat.total / lat.count if lat.count else 0.0,
                        "max": lat.maximum,
                    }
                    for tool, lat in self._latency.items()
                },
                "cache": {
                    "hits": self._cache["hits"],
                    "misses": self._cache["misses"],
                    "hit_rate": self._cache["hits"] / lookups if lookups else 0.0,
                },
            }

    def prometheus(self) -> str:
        """Return the metrics in the Prometheus text exposition format."""
        p = self._prefix
        lines = [f"# TYPE {p}_calls_total counter"]
        with self._lock:
            lines += [
                f'{p}_calls_total{{tool="{_esc(t)}"}} {n}' for t, n in sorted(self._calls.items())
            ]
            lines.append(f"# TYPE {p}_errors_total counter")
            for tool, codes in sorted(self._errors.items()):
                lines += [
                    f'{p}_errors_total{{tool="{_esc(tool)}",code="{code}"}} {n}'
                    for code, n in sorted(codes.items())
                ]
            lines.append(f"# TYPE {p}_duration_seconds histogram")
            for tool, lat in sorted(self._latency.items()):
                label = f'tool="{_esc(tool)}"'
                lines += [
                    f'{p}_duration_seconds_bucket{{{label},le="{bound:g}"}} {n}'
                    for bound, n in zip(self._bounds, lat.buckets, strict=True)
                ]
                lines.append(f'{p}_duration_seconds_bucket{{{label},le="+Inf"}} {lat.count}')
                lines.append(f"{p}_duration_seconds_sum{{{label}}} {lat.total:.6f}")
                lines.append(f"{p}_duration_seconds_count{{{label}}} {lat.count}")
            lines.append(f"# TYPE {p}_cache_lookups_total counter")
            lines.append(f'{p}_cache_lookups_total{{result="hit"}} {self._cache["hits"]}')
            lines.append(f'{p}_cache_lookups_total{{result="miss"}} {self._cache["misses"]}')
        return "\n".join(lines) + "\n"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
