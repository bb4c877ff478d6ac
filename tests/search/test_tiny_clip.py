"""End to end through the real CLIP code with the tiny test checkpoint: ``from_settings`` builds the
store and the CLIP text tower, texts and real cover images land in the same space."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.conftest import COVERS_DIR
from tests.search.conftest import make_rows


def test_search_service_from_settings_with_tiny_clip(tiny_clip_dir, shared_dir, tmp_path):
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
    files = real_cover_files(COVERS_DIR)[:4]
    assert len(files) == 4, files
    image_vectors = embed_images(bundle, [decode_image(f.read_bytes()) for f in files])
    assert text_vectors.shape == image_vectors.shape == (4, bundle.dim)

    store = CoverStore(settings.milvus_uri, collection=settings.milvus_collection)
    store.reload_year(2019, make_rows(2019, 4, dim=bundle.dim, titles=titles, vectors=text_vectors))
    rows20 = make_rows(2020, 4, dim=bundle.dim, vectors=image_vectors)
    store.reload_year(2020, rows20)
    store.close()
    keys20 = rows20.column("edition_key").to_pylist()

    service = SearchService.from_settings(settings)
    try:
        assert service.encode is clip_text_encoder(settings.clip_model)  # loaded once per process
        hits = service.search("love letters from space", years=(2019, 2019), top_k=4)
        assert hits[0].title == "love letters from space"
        assert hits[0].score == pytest.approx(1.0, abs=1e-3)

        # a text query over image vectors: the ranking and the scores are the cosines between the
        # CLIP text embedding of the query and the CLIP image embeddings of the covers
        query = embed_texts(bundle, ["a book cover"])[0]
        cosines = image_vectors @ query
        assert len(set(np.round(cosines, 4))) == 4  # distinct scores: the order below means something
        order = np.argsort(-cosines)
        images = service.search("a book cover", years=[2020], top_k=4)
        assert [h.edition_key for h in images] == [keys20[i] for i in order]
        assert [h.score for h in images] == pytest.approx(cosines[order].tolist(), abs=1e-4)
        assert {h.year for h in images} == {2020}

        # an image as the query ("more like this" on a stored cover): the other covers by image-image cosine
        similar = image_vectors[1:] @ image_vectors[0]
        order = np.argsort(-similar) + 1
        like = service.more_like_this(keys20[0], years=[2020], top_k=3)
        assert [h.edition_key for h in like] == [keys20[i] for i in order]
        assert [h.score for h in like] == pytest.approx(similar[order - 1].tolist(), abs=1e-4)
    finally:
        service.close()
