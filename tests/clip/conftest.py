"""Fixtures for the CLIP tests: the tiny offline CLIP (``tiny_clip_dir``, from the root conftest)
loaded once, and the real cover files from shared/ (missing covers fail the tests, never skip)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import pytest  # noqa: E402

from tests.conftest import COVERS_DIR  # noqa: E402


@pytest.fixture(scope="session")
def tiny_bundle(tiny_clip_dir):
    from book_assets.clip.model import load_clip

    return load_clip(str(tiny_clip_dir), device="cpu")


@pytest.fixture(scope="session")
def cover_files(shared_dir) -> list[Path]:
    files = sorted(COVERS_DIR.glob("*/*.jpg"))
    if not files:
        pytest.fail(f"no cover files under {COVERS_DIR}")
    return files


@pytest.fixture(scope="session")
def real_cover_files(cover_files) -> list[Path]:
    """Real (decodable, non-placeholder) covers, a spread across genres, varied sizes."""
    from PIL import Image

    picked, sizes = [], set()
    for f in cover_files:
        if f.stat().st_size < 1000:
            continue
        with Image.open(f) as im:
            size = im.size
        # prefer distinct sizes first, then fill up
        if size not in sizes:
            sizes.add(size)
            picked.append(f)
        if len(picked) >= 24:
            break
    return picked


@pytest.fixture(scope="session")
def placeholder_files(cover_files) -> list[Path]:
    files = [f for f in cover_files if f.stat().st_size < 100]
    if not files:
        pytest.fail(f"no placeholder covers (tiny GIFs) under {COVERS_DIR}")
    return files
