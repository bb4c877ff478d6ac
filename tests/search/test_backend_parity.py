"""One test per Lite-vs-server disagreement (docs/milvus.md): the layer is immune to each, on both.

| operation                              | Milvus Lite 3.2           | Milvus server 2.3.5             |
| insert of an existing key              | overwrites                | keeps a duplicate               |
| upsert into another partition          | moves the row             | old row stays in old partition  |
| delete(filter, partition_name=…)       | deletes in every partition| only that partition             |
| count(*) with partition_names, no filter| collection total         | correct                         |
| drop a loaded partition                | allowed                   | release first                   |
| default consistency                    | always current            | Bounded                         |
| hit id key                             | primary-key field name    | ``id``                          |

Plus: indexes both accept, bulk import (server) with the insert fallback (Lite).

Two rows are covered, on both backends, by ``tests/search/test_store.py``: a reload that touches
only its own partition (``delete`` with a partition; ``test_reload_years_exact_isolated_and_repeatable``
also checks the other year's vectors are unchanged, and ``test_no_server_rejected_features`` below
that the layer never calls ``delete``/``upsert``), and per-partition counts (the same test counts
two years and the total).
"""
from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest

from book_assets.milvus import bulk, indexes, store as store_module
from book_assets.milvus.schema import entity_id
from tests.search.conftest import make_rows


def _ids(store, year: int) -> set[int]:
    res = store._client.query(store.collection, filter=f"year == {year}", output_fields=["id"],
                              consistency_level="Strong", limit=10_000)
    return {int(r["id"]) for r in res}


def _titles(store, year: int) -> dict[int, str]:
    res = store._client.query(store.collection, filter=f"year == {year}", output_fields=["id", "title"],
                              consistency_level="Strong", limit=10_000)
    return {int(r["id"]): r["title"] for r in res}


@pytest.fixture
def no_risky_calls(monkeypatch):
    """Make the operations whose semantics differ fail loudly if the layer ever uses them."""
    def patch(store):
        for name in ("upsert", "delete"):
            def refuse(*a, _name=name, **k):
                raise AssertionError(f"CoverStore must not call {_name}()")
            monkeypatch.setattr(store._client, name, refuse)
        return store
    return patch


def test_insert_of_existing_keys_never_duplicates(stores, no_risky_calls):
    store = no_risky_calls(stores(stores.name("dup")))
    store.reload_year(2019, make_rows(2019, 12, seed=1, titles=[f"old {i}" for i in range(12)]))
    # the same keys again (Lite would overwrite, a server would keep both copies)
    store.reload_year(2019, make_rows(2019, 12, seed=2, titles=[f"new {i}" for i in range(12)]))
    assert store.count_year(2019) == 12 and store.count_total() == 12
    assert sorted(_titles(store, 2019).values()) == sorted(f"new {i}" for i in range(12))


def test_same_cover_in_two_years_is_two_entities_not_a_move(stores, no_risky_calls):
    store = no_risky_calls(stores(stores.name("move")))
    store.reload_year(2019, make_rows(2019, 10, first_cover=1000))
    store.reload_year(2020, make_rows(2020, 10, first_cover=1005))  # covers 1005..1009 in both years
    assert (store.count_year(2019), store.count_year(2020)) == (10, 10)
    assert _ids(store, 2019) == {entity_id(2019, 1000 + i) for i in range(10)}
    store.reload_year(2019, make_rows(2019, 5, first_cover=1000))  # 1005.. leave 2019 only
    assert (store.count_year(2019), store.count_year(2020)) == (5, 10)
    assert _ids(store, 2020) == {entity_id(2020, 1005 + i) for i in range(10)}


def test_reloading_a_loaded_partition_works(stores):
    store = stores(stores.name("loaded"))
    rows = make_rows(2019, 6, seed=3)
    store.reload_year(2019, rows)
    vec = np.asarray(rows.column("embedding")[2].as_py())
    assert store.search(vec, years=[2019], top_k=1)[0]["cover_id"] == 1002  # partition is loaded
    store.reload_year(2019, make_rows(2019, 6, seed=4))  # drop of a loaded partition: released first
    assert "Loaded" in str(store._client.get_load_state(store.collection)["state"])
    assert store.count_year(2019) == 6
    assert store.search(vec, years=[2019], top_k=1)[0]["score"] < 0.99  # the old vector is gone


def test_reads_see_the_last_reload_immediately(stores):
    store = stores(stores.name("ryw"))
    assert store.search_consistency == "Strong"
    for round_, n in enumerate((9, 4, 13)):
        rows = make_rows(2019, n, seed=100 + round_)
        store.reload_year(2019, rows)
        assert store.count_year(2019) == n  # no sleep, no retry
        vec = np.asarray(rows.column("embedding")[n - 1].as_py())
        top = store.search(vec, top_k=1)[0]
        assert top["cover_id"] == 1000 + n - 1 and top["score"] == pytest.approx(1.0, abs=1e-3)
        key = rows.column("edition_key")[0].as_py()
        assert store.get_entity(key)["id"] == entity_id(2019, 1000)


def test_hit_ids_are_primary_keys_on_both(stores):
    store = stores(stores.name("hitid"))
    rows = make_rows(2021, 10, seed=5, first_cover=77)
    store.reload_year(2021, rows)
    hits = store.search(np.asarray(rows.column("embedding")[0].as_py()), top_k=10)
    assert {h["id"] for h in hits} == {entity_id(2021, 77 + i) for i in range(10)}
    assert all(h["id"] == entity_id(h["year"], h["cover_id"]) for h in hits)

    class ServerHit(dict):  # pymilvus Hit: .id, and a dict keyed "id"
        id = 5
    assert store_module._hit_id(ServerHit(id=5, distance=0.1, entity={})) == 5
    assert store_module._hit_id({"entity": {"id": 6}, "distance": 0.1}) == 6


@pytest.mark.parametrize("index", ["FLAT", "IVF_FLAT", "HNSW"])
def test_every_index_choice_builds_and_searches(stores, index):
    store = stores(stores.name(f"ix_{index.lower()}"), index=index)
    rows = make_rows(2019, 40, seed=9)
    store.reload_year(2019, rows)
    assert store.index_info()["index_type"] == index
    vec = np.asarray(rows.column("embedding")[11].as_py())
    assert store.search(vec, top_k=3)[0]["cover_id"] == 1011


def test_no_server_rejected_features():
    for name in ("HNSW_SQ", "BRUTE_FORCE", "INVERTED"):
        with pytest.raises(ValueError):
            indexes.choose_index(name, is_lite=True)
    source = inspect.getsource(store_module) + inspect.getsource(bulk)
    assert "filter_params" not in source.replace("no ``filter_params``", "")
    assert ".upsert(" not in source and ".delete(" not in source


def test_bulk_import_on_server_inserts_on_lite(stores, monkeypatch):
    store = stores(stores.name("bulk"), bulk_min_rows=100)
    rows = make_rows(2019, 300, seed=11)
    assert store.reload_year(2019, rows) == 300  # auto: bulk on the server, inserts on Lite
    expected = "bulk" if stores.backend == "server" else "insert"
    assert store.last_load_method == expected
    assert store.count_year(2019) == 300
    vec = np.asarray(rows.column("embedding")[123].as_py())
    assert store.search(vec, top_k=1)[0]["cover_id"] == 1123
    # small years insert even on a server; an explicit bulk on Lite is an error, not a fallback
    assert store.reload_year(2020, make_rows(2020, 20)) == 20 and store.last_load_method == "insert"
    if stores.backend == "lite":
        with pytest.raises(ValueError, match="Lite has no bulk"):
            store.reload_year(2019, rows, method="bulk")
        return
    # a crash during the import leaves an empty partition; the next reload repairs it
    def boom(*a, **k):
        raise RuntimeError("injected import crash")
    real = bulk.import_files
    monkeypatch.setattr(bulk, "import_files", boom)
    with pytest.raises(RuntimeError, match="injected import crash"):
        store.reload_year(2019, make_rows(2019, 150, seed=12))
    monkeypatch.setattr(bulk, "import_files", real)
    assert store.count_year(2019) == 0 and store.count_year(2020) == 20
    assert store.reload_year(2019, make_rows(2019, 150, seed=12), method="bulk") == 150
    assert (store.count_year(2019), store.count_year(2020)) == (150, 20)
    assert not any(Path(stores.bulk_dir).iterdir())  # Parquet staging removed after each import


def test_choose_method():
    auto = dict(is_lite=False, n_rows=10_000, bulk_dir="/srv/bulk", min_rows=5_000)
    assert bulk.choose_method("auto", **auto) == "bulk"
    assert bulk.choose_method("auto", **{**auto, "n_rows": 10}) == "insert"
    assert bulk.choose_method("auto", **{**auto, "is_lite": True}) == "insert"
    assert bulk.choose_method("auto", **{**auto, "bulk_dir": None}) == "insert"
    assert bulk.choose_method("insert", **auto) == "insert"
    with pytest.raises(ValueError, match="bulk_dir"):
        bulk.choose_method("bulk", **{**auto, "bulk_dir": None})
    with pytest.raises(ValueError):
        bulk.choose_method("upsert", **auto)


def test_lite_server_is_shared_by_processes_and_detected_as_lite(tmp_path):
    """``milvus-lite server`` (http:// URI) is still Lite: the layer detects it by version, so it
    uses collection-level load and no bulk import; a second process reads the same data."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    from book_assets.milvus.store import CoverStore

    exe = Path(sys.executable).with_name("milvus-lite")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(exe), "server", "--data-dir", str(tmp_path / "lite"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        store = CoverStore(uri, collection="shared", bulk_dir=str(tmp_path / "bulk"), bulk_min_rows=1)
        assert store.is_lite and store.index_type == "IVF_FLAT"
        assert store.reload_year(2019, make_rows(2019, 20)) == 20
        assert store.last_load_method == "insert"  # auto never picks bulk on Lite
        code = ("from book_assets.milvus.store import CoverStore;"
                f"s = CoverStore({uri!r}, collection='shared'); print(s.count_year(2019))")
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                               cwd=str(Path(__file__).resolve().parents[2]))
        assert other.stdout.strip().splitlines()[-1] == "20", other.stderr[-2000:]
        store.close()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
