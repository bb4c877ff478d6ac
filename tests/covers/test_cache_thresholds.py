"""Cached verdicts follow the *current* ``min_bytes``: changing BOOK_ASSETS_COVERS_MIN_BYTES re-judges
covers already in the cache (from their kept bytes, without a new request)."""
from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image

from book_assets.covers import images
from book_assets.covers.cache import CoverCache
from book_assets.covers.download import CoverDownloader, DownloadSettings

URL = "http://covers.invalid/b/id/{}-M.jpg"


def _png(side: int = 64, noisy: bool = False) -> bytes:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (side, side, 3), dtype=np.uint8) if noisy else np.full((side, side, 3), 90, np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


SMALL = _png()               # a real 64x64 image of a few hundred bytes
LARGE = _png(noisy=True)     # well over 1000 bytes


class _FakeNetwork(CoverDownloader):
    """A downloader whose every HTTP attempt answers ``body`` and is counted: no socket involved."""

    def __init__(self, cache: CoverCache, min_bytes: int, body: bytes = SMALL):
        super().__init__(cache, DownloadSettings(rps=0, retries=0, min_bytes=min_bytes))
        self.body = body
        self.requests = 0

    def _attempt(self, url: str) -> tuple[bytes, str]:
        self.requests += 1
        return self.body, "image/png"


def _one(cache: CoverCache, min_bytes: int, cover_id: int = 7, body: bytes = SMALL):
    downloader = _FakeNetwork(cache, min_bytes, body)
    [outcome] = downloader.download_all([(cover_id, URL.format(cover_id))])
    return outcome, downloader.requests


def test_small_image_is_too_small_then_accepted_after_lowering_without_refetching(tmp_path):
    assert 10 < len(SMALL) < 1000
    cache = CoverCache(str(tmp_path))
    first, requests = _one(cache, 1000)
    assert (first.status, first.reason, requests) == ("failed", images.TOO_SMALL, 1)

    same, requests = _one(cache, 1000)  # same threshold: still a permanent, cached verdict
    assert (same.status, same.reason, same.from_cache, requests) == ("failed", images.TOO_SMALL, True, 0)

    lowered, requests = _one(cache, 10)
    assert (lowered.status, lowered.reason, lowered.from_cache, requests) == ("ok", None, True, 0)
    assert cache.read_blob(lowered.sha256) == SMALL
    assert cache.lookup(7).status == "ok"  # the index follows the new verdict

    again, requests = _one(cache, 10)
    assert (again.status, again.sha256, again.from_cache, requests) == ("ok", lowered.sha256, True, 0)


def test_cached_small_image_is_rejected_after_raising_the_threshold(tmp_path):
    cache = CoverCache(str(tmp_path))
    accepted, requests = _one(cache, 10)
    assert (accepted.status, accepted.from_cache, requests) == ("ok", False, 1)

    raised, requests = _one(cache, 1000)
    assert (raised.status, raised.reason, raised.sha256, raised.from_cache, requests) == (
        "failed", images.TOO_SMALL, None, True, 0)
    assert str(len(SMALL)) in raised.detail and "1000" in raised.detail

    lowered, requests = _one(cache, 10)  # and back: the bytes were kept with the failure
    assert (lowered.status, lowered.sha256, requests) == ("ok", accepted.sha256, 0)


def test_large_image_is_unaffected_by_a_threshold_below_its_size(tmp_path):
    cache = CoverCache(str(tmp_path))
    first, _ = _one(cache, 10, body=LARGE)
    for min_bytes in (10, 1000, len(LARGE)):
        outcome, requests = _one(cache, min_bytes, body=LARGE)
        assert (outcome.status, outcome.sha256, outcome.from_cache, requests) == ("ok", first.sha256, True, 0)
    outcome, requests = _one(cache, len(LARGE) + 1, body=LARGE)
    assert (outcome.status, outcome.reason, requests) == ("failed", images.TOO_SMALL, 0)


def test_too_small_entry_without_kept_bytes_is_fetched_again(tmp_path):
    cache = CoverCache(str(tmp_path))
    cache.store_failure(7, images.TOO_SMALL, "cached by an older version: no bytes kept")
    outcome, requests = _one(cache, 10)
    assert (outcome.status, outcome.from_cache, requests) == ("ok", False, 1)


def test_other_permanent_failures_stay_cached_whatever_the_threshold(tmp_path):
    cache = CoverCache(str(tmp_path))
    cache.store_failure(7, "http_404", "HTTP 404")
    for min_bytes in (10, 1000):
        outcome, requests = _one(cache, min_bytes)
        assert (outcome.status, outcome.reason, outcome.from_cache, requests) == ("failed", "http_404", True, 0)


def test_too_small_failure_keeps_its_bytes_in_the_index(tmp_path):
    cache = CoverCache(str(tmp_path))
    _one(cache, 1000)
    doc = json.loads((tmp_path / "ids" / "007" / "7.json").read_text())
    assert (doc["status"], doc["reason"], doc["size"]) == ("failed", images.TOO_SMALL, len(SMALL))
    assert cache.read_blob(doc["sha256"]) == SMALL
