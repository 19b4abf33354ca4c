"""Sample the Callisto server with py-spy during a workload, and summarise where its time goes.

``py-spy record --format raw`` writes collapsed stacks (``frame;frame;frame count``), one line
per distinct stack. :func:`summarise` turns them into the top functions by own time (the frame
at the top of a stack) and by total time (anywhere in a stack), line numbers dropped.
"""

from __future__ import annotations

import collections
import contextlib
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

_LINE = re.compile(r":\d+\)$")


def py_spy() -> str | None:
    """Return the py-spy executable, or ``None`` when it is not installed."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextlib.contextmanager
def record(pid: int, output: Path, rate: int = 200) -> Iterator[None]:
    """Sample process ``pid`` with py-spy while the block runs; write raw stacks to ``output``."""
    exe = py_spy()
    if exe is None:
        print("  (py-spy is not installed: no profile)")
        yield
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    argv = [exe, "record", "--pid", str(pid), "--format", "raw", "--rate", str(rate)]
    argv += ["--output", str(output), "--nonblocking"]
    spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        try:
            _, err = spy.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            spy.kill()
            _, err = spy.communicate()
        if not output.exists():
            print(f"  (py-spy wrote no profile: {err.decode(errors='replace')[-300:]})")


def _frame(raw: str) -> str:
    return _LINE.sub(")", raw.strip())


def summarise(raw: Path, top: int = 25) -> str:
    """Return a Markdown summary of a raw py-spy profile: top own and total time."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    if not samples:
        return "(no samples)\n"
    lines = [f"{samples} samples.\n", "| own % | total % | function (file) |", "|---:|---:|---|"]
    for frame, count in own.most_common(top):
        lines.append(
            f"| {100 * count / samples:.1f} | {100 * total[frame] / samples:.1f} | `{frame}` |"
        )
    lines += [
        "",
        "Top by total time (callisto frames):",
        "",
        "| total % | function (file) |",
        "|---:|---|",
    ]
    ours = [(f, c) for f, c in total.most_common() if "callisto/" in f][:top]
    for frame, count in ours:
        lines.append(f"| {100 * count / samples:.1f} | `{frame}` |")
    return "\n".join(lines) + "\n"
