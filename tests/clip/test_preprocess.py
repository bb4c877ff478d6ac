"""decode_image and preprocess_batch against the transformers image processor."""

from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

from book_assets.clip.preprocess import _fast_plan, decode_image, preprocess_batch, processor_pixel_values


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG" if image.mode != "CMYK" else "JPEG")
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "CMYK", "L", "RGB"])
def test_decode_image_modes(mode):
    base = Image.new("RGBA", (20, 10), (255, 0, 0, 0))  # fully transparent red
    image = base.convert(mode) if mode not in ("P",) else Image.new("P", (20, 10), 0)
    if mode == "P":
        image.putpalette([10, 20, 30] * 256)
        image.info["transparency"] = 0
    out = decode_image(_png(image))
    assert out.mode == "RGB" and out.size == (20, 10)
    if mode in ("RGBA", "LA", "P"):  # transparent -> white
        assert out.getpixel((0, 0)) == (255, 255, 255)


def test_decode_image_rejects_garbage():
    with pytest.raises(Exception):
        decode_image(b"definitely not an image")


def test_placeholder_gif_decodes_as_tiny_image(placeholder_files):
    for f in placeholder_files:
        assert decode_image(f.read_bytes()).size == (1, 1)


@pytest.fixture(scope="module")
def cover_images(real_cover_files):
    images = [decode_image(f.read_bytes()) for f in real_cover_files]
    assert len(images) >= 16 and len({im.size for im in images}) >= 8
    return images


@pytest.mark.parametrize("which", ["tiny", "default224"])
def test_preprocess_matches_clip_processor(which, tiny_clip_dir, tiny_bundle, cover_images):
    from transformers import CLIPImageProcessor, CLIPProcessor

    if which == "tiny":
        reference = CLIPProcessor.from_pretrained(str(tiny_clip_dir))
        image_processor = tiny_bundle.image_processor
    else:
        reference = image_processor = CLIPImageProcessor()
    # the fast path must be the one under test: with no plan, preprocess_batch would just call
    # the processor and this comparison would compare it with itself
    assert _fast_plan(image_processor) is not None
    expected = reference(images=cover_images, return_tensors="pt")["pixel_values"]
    got = preprocess_batch(cover_images, image_processor)
    assert got.dtype == torch.float32 and got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    # serial path too
    torch.testing.assert_close(preprocess_batch(cover_images, image_processor, parallel=False), expected, atol=1e-5, rtol=0)


def test_preprocess_non_rgb_inputs_match(tiny_bundle, cover_images):
    images = [cover_images[0].convert("L"), cover_images[1].convert("RGBA"), cover_images[2]]
    assert _fast_plan(tiny_bundle.image_processor) is not None  # fast path vs the processor
    expected = processor_pixel_values(images, tiny_bundle.image_processor)
    torch.testing.assert_close(preprocess_batch(images, tiny_bundle.image_processor), expected, atol=1e-5, rtol=0)


def test_preprocess_falls_back_for_other_configs(cover_images):
    from transformers import CLIPImageProcessor

    square = CLIPImageProcessor(size={"height": 40, "width": 30}, do_center_crop=False)
    assert _fast_plan(square) is None  # a config the fast path does not cover
    got = preprocess_batch(cover_images[:3], square)
    assert got.shape == (3, 3, 40, 30)
    torch.testing.assert_close(got, square(images=cover_images[:3], return_tensors="pt")["pixel_values"])

