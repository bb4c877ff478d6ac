"""Cover URLs are built by cover id from the configured template, and refused when they cannot be."""
from __future__ import annotations

import pytest

from book_assets.urls import cover_url, is_well_formed_cover_url

TEMPLATE = "https://covers.openlibrary.org/b/id/{cover_id}-M.jpg"


def test_cover_url_fills_the_id_into_the_template():
    assert cover_url(TEMPLATE, 12345) == "https://covers.openlibrary.org/b/id/12345-M.jpg"
    assert cover_url("http://127.0.0.1:8000/c/{cover_id}.jpg", "77") == "http://127.0.0.1:8000/c/77.jpg"


@pytest.mark.parametrize("cover_id", [0, -1])
def test_cover_ids_must_be_positive(cover_id):
    with pytest.raises(ValueError, match="positive"):
        cover_url(TEMPLATE, cover_id)


def test_a_template_without_the_id_placeholder_is_refused():
    with pytest.raises(ValueError, match="cover_id"):
        cover_url("https://covers.openlibrary.org/b/isbn/{isbn}-M.jpg", 1)


@pytest.mark.parametrize("url, ok", [
    ("https://covers.openlibrary.org/b/id/1-M.jpg", True),
    ("http://127.0.0.1:8000/c/1.jpg", True),
    ("ftp://covers.openlibrary.org/b/id/1-M.jpg", False),
    ("https://covers.openlibrary.org/", False),
    ("/b/id/1-M.jpg", False),
    ("", False),
    (None, False),
    (12, False),
])
def test_well_formed_cover_urls(url, ok):
    assert is_well_formed_cover_url(url) is ok
