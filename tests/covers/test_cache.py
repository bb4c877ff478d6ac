"""CoverCache: content addressing, layout, permanent-only failures, atomic and concurrent writes."""
from __future__ import annotations

import hashlib
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from book_assets.covers.cache import CacheEntry, CoverCache


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_store_and_lookup_image(tmp_path):
    cache = CoverCache(str(tmp_path))
    data = b"\xff\xd8" + os.urandom(5000)
    sha = hashlib.sha256(data).hexdigest()
    entry = cache.store_image(123456, data, "image/jpeg")
    assert entry == CacheEntry(123456, "ok", sha, None, "", len(data))
    assert cache.lookup(123456) == entry
    assert cache.blob_path(sha) == str(tmp_path / "blobs" / sha[:2] / sha)
    assert cache.read_blob(sha) == data
    index = tmp_path / "ids" / "456" / "123456.json"
    assert json.loads(index.read_text())["content_type"] == "image/jpeg"
    assert not [p for p in _files(tmp_path) if ".tmp-" in p.name]


def test_identical_content_is_stored_once(tmp_path):
    cache = CoverCache(str(tmp_path))
    data = os.urandom(3000)
    a = cache.store_image(1, data, "image/jpeg")
    b = cache.store_image(1001, data, "image/jpeg")
    assert a.sha256 == b.sha256
    assert len(list((tmp_path / "blobs").rglob("*"))) == 2  # one shard dir, one blob
    assert len(_files(tmp_path / "ids")) == 2


def test_lookup_misses(tmp_path):
    cache = CoverCache(str(tmp_path))
    assert cache.lookup(5) is None
    entry = cache.store_image(5, b"abc" * 500, "image/jpeg")
    os.unlink(cache.blob_path(entry.sha256))
    assert cache.lookup(5) is None  # blob gone: download again
    (tmp_path / "ids" / "006").mkdir()
    (tmp_path / "ids" / "006" / "6.json").write_text("{not json")
    assert cache.lookup(6) is None
    with pytest.raises(FileNotFoundError):
        cache.read_blob("00" * 32)


@pytest.mark.parametrize("reason", ["http_404", "placeholder", "not_an_image", "truncated", "too_small",
                                    "decompression_bomb"])
def test_permanent_failures_are_cached(tmp_path, reason):
    cache = CoverCache(str(tmp_path))
    cache.store_failure(42, reason, "why")
    assert cache.lookup(42) == CacheEntry(42, "failed", None, reason, "why", 0)


@pytest.mark.parametrize("reason", ["timeout", "server_error", "rate_limited", "connection_error", "bogus"])
def test_transient_failures_are_refused(tmp_path, reason):
    cache = CoverCache(str(tmp_path))
    with pytest.raises(ValueError):
        cache.store_failure(42, reason, "why")
    assert cache.lookup(42) is None


def test_uri_root(tmp_path):
    cache = CoverCache(f"file://{tmp_path}/c")
    entry = cache.store_image(7, b"x" * 2000, "image/jpeg")
    assert cache.blob_path(entry.sha256) == f"file://{tmp_path}/c/blobs/{entry.sha256[:2]}/{entry.sha256}"
    assert CoverCache(str(tmp_path / "c")).lookup(7) == entry
    assert cache.read_blob(entry.sha256) == b"x" * 2000


def test_concurrent_writers(tmp_path):
    blobs = [os.urandom(2000) for _ in range(5)]
    barrier = threading.Barrier(16)

    def work(worker: int) -> None:
        cache = CoverCache(str(tmp_path))  # separate instances, as separate processes would have
        barrier.wait()
        for i in range(50):
            cover_id = worker * 1000 + i
            cache.store_image(cover_id, blobs[i % 5], "image/jpeg")
            cache.store_image(i, blobs[i % 5], "image/jpeg")  # every worker races on the same ids

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(work, range(16)))
    cache = CoverCache(str(tmp_path))
    assert len(_files(tmp_path / "blobs")) == 5
    assert not [p for p in _files(tmp_path) if ".tmp-" in p.name]
    for worker in range(16):
        for i in range(50):
            entry = cache.lookup(worker * 1000 + i)
            assert entry is not None and cache.read_blob(entry.sha256) == blobs[i % 5]
