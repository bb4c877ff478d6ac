"""Fixtures for the covers tests: the real cover files from shared/, a loopback cover server, a cache."""
from __future__ import annotations

from pathlib import Path

import pytest

from book_assets.covers.cache import CoverCache
from book_assets.covers.download import DownloadSettings
from tests.support.cover_server import CoverServer



@pytest.fixture(scope="session")
def covers_dir(shared_dir) -> Path:
    """The real covers from ../shared (the root fixture fails, never skips, when they are missing)."""
    return shared_dir / "data" / "covers"


@pytest.fixture
def server(covers_dir):
    with CoverServer(covers_dir) as srv:
        yield srv


@pytest.fixture
def cache(tmp_path) -> CoverCache:
    return CoverCache(str(tmp_path / "covers-cache"))


@pytest.fixture
def fast_settings() -> DownloadSettings:
    """Unlimited rate, short timeouts and backoff: behaviour tests, not politeness tests."""
    return DownloadSettings(rps=0, max_concurrency=8, timeout_s=1.0, retries=2, backoff_s=0.01)
