"""A year's Milvus rows: embeddings joined with their fiction rows and cover URLs; a vector whose
fiction row or URL is missing (tables out of step) is counted, not silently blanked."""
from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq

from book_assets.collection_rows import year_rows
from book_assets.storage import replace_parquet_dirs
from book_assets.warehouse import (
    COVER_EMBEDDINGS, COVER_EMBEDDINGS_SCHEMA, COVER_FAILURES, COVER_FAILURES_SCHEMA, COVER_URLS, COVER_URLS_SCHEMA,
    RECENT_FICTION, RECENT_FICTION_SCHEMA, year_uri,
)


def _write(warehouse: str, table: str, schema: pa.Schema, rows: list[dict]) -> None:
    folder = year_uri(warehouse, table, 2019)
    os.makedirs(folder)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), f"{folder}/part-0.parquet")


def _replace(warehouse: str, embeddings: list[dict]) -> dict[str, str]:
    """Replace the year's embeddings and (no) failures together, as the embeddings job does."""
    emb, fail = year_uri(warehouse, COVER_EMBEDDINGS, 2019), year_uri(warehouse, COVER_FAILURES, 2019)
    written = replace_parquet_dirs({emb: pa.Table.from_pylist(embeddings, schema=COVER_EMBEDDINGS_SCHEMA),
                                    fail: COVER_FAILURES_SCHEMA.empty_table()})
    return {"embeddings": written[emb], "failures": written[fail]}


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
    _replace(warehouse, [
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


def _fiction_and_url(warehouse: str) -> None:
    _write(warehouse, RECENT_FICTION, RECENT_FICTION_SCHEMA, [
        {"edition_key": "/books/OL1M", "work_key": "/works/OL1W", "title": "One", "authors": [], "pages": 200}])
    _write(warehouse, COVER_URLS, COVER_URLS_SCHEMA, [
        {"cover_id": 11, "edition_key": "/books/OL1M", "url": "https://c.example/b/id/11-M.jpg"}])


def _newer_file(written: str, rows: list[dict], schema: pa.Schema) -> None:
    """What a later replacement leaves once it renamed its file into ``written``'s folder."""
    folder, name = written.rsplit("/", 1)
    generation = int(name.split("-")[1])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), f"{folder}/part-{generation + 1:020d}-{'f' * 32}.parquet")


OLD_ROW = {"cover_id": 11, "edition_key": "/books/OL1M", "embedding": [1.0, 0.0]}
NEW_ROW = {"cover_id": 11, "edition_key": "/books/OL1M", "embedding": [0.0, 1.0]}


def test_a_crashed_replacement_leftover_is_not_loaded_twice(tmp_path):
    """A replacement that died before deleting the old files leaves two generations in each
    folder; the Milvus rows come from the newest only."""
    warehouse = str(tmp_path)
    _fiction_and_url(warehouse)
    old = _replace(warehouse, [OLD_ROW])
    _newer_file(old["embeddings"], [NEW_ROW], COVER_EMBEDDINGS_SCHEMA)
    _newer_file(old["failures"], [], COVER_FAILURES_SCHEMA)

    rows = year_rows(warehouse, 2019).table.to_pylist()

    assert [(r["cover_id"], r["embedding"]) for r in rows] == [(11, [0.0, 1.0])]


def test_a_replacement_that_died_between_its_renames_loads_the_old_rows(tmp_path):
    """The new embeddings file was renamed into place, the new failures file was not: the
    embeddings check reads the old pair, so Milvus gets the old rows too, not half of the new run."""
    warehouse = str(tmp_path)
    _fiction_and_url(warehouse)
    old = _replace(warehouse, [OLD_ROW])
    _newer_file(old["embeddings"], [NEW_ROW], COVER_EMBEDDINGS_SCHEMA)

    rows = year_rows(warehouse, 2019).table.to_pylist()

    assert [(r["cover_id"], r["embedding"]) for r in rows] == [(11, [1.0, 0.0])]
