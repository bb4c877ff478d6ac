"""CoverStore on Milvus Lite and on a Milvus 2.3.5 server: per-year reloads are exact, isolated,
crash-safe and indexed, and searches agree — the same test body on both backends."""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pytest

from book_assets.milvus.schema import check_rows, entity_id, table_rows, truncate_utf8
from book_assets.milvus.store import CoverStore
from tests.search.conftest import DIM, ROWS_SCHEMA, make_rows


def _snapshot(store: CoverStore, year: int) -> dict[int, np.ndarray]:
    res = store._client.query(
        store.collection,
        filter=f"year == {year}",
        output_fields=["id", "vector"],
        consistency_level="Strong",
        limit=10_000,
    )
    return {int(r["id"]): np.asarray(r["vector"], dtype=np.float32) for r in res}


def test_reload_years_exact_isolated_and_repeatable(stores):
    store = stores(stores.name("c1"), flush_min_rows=1)  # this test takes the flush path
    progress: list[tuple[int, int]] = []
    assert store.reload_year(2019, make_rows(2019, 30, seed=1), batch_size=7, progress=lambda d, t: progress.append((d, t))) == 30
    assert store.reload_year(2020, make_rows(2020, 12, seed=2)) == 12
    assert progress[-1] == (30, 30) and len(progress) == 5
    assert (store.count_year(2019), store.count_year(2020), store.count_total()) == (30, 12, 42)
    assert store.count_year(2021) == 0
    assert store.has_index()
    info = store.index_info()
    expected_index = "IVF_FLAT" if stores.backend == "lite" else "HNSW"
    assert info["index_type"] == expected_index and info["metric_type"] == "COSINE"

    before_2020 = _snapshot(store, 2020)
    # rebuild 2019 twice, with a different (smaller) set of rows the second time
    store.reload_year(2019, make_rows(2019, 30, seed=1))
    assert (store.count_year(2019), store.count_year(2020)) == (30, 12)
    store.reload_year(2019, make_rows(2019, 25, seed=3))
    assert (store.count_year(2019), store.count_year(2020), store.count_total()) == (25, 12, 37)
    after_2020 = _snapshot(store, 2020)
    assert before_2020.keys() == after_2020.keys()
    for key, vec in before_2020.items():
        np.testing.assert_allclose(after_2020[key], vec, rtol=1e-6)
    snap19 = _snapshot(store, 2019)
    assert set(snap19) == {entity_id(2019, 1000 + i) for i in range(25)}


def test_crash_between_drop_and_insert_is_repaired(stores, monkeypatch):
    store = stores(stores.name("c2"))
    store.reload_year(2018, make_rows(2018, 10, seed=4))
    store.reload_year(2019, make_rows(2019, 20, seed=5))
    other = _snapshot(store, 2018)

    real_insert = store._client.insert

    def boom(*args, **kwargs):
        raise RuntimeError("injected crash before insert")

    monkeypatch.setattr(store._client, "insert", boom)
    with pytest.raises(RuntimeError, match="injected crash"):
        store.reload_year(2019, make_rows(2019, 20, seed=5))
    monkeypatch.setattr(store._client, "insert", real_insert)
    assert store.count_year(2019) == 0  # dropped, not yet refilled

    # a crash halfway through the inserts (first batch in, second fails)
    calls = {"n": 0}

    def half(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("injected crash mid-insert")
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(store._client, "insert", half)
    with pytest.raises(RuntimeError, match="mid-insert"):
        store.reload_year(2019, make_rows(2019, 20, seed=5), batch_size=8)
    monkeypatch.setattr(store._client, "insert", real_insert)

    assert store.reload_year(2019, make_rows(2019, 20, seed=5)) == 20
    assert (store.count_year(2019), store.count_year(2018)) == (20, 10)
    after = _snapshot(store, 2018)
    assert after.keys() == other.keys()


def _spoilt(rows: pa.Table, index: int, **changes) -> pa.Table:
    records = rows.to_pylist()
    records[index].update(changes)
    return pa.Table.from_pylist(records, schema=ROWS_SCHEMA)


def test_refused_reload_leaves_the_year_as_it_was(stores):
    """A bad row late in the table (after whole batches would have gone in) refuses the reload
    before anything is dropped: the year keeps its old entities and stays searchable."""
    store = stores(stores.name("c5"))
    good = make_rows(2019, 30, seed=1)
    store.reload_year(2019, good)
    before = _snapshot(store, 2019)
    vec = np.asarray(good.column("embedding")[0].as_py())
    bad_tables = {
        "shape (16,), expected (32,)": _spoilt(good, 25, embedding=good.column("embedding")[25].as_py()[:16]),
        "shape (), expected (32,)": _spoilt(good, 25, embedding=None),
        "year 2020, expected 2019": _spoilt(good, 25, year=2020),
        "year None, expected 2019": _spoilt(good, 25, year=None),
        "cover_id -1 out of range": _spoilt(good, 25, cover_id=-1),
        "lacks columns": good.drop_columns(["cover_url"]),
    }
    for message, bad in bad_tables.items():
        with pytest.raises(ValueError, match=re.escape(message)):
            store.reload_year(2019, bad, batch_size=10)
        assert store.count_year(2019) == 30, message
        assert _snapshot(store, 2019).keys() == before.keys(), message
        assert store.search(vec, years=[2019], top_k=1)[0]["id"] == entity_id(2019, 1000)

    fresh = stores(stores.name("c6"))  # a refused first table creates no collection either
    with pytest.raises(ValueError, match=re.escape("expected (32,)")):
        fresh.reload_year(2019, _spoilt(good, 25, embedding=[0.5] * 8))
    assert not fresh.has_collection() and fresh.years() == []


def test_check_rows_agrees_with_the_loader():
    rows = make_rows(2019, 4)
    # a duplicate cover keeps its first row (so its vector is never stored) and a row without a
    # cover id is skipped: neither is refused, as the loader does not refuse them
    duplicate = _spoilt(rows, 3, cover_id=rows.column("cover_id")[0].as_py(), embedding=[1.0])
    no_cover_id = _spoilt(rows, 2, cover_id=None, embedding=None)
    for table, stored in ((duplicate, 3), (no_cover_id, 3), (ROWS_SCHEMA.empty_table(), 0)):
        check_rows(2019, table, DIM)
        assert sum(map(len, table_rows(2019, table, DIM, 2))) == stored  # the loader takes it too
    with pytest.raises(ValueError, match="list of numbers"):
        check_rows(2019, rows.set_column(7, "embedding", pa.array(["x"] * 4)), DIM)


def test_empty_first_year_loads_as_nothing(stores):
    """The first year loaded into a new collection may have no covers: 0 rows, no error; the
    next year with rows creates the collection, and the empty year then gets its partition."""
    store = stores(stores.name("c7"))
    assert store.reload_year(2024, ROWS_SCHEMA.empty_table()) == 0
    assert store.count_year(2024) == 0 and store.count_total() == 0 and store.years() == []
    with pytest.raises(ValueError, match="no row has an embedding"):
        store.reload_year(2024, _spoilt(make_rows(2024, 1), 0, embedding=[]))
    assert store.reload_year(2023, make_rows(2023, 5)) == 5
    assert store.reload_year(2024, ROWS_SCHEMA.empty_table()) == 0
    assert store.years() == [2023, 2024]
    assert (store.count_year(2023), store.count_year(2024)) == (5, 0)


def test_reopen_existing_collection_and_dim_mismatch(stores):
    name = stores.name("c3")
    store = stores(name, index="FLAT")
    store.reload_year(2021, make_rows(2021, 5))
    store.ensure_collection(DIM)  # idempotent
    again = stores(name)
    assert again.dim == DIM and again.index_type == "FLAT"
    assert again.count_year(2021) == 5
    with pytest.raises(ValueError, match="32-d"):
        again.ensure_collection(DIM * 2)


def test_rows_validation(db_uri):
    store = CoverStore(db_uri, collection="c4", dim=DIM)
    with pytest.raises(ValueError, match="expected 2019"):
        store.reload_year(2019, make_rows(2020, 3))
    with pytest.raises(ValueError, match="year"):
        store.partition_name("2019; drop")
    assert store.partition_name(2019) == "y2019"
    with pytest.raises(ValueError, match="OL123M"):
        store.get_vector('/books/OL1M" or id > 0 or "')


def test_truncate_utf8_never_splits_characters():
    assert truncate_utf8("é" * 10, 5) == "éé"
    assert truncate_utf8("abc", 10) == "abc"
    assert truncate_utf8(None, 3) == ""


def test_search_and_get_vector(loaded_any):
    store = loaded_any["store"]
    rows = loaded_any["rows"][2020]
    vec = np.asarray(rows.column("embedding")[4].as_py(), dtype=np.float32)
    hits = store.search(vec, top_k=5)
    assert hits[0]["edition_key"] == rows.column("edition_key")[4].as_py()
    assert hits[0]["score"] == pytest.approx(1.0, abs=1e-3)
    assert hits[0]["authors"] == ["Author 4", "Co Author"]
    assert hits[0]["id"] == entity_id(2020, 1004)
    only19 = store.search(vec, years=[2019], top_k=10)
    assert only19 and all(h["year"] == 2019 for h in only19)
    assert store.search(vec, years=[1999]) == []
    assert [h["id"] for h in hits] == [entity_id(h["year"], h["cover_id"]) for h in hits]
    both = store.search(vec, years=[2019, 2020, 1999], top_k=35)
    assert {h["year"] for h in both} == {2019, 2020} and len(both) == 35
    got = store.get_vector(rows.column("edition_key")[4].as_py())
    assert got is not None and got[1] == 2020
    np.testing.assert_allclose(got[0], vec, atol=1e-6)
    assert store.get_vector("/books/OL999999999M") is None
