"""inspect_image on the real covers from shared/ and on every kind of bad body."""
from __future__ import annotations

import io
import random

import pytest
from PIL import Image, ImageFile

from book_assets.covers import images
from book_assets.covers.images import inspect_image
from tests.support.cover_server import bomb_png, placeholder_files, real_cover_files


def _png(width: int, height: int, noise: bool = True) -> bytes:
    rng = random.Random(width * 7919 + height)
    img = Image.new("RGB", (width, height))
    if noise:
        img.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(width * height)])
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def test_every_real_cover_is_ok(covers_dir):
    files = real_cover_files(covers_dir)
    assert len(files) == 598
    for path in files:
        verdict = inspect_image(path.read_bytes())
        assert verdict.ok, (path, verdict)
        assert verdict.reason is None and verdict.format == "JPEG"
        assert verdict.width >= 32 and verdict.height >= 32


def test_the_two_43_byte_gifs_are_placeholders(covers_dir):
    placeholders = placeholder_files(covers_dir)
    assert len(placeholders) == 2
    for path in placeholders:
        data = path.read_bytes()
        assert len(data) == 43
        verdict = inspect_image(data)
        assert not verdict.ok and verdict.reason == images.PLACEHOLDER
        assert (verdict.width, verdict.height, verdict.format) == (1, 1, "GIF")


@pytest.mark.parametrize("data", [
    b"",
    b"<!DOCTYPE html><html><body>" + b"Sorry, something went wrong." * 100 + b"</body></html>",
    b'{"error": "not found"}',
    bytes(random.Random(1).randrange(256) for _ in range(5000)),
])
def test_non_images(data):
    verdict = inspect_image(data)
    assert not verdict.ok and verdict.reason == images.NOT_AN_IMAGE


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.95])
def test_truncated_jpeg(covers_dir, fraction):
    data = real_cover_files(covers_dir)[10].read_bytes()
    verdict = inspect_image(data[: int(len(data) * fraction)])
    assert not verdict.ok and verdict.reason == images.TRUNCATED
    assert verdict.width and verdict.height  # the header was fine


def test_truncated_detected_even_if_someone_enabled_load_truncated_images(covers_dir, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    data = real_cover_files(covers_dir)[3].read_bytes()
    assert inspect_image(data[: len(data) // 2]).reason == images.TRUNCATED
    assert inspect_image(data).ok


@pytest.mark.parametrize("size", [(20000, 20000), (8000, 8000), (40000, 1001)])
def test_decompression_bombs_are_refused_from_the_header(size):
    data = bomb_png(*size)
    assert len(data) < 100_000  # small file, huge declared image
    verdict = inspect_image(data)
    assert not verdict.ok and verdict.reason == images.DECOMPRESSION_BOMB


def test_max_pixels_is_configurable(covers_dir):
    data = real_cover_files(covers_dir)[0].read_bytes()
    assert inspect_image(data, max_pixels=10_000).reason == images.DECOMPRESSION_BOMB


def test_too_small():
    tiny = _png(16, 16, noise=False)
    assert inspect_image(tiny).reason == images.TOO_SMALL  # bytes
    thin = _png(400, 20)
    assert len(thin) > 1000
    verdict = inspect_image(thin)
    assert verdict.reason == images.TOO_SMALL and "side" in verdict.detail
    assert inspect_image(_png(64, 64)).ok
    assert inspect_image(_png(64, 64), min_side=100).reason == images.TOO_SMALL


def test_never_raises_on_junk():
    rng = random.Random(7)
    for _ in range(200):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
        for prefix in (b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"BM"):
            verdict = inspect_image(prefix + data)
            assert not verdict.ok and verdict.reason in images.IMAGE_REASONS
