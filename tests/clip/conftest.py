"""Fixtures for the CLIP tests: a tiny offline CLIP checkpoint and real cover files."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import pytest  # noqa: E402

from tests.support.tiny_clip import build_tiny_clip  # noqa: E402

COVERS_DIR = Path("/work/shared/data/covers")


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("tiny_clip") / "model")


@pytest.fixture(scope="session")
def tiny_bundle(tiny_clip_dir):
    from book_assets.clip.model import load_clip

    return load_clip(str(tiny_clip_dir), device="cpu")


def _cover_files() -> list[Path]:
    return sorted(COVERS_DIR.glob("*/*.jpg"))


@pytest.fixture(scope="session")
def cover_files() -> list[Path]:
    files = _cover_files()
    if not files:
        pytest.skip(f"no real covers under {COVERS_DIR}")
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
    return [f for f in cover_files if f.stat().st_size < 100]
