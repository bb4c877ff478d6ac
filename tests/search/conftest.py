"""Fixtures for the search tests: synthetic cover rows, a deterministic fake text encoder, Milvus
stores on both backends (Milvus Lite in a temporary directory; a real Milvus 2.3.5 server in its
own network namespace, started once per session), and loaded ``SearchService``s."""
from __future__ import annotations

import hashlib
import itertools
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


BACKENDS = ["lite", "server"]
_names = itertools.count()


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory):
    """A real Milvus 2.3.5 standalone server (PyPI ``milvus``) in a private network namespace."""
    from tests.support.milvus_server import MilvusServerProcess, server_available

    reason = server_available()
    if reason:
        if os.environ.get("BOOK_ASSETS_REQUIRE_MILVUS_SERVER", "1") == "1":
            pytest.fail(f"Milvus server tests cannot run: {reason} "
                        "(set BOOK_ASSETS_REQUIRE_MILVUS_SERVER=0 to skip them instead)")
        pytest.skip(reason)
    server = MilvusServerProcess(tmp_path_factory.mktemp("milvus_server"))
    server.start()
    yield server
    server.cleanup()


class StoreFactory:
    """Opens ``CoverStore``s on one backend; every collection it named is dropped at the end."""

    def __init__(self, backend: str, uri: str, bulk_dir: str | None) -> None:
        self.backend = backend
        self.uri = uri
        self.bulk_dir = bulk_dir
        self.stores: list = []
        self.collections: set[str] = set()

    def name(self, base: str) -> str:
        return f"{base}_{os.getpid()}_{next(_names)}"

    def __call__(self, collection: str, **kwargs):
        from book_assets.milvus.store import CoverStore

        kwargs.setdefault("bulk_dir", self.bulk_dir)
        store = CoverStore(self.uri, collection=collection, **kwargs)
        self.stores.append(store)
        self.collections.add(collection)
        return store

    def close(self) -> None:
        from pymilvus import MilvusClient

        for store in self.stores:
            store.close()
        if self.backend == "server":
            client = MilvusClient(uri=self.uri)
            for name in self.collections:
                if client.has_collection(name):
                    client.drop_collection(name)
            client.close()


def _factory(backend: str, request, tmp_path) -> StoreFactory:
    if backend == "server":
        server = request.getfixturevalue("milvus_server")
        return StoreFactory("server", server.uri, str(server.data_dir / "bulk"))
    return StoreFactory("lite", str(tmp_path / "milvus" / "covers.db"), None)


@pytest.fixture(params=BACKENDS)
def stores(request, tmp_path):
    """``stores(collection, **kw) -> CoverStore`` on Lite, then on the server."""
    factory = _factory(request.param, request, tmp_path)
    yield factory
    factory.close()


def _load_sample(store):
    from book_assets.search.api import SearchService

    titles = [f"Book {i} of 2019" for i in range(20)]
    titles[3] = XSS_TITLE
    rows19 = make_rows(2019, 20, seed=19, titles=titles)
    rows20 = make_rows(2020, 15, seed=20)
    store.reload_year(2019, rows19)
    store.reload_year(2020, rows20)
    encoder = FakeEncoder()
    service = SearchService(store, encoder)
    return {"store": store, "service": service, "encoder": encoder, "rows": {2019: rows19, 2020: rows20}}


@pytest.fixture(scope="module", params=BACKENDS)
def loaded_any(request, tmp_path_factory):
    """The ``loaded`` data set on Lite and on the server (search/API tests run on both)."""
    factory = _factory(request.param, request, tmp_path_factory.mktemp("loaded_any"))
    store = factory(factory.name("loaded"))
    data = _load_sample(store)
    data["backend"] = request.param
    yield data
    factory.close()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """A Lite store with 2019 (20 rows, one XSS title) and 2020 (15 rows), plus a service on it."""
    from book_assets.milvus.store import CoverStore

    uri = str(tmp_path_factory.mktemp("loaded") / "covers.db")
    store = CoverStore(uri, collection="test_covers")
    data = _load_sample(store)
    data["uri"] = uri
    yield data
    store.close()
