"""Each benchmark command at tiny size (``--smoke``): it runs and prints its table with the
expected rows. No timing is asserted -- the numbers depend on the machine and its load."""
from __future__ import annotations

import os
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
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


def _rows(out: str) -> list[str]:
    """The first cell of each table row (header and rule excluded)."""
    lines = [line for line in out.splitlines() if line.startswith("| ")]
    return [line.split("|")[1].strip() for line in lines[1:]]


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
    assert "| NO" not in out  # every filtering row kept exactly the planted editions


@pytest.mark.slow
def test_bench_embed_cpu_smoke(tmp_path):
    out = _run("bench_embed_cpu.py", "--work-dir", str(tmp_path))
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
    assert "ABOVE CEILING" not in out


@pytest.mark.slow
def test_bench_rebuild_smoke(tmp_path):
    out = _run("bench_rebuild.py", "--work-dir", str(tmp_path))
    assert _rows(out) == [
        "staging (openlibrary_dump)",
        "full build: recent_fiction + cover_urls (10 years)", "rebuild 2019: recent_fiction + cover_urls",
        "full build: cover_embeddings + milvus_collection (10 years)", "rebuild 2019: cover_embeddings + milvus_collection",
        "full build: whole graph after staging (10 years)", "rebuild 2019: whole graph after staging",
    ]
