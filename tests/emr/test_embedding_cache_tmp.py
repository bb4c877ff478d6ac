"""The embedding cache survives a writer killed mid-write: leftovers never break later loads."""
from __future__ import annotations

import numpy as np
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
