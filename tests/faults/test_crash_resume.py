"""Issue 7, item 3: crash and resume.

* The embeddings Spark job is SIGKILLed (its whole process group: spark-submit, JVM, Python
  workers) right after its first chunk of embeddings lands in the embedding cache; the next run
  makes no request for any cover already cached, reuses every embedding already computed and
  finishes with every cover embedded or recorded as failed with a reason.
* A Milvus Lite load is SIGKILLed halfway through its inserts; the next materialization of that
  year ends with exactly the right entity count, and the other year is untouched.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import materialize

from book_assets import embedding_cache
from book_assets.emr.job_runtime import REPORT_PREFIX
from book_assets.resources.spark import SparkLauncher
from book_assets.warehouse import (
    COVER_EMBEDDINGS, COVER_EMBEDDINGS_SCHEMA, COVER_FAILURES, COVER_FAILURES_SCHEMA, COVER_URLS, COVER_URLS_SCHEMA,
    RECENT_FICTION, RECENT_FICTION_SCHEMA, year_uri,
)
from tests.conftest import make_resources
from tests.faults.conftest import kill_group, spark_env, start_group
from tests.support.cover_server import Behaviour

pytestmark = pytest.mark.slow

YEAR = 2021
IDS = list(range(500, 518))
MISSING, FLAKY = 510, 511  # 404 (permanent, cached) and always 500 (transient, never cached)


def _write(warehouse: Path, table: str, year: int, rows: list[dict], schema: pa.Schema) -> None:
    target = Path(year_uri(str(warehouse), table, year))
    target.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), target / "part-00000.parquet")


def _embeddings_cmd(warehouse: Path, cache: Path, clip_dir: Path, report: Path, chunk: int) -> list[str]:
    launcher = SparkLauncher(master="local[1]", driver_memory="1g",  # one Python worker: one torch import
                             spark_conf={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2"})
    return launcher.submit_command("embeddings", [
        "--warehouse", str(warehouse), "--cover-cache", str(cache), "--years", str(YEAR),
        "--model", str(clip_dir), "--batch-size", "4", "--chunk-size", str(chunk), "--rps", "100",
        "--timeout", "2", "--retries", "1", "--report-out", str(report),
    ])


def test_killed_embedding_job_resumes_without_refetching_or_reembedding(tmp_path, fault_server, tiny_clip_dir):
    warehouse, cache = tmp_path / "warehouse", tmp_path / "covers-cache"
    _write(warehouse, COVER_URLS, YEAR,
           [{"cover_id": c, "edition_key": f"/books/OL{c}M", "url": fault_server.url_for(c)} for c in IDS],
           COVER_URLS_SCHEMA)
    fault_server.set_behaviour(MISSING, Behaviour.not_found())
    fault_server.set_behaviour(FLAKY, Behaviour.always_500())
    cache_dir = Path(embedding_cache.cache_uri(str(warehouse), str(tiny_clip_dir)))
    env = spark_env()

    # run 1: SIGKILL the process group as soon as the first chunk is in the embedding cache
    first = start_group(_embeddings_cmd(warehouse, cache, tiny_clip_dir, tmp_path / "r1.json", 3), env,
                        stdout=open(tmp_path / "run1.out", "wb"), stderr=open(tmp_path / "run1.err", "wb"))
    deadline = time.monotonic() + 240
    try:
        while not list(cache_dir.glob("part-*.parquet")):
            assert first.poll() is None, (tmp_path / "run1.err").read_text()[-3000:]
            assert time.monotonic() < deadline, "no chunk landed in time"
            time.sleep(0.05)
    finally:
        kill_group(first)
    assert not (tmp_path / "r1.json").exists(), "the job finished before it could be killed"
    done_before = embedding_cache.load(str(cache_dir))
    ok_ids = [c for c in IDS if c not in (MISSING, FLAKY)]
    assert 0 < len(done_before) < len(ok_ids)
    requests_before = {c: fault_server.requests_for(c) for c in IDS}
    assert all(requests_before[c] >= 1 for c in IDS)  # every cover was fetched before embedding began

    # run 2: to completion (one chunk for the rest: the chunk size is not what is tested)
    second = start_group(_embeddings_cmd(warehouse, cache, tiny_clip_dir, tmp_path / "r2.json", 100), env,
                         stdout=open(tmp_path / "run2.out", "wb"), stderr=open(tmp_path / "run2.err", "wb"))
    assert second.wait(timeout=300) == 0, (tmp_path / "run2.err").read_text()[-3000:]
    report = json.loads((tmp_path / "r2.json").read_text())
    assert any(line.startswith(REPORT_PREFIX) for line in (tmp_path / "run2.out").read_text().splitlines())

    # covers: no request at all for covers already cached (images and the permanent 404)
    for c in IDS:
        if c != FLAKY:
            assert fault_server.requests_for(c) == requests_before[c], c
    assert fault_server.requests_for(FLAKY) == requests_before[FLAKY] + 2  # transient: retried (1 + 1 retry)
    assert report["download"]["cache_hits"] == len(IDS) - len(done_before) - 1
    # embeddings: every one done before the kill is reused, only the rest is computed
    assert report["reused_total"] == len(done_before)
    assert report["embedded_total"] == len(ok_ids) - len(done_before)
    figures = report["per_year"][str(YEAR)]
    assert (figures["reused"], figures["embedded_now"]) == (len(done_before), len(ok_ids) - len(done_before))

    # every cover embedded or failed with a reason, nothing twice
    emb = pq.read_table(year_uri(str(warehouse), COVER_EMBEDDINGS, YEAR)).to_pylist()
    fail = pq.read_table(year_uri(str(warehouse), COVER_FAILURES, YEAR)).to_pylist()
    assert sorted(r["cover_id"] for r in emb) == ok_ids
    assert {r["cover_id"]: r["reason"] for r in fail} == {MISSING: "http_404", FLAKY: "server_error"}
    assert all(r["detail"] for r in fail)
    reused = {r["cover_id"]: np.asarray(r["embedding"]) for r in emb if r["cover_id"] in done_before}
    assert all(np.allclose(reused[c], done_before[c]) for c in reused)


# --- Milvus ---------------------------------------------------------------------------------------

DIM = 8
KILL_YEAR, OTHER_YEAR = 2021, 2022
N_KILL, N_OTHER = 3000, 40

_LOADER = """
import sys
import pyarrow.parquet as pq
from book_assets.collection_rows import year_rows
from book_assets.milvus.store import CoverStore
db, warehouse, year = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = CoverStore(db)
def progress(done, total):
    print(f"progress {done} {total}", flush=True)
store.reload_year(year, year_rows(warehouse, year).table, batch_size=100, progress=progress)
print("finished", flush=True)
"""


def _year_tables(warehouse: Path, year: int, n: int, rng) -> None:
    ids = [year * 100_000 + i for i in range(n)]
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    keys = [f"/books/OL{c}M" for c in ids]
    _write(warehouse, COVER_EMBEDDINGS, year,
           [{"cover_id": c, "edition_key": k, "embedding": v.tolist(), "model_id": "m"}
            for c, k, v in zip(ids, keys, vectors)], COVER_EMBEDDINGS_SCHEMA)
    _write(warehouse, COVER_FAILURES, year, [], COVER_FAILURES_SCHEMA)  # the job writes the pair
    _write(warehouse, COVER_URLS, year, [{"cover_id": c, "edition_key": k, "url": f"https://c/{c}.jpg"}
                                         for c, k in zip(ids, keys)], COVER_URLS_SCHEMA)
    _write(warehouse, RECENT_FICTION, year,
           [{"edition_key": k, "work_key": "/works/OL1W", "title": f"T{c}", "authors": ["A"], "pages": 200,
             "subjects": ["Fiction"], "cover_id": c, "isbn_13": None, "publish_date": str(year), "languages": ["eng"]}
            for c, k in zip(ids, keys)], RECENT_FICTION_SCHEMA)


def _count(db: Path, year: int) -> int:
    from book_assets.milvus.store import CoverStore

    store = CoverStore(str(db))
    try:
        return store.count_year(year)
    finally:
        store.close()


def test_killed_milvus_load_is_repaired_by_the_next_run(tmp_path):
    from book_assets.assets.search_index import milvus_collection

    home = tmp_path / "home"
    warehouse, db = home / "warehouse", home / "milvus.db"
    rng = np.random.default_rng(3)
    _year_tables(warehouse, KILL_YEAR, N_KILL, rng)
    _year_tables(warehouse, OTHER_YEAR, N_OTHER, rng)
    env = spark_env()

    def load(year: int, kill_after: int | None):
        proc = start_group([sys.executable, "-c", _LOADER, str(db), str(warehouse), str(year)], env,
                           stdout=-1, stderr=open(tmp_path / f"load{year}.err", "wb"), text=True)
        seen = []
        for line in proc.stdout:
            seen.append(line.strip())
            if kill_after is not None and line.startswith("progress") and int(line.split()[1]) >= kill_after:
                kill_group(proc)
                return seen
        assert proc.wait(timeout=120) == 0, (tmp_path / f"load{year}.err").read_text()[-2000:]
        return seen

    assert load(OTHER_YEAR, None)[-1] == "finished"
    seen = load(KILL_YEAR, kill_after=500)
    assert "finished" not in seen
    partial = _count(db, KILL_YEAR)
    assert partial < N_KILL  # the kill really left the year half-loaded
    assert _count(db, OTHER_YEAR) == N_OTHER

    resources = make_resources(home, tmp_path, "unused", "unused")
    result = materialize([milvus_collection], partition_key=str(KILL_YEAR), resources=resources)
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"entity_count_matches": True, "probe_finds_itself": True, "index_exists": True,
                      "rows_have_metadata": True}
    assert _count(db, KILL_YEAR) == N_KILL
    assert _count(db, OTHER_YEAR) == N_OTHER
