"""Smoke test of ``benchmarks/bench_search.py --smoke``: it runs end to end and prints its table."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEADERS = ["config", "vectors", "index", "insert rows/s", "search p50 ms", "p99 ms", "milvus p50 ms", "milvus p99 ms",
           "encode p50 ms", "3-year p50 ms", "1-year p50 ms", "recall@10", "p50 vs base", "milvus p50 vs base",
           "targets (<=100 / <=40 ms)"]


def _table(out: str) -> list[dict[str, str]]:
    """The rows of the ``## search latency`` table as header -> cell."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("## search latency"))
    table = []
    for line in lines[start + 1:]:
        if not line.startswith("|"):
            break
        table.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    header, rule, *rows = table
    assert header == HEADERS, header
    assert all(set(cell) <= {"-", ":"} for cell in rule), rule
    return [dict(zip(header, row, strict=True)) for row in rows]


def test_bench_search_smoke(tmp_path):
    env = {**os.environ, "BOOK_ASSETS_BENCH_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_search.py"), "--smoke"],
                          capture_output=True, text=True, timeout=600, env=env, cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = _table(proc.stdout)
    assert [r["config"] for r in rows] == ["lite 1k"]  # --smoke: Lite at 1,000 vectors only
    [row] = rows
    assert row["vectors"] == "1,000" and row["index"] in {"FLAT", "IVF_FLAT", "HNSW"}
    assert float(row["insert rows/s"].replace(",", "")) > 0
    for key in ("search p50 ms", "p99 ms", "milvus p50 ms", "milvus p99 ms", "encode p50 ms", "3-year p50 ms",
                "1-year p50 ms"):
        assert float(row[key]) >= 0, (key, row[key])
    assert float(row["search p50 ms"]) <= float(row["p99 ms"])
    assert float(row["milvus p50 ms"]) <= float(row["milvus p99 ms"])
    assert 0.0 < float(row["recall@10"]) <= 1.0
    for key in ("p50 vs base", "milvus p50 vs base"):
        assert re.fullmatch(r"\d+\.\d\dx", row[key]) and float(row[key][:-1]) > 0, (key, row[key])
    assert re.fullmatch(r"all (met|NOT met), range (met|NOT met)", row["targets (<=100 / <=40 ms)"])
