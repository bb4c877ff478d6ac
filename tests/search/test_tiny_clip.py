"""End to end through the real CLIP code with the tiny test checkpoint: ``from_settings`` builds the
store and the CLIP text tower, texts and real cover images land in the same space."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.search.conftest import make_rows

pytest.importorskip("torch", reason="torch not installed")
pytest.importorskip("book_assets.clip.embed", reason="book_assets.clip not available")


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory):
    from tests.support.tiny_clip import build_tiny_clip

    return build_tiny_clip(tmp_path_factory.mktemp("tiny_clip") / "model")


def test_search_service_from_settings_with_tiny_clip(tiny_clip_dir, tmp_path):
    from book_assets.clip.embed import embed_images, embed_texts
    from book_assets.clip.model import get_clip
    from book_assets.clip.preprocess import decode_image
    from book_assets.milvus.store import CoverStore
    from book_assets.search.api import SearchService, clip_text_encoder
    from book_assets.settings import Settings
    from tests.support.cover_server import real_cover_files

    settings = dataclasses.replace(
        Settings.from_env(),
        milvus_uri=str(tmp_path / "covers.db"),
        milvus_collection="tiny",
        milvus_token="",
        clip_model=str(tiny_clip_dir),
    )
    bundle = get_clip(settings.clip_model)
    titles = ["a dark castle in the rain", "love letters from space", "the book of cats", "a red planet"]
    text_vectors = embed_texts(bundle, titles)
    files = real_cover_files()[:4]
    image_vectors = embed_images(bundle, [decode_image(f.read_bytes()) for f in files])
    assert text_vectors.shape == image_vectors.shape == (4, bundle.dim)

    store = CoverStore(settings.milvus_uri, collection=settings.milvus_collection)
    store.reload_year(2019, make_rows(2019, 4, dim=bundle.dim, titles=titles, vectors=text_vectors))
    store.reload_year(2020, make_rows(2020, 4, dim=bundle.dim, vectors=image_vectors))
    store.close()

    service = SearchService.from_settings(settings)
    try:
        assert service.encode is clip_text_encoder(settings.clip_model)  # loaded once per process
        hits = service.search("love letters from space", years=(2019, 2019), top_k=4)
        assert hits[0].title == "love letters from space"
        assert hits[0].score == pytest.approx(1.0, abs=1e-3)
        images = service.search("a book cover", years=[2020], top_k=4)
        assert len(images) == 4 and {h.year for h in images} == {2020}
        assert all(np.isfinite(h.score) for h in images)
    finally:
        service.close()
