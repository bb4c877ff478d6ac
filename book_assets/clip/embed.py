"""CLIP forward passes: images and texts to L2-normalised float32 embeddings.

All forwards run under ``torch.inference_mode()``; autocast (to the bundle's half dtype)
is used only on CUDA. ``get_image_features``/``get_text_features`` return a tensor in
transformers 4.x and an output object (projected embedding in ``pooler_output``) in 5.x;
both are accepted.
"""

from __future__ import annotations

import contextlib

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F

from book_assets.clip.model import ClipBundle
from book_assets.clip.preprocess import preprocess_batch

DEFAULT_IMAGE_BATCH = 64
DEFAULT_TEXT_BATCH = 256


def features_tensor(out) -> torch.Tensor:
    """The projected embedding from ``get_*_features`` (tensor or model output object)."""
    if isinstance(out, torch.Tensor):
        return out
    for name in ("pooler_output", "image_embeds", "text_embeds"):
        value = getattr(out, name, None)
        if isinstance(value, torch.Tensor):
            return value
    raise TypeError(f"cannot find projected embeddings in {type(out).__name__}")


def _autocast(bundle: ClipBundle):
    if bundle.device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=bundle.dtype)
    return contextlib.nullcontext()


def _normalise(x: torch.Tensor) -> np.ndarray:
    return F.normalize(x.float(), dim=-1).cpu().numpy().astype(np.float32, copy=False)


def embed_pixel_values(bundle: ClipBundle, pixel_values: torch.Tensor) -> np.ndarray:
    """Bare image-tower forward of ready ``pixel_values`` (N,3,H,W) -> (N, dim) unit rows."""
    if pixel_values.shape[0] == 0:
        return np.empty((0, bundle.dim), dtype=np.float32)
    with torch.inference_mode(), _autocast(bundle):
        pv = pixel_values.to(device=bundle.device, dtype=bundle.dtype, non_blocking=True)
        feats = features_tensor(bundle.model.get_image_features(pixel_values=pv))
        return _normalise(feats)


def embed_images(
    bundle: ClipBundle, images: list[PIL.Image.Image], batch_size: int = DEFAULT_IMAGE_BATCH
) -> np.ndarray:
    """Preprocess and embed images in chunks of ``batch_size`` -> (N, dim) float32 unit rows."""
    images = list(images)
    if not images:
        return np.empty((0, bundle.dim), dtype=np.float32)
    parts = [
        embed_pixel_values(bundle, preprocess_batch(images[i : i + batch_size], bundle.image_processor))
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(parts, axis=0)


def _max_text_length(bundle: ClipBundle) -> int:
    limit = int(getattr(bundle.model.config.text_config, "max_position_embeddings", 77))
    tok_limit = getattr(bundle.tokenizer, "model_max_length", None)
    if isinstance(tok_limit, int) and 0 < tok_limit < limit:
        limit = tok_limit
    return limit


def embed_texts(bundle: ClipBundle, texts: list[str], batch_size: int = DEFAULT_TEXT_BATCH) -> np.ndarray:
    """Tokenize (pad, truncate to the model's max length) and embed -> (N, dim) unit rows."""
    texts = [str(t) for t in texts]
    if not texts:
        return np.empty((0, bundle.dim), dtype=np.float32)
    max_len = _max_text_length(bundle)
    parts = []
    for i in range(0, len(texts), batch_size):
        enc = bundle.tokenizer(
            texts[i : i + batch_size], padding=True, truncation=True, max_length=max_len, return_tensors="pt"
        )
        with torch.inference_mode(), _autocast(bundle):
            feats = bundle.model.get_text_features(
                input_ids=enc["input_ids"].to(bundle.device),
                attention_mask=enc["attention_mask"].to(bundle.device),
            )
            parts.append(_normalise(features_tensor(feats)))
    return np.concatenate(parts, axis=0)
