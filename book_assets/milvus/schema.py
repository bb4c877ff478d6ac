"""The ``book_covers`` collection layout: field names, VARCHAR limits, ids, partitions and rows.

Pure functions only (no Milvus connection), so that the row conversion and the id scheme can be
tested and reused without a running Milvus.
"""
from __future__ import annotations

import re
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pymilvus import DataType, MilvusClient

ID_YEAR_FACTOR = 10_000_000_000
MIN_YEAR, MAX_YEAR = 1000, 9999
EDITION_KEY_RE = re.compile(r"/books/OL\d{1,12}M")  # always used with fullmatch

# VARCHAR limits are in bytes (UTF-8) on Milvus.
MAX_LEN = {
    "edition_key": 64,
    "work_key": 64,
    "title": 1024,
    "authors": 2048,
    "cover_url": 1024,
}
AUTHOR_SEPARATOR = "; "
SCALAR_FIELDS = ["id", "edition_key", "work_key", "title", "authors", "year", "cover_id", "cover_url"]
ROW_COLUMNS = ["edition_key", "work_key", "title", "authors", "year", "cover_id", "cover_url", "embedding"]


def check_year(year: Any) -> int:
    """Return ``year`` as an int if it is a plausible 4-digit year, else raise ``ValueError``."""
    if isinstance(year, bool) or not isinstance(year, (int, np.integer)):
        raise ValueError(f"year must be an integer, got {year!r}")
    year = int(year)
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"year {year} is outside {MIN_YEAR}..{MAX_YEAR}")
    return year


def partition_name(year: int) -> str:
    """``2019 -> "y2019"``: the partition that holds one publication year."""
    return f"y{check_year(year)}"


def check_edition_key(edition_key: Any) -> str:
    """Return ``edition_key`` if it matches ``/books/OL<digits>M`` exactly, else raise ``ValueError``."""
    if not isinstance(edition_key, str) or not EDITION_KEY_RE.fullmatch(edition_key):
        raise ValueError(f"edition key must look like /books/OL123M, got {str(edition_key)[:80]!r}")
    return edition_key


def entity_id(year: int, cover_id: int) -> int:
    """Deterministic primary key ``year * 10_000_000_000 + cover_id``."""
    cover_id = int(cover_id)
    if not 0 <= cover_id < ID_YEAR_FACTOR:
        raise ValueError(f"cover_id {cover_id} out of range")
    return check_year(year) * ID_YEAR_FACTOR + cover_id


def truncate_utf8(text: str | None, max_bytes: int) -> str:
    """Cut ``text`` to at most ``max_bytes`` UTF-8 bytes without splitting a character."""
    text = text or ""
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    return raw[:max_bytes].decode("utf-8", errors="ignore")


def join_authors(authors: list[str] | None) -> str:
    names = [a.strip() for a in (authors or []) if a and a.strip()]
    return truncate_utf8(AUTHOR_SEPARATOR.join(names), MAX_LEN["authors"])


def split_authors(joined: str | None) -> list[str]:
    return [a for a in (joined or "").split(AUTHOR_SEPARATOR) if a]


def build_schema(dim: int):
    """The collection schema; ``dim`` is the CLIP embedding width."""
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    for name in ("edition_key", "work_key", "title", "authors"):
        schema.add_field(name, DataType.VARCHAR, max_length=MAX_LEN[name])
    schema.add_field("year", DataType.INT64)
    schema.add_field("cover_id", DataType.INT64)
    schema.add_field("cover_url", DataType.VARCHAR, max_length=MAX_LEN["cover_url"])
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(dim))
    return schema


def check_rows(year: int, rows: pa.Table, dim: int) -> None:
    """Raise ``ValueError`` if ``table_rows`` would refuse any row of ``rows``; converts no vectors.

    Checks, in row order: the columns exist, every row is of ``year``, cover ids are in range and
    every vector that would be stored (the first of each cover id) is ``dim`` wide.
    """
    missing = [c for c in ROW_COLUMNS if c not in rows.column_names]
    if missing:
        raise ValueError(f"rows table lacks columns {missing}")
    if rows.num_rows == 0:
        return
    kind = rows.schema.field("embedding").type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)) or not (
        pa.types.is_floating(kind.value_type) or pa.types.is_integer(kind.value_type)
    ):
        raise ValueError(f"embedding column must be a list of numbers, not {kind}")
    widths = pc.list_value_length(rows.column("embedding")).to_pylist()
    keys = rows.column("edition_key").to_pylist()
    seen: set[int] = set()
    for key, row_year, cover_id, width in zip(keys, rows.column("year").to_pylist(),
                                              rows.column("cover_id").to_pylist(), widths):
        if row_year is None or int(row_year) != year:
            raise ValueError(f"row for {key!r} has year {row_year}, expected {year}")
        if cover_id is None:
            continue
        pk = entity_id(year, cover_id)
        if pk in seen:
            continue
        seen.add(pk)
        if width != dim:
            shape = () if width is None else (width,)
            raise ValueError(f"embedding for {key!r} has shape {shape}, expected ({dim},)")


def table_rows(year: int, rows: pa.Table, dim: int, batch_size: int) -> Iterator[list[dict]]:
    """Check every row of ``rows`` now (``check_rows``), then return batches of Milvus entities.

    Rows of another year are an error (they would land in the wrong partition); duplicate ids
    (same cover twice in a year) keep the first row, so that Lite and server end up alike.
    Because the whole table is checked before this returns, a caller that calls it before
    touching Milvus never leaves a refused table half-written.
    """
    check_rows(year, rows, dim)
    return _batches(year, rows, dim, batch_size)


def _batches(year: int, rows: pa.Table, dim: int, batch_size: int) -> Iterator[list[dict]]:
    seen: set[int] = set()
    batch: list[dict] = []
    for record_batch in rows.select(ROW_COLUMNS).to_batches(max_chunksize=batch_size):
        cols = record_batch.to_pydict()
        for i in range(record_batch.num_rows):
            cover_id = cols["cover_id"][i]
            if cover_id is None:
                continue
            pk = entity_id(year, cover_id)
            if pk in seen:
                continue
            vector = np.asarray(cols["embedding"][i], dtype=np.float32)
            if vector.shape != (dim,):  # check_rows saw the width; this catches nested lists
                raise ValueError(f"embedding for {cols['edition_key'][i]!r} has shape {vector.shape}, expected ({dim},)")
            seen.add(pk)
            batch.append(
                {
                    "id": pk,
                    "edition_key": truncate_utf8(cols["edition_key"][i], MAX_LEN["edition_key"]),
                    "work_key": truncate_utf8(cols["work_key"][i], MAX_LEN["work_key"]),
                    "title": truncate_utf8(cols["title"][i], MAX_LEN["title"]),
                    "authors": join_authors(cols["authors"][i]),
                    "year": year,
                    "cover_id": int(cover_id),
                    "cover_url": truncate_utf8(cols["cover_url"][i], MAX_LEN["cover_url"]),
                    "vector": vector.tolist(),
                }
            )
            if len(batch) >= batch_size:
                yield batch
                batch = []
    if batch:
        yield batch
