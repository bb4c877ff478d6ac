"""The embeddings job's read-back verification and per-year replacement, on small local tables.

``verify_embeddings_year`` reads the year's written ``cover_urls``, ``cover_embeddings`` and
``cover_failures`` files; each fault a job bug could leave there (a dropped cover, a cover written
twice or to both tables, vectors of the wrong size) must make its check fail. ``replace_parquet_dir``
must never leave a year without rows when it crashes midway, and a re-run must converge.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from book_assets import quality, storage
from book_assets.emr.embeddings_job import model_dim, replace_parquet_dir
from book_assets.storage import TMP_PREFIX
from book_assets.emr.verify import verify_embeddings_year
from book_assets.warehouse import (
    COVER_EMBEDDINGS, COVER_EMBEDDINGS_SCHEMA, COVER_FAILURES, COVER_FAILURES_SCHEMA, COVER_URLS, COVER_URLS_SCHEMA,
    year_uri,
)

YEAR = 2021
DIM = 8
IDS = [11, 12, 13, 14, 15]


def _unit(seed: int, dim: int = DIM) -> list[float]:
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return (v / np.linalg.norm(v)).tolist()


def _emb(cid: int, dim: int = DIM) -> dict:
    return {"cover_id": cid, "edition_key": f"/books/OL{cid}M", "embedding": _unit(cid, dim), "model_id": "m"}


def _fail(cid: int) -> dict:
    return {"cover_id": cid, "edition_key": f"/books/OL{cid}M", "url": f"http://x/{cid}.jpg", "reason": "http_404",
            "detail": "HTTP 404"}


def _write(warehouse, table: str, rows: list[dict], schema: pa.Schema) -> None:
    folder = year_uri(str(warehouse), table, YEAR)
    replace_parquet_dir(folder, pa.Table.from_pylist(rows, schema=schema))


def _checks(warehouse, emb_rows: list[dict], fail_rows: list[dict], url_ids=IDS) -> dict:
    _write(warehouse, COVER_URLS, [{"cover_id": c, "edition_key": f"/books/OL{c}M", "url": f"http://x/{c}.jpg"}
                                   for c in url_ids], COVER_URLS_SCHEMA)
    _write(warehouse, COVER_EMBEDDINGS, emb_rows, COVER_EMBEDDINGS_SCHEMA)
    _write(warehouse, COVER_FAILURES, fail_rows, COVER_FAILURES_SCHEMA)
    figures = verify_embeddings_year(str(warehouse), YEAR, DIM)
    return {o.name: o for o in quality.embedding_checks(figures, max_failure_rate=0.5)}, figures


GOOD_EMB = [_emb(c) for c in IDS[:4]]
GOOD_FAIL = [_fail(IDS[4])]


def test_good_tables_pass_every_check(tmp_path):
    checks, figures = _checks(tmp_path, GOOD_EMB, GOOD_FAIL)
    assert all(o.passed for o in checks.values()), {n: o.description for n, o in checks.items() if not o.passed}
    assert (figures["covers"], figures["embedded"], figures["failed"]) == (5, 4, 1)
    assert figures["dims_seen"] == {str(DIM): 4}


def test_expected_covers_are_distinct_ids_of_the_url_table(tmp_path):
    # a duplicated URL row is the cover_urls check's business; the count here is of distinct covers
    checks, figures = _checks(tmp_path, GOOD_EMB, GOOD_FAIL, url_ids=IDS + [IDS[0]])
    assert figures["covers"] == 5 and checks["all_covers_accounted"].passed


@pytest.mark.parametrize("emb_rows,fail_rows,failing", [
    (GOOD_EMB[:3], GOOD_FAIL, {"all_covers_accounted"}),                                  # a cover dropped
    (GOOD_EMB + [_emb(IDS[0])], GOOD_FAIL, {"one_row_per_cover", "all_covers_accounted"}),  # embedded twice
    (GOOD_EMB, GOOD_FAIL * 2, {"one_row_per_cover", "all_covers_accounted"}),              # failed twice
    (GOOD_EMB, GOOD_FAIL + [_fail(IDS[0])], {"one_row_per_cover", "all_covers_accounted"}),  # in both tables
    (GOOD_EMB + [_emb(99)], GOOD_FAIL, {"all_covers_accounted"}),                          # not in the URL list
    ([_emb(c, DIM * 2) for c in IDS[:4]], GOOD_FAIL, {"embeddings_valid"}),                # every vector wrong size
    (GOOD_EMB[:3] + [_emb(IDS[3], DIM - 1)], GOOD_FAIL, {"embeddings_valid"}),            # one vector wrong size
])
def test_each_fault_fails_its_check(tmp_path, emb_rows, fail_rows, failing):
    checks, _ = _checks(tmp_path, emb_rows, fail_rows)
    assert {n for n, o in checks.items() if not o.passed} == failing


def test_wrong_dimension_reports_expected_and_seen(tmp_path):
    checks, figures = _checks(tmp_path, [_emb(c, 16) for c in IDS[:4]], GOOD_FAIL)
    assert figures["wrong_dim"] == 4 and figures["dim"] == DIM and figures["dims_seen"] == {"16": 4}
    assert "16" in checks["embeddings_valid"].description and str(DIM) in checks["embeddings_valid"].description


def test_model_dim_is_the_clip_projection_dim(tmp_path):
    from transformers import CLIPConfig

    CLIPConfig(projection_dim=24).save_pretrained(tmp_path)
    assert model_dim(str(tmp_path)) == 24


# --- replace_parquet_dir ---------------------------------------------------------------------------
def _table(ids: list[int]) -> pa.Table:
    return pa.Table.from_pylist([_fail(c) for c in ids], schema=COVER_FAILURES_SCHEMA)


def _ids(folder) -> list[int]:
    return sorted(pq.read_table(str(folder)).column("cover_id").to_pylist())


def test_replace_leaves_exactly_the_new_rows(tmp_path):
    folder = tmp_path / "t" / f"year={YEAR}"
    replace_parquet_dir(str(folder), _table([1, 2, 3]))
    replace_parquet_dir(str(folder), _table([4, 5]))
    assert _ids(folder) == [4, 5]
    assert len(list(folder.iterdir())) == 1


class _CrashingFS(pafs.LocalFileSystem):
    """The local filesystem, dying at one step of a replacement (a write, the move or a delete)."""

    crash_at = ""

    def open_output_stream(self, path, *args, **kwargs):
        if self.crash_at == "write":
            raise OSError("simulated crash at write")
        return super().open_output_stream(path, *args, **kwargs)

    def move(self, src, dest):
        if self.crash_at == "move":
            raise OSError("simulated crash at move")
        return super().move(src, dest)

    def delete_file(self, path):
        if self.crash_at == "delete":
            raise OSError("simulated crash at delete")
        return super().delete_file(path)


@pytest.mark.parametrize("crash_at,visible", [
    ("write", [1, 2, 3]), ("move", [1, 2, 3]),
    ("delete", [1, 2, 3, 7, 8]),  # the new file is in place, the old one not yet deleted
])
def test_crash_midway_never_empties_the_folder_and_a_rerun_converges(tmp_path, monkeypatch, crash_at, visible):
    folder = tmp_path / "t" / f"year={YEAR}"
    replace_parquet_dir(str(folder), _table([1, 2, 3]))
    # what a writer killed mid-write (SIGKILL: no clean-up) leaves: a truncated temp file
    (folder / f"{TMP_PREFIX}part-killed.parquet").write_bytes(b"PAR1 truncated")
    crashing = _CrashingFS()
    crashing.crash_at = crash_at
    monkeypatch.setattr(storage, "filesystem_and_path", lambda uri: (crashing, str(uri)))
    with pytest.raises(OSError, match=f"simulated crash at {crash_at}"):
        replace_parquet_dir(str(folder), _table([7, 8]))
    monkeypatch.undo()
    # readers see the old set (or old + new), never an empty year; the truncated leftover is skipped
    assert _ids(folder) == visible
    replace_parquet_dir(str(folder), _table([7, 8]))
    assert _ids(folder) == [7, 8]
    assert len(list(folder.iterdir())) == 1  # every leftover of the crashed run is gone
