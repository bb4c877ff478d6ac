"""embeddings_job applies the current --min-bytes to covers whose embedding is already cached,
from the sizes the cover cache index records: no request, no blob read."""
from __future__ import annotations

import os

from book_assets.covers import images
from book_assets.covers.cache import CoverCache
from book_assets.emr.embeddings_job import cached_too_small

URL = "http://covers.invalid/b/id/{}-M.jpg"


def test_covers_under_the_current_threshold_become_too_small(tmp_path):
    cache = CoverCache(str(tmp_path))
    for cover_id, size in {1: 600, 2: 5000, 3: 1000}.items():
        cache.store_image(cover_id, os.urandom(size), "image/jpeg", url=URL.format(cover_id))
    urls = {c: URL.format(c) for c in (1, 2, 3)}
    assert cached_too_small(cache, urls, 1000) == {1: (images.TOO_SMALL, "600 bytes < 1000")}
    assert sorted(cached_too_small(cache, urls, 5001)) == [1, 2, 3]
    assert cached_too_small(cache, urls, 10) == {}


def test_same_verdict_as_inspecting_the_bytes(tmp_path):
    """A cached cover is failed exactly when, and as, inspecting its bytes would fail it."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 96), (200, 30, 30)).save(buf, "JPEG")
    data = buf.getvalue()
    cache = CoverCache(str(tmp_path))
    cache.store_image(1, data, "image/jpeg", url=URL.format(1))
    for min_bytes in (len(data), len(data) + 1):
        verdict = images.inspect_image(data, min_bytes=min_bytes)
        expected = {} if verdict.ok else {1: (verdict.reason, verdict.detail)}
        assert cached_too_small(cache, {1: URL.format(1)}, min_bytes) == expected
    assert not images.inspect_image(data, min_bytes=len(data) + 1).ok  # both cases were exercised


def test_judged_from_the_index_alone(tmp_path):
    cache = CoverCache(str(tmp_path))
    entry = cache.store_image(1, os.urandom(600), "image/jpeg", url=URL.format(1))
    os.unlink(cache.blob_path(entry.sha256))  # e.g. executors read blobs elsewhere: not needed here
    assert cached_too_small(cache, {1: URL.format(1)}, 1000) == {1: (images.TOO_SMALL, "600 bytes < 1000")}


def test_covers_without_a_usable_entry_are_kept(tmp_path):
    cache = CoverCache(str(tmp_path))
    cache.store_image(1, os.urandom(600), "image/jpeg", url=URL.format(1))
    (tmp_path / "ids" / "002").mkdir(parents=True)
    (tmp_path / "ids" / "002" / "2.json").write_text("{damaged")
    urls = {1: "http://mirror.invalid/1-L.jpg",  # the entry is for another URL
            2: URL.format(2),                     # unreadable entry
            3: URL.format(3)}                     # no entry at all
    assert cached_too_small(cache, urls, 1000) == {}


class _CountingCache(CoverCache):
    lookups = 0

    def lookup(self, *args, **kwargs):
        type(self).lookups += 1
        return super().lookup(*args, **kwargs)


def test_rows_judged_once_per_threshold_then_recorded_under_it(tmp_path):
    """Embeddings from before thresholds were recorded (or under a lower one) are judged once,
    and the ones that pass are recorded again, so the next run at that threshold reads nothing."""
    import numpy as np

    from book_assets import embedding_cache
    from book_assets.emr.embeddings_job import apply_min_bytes

    cache = _CountingCache(str(tmp_path / "covers"))
    for cover_id, size in {1: 600, 2: 5000, 3: 3000}.items():
        cache.store_image(cover_id, os.urandom(size), "image/jpeg", url=URL.format(cover_id))
    uri = str(tmp_path / "embeddings")
    urls = {c: URL.format(c) for c in (1, 2, 3)}
    vec = np.ones(4, dtype=np.float32)
    embedding_cache.append(uri, "m", {1: vec, 2: vec, 3: vec})  # an older version: no url, no threshold

    def run(min_bytes):
        judged: dict = {}
        cached = embedding_cache.load(uri, urls=urls, judged_at=judged)
        before = _CountingCache.lookups
        failures = apply_min_bytes(cached, judged, urls, cache, uri, "m", min_bytes, workers=2, chunk_size=2)
        return sorted(cached), sorted(failures), _CountingCache.lookups - before

    assert run(1000) == ([2, 3], [1], 3)
    assert run(1000) == ([2, 3], [1], 1)  # only cover 1's old row is judged again: it never passed
    assert run(4000) == ([2], [1, 3], 3)  # a higher threshold: judged again
    assert run(4000) == ([2], [1, 3], 2)
