"""Batched embeddings equal one-by-one embeddings from the plain transformers API."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from book_assets.clip.embed import embed_images, embed_pixel_values, embed_texts, features_tensor
from book_assets.clip.preprocess import decode_image, preprocess_batch


def reference_embedding(tiny_clip_dir, model, image) -> np.ndarray:
    """One image through CLIPProcessor + get_image_features, normalised (the reference)."""
    processor = _processor(tiny_clip_dir)
    with torch.no_grad():
        out = model.get_image_features(**processor(images=image, return_tensors="pt"))
    feats = out if isinstance(out, torch.Tensor) else out.pooler_output
    feats = feats[0].float()
    return (feats / feats.norm()).numpy()


_PROCESSORS: dict = {}


def _processor(tiny_clip_dir):
    from transformers import CLIPProcessor

    key = str(tiny_clip_dir)
    if key not in _PROCESSORS:
        _PROCESSORS[key] = CLIPProcessor.from_pretrained(key)
    return _PROCESSORS[key]


@pytest.fixture(scope="module")
def images(real_cover_files):
    return [decode_image(f.read_bytes()) for f in real_cover_files[:16]]


@pytest.fixture(scope="module")
def references(tiny_clip_dir, tiny_bundle, images):
    return np.stack([reference_embedding(tiny_clip_dir, tiny_bundle.model, im) for im in images])


def test_embed_images_batch_equals_one_by_one(tiny_bundle, images, references):
    got = embed_images(tiny_bundle, images, batch_size=8)
    assert got.dtype == np.float32 and got.shape == (len(images), tiny_bundle.dim)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got, references, atol=1e-5, rtol=0)
    # covers differ, so embeddings differ (the tiny model is not degenerate)
    assert np.abs(got[0] - got[1]).max() > 1e-3
    # one call with all 16 at once: same answer
    np.testing.assert_allclose(embed_images(tiny_bundle, images), references, atol=1e-5, rtol=0)


def test_embed_pixel_values_and_empty(tiny_bundle, images, references):
    pv = preprocess_batch(images[:4], tiny_bundle.image_processor)
    np.testing.assert_allclose(embed_pixel_values(tiny_bundle, pv), references[:4], atol=1e-5, rtol=0)
    assert embed_images(tiny_bundle, []).shape == (0, tiny_bundle.dim)
    assert embed_texts(tiny_bundle, []).shape == (0, tiny_bundle.dim)


def test_embed_texts_normalised(tiny_bundle):
    texts = ["A haunted house", "space opera with starships", "", "Ünïcode — “quotes” & 1234 " * 40]
    got = embed_texts(tiny_bundle, texts)
    assert got.dtype == np.float32 and got.shape == (4, tiny_bundle.dim)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    # batch == one by one, with the plain API
    tok, model = tiny_bundle.tokenizer, tiny_bundle.model
    for text, row in zip(texts, got):
        enc = tok([text], truncation=True, max_length=77, return_tensors="pt")
        with torch.no_grad():
            ref = features_tensor(model.get_text_features(**enc))[0]
        np.testing.assert_allclose(row, (ref / ref.norm()).numpy(), atol=1e-5, rtol=0)


def test_features_tensor_accepts_tensor_and_output():
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    t = torch.ones(2, 3)
    assert features_tensor(t) is t
    assert features_tensor(BaseModelOutputWithPooling(pooler_output=t)) is t
    with pytest.raises(TypeError):
        features_tensor(object())
