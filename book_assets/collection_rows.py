"""A year's Milvus rows: its cover embeddings joined with the fiction metadata and cover URLs."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from book_assets.storage import filesystem_and_path
from book_assets.warehouse import COVER_EMBEDDINGS, COVER_URLS, RECENT_FICTION, year_uri


def _read(warehouse: str, table: str, year: int) -> pa.Table:
    fs, path = filesystem_and_path(year_uri(warehouse, table, year))
    return pq.read_table(path, filesystem=fs)


def year_rows(warehouse: str, year: int) -> pa.Table:
    """Columns: edition_key, work_key, title, authors, year, cover_id, cover_url, embedding."""
    emb = _read(warehouse, COVER_EMBEDDINGS, year)
    url_table = _read(warehouse, COVER_URLS, year)
    urls = dict(zip(url_table.column("cover_id").to_pylist(), url_table.column("url").to_pylist()))
    fiction = _read(warehouse, RECENT_FICTION, year).select(["edition_key", "work_key", "title", "authors"])
    by_edition = {r["edition_key"]: r for r in fiction.to_pylist()}
    rows = []
    for r in emb.to_pylist():
        info = by_edition.get(r["edition_key"], {})
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
    return pa.Table.from_pylist(rows, schema=schema)
