"""Shared helpers for the benchmark commands: timing, a short ratio table, the machine line.

Every benchmark prints one table (``print_table``) whose first column names the row; the smoke
tests in ``tests/benchmarks`` check those row names, never the numbers.
"""
from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python benchmarks/bench_x.py` from anywhere
    sys.path.insert(0, str(REPO))

DEFAULT_WORK = Path(os.environ.get("BOOK_ASSETS_BENCH_DIR", "/tmp/book_assets_bench"))
COVERS_DIR = (REPO / ".." / "shared" / "data" / "covers").resolve()


@dataclass
class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``."""

    seconds: float = 0.0
    _start: float = field(default=0.0, repr=False)

    def __enter__(self) -> "Timer":
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._start


def timed(fn, *args, **kwargs):
    """``(result, seconds)`` of one call."""
    with Timer() as t:
        result = fn(*args, **kwargs)
    return result, t.seconds


def load_average() -> str:
    with contextlib.suppress(OSError):
        one, five, _ = os.getloadavg()
        return f"{one:.2f}/{five:.2f}"
    return "n/a"


def machine_line() -> str:
    """One line saying where the numbers come from (cores, load: the machine may be shared)."""
    return (f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
            f"python {platform.python_version()}, load avg (1m/5m) {load_average()}")


def fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def ratio(a: float | None, b: float | None) -> str:
    """``a / b`` as ``"3.41x"`` (``-`` when either is missing or ``b`` is zero)."""
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}x"


def table_text(title: str, headers: list[str], rows: list[list]) -> str:
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    def line(values):
        return "| " + " | ".join(
            v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths))) + " |"
    out = [f"## {title}", line(headers), "|" + "|".join(("-" * (w + 1) + ":") if i else ("-" * (w + 2))
                                                       for i, w in enumerate(widths)) + "|"]
    out += [line(r) for r in cells]
    return "\n".join(out)


def print_table(title: str, headers: list[str], rows: list[list], notes: list[str] | None = None) -> None:
    """Print a Markdown table (pasteable into RESULTS.md), then notes and the machine line."""
    print()
    print(table_text(title, headers, rows))
    for note in notes or []:
        print(f"- {note}")
    print(f"- {machine_line()}")
    sys.stdout.flush()


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
