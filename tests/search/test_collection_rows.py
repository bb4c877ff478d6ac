"""A year's Milvus rows: embeddings joined with their fiction rows and cover URLs; a vector whose
fiction row or URL is missing (tables out of step) is counted, not silently blanked."""
from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq

from book_assets.collection_rows import year_rows
from book_assets.warehouse import (
    COVER_EMBEDDINGS, COVER_EMBEDDINGS_SCHEMA, COVER_URLS, COVER_URLS_SCHEMA, RECENT_FICTION, RECENT_FICTION_SCHEMA,
    year_uri,
)


def _write(warehouse: str, table: str, schema: pa.Schema, rows: list[dict]) -> None:
    folder = year_uri(warehouse, table, 2019)
    os.makedirs(folder)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), f"{folder}/part-0.parquet")


def test_rows_joined_and_gaps_counted(tmp_path):
    warehouse = str(tmp_path)
    _write(warehouse, RECENT_FICTION, RECENT_FICTION_SCHEMA, [
        {"edition_key": "/books/OL1M", "work_key": "/works/OL1W", "title": "One", "authors": ["Ann"], "pages": 200},
        {"edition_key": "/books/OL2M", "work_key": "/works/OL2W", "title": "Two", "authors": [], "pages": 200},
    ])
    _write(warehouse, COVER_URLS, COVER_URLS_SCHEMA, [
        {"cover_id": 11, "edition_key": "/books/OL1M", "url": "https://c.example/b/id/11-M.jpg"},
        {"cover_id": 33, "edition_key": "/books/OL3M", "url": "https://c.example/b/id/33-M.jpg"},
    ])
    vector = [0.6, 0.8]
    _write(warehouse, COVER_EMBEDDINGS, COVER_EMBEDDINGS_SCHEMA, [
        {"cover_id": 11, "edition_key": "/books/OL1M", "embedding": vector},
        {"cover_id": 22, "edition_key": "/books/OL2M", "embedding": vector},  # no URL for cover 22
        {"cover_id": 33, "edition_key": "/books/OL3M", "embedding": vector},  # no fiction row for OL3M
    ])

    loaded = year_rows(warehouse, 2019)

    rows = {r["cover_id"]: r for r in loaded.table.to_pylist()}
    assert rows[11]["title"] == "One" and rows[11]["authors"] == ["Ann"] and rows[11]["year"] == 2019
    assert rows[11]["cover_url"] == "https://c.example/b/id/11-M.jpg"
    assert rows[22]["title"] == "Two" and rows[22]["cover_url"] == ""
    assert rows[33]["title"] == "" and rows[33]["cover_url"] == "https://c.example/b/id/33-M.jpg"
    assert (loaded.without_fiction_row, loaded.without_cover_url) == (1, 1)


def test_a_crashed_replacement_leftover_is_not_loaded_twice(tmp_path):
    """An embeddings replacement that died before deleting the old file leaves two generations
    in the folder; the Milvus rows come from the newest only."""
    from book_assets.storage import replace_parquet_dirs

    warehouse = str(tmp_path)
    _write(warehouse, RECENT_FICTION, RECENT_FICTION_SCHEMA, [
        {"edition_key": "/books/OL1M", "work_key": "/works/OL1W", "title": "One", "authors": [], "pages": 200}])
    _write(warehouse, COVER_URLS, COVER_URLS_SCHEMA, [
        {"cover_id": 11, "edition_key": "/books/OL1M", "url": "https://c.example/b/id/11-M.jpg"}])
    folder = year_uri(warehouse, COVER_EMBEDDINGS, 2019)
    old = pa.Table.from_pylist([{"cover_id": 11, "edition_key": "/books/OL1M", "embedding": [1.0, 0.0]}],
                               schema=COVER_EMBEDDINGS_SCHEMA)
    new = pa.Table.from_pylist([{"cover_id": 11, "edition_key": "/books/OL1M", "embedding": [0.0, 1.0]}],
                               schema=COVER_EMBEDDINGS_SCHEMA)
    first = replace_parquet_dirs({folder: old})[folder]
    kept_old = str(tmp_path / "old.parquet")
    os.rename(first, kept_old)
    replace_parquet_dirs({folder: new})
    os.rename(kept_old, first)  # the old generation is back beside the new one
    assert len(os.listdir(folder)) == 2

    rows = year_rows(warehouse, 2019).table.to_pylist()

    assert [(r["cover_id"], r["embedding"]) for r in rows] == [(11, [0.0, 1.0])]
