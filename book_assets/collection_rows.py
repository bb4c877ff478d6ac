"""A year's Milvus rows: its cover embeddings joined with the fiction metadata and cover URLs."""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from book_assets.storage import read_parquet_dir, read_replaced_dirs
from book_assets.warehouse import COVER_EMBEDDINGS, COVER_FAILURES, COVER_URLS, RECENT_FICTION, year_uri


@dataclass(frozen=True)
class YearRows:
    """The rows to load, and how many lacked their fiction row or their cover URL.

    Either means the year's tables are out of step (e.g. ``recent_fiction`` rebuilt but not the
    embeddings); such rows are still loaded (the vector is right), with the missing text blank,
    and the ``rows_have_metadata`` check reports them.
    """

    table: pa.Table
    without_fiction_row: int
    without_cover_url: int


def year_rows(warehouse: str, year: int) -> YearRows:
    """Columns: edition_key, work_key, title, authors, year, cover_id, cover_url, embedding."""
    # the generation the embeddings check read too (its failures folder was replaced with it)
    emb = read_replaced_dirs([year_uri(warehouse, COVER_EMBEDDINGS, year),
                              year_uri(warehouse, COVER_FAILURES, year)])[0]
    url_table = read_parquet_dir(year_uri(warehouse, COVER_URLS, year))
    urls = dict(zip(url_table.column("cover_id").to_pylist(), url_table.column("url").to_pylist()))
    fiction = read_parquet_dir(year_uri(warehouse, RECENT_FICTION, year)).select(["edition_key", "work_key", "title", "authors"])
    by_edition = {r["edition_key"]: r for r in fiction.to_pylist()}
    rows = []
    without_fiction = without_url = 0
    for r in emb.to_pylist():
        info = by_edition.get(r["edition_key"], {})
        without_fiction += r["edition_key"] not in by_edition
        without_url += r["cover_id"] not in urls
        rows.append({
            "edition_key": r["edition_key"],
            "work_key": info.get("work_key") or "",
            "title": info.get("title") or "",
            "authors": list(info.get("authors") or []),
            "year": int(year),
            "cover_id": int(r["cover_id"]),
            "cover_url": urls.get(r["cover_id"], ""),
            "embedding": r["embedding"],
        })
    schema = pa.schema([
        ("edition_key", pa.string()), ("work_key", pa.string()), ("title", pa.string()),
        ("authors", pa.list_(pa.string())), ("year", pa.int64()), ("cover_id", pa.int64()),
        ("cover_url", pa.string()), ("embedding", pa.list_(pa.float32())),
    ])
    return YearRows(pa.Table.from_pylist(rows, schema=schema), without_fiction, without_url)
