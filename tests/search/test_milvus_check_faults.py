"""``milvus_collection``'s checks on a real Milvus Lite collection with a planted fault: the asset
runs for real on a small year (Dagster, the warehouse on disk, a Lite file in a tmp dir), and the
collection is spoiled right after its reload (an entity lost or added, the probed cover stored
with another vector, the index dropped), so the figures the asset gathers (``entities`` against
``expected``, ``probe()``, ``index_exists``) must show it and fail exactly that check."""
from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import materialize

from book_assets import quality
from book_assets.assets.search_index import milvus_collection, probe
from book_assets.milvus.schema import entity_id
from book_assets.milvus.store import CoverStore
from book_assets.resources.milvus import MilvusResource
from book_assets.resources.pipeline import PipelineConfig
from book_assets.storage import replace_parquet_dirs
from book_assets.warehouse import (
    COVER_EMBEDDINGS, COVER_EMBEDDINGS_SCHEMA, COVER_FAILURES, COVER_FAILURES_SCHEMA, COVER_URLS, COVER_URLS_SCHEMA,
    RECENT_FICTION, RECENT_FICTION_SCHEMA, year_uri,
)
from tests.search.conftest import make_rows

YEAR = 2019
N = 8


def _write_year(warehouse: str, rows: pa.Table) -> None:
    """The year's recent_fiction, cover_urls and cover_embeddings (no failures), all in step."""
    r = rows.to_pylist()
    fiction = [{"edition_key": x["edition_key"], "work_key": x["work_key"], "title": x["title"],
                "authors": x["authors"], "pages": 300, "subjects": ["Fiction"], "cover_id": x["cover_id"],
                "isbn_13": None, "publish_date": str(YEAR), "languages": ["eng"]} for x in r]
    urls = [{"cover_id": x["cover_id"], "edition_key": x["edition_key"], "url": x["cover_url"]} for x in r]
    for table, schema, data in ((RECENT_FICTION, RECENT_FICTION_SCHEMA, fiction), (COVER_URLS, COVER_URLS_SCHEMA, urls)):
        os.makedirs(year_uri(warehouse, table, YEAR))
        pq.write_table(pa.Table.from_pylist(data, schema=schema), f"{year_uri(warehouse, table, YEAR)}/part-0.parquet")
    emb = [{"cover_id": x["cover_id"], "edition_key": x["edition_key"], "embedding": x["embedding"], "model_id": "m"}
           for x in r]
    replace_parquet_dirs({year_uri(warehouse, COVER_EMBEDDINGS, YEAR): pa.Table.from_pylist(emb, schema=COVER_EMBEDDINGS_SCHEMA),
                          year_uri(warehouse, COVER_FAILURES, YEAR): COVER_FAILURES_SCHEMA.empty_table()})


def _delete(store: CoverStore, cover_id: int) -> None:
    store._client.delete(store.collection, ids=[entity_id(YEAR, cover_id)])


def _add_stray(store: CoverStore, rows: pa.Table) -> None:
    """One more entity in the year's partition: a cover the year's embeddings do not have."""
    stray = make_rows(YEAR, 1, dim=len(rows.column("embedding")[0].as_py()), seed=99, first_cover=9000)
    store._client.insert(store.collection, [{
        "id": entity_id(YEAR, 9000), "edition_key": "/books/OL9000M", "work_key": "", "title": "", "authors": "",
        "year": YEAR, "cover_id": 9000, "cover_url": "", "vector": stray.column("embedding")[0].as_py(),
    }], partition_name=store.partition_name(YEAR))


def _drop_index(store: CoverStore) -> None:
    client = store._client
    client.release_collection(store.collection)
    for name in client.list_indexes(store.collection):
        client.drop_index(store.collection, name)
    client.load_collection(store.collection)  # Lite still searches (brute force) without an index


def _stale_first_vector(rows: pa.Table) -> pa.Table:
    """The rows with the first (probed) cover's vector negated: stored, it is the farthest from the probe."""
    first = -np.asarray(rows.column("embedding")[0].as_py(), dtype=np.float32)
    embeddings = [first.tolist()] + rows.column("embedding").to_pylist()[1:]
    return rows.set_column(rows.column_names.index("embedding"), "embedding",
                           pa.array(embeddings, type=rows.schema.field("embedding").type))


# fault: (what is done to the reload, figures the asset must report, the checks that must fail)
FAULTS = {
    "good": (None, {"entities": N, "expected": N, "probe_ok": True, "index_exists": True}, set()),
    "lost_entity": ("after", {"entities": N - 1, "expected": N, "probe_ok": True}, {"entity_count_matches"}),
    "stray_entity": ("after", {"entities": N + 1, "expected": N, "probe_ok": True}, {"entity_count_matches"}),
    "stale_probed_vector": ("rows", {"entities": N, "expected": N, "probe_ok": False}, {"probe_finds_itself"}),
    "probed_entity_lost": ("after", {"entities": N - 1, "expected": N, "probe_ok": False},
                           {"entity_count_matches", "probe_finds_itself"}),
    "no_index": ("after", {"entities": N, "expected": N, "probe_ok": True, "index_exists": False}, {"index_exists"}),
}


def _spoil(fault: str, store: CoverStore, rows: pa.Table) -> None:
    cover_ids = rows.column("cover_id").to_pylist()
    if fault == "lost_entity":
        _delete(store, cover_ids[-1])  # not the probed (first) one
    elif fault == "probed_entity_lost":
        _delete(store, cover_ids[0])
    elif fault == "stray_entity":
        _add_stray(store, rows)
    elif fault == "no_index":
        _drop_index(store)


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_planted_collection_fault_fails_its_check(tmp_path, monkeypatch, fault):
    when, expected, must_fail = FAULTS[fault]
    home = tmp_path / "home"
    rows = make_rows(YEAR, N, seed=7)
    _write_year(str(home / "warehouse"), rows)

    real_reload = CoverStore.reload_year

    def spoiled_reload(self, year, table, *args, **kwargs):
        if when == "rows":
            table = _stale_first_vector(table)
        inserted = real_reload(self, year, table, *args, **kwargs)
        if when == "after":
            _spoil(fault, self, table)
        return inserted

    monkeypatch.setattr(CoverStore, "reload_year", spoiled_reload)
    result = materialize([milvus_collection], partition_key=str(YEAR), raise_on_error=False, resources={
        "pipeline": PipelineConfig(home=str(home)), "milvus": MilvusResource(uri=str(home / "milvus.db"))})

    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == set(quality.MILVUS_CHECKS), result.all_events
    figures = {
        "entities": evaluations["entity_count_matches"].metadata["entities"].value,
        "expected": evaluations["entity_count_matches"].metadata["expected"].value,
        "probe_ok": evaluations["probe_finds_itself"].passed,
        "index_exists": evaluations["index_exists"].passed,
    }
    assert {k: figures[k] for k in expected} == expected, {k: e.metadata for k, e in evaluations.items()}
    failed = {name for name, e in evaluations.items() if not e.passed}
    assert failed == must_fail, {k: e.metadata for k, e in evaluations.items()}
    if "probe_finds_itself" in must_fail:
        detail = evaluations["probe_finds_itself"].metadata["probe_detail"].value
        first = rows.column("cover_id")[0].as_py()
        assert detail.startswith(f"cover {first}: top hit cover ") and f"top hit cover {first} " not in detail, detail


def test_probe_on_a_real_collection(tmp_path):
    """``probe()`` itself on Lite: the stored year finds its first cover; with that cover's stored
    vector stale, or the year's partition empty, it does not (and says what it found)."""
    store = CoverStore(str(tmp_path / "milvus" / "covers.db"), collection="probe")
    try:
        rows = make_rows(YEAR, N, seed=3)
        store.reload_year(YEAR, rows)
        assert probe(store, rows) == (True, "cover 1000: top hit cover 1000 score 1.00000")

        store.reload_year(YEAR, _stale_first_vector(rows))
        ok, detail = probe(store, rows)
        assert not ok and detail.startswith("cover 1000: top hit cover ") and "top hit cover 1000 " not in detail
        assert not quality.milvus_checks({"entities": N, "expected": N, "probe_ok": ok, "probe_detail": detail,
                                          "index_exists": True, "without_fiction_row": 0,
                                          "without_cover_url": 0})[1].passed

        store.reload_year(YEAR, rows.slice(0, 0))  # the partition exists, and holds nothing
        assert store.count_year(YEAR) == 0
        assert probe(store, rows) == (False, "no hits")
    finally:
        store.close()
