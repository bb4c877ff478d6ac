"""Fixtures for the search tests: synthetic cover rows, a deterministic fake text encoder, a
Milvus Lite store in a temporary directory, and a loaded ``SearchService``."""
from __future__ import annotations

import hashlib
import os

import numpy as np
import pyarrow as pa
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DIM = 32
XSS_TITLE = "<script>window.pwned = 1</script><img src=x onerror=\"window.pwned=2\">"
ROWS_SCHEMA = pa.schema(
    [
        ("edition_key", pa.string()),
        ("work_key", pa.string()),
        ("title", pa.string()),
        ("authors", pa.list_(pa.string())),
        ("year", pa.int64()),
        ("cover_id", pa.int64()),
        ("cover_url", pa.string()),
        ("embedding", pa.list_(pa.float32())),
    ]
)


def unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def make_rows(
    year: int,
    n: int,
    dim: int = DIM,
    seed: int = 0,
    first_cover: int = 1000,
    titles: list[str] | None = None,
    url_template: str = "https://covers.example/b/id/{cover_id}-M.jpg",
    vectors: np.ndarray | None = None,
) -> pa.Table:
    rng = np.random.default_rng(seed)
    vecs = unit(rng.standard_normal((n, dim))) if vectors is None else unit(vectors)
    cover_ids = [first_cover + i for i in range(n)]
    return pa.table(
        {
            "edition_key": [f"/books/OL{year}{i:04d}M" for i in range(n)],
            "work_key": [f"/works/OL{year}{i:04d}W" for i in range(n)],
            "title": titles if titles is not None else [f"Book {i} of {year}" for i in range(n)],
            "authors": [[f"Author {i}", "Co Author"] for i in range(n)],
            "year": [year] * n,
            "cover_id": cover_ids,
            "cover_url": [url_template.format(cover_id=c) for c in cover_ids],
            "embedding": [v.tolist() for v in vecs],
        },
        schema=ROWS_SCHEMA,
    )


class FakeEncoder:
    """Deterministic text → unit vector; texts registered with ``pin`` map to a chosen vector."""

    def __init__(self, dim: int = DIM) -> None:
        self.dim = dim
        self.pinned: dict[str, np.ndarray] = {}
        self.calls = 0

    def pin(self, text: str, vector: np.ndarray) -> None:
        self.pinned[text] = unit(vector)

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        out = []
        for text in texts:
            if text in self.pinned:
                out.append(self.pinned[text])
                continue
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            out.append(unit(np.random.default_rng(seed).standard_normal(self.dim)))
        return np.stack(out).astype(np.float32)


@pytest.fixture
def db_uri(tmp_path) -> str:
    return str(tmp_path / "milvus" / "covers.db")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """A store with 2019 (20 rows, one XSS title) and 2020 (15 rows), plus a service on it."""
    from book_assets.milvus.store import CoverStore
    from book_assets.search.api import SearchService

    uri = str(tmp_path_factory.mktemp("loaded") / "covers.db")
    store = CoverStore(uri, collection="test_covers")
    titles = [f"Book {i} of 2019" for i in range(20)]
    titles[3] = XSS_TITLE
    rows19 = make_rows(2019, 20, seed=19, titles=titles)
    rows20 = make_rows(2020, 15, seed=20)
    store.reload_year(2019, rows19)
    store.reload_year(2020, rows20)
    encoder = FakeEncoder()
    service = SearchService(store, encoder)
    yield {"store": store, "service": service, "encoder": encoder, "rows": {2019: rows19, 2020: rows20}, "uri": uri}
    store.close()
