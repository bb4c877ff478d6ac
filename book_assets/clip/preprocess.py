"""Decode cover bytes to RGB and turn a batch of images into CLIP ``pixel_values``.

``preprocess_batch`` reproduces ``CLIPImageProcessor(images=..., return_tensors="pt")``
for the PIL backend (shortest-edge bicubic resize, centre crop, rescale, normalise) but
resizes straight from the PIL image, crops with a slice and rescales/normalises the whole
batch at once in torch. It matches the processor to float32 rounding and is measurably
faster (see ``tests/clip/test_preprocess.py``). Any configuration it does not reproduce
exactly (torchvision backend, ``height``/``width`` sizes, padding, ...) is handed to the
image processor itself.
"""

from __future__ import annotations

import io
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import PIL.Image
import PIL.ImageOps
import torch


def to_rgb(image: PIL.Image.Image) -> PIL.Image.Image:
    """Convert any PIL mode to RGB, compositing transparency onto white."""
    if image.mode == "RGB":
        return image
    has_alpha = "A" in image.getbands() or image.info.get("transparency") is not None
    if has_alpha:
        rgba = image.convert("RGBA")
        background = PIL.Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return PIL.Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # 16/32-bit greyscale: scale to 8 bit before converting.
        arr = np.asarray(image, dtype=np.float64)
        hi = arr.max() if arr.size else 0.0
        arr = arr * (255.0 / hi) if hi > 255 else arr
        image = PIL.Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="L")
    return image.convert("RGB")


def decode_image(data: bytes) -> PIL.Image.Image:
    """Decode encoded image bytes to a fully loaded RGB image (EXIF orientation applied).

    Raises (``PIL.UnidentifiedImageError``, ``OSError``, ...) for bytes that are not a
    decodable image; callers turn that into a failure row.
    """
    image = PIL.Image.open(io.BytesIO(data))
    image.load()
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)
    image = PIL.ImageOps.exif_transpose(image)
    return to_rgb(image)


def _attr(processor, name):
    return getattr(processor, name, None)


def _size_get(size, key):
    if size is None:
        return None
    if isinstance(size, dict):
        return size.get(key)
    return getattr(size, key, None)


def _fast_plan(processor):
    """Return (short, crop_h, crop_w, resample, scale, mean, std) or None if unsupported."""
    try:
        from transformers.image_processing_backends import PilBackend
    except ImportError:  # older transformers: only trust the processor itself
        return None
    if not isinstance(processor, PilBackend):
        return None
    if not (_attr(processor, "do_resize") and _attr(processor, "do_center_crop")):
        return None
    if not (_attr(processor, "do_rescale") and _attr(processor, "do_normalize")):
        return None
    if _attr(processor, "do_pad"):
        return None
    size, crop = _attr(processor, "size"), _attr(processor, "crop_size")
    short = _size_get(size, "shortest_edge")
    if not short or _size_get(size, "longest_edge") or _size_get(size, "height"):
        return None
    crop_h, crop_w = _size_get(crop, "height"), _size_get(crop, "width")
    if not crop_h or not crop_w or crop_h > short or crop_w > short:
        return None  # would need the processor's zero padding
    resample = _attr(processor, "resample")
    if resample is None or not isinstance(resample, int):
        return None
    mean, std = _attr(processor, "image_mean"), _attr(processor, "image_std")
    if mean is None or std is None:
        return None
    mean = [float(mean)] * 3 if np.isscalar(mean) else [float(m) for m in mean]
    std = [float(std)] * 3 if np.isscalar(std) else [float(s) for s in std]
    return int(short), int(crop_h), int(crop_w), int(resample), float(processor.rescale_factor), mean, std


def _resized_size(width: int, height: int, short: int) -> tuple[int, int]:
    """transformers' ``get_resize_output_image_size(default_to_square=False)`` as (w, h)."""
    if width <= height:
        return short, int(short * height / width)
    return int(short * width / height), short


def _resize_crop(image: PIL.Image.Image, plan) -> np.ndarray:
    short, crop_h, crop_w, resample = plan[:4]
    image = to_rgb(image)
    w, h = _resized_size(image.width, image.height, short)
    arr = np.asarray(image.resize((w, h), resample=resample))
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    return arr[top : top + crop_h, left : left + crop_w]


def _lut(scale: float, mean: list[float], std: list[float]) -> np.ndarray:
    """(3, 256) float32 table: byte value -> normalised value, with transformers' exact
    arithmetic (float64 rescale, float32 cast, float32 ``(x - mean) / std``)."""
    key = (scale, tuple(mean), tuple(std))
    table = _LUTS.get(key)
    if table is None:
        values = (np.arange(256, dtype=np.float64) * scale).astype(np.float32)
        m = np.asarray(mean, dtype=np.float32)[:, None]
        s = np.asarray(std, dtype=np.float32)[:, None]
        table = ((values[None, :] - m) / s).astype(np.float32)
        _LUTS[key] = table
    return table


_LUTS: dict[tuple, np.ndarray] = {}
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="clip-pre")
        return _POOL


def preprocess_batch(images: list[PIL.Image.Image], image_processor, parallel: bool = True) -> torch.Tensor:
    """Images -> (N, 3, H, W) float32 pixel values, equal to the image processor's output.

    The fast path resizes in a small thread pool (PIL releases the GIL) and normalises with
    a per-channel lookup table (bit-identical to the processor's float arithmetic).
    """
    images = list(images)
    plan = _fast_plan(image_processor)
    if plan is None:
        return processor_pixel_values(images, image_processor)
    _, crop_h, crop_w, _, scale, mean, std = plan
    out = np.empty((len(images), 3, crop_h, crop_w), dtype=np.float32)
    lut = _lut(scale, mean, std)

    def fill(i: int) -> None:
        arr = _resize_crop(images[i], plan)
        for c in range(3):
            np.take(lut[c], arr[:, :, c], out=out[i, c])

    if parallel and len(images) > 1:
        list(_pool().map(fill, range(len(images))))
    else:
        for i in range(len(images)):
            fill(i)
    return torch.from_numpy(out)


def processor_pixel_values(images: list[PIL.Image.Image], image_processor) -> torch.Tensor:
    """The reference path: the image processor, batched."""
    if not images:
        raise ValueError("processor_pixel_values needs at least one image")
    out = image_processor(images=list(images), return_tensors="pt")["pixel_values"]
    return out.to(torch.float32)
