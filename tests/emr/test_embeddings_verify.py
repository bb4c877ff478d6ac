"""The embeddings job's read-back verification and per-year replacement, on small local tables.

``verify_embeddings_year`` reads the year's written ``cover_urls``, ``cover_embeddings`` and
``cover_failures`` files; each fault a job bug could leave there (a dropped cover, a cover written
twice or to both tables, vectors of the wrong size) must make its check fail. ``replace_parquet_dirs``
replaces a year's embeddings and failures together: readers (``read_replaced_dirs``) must see the
old pair or the new pair wherever it crashes, never an empty year or old and new rows mixed,
and a re-run must converge.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from book_assets import quality, storage
from book_assets.emr.embeddings_job import model_dim
from book_assets.storage import TMP_PREFIX, read_replaced_dir, read_replaced_dirs, replace_parquet_dirs
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


def _checks(warehouse, emb_rows: list[dict], fail_rows: list[dict], url_ids=IDS) -> dict:
    def folder(table: str) -> str:
        return year_uri(str(warehouse), table, YEAR)

    urls = [{"cover_id": c, "edition_key": f"/books/OL{c}M", "url": f"http://x/{c}.jpg"} for c in url_ids]
    replace_parquet_dirs({folder(COVER_URLS): pa.Table.from_pylist(urls, schema=COVER_URLS_SCHEMA)})
    replace_parquet_dirs({  # one replacement, as the embeddings job writes them
        folder(COVER_EMBEDDINGS): pa.Table.from_pylist(emb_rows, schema=COVER_EMBEDDINGS_SCHEMA),
        folder(COVER_FAILURES): pa.Table.from_pylist(fail_rows, schema=COVER_FAILURES_SCHEMA)})
    figures = verify_embeddings_year(str(warehouse), YEAR, DIM)
    return {o.name: o for o in quality.embedding_checks(figures, max_failure_rate=0.5)}, figures


def _nan_emb(cid: int) -> dict:
    row = _emb(cid)
    row["embedding"] = [float("nan")] + row["embedding"][1:]  # right length, one NaN figure
    return row


def _scaled_emb(cid: int, factor: float) -> dict:
    row = _emb(cid)
    row["embedding"] = [x * factor for x in row["embedding"]]  # right length, finite, not unit
    return row


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
    (GOOD_EMB[:3] + [_nan_emb(IDS[3])], GOOD_FAIL, {"embeddings_valid"}),                 # one vector with a NaN
    (GOOD_EMB[:3] + [_scaled_emb(IDS[3], 2.0)], GOOD_FAIL, {"embeddings_valid"}),         # one vector of norm 2
])
def test_each_fault_fails_its_check(tmp_path, emb_rows, fail_rows, failing):
    checks, _ = _checks(tmp_path, emb_rows, fail_rows)
    assert {n for n, o in checks.items() if not o.passed} == failing


def test_nan_and_norm_faults_reach_the_figures(tmp_path):
    _, figures = _checks(tmp_path, GOOD_EMB[:3] + [_nan_emb(IDS[3])], GOOD_FAIL)
    assert figures["nan_rows"] == 1 and figures["wrong_dim"] == 0
    assert figures["max_norm_error"] < 1e-3  # the NaN row is left out of the norm figure
    _, figures = _checks(tmp_path, GOOD_EMB[:3] + [_scaled_emb(IDS[3], 2.0)], GOOD_FAIL)
    assert figures["nan_rows"] == 0 and figures["max_norm_error"] == pytest.approx(1.0, abs=1e-5)


def test_wrong_dimension_reports_expected_and_seen(tmp_path):
    checks, figures = _checks(tmp_path, [_emb(c, 16) for c in IDS[:4]], GOOD_FAIL)
    assert figures["wrong_dim"] == 4 and figures["dim"] == DIM and figures["dims_seen"] == {"16": 4}
    assert "16" in checks["embeddings_valid"].description and str(DIM) in checks["embeddings_valid"].description


def test_model_dim_is_the_clip_projection_dim(tmp_path):
    from transformers import CLIPConfig

    CLIPConfig(projection_dim=24).save_pretrained(tmp_path)
    assert model_dim(str(tmp_path)) == 24


# --- replace_parquet_dirs / read_replaced_dir ------------------------------------------------------
def _table(ids: list[int]) -> pa.Table:
    return pa.Table.from_pylist([_fail(c) for c in ids], schema=COVER_FAILURES_SCHEMA)


def _ids(table: pa.Table) -> list[int]:
    return sorted(table.column("cover_id").to_pylist())


def _folders(tmp_path) -> tuple[str, str]:
    return str(tmp_path / "emb" / f"year={YEAR}"), str(tmp_path / "fail" / f"year={YEAR}")


def _seen(folders) -> tuple[list[int], list[int]]:
    return tuple(_ids(t) for t in read_replaced_dirs(list(folders)))


def test_replace_leaves_exactly_the_new_rows_in_each_folder(tmp_path):
    emb, fail = _folders(tmp_path)
    replace_parquet_dirs({emb: _table([1, 2, 3]), fail: _table([4])})
    written = replace_parquet_dirs({emb: _table([5, 6]), fail: _table([7])})
    assert _seen((emb, fail)) == ([5, 6], [7])
    # one file each, and a plain reader of the folder agrees with read_replaced_dir
    for folder in (emb, fail):
        assert [str(p) for p in (tmp_path / folder).iterdir()] == [written[folder]]
    assert _ids(pq.read_table(emb)) == [5, 6]


def test_folders_replaced_together_share_one_generation(tmp_path):
    emb, fail = _folders(tmp_path)
    written = replace_parquet_dirs({emb: _table([1]), fail: _table([2])})
    assert written[emb].rsplit("/", 1)[1].split("-")[1] == written[fail].rsplit("/", 1)[1].split("-")[1]


def test_folders_written_one_by_one_by_older_versions_read_each_newest(tmp_path):
    """Before the generation was shared, each folder got its own: such years stay readable."""
    emb, fail = _folders(tmp_path)
    replace_parquet_dirs({emb: _table([1])})
    replace_parquet_dirs({emb: _table([2])})
    replace_parquet_dirs({fail: _table([3])})
    first_emb = sorted((tmp_path / "emb" / f"year={YEAR}").iterdir())
    assert len(first_emb) == 1
    pq.write_table(_table([1]), str(first_emb[0]).replace(first_emb[0].name.split("-")[1], "0" * 19 + "1"))
    assert _seen((emb, fail)) == ([2], [3])


def test_the_newest_generation_wins_even_when_the_clock_goes_back(tmp_path, monkeypatch):
    emb, _ = _folders(tmp_path)
    replace_parquet_dirs({emb: _table([1])})
    monkeypatch.setattr(storage.time, "time_ns", lambda: 5)  # a clock far behind the first write
    second = replace_parquet_dirs({emb: _table([2])})[emb]
    # leave the older file next to the newer one, as a crash before the clean-up would
    pq.write_table(_table([1]), f"{emb}/part-00000000000000000001-{'0' * 32}.parquet")
    assert _ids(read_replaced_dir(emb)) == [2]
    assert second.rsplit("/", 1)[1] > f"part-{'0' * 20}"


def test_files_of_the_old_layout_count_as_older(tmp_path):
    """A folder written before generations existed holds ``part-<uuid>.parquet``."""
    emb, _ = _folders(tmp_path)
    os_folder = tmp_path / "emb" / f"year={YEAR}"
    os_folder.mkdir(parents=True)
    pq.write_table(_table([1, 2]), str(os_folder / f"part-{'a' * 32}.parquet"))
    assert _ids(read_replaced_dir(emb)) == [1, 2]  # still readable
    replace_parquet_dirs({emb: _table([3])})
    assert _ids(read_replaced_dir(emb)) == [3]
    assert len(list(os_folder.iterdir())) == 1


def test_a_folder_without_data_is_an_error_not_an_empty_table(tmp_path):
    emb, _ = _folders(tmp_path)
    (tmp_path / "emb" / f"year={YEAR}").mkdir(parents=True)
    (tmp_path / "emb" / f"year={YEAR}" / f"{TMP_PREFIX}part-x.parquet").write_bytes(b"PAR1 truncated")
    with pytest.raises(FileNotFoundError, match="no data file"):
        read_replaced_dir(emb)


class _CrashingFS(pafs.LocalFileSystem):
    """The local filesystem, dying at the n-th call of one step of a replacement."""

    crash_at, nth = "", 1

    def _step(self, name: str) -> None:
        if self.crash_at == name:
            self.nth -= 1
            if self.nth == 0:
                raise OSError(f"simulated crash at {name}")

    def open_output_stream(self, path, *args, **kwargs):
        self._step("write")
        return super().open_output_stream(path, *args, **kwargs)

    def move(self, src, dest):
        self._step("move")
        return super().move(src, dest)

    def delete_file(self, path):
        self._step("delete")
        return super().delete_file(path)


OLD, NEW = ([1, 2, 3], [4]), ([7, 8], [9])


@pytest.mark.parametrize("crash_at,nth,seen", [
    ("write", 1, OLD), ("write", 2, OLD),  # nothing renamed yet
    ("move", 1, OLD),
    ("move", 2, OLD),  # between the two renames: the new embeddings have no failures beside them yet
    ("delete", 1, NEW), ("delete", 3, NEW),  # old files still there, but older
])
def test_a_crash_at_any_step_shows_old_or_new_tables_and_a_rerun_converges(
        tmp_path, monkeypatch, crash_at, nth, seen):
    folders = _folders(tmp_path)
    replace_parquet_dirs(dict(zip(folders, map(_table, OLD))))
    # what a writer killed mid-write (SIGKILL: no clean-up) leaves: a truncated temp file
    (tmp_path / "emb" / f"year={YEAR}" / f"{TMP_PREFIX}part-killed.parquet").write_bytes(b"PAR1 truncated")
    crashing = _CrashingFS()
    crashing.crash_at, crashing.nth = crash_at, nth
    monkeypatch.setattr(storage, "filesystem_and_path", lambda uri: (crashing, str(uri)))
    with pytest.raises(OSError, match=f"simulated crash at {crash_at}"):
        replace_parquet_dirs(dict(zip(folders, map(_table, NEW))))
    monkeypatch.undo()
    assert _seen(folders) == seen  # never empty, never old and new rows together
    if crash_at == "delete":  # what a reader of every file in the folder would have loaded
        assert _ids(pq.read_table(folders[1])) == sorted(OLD[1] + NEW[1])
    replace_parquet_dirs(dict(zip(folders, map(_table, NEW))))
    assert _seen(folders) == NEW
    for folder in folders:
        assert len(list((tmp_path / folder).iterdir())) == 1  # every leftover of the crashed run is gone
