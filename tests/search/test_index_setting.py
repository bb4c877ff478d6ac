"""``BOOK_ASSETS_MILVUS_INDEX`` picks the vector index of a new collection (the offline demo's is
FLAT, exact); an existing collection keeps its own, and says so when another was asked for."""
from __future__ import annotations

import logging
import os
import subprocess
from unittest.mock import patch

import pytest
from dagster import asset, materialize

from book_assets.milvus.store import CoverStore
from book_assets.resources.factory import build_resources
from book_assets.resources.milvus import MilvusResource


def _index_built_through_dagster(monkeypatch, tmp_path, value: str | None) -> str:
    """The index type of a collection that an asset creates with the env-built milvus resource."""
    if value is None:
        monkeypatch.delenv("BOOK_ASSETS_MILVUS_INDEX", raising=False)
    else:
        monkeypatch.setenv("BOOK_ASSETS_MILVUS_INDEX", value)
    monkeypatch.setenv("BOOK_ASSETS_MILVUS_URI", str(tmp_path / "milvus.db"))
    seen: dict = {}

    @asset
    def make_collection(milvus: MilvusResource) -> None:
        store = milvus.store()
        try:
            store.ensure_collection(8)
            seen.update(store.index_info())
        finally:
            store.close()

    materialize([make_collection], resources={"milvus": build_resources()["milvus"]})
    return seen["index_type"]


def test_lite_gets_ivf_flat_unless_told_otherwise(monkeypatch, tmp_path):
    assert _index_built_through_dagster(monkeypatch, tmp_path, None) == "IVF_FLAT"


@pytest.mark.parametrize("value", ["FLAT", "flat"])
def test_the_setting_reaches_a_new_collection(monkeypatch, tmp_path, value):
    assert _index_built_through_dagster(monkeypatch, tmp_path, value) == "FLAT"


def test_an_unknown_index_is_refused_by_name(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match=r"unsupported index 'ANNOY'; use one of auto, FLAT, IVF_FLAT, HNSW"):
        _index_built_through_dagster(monkeypatch, tmp_path, "ANNOY")


def _store_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "book_assets.milvus.store"]


def test_an_existing_collection_keeps_its_index_and_says_so(tmp_path, caplog):
    uri = str(tmp_path / "milvus.db")
    first = CoverStore(uri, dim=8, index="FLAT")  # as the offline demo creates it
    first.close()
    with caplog.at_level(logging.WARNING, logger="book_assets.milvus.store"):
        # The search front end opens with "auto", which asks for nothing in particular: no warning.
        again = CoverStore(uri)
        assert again.index_type == "FLAT"
        again.close()
        assert not _store_warnings(caplog)
        asked = CoverStore(uri, index="IVF_FLAT")
        assert asked.index_type == "FLAT" and asked.index_info()["index_type"] == "FLAT"
        asked.close()
    assert _store_warnings(caplog) == [
        "collection book_covers already has a FLAT index: the IVF_FLAT asked for applies to new "
        "collections only (drop the collection to change it)"]


def test_the_offline_demo_uses_flat_and_its_env_file_keeps_it(tmp_path, monkeypatch):
    from book_assets.quickstart import offline_sources, write_env_file

    home = tmp_path / "data"
    monkeypatch.delenv("BOOK_ASSETS_MILVUS_INDEX", raising=False)
    monkeypatch.setenv("BOOK_ASSETS_HOME", str(home))
    with patch.dict(os.environ), offline_sources(home, "2019"):  # its exports are undone after
        assert os.environ["BOOK_ASSETS_MILVUS_INDEX"] == "FLAT"
        env_file = write_env_file(home, tmp_path / "dagster_home")
    result = subprocess.run(["bash", "-c", 'source "$1"; printf "%s" "$BOOK_ASSETS_MILVUS_INDEX"', "bash",
                             str(env_file)], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "FLAT"

    monkeypatch.setenv("BOOK_ASSETS_MILVUS_INDEX", "HNSW")  # a choice of the user's is kept
    with patch.dict(os.environ), offline_sources(home, "2019"):
        assert os.environ["BOOK_ASSETS_MILVUS_INDEX"] == "HNSW"
