"""Percentiles and a process's resource use (RSS, CPU) over a workload."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from types import TracebackType

import psutil


def percentile(values: Sequence[float], q: float) -> float:
    """Return the ``q``-th percentile (0-100) of ``values``, nearest rank; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def quantiles(values: Sequence[float]) -> dict[str, float]:
    """Return p50, p95 and p99 of ``values``."""
    return {f"p{q}": percentile(values, q) for q in (50, 95, 99)}


def added(measured: Sequence[float], baseline: Sequence[float]) -> dict[str, float]:
    """Return, per percentile, how much ``measured`` exceeds ``baseline`` (same unit).

    The difference of the two distributions' percentiles: the runs of each side are separate
    requests, so there is no pairing to subtract one by one.
    """
    ours, theirs = quantiles(measured), quantiles(baseline)
    return {key: ours[key] - theirs[key] for key in ours}


class ResourceMonitor:
    """Samples a process's RSS every ``interval`` seconds and its CPU time over a ``with``.

    Attributes:
        peak_rss: The largest RSS seen, in bytes.
        cpu_seconds: User plus system CPU seconds used inside the block.
        wall_seconds: Wall seconds of the block.
    """

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        """Watch process ``pid``."""
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak_rss = 0
        self.cpu_seconds = 0.0
        self.wall_seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak_rss = max(self.peak_rss, self.process.memory_info().rss)
            except psutil.Error:
                return
            self._stop.wait(self.interval)

    def _cpu(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    @property
    def cpu_percent(self) -> float:
        """CPU used as a percentage of one core (200 = two cores busy)."""
        return 100 * self.cpu_seconds / self.wall_seconds if self.wall_seconds else math.nan

    def __enter__(self) -> ResourceMonitor:
        self._cpu0, self._wall0 = self._cpu(), time.monotonic()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(2)
        self.cpu_seconds = self._cpu() - self._cpu0
        self.wall_seconds = time.monotonic() - self._wall0
