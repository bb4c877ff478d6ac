"""The embedding cache survives a writer killed mid-write: leftovers never break later loads; an
unreadable part is skipped and reported; rows answer only for the URL their image came from."""
from __future__ import annotations

import logging
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from book_assets import embedding_cache
from book_assets.storage import TMP_PREFIX


def _vectors(ids, dim: int = 4) -> dict[int, np.ndarray]:
    return {i: np.full(dim, i, dtype=np.float32) for i in ids}


@pytest.mark.parametrize("leftover", [
    f"{TMP_PREFIX}part-0123.parquet",  # what a killed append leaves now
    "part-0123.parquet.tmp",                          # what older versions left behind
    ".part-0123.parquet.crc",
])
def test_truncated_leftover_is_ignored(tmp_path, leftover):
    uri = str(tmp_path / "cache")
    written = embedding_cache.append(uri, "m", _vectors([1, 2]))
    (tmp_path / "cache" / leftover).write_bytes(b"PAR1\x00\x01truncated")
    embedding_cache.append(uri, "m", _vectors([3]))
    loaded = embedding_cache.load(uri)
    assert sorted(loaded) == [1, 2, 3]
    assert np.array_equal(loaded[2], np.full(4, 2, dtype=np.float32))
    assert sorted(embedding_cache.load(uri, [2, 3, 99])) == [2, 3]
    assert written in embedding_cache.part_files(uri)
    assert all(p.endswith(".parquet") and "/part-" in p for p in embedding_cache.part_files(uri))


def test_append_leaves_no_temp_file_and_only_parts(tmp_path):
    uri = str(tmp_path / "cache")
    embedding_cache.append(uri, "m", _vectors([5]))
    names = [p.name for p in (tmp_path / "cache").iterdir()]
    assert len(names) == 1 and names[0].startswith("part-") and names[0].endswith(".parquet")


def test_missing_or_empty_cache_loads_nothing(tmp_path):
    assert embedding_cache.load(str(tmp_path / "absent")) == {}
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / f"{TMP_PREFIX}x.parquet").write_bytes(b"junk")
    assert embedding_cache.load(str(tmp_path / "empty")) == {}


def test_is_part_name():
    assert embedding_cache.is_part_name("part-abc.parquet")
    assert not embedding_cache.is_part_name("_tmp-part-abc.parquet")
    assert not embedding_cache.is_part_name(".part-abc.parquet")
    assert not embedding_cache.is_part_name("part-abc.parquet.tmp")


def test_unreadable_part_is_skipped_and_reported(tmp_path, caplog):
    uri = str(tmp_path / "cache")
    embedding_cache.append(uri, "m", _vectors([1, 2]))
    bad = tmp_path / "cache" / "part-00000000000000000000000000000000.parquet"
    bad.write_bytes(b"")  # a finished part emptied by a crash before writeback
    embedding_cache.append(uri, "m", _vectors([3]))
    unreadable: list[str] = []
    with caplog.at_level(logging.WARNING, logger="book_assets.embedding_cache"):
        loaded = embedding_cache.load(uri, [1, 2, 3], unreadable=unreadable)
    assert sorted(loaded) == [1, 2, 3]
    assert unreadable == [str(bad)]
    assert str(bad) in caplog.text
    assert sorted(embedding_cache.load(uri)) == [1, 2, 3]  # without a list to report into, too


def test_rows_answer_only_for_their_url(tmp_path):
    uri = str(tmp_path / "cache")
    embedding_cache.append(uri, "m", _vectors([1, 2]), urls={1: "http://a/1-M.jpg", 2: "http://a/2-M.jpg"})
    assert sorted(embedding_cache.load(uri, urls={1: "http://a/1-M.jpg", 2: "http://a/2-L.jpg"})) == [1]
    # the cover embedded again from its new URL: that row answers, whatever the part order
    embedding_cache.append(uri, "m", {2: np.full(4, 20, dtype=np.float32)}, urls={2: "http://a/2-L.jpg"})
    loaded = embedding_cache.load(uri, urls={2: "http://a/2-L.jpg"})
    assert np.array_equal(loaded[2], np.full(4, 20, dtype=np.float32))
    assert np.array_equal(embedding_cache.load(uri, urls={2: "http://a/2-M.jpg"})[2], np.full(4, 2, dtype=np.float32))


def test_rows_written_before_urls_were_recorded_match_any_url(tmp_path):
    uri = tmp_path / "cache"
    uri.mkdir()
    old_schema = pa.schema([("cover_id", pa.int64()), ("embedding", pa.list_(pa.float32())), ("model_id", pa.string())])
    pq.write_table(pa.table({"cover_id": [7], "embedding": [[0.5] * 4], "model_id": ["m"]}, schema=old_schema),
                   str(uri / "part-old.parquet"))
    assert sorted(embedding_cache.load(str(uri), urls={7: "http://a/7-L.jpg"})) == [7]
    # a row recorded for the wanted URL wins over the old one without a URL
    embedding_cache.append(str(uri), "m", {7: np.full(4, 7, dtype=np.float32)}, urls={7: "http://a/7-L.jpg"})
    loaded = embedding_cache.load(str(uri), urls={7: "http://a/7-L.jpg"})
    assert np.array_equal(loaded[7], np.full(4, 7, dtype=np.float32))


def test_part_is_synced_before_it_is_moved_into_place(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real_fsync(fd))[1])
    part = embedding_cache.append(str(tmp_path / "cache"), "m", _vectors([1]))
    assert len(synced) == 1 and os.path.basename(synced[0]).startswith(TMP_PREFIX)  # the tmp file, then moved
    assert os.path.getsize(part) > 0


def test_rows_record_the_size_threshold_their_images_passed(tmp_path):
    """A rebuild at the same --min-bytes need not look at any cover again; only rows embedded
    under a lower threshold (or before thresholds were recorded) are judged again."""
    uri = str(tmp_path / "cache")
    vec = np.ones(4, dtype=np.float32)
    embedding_cache.append(uri, "m", {1: vec}, min_bytes=1000)
    embedding_cache.append(uri, "m", {2: vec})
    judged: dict = {}
    assert sorted(embedding_cache.load(uri, judged_at=judged)) == [1, 2]
    assert judged == {1: 1000, 2: None}


def test_an_io_error_is_raised_not_taken_for_an_empty_cache(tmp_path, monkeypatch):
    """Throttling or a denied read must fail the job, not make it embed every cover again."""
    uri = str(tmp_path / "cache")
    embedding_cache.append(uri, "m", {1: np.ones(4, dtype=np.float32)})

    def slow_down(*args, **kwargs):
        raise OSError("AWS Error SLOW_DOWN during GetObject operation")

    monkeypatch.setattr(embedding_cache.ds, "dataset", slow_down)
    with pytest.raises(OSError, match="SLOW_DOWN"):
        embedding_cache.load(uri, [1])
