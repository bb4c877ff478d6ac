"""Where every dataset lives under the warehouse root, and the Parquet schema of each table.

The warehouse root is a URI: a local directory by default (``$BOOK_ASSETS_HOME/warehouse``) or
``s3://bucket/prefix`` on EMR. Year-partitioned tables are Hive-style folders
``<root>/<table>/year=YYYY/``; the ``year`` column lives in the folder name, not in the files.
"""
from __future__ import annotations

import pyarrow as pa

RECENT_FICTION = "recent_fiction"
COVER_URLS = "cover_urls"
COVER_EMBEDDINGS = "cover_embeddings"
COVER_FAILURES = "cover_failures"
EMBEDDING_CACHE = "embedding_cache"

RECENT_FICTION_SCHEMA = pa.schema(
    [
        ("edition_key", pa.string()),
        ("work_key", pa.string()),
        ("title", pa.string()),
        ("authors", pa.list_(pa.string())),
        ("pages", pa.int32()),
        ("subjects", pa.list_(pa.string())),
        ("cover_id", pa.int64()),
        ("isbn_13", pa.string()),
        ("publish_date", pa.string()),
        ("languages", pa.list_(pa.string())),  # the edition's MARC codes; "eng" always among them
    ]
)

COVER_URLS_SCHEMA = pa.schema(
    [("cover_id", pa.int64()), ("edition_key", pa.string()), ("url", pa.string())]
)

COVER_EMBEDDINGS_SCHEMA = pa.schema(
    [
        ("cover_id", pa.int64()),
        ("edition_key", pa.string()),
        ("embedding", pa.list_(pa.float32())),
        ("model_id", pa.string()),
    ]
)

COVER_FAILURES_SCHEMA = pa.schema(
    [
        ("cover_id", pa.int64()),
        ("edition_key", pa.string()),
        ("url", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
    ]
)


def join_uri(root: str, *parts: str) -> str:
    """Join path segments onto a local path or ``scheme://`` URI with single slashes."""
    out = root.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


def table_uri(root: str, table: str) -> str:
    return join_uri(root, table)


def year_uri(root: str, table: str, year: int) -> str:
    """``<root>/<table>/year=YYYY`` — the one folder that rebuilding ``year`` rewrites."""
    return join_uri(root, table, f"year={int(year)}")
