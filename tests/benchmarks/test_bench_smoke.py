"""Each benchmark command at tiny size (``--smoke``): it runs and prints its table with the
expected rows. No timing is asserted -- the numbers depend on the machine and its load."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"


def _run(script: str, *args: str, timeout: int = 900) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DAGSTER_TELEMETRY_DISABLED": "1"}
    proc = subprocess.run([sys.executable, str(BENCH / script), "--smoke", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    print(proc.stdout)  # the table, in pytest's report on a failure (and with -s)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


def _rows(out: str) -> list[str]:
    """The first cell of each table row (header and rule excluded)."""
    lines = [line for line in out.splitlines() if line.startswith("| ")]
    return [line.split("|")[1].strip() for line in lines[1:]]


def _column(out: str, header: str) -> list[str]:
    """The cells of column ``header`` in each table row (header and rule excluded)."""
    lines = [line for line in out.splitlines() if line.startswith("| ")]
    headers = [cell.strip() for cell in lines[0].strip().strip("|").split("|")]
    index = headers.index(header)
    return [line.strip().strip("|").split("|")[index].strip() for line in lines[1:]]


def test_common_table_format():
    sys.path.insert(0, str(BENCH))
    from _common import ratio, table_text

    text = table_text("t", ["name", "value"], [["a", 1234.5], ["b", 0.5]])
    assert "| a    | 1,234 |" in text and "| b    |  0.50 |" in text
    assert ratio(3.0, 1.5) == "2.00x" and ratio(1, 0) == "-"


@pytest.mark.slow
def test_bench_ingest_smoke(tmp_path):
    out = _run("bench_ingest.py", "--years", "2019,2020", "--work-dir", str(tmp_path))
    assert _rows(out) == ["decompress floor (isal)", "decompress (stdlib gzip)", "python baseline (gzip+json+filter)",
                          "staging, line by line (seed)", "staging (split into parts)", "spark job (local[2])",
                          "staging + spark job"]
    # every filtering row kept exactly the planted editions; the column is right-aligned, so a
    # failed row prints "|      NO |" (a plain `"| NO" not in out` could never fail)
    assert re.search(r"\|\s+NO\s+\|", out) is None, out
    assert "NO" not in _column(out, "kept ok"), out



@pytest.mark.slow
def test_bench_embed_cpu_smoke(tmp_path):
    out = _run("bench_embed_cpu.py", "--threads", "1", "--work-dir", str(tmp_path))
    assert "1 torch threads (torch.get_num_threads() = 1 in every row)" in out  # --threads honoured
    assert _rows(out) == ["bare forward (pre-made tensors)", "cover_embeddings path (read+decode+preprocess+model)",
                          "decode + preprocess only", "seed's per-row UDF (model loaded per row)"]


@pytest.mark.slow
def test_bench_embed_gpu_smoke(tmp_path):
    out = _run("bench_embed_gpu.py", "--work-dir", str(tmp_path))
    rows = _rows(out)
    assert rows[:4] == ["bare image tower, bf16, batch 4", "bare image tower, fp32, batch 4",
                        "bare image tower, bf16, batch 8", "bare image tower, fp32, batch 8"]
    assert rows[4] == "JPEG decode + resize/crop, 1 process"
    assert rows[5].startswith("JPEG decode + resize/crop, pool of")
    assert rows[6].startswith("JPEG decode + resize/crop, DataLoader")
    assert rows[7].startswith("end to end, pool") and rows[8].startswith("end to end, DataLoader")
    assert rows[9].startswith("cover_embeddings path")


def test_bench_embed_gpu_without_cuda_says_so():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    proc = subprocess.run([sys.executable, str(BENCH / "bench_embed_gpu.py")], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0
    assert "no CUDA device" in proc.stdout


@pytest.mark.slow
def test_bench_download_smoke():
    out = _run("bench_download.py")
    rows = _rows(out)
    assert rows[0].startswith("unthrottled") and rows[1].startswith("polite")
    # a verdict on each row; the tiny run may miss the 500/s or the 95%-of-ceiling target (load),
    # but the polite row must never go above its ceiling
    verdicts = _column(out, "target")
    assert all(v.startswith(("met", "NOT met")) for v in verdicts), verdicts
    assert "ABOVE CEILING" not in out
    assert int(_column(out, "max in 1 s")[1].replace(",", "")) <= 20  # the smoke run's 20/s ceiling
    assert _column(out, "blobs") == _column(out, "covers ok")  # distinct bytes per cover id


def test_bench_download_says_so_when_its_server_cannot_start(tmp_path):
    # the server child fails on a directory with no covers; the bench used to wait on the pipe forever
    env = {**os.environ, "DAGSTER_TELEMETRY_DISABLED": "1"}
    proc = subprocess.run([sys.executable, str(BENCH / "bench_download.py"), "--smoke", "--covers-dir",
                           str(tmp_path / "no-covers-here")], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0
    assert "the cover server process exited" in proc.stderr, proc.stderr[-2000:]


@pytest.mark.slow
def test_bench_rebuild_smoke(tmp_path):
    out = _run("bench_rebuild.py", "--work-dir", str(tmp_path), timeout=1500)
    rows = ["staging (openlibrary_dump)"]
    for name in ("recent_fiction + cover_urls", "cover_embeddings + milvus_collection", "whole graph after staging"):
        rows += [f"full build, cold caches: {name} (3 years)", f"full rebuild, warm caches: {name} (3 years)",
                 f"rebuild 2019, warm caches: {name}"]
    assert _rows(out) == rows
    # the one-year rows carry both ratios; the notes give the embedding counts
    assert all(c.endswith("%") for c in _column(out, "rebuild / cold full")[3::3]), out
    assert all(c.endswith("%") for c in _column(out, "rebuild / warm full")[3::3]), out
    assert "cover_embeddings: cold full build" in out and "embedded now" in out
