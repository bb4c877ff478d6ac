"""Smoke test of ``benchmarks/bench_search.py --smoke``: it runs end to end and prints its table."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bench_search_smoke(tmp_path):
    env = {**os.environ, "BOOK_ASSETS_BENCH_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_search.py"), "--smoke"],
                          capture_output=True, text=True, timeout=600, env=env, cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "## search latency" in out
    assert "| lite 1k " in out and "recall@10" in out and "p50 vs base" in out
    assert "1.00x" in out
