"""The embedding cache: every (cover id, model id) embedding ever computed, reused across rebuilds.

Stored as Parquet part files under ``<warehouse>/embedding_cache/model=<slug>/``; each finished
chunk of covers adds one part, so a job killed halfway keeps every chunk it finished. Reads
de-duplicate by cover id (a retried chunk may have written twice).

A part is written under a temporary name starting with ``_`` and moved to ``part-<uuid>.parquet``
once complete; reads open only the finished ``*.parquet`` parts (never names starting with ``_`` or
``.``), so a writer killed mid-write leaves a leftover that no later run trips over.
"""
from __future__ import annotations

import re
import uuid
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from book_assets.storage import TMP_PREFIX, exists, filesystem_and_path
from book_assets.warehouse import EMBEDDING_CACHE, join_uri

SCHEMA = pa.schema([("cover_id", pa.int64()), ("embedding", pa.list_(pa.float32())), ("model_id", pa.string())])


def model_slug(model_id: str) -> str:
    """A folder-safe name for a model id (hub name or local path)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id.strip("/")).strip("_")
    return slug[-120:] or "model"


def cache_uri(warehouse: str, model_id: str) -> str:
    return join_uri(warehouse, EMBEDDING_CACHE, f"model={model_slug(model_id)}")


def is_part_name(name: str) -> bool:
    """True for a finished part's file name: ``*.parquet`` not starting with ``_`` or ``.``."""
    return name.endswith(".parquet") and not name.startswith(("_", "."))


def part_files(uri: str) -> list[str]:
    """Filesystem paths of the finished parts under ``uri`` (temp and other files left out)."""
    fs, path = filesystem_and_path(uri)
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    return sorted(i.path for i in infos if i.type == pafs.FileType.File and is_part_name(i.base_name))


def load(uri: str, cover_ids: Iterable[int] | None = None) -> dict[int, np.ndarray]:
    """Cached embeddings (optionally only for ``cover_ids``), one per cover id."""
    if not exists(uri):
        return {}
    fs, _ = filesystem_and_path(uri)
    files = part_files(uri)
    if not files:
        return {}
    dataset = ds.dataset(files, filesystem=fs, format="parquet", schema=SCHEMA)
    wanted = None if cover_ids is None else pa.array(sorted(set(int(c) for c in cover_ids)), pa.int64())
    table = dataset.to_table(filter=None if wanted is None else ds.field("cover_id").isin(wanted))
    out: dict[int, np.ndarray] = {}
    ids = table.column("cover_id").to_pylist()
    embeddings = table.column("embedding").to_pylist()
    for cid, emb in zip(ids, embeddings):
        if emb is not None:
            out[int(cid)] = np.asarray(emb, dtype=np.float32)
    return out


def append(uri: str, model_id: str, embeddings: dict[int, np.ndarray]) -> str | None:
    """Write one new part with ``embeddings``; returns its path (None when nothing to write)."""
    if not embeddings:
        return None
    fs, path = filesystem_and_path(uri)
    fs.create_dir(path, recursive=True)
    ids = sorted(embeddings)
    table = pa.table(
        {
            "cover_id": pa.array(ids, pa.int64()),
            "embedding": pa.array([embeddings[i].astype(np.float32).tolist() for i in ids], pa.list_(pa.float32())),
            "model_id": pa.array([model_id] * len(ids), pa.string()),
        },
        schema=SCHEMA,
    )
    name = f"part-{uuid.uuid4().hex}.parquet"
    part = f"{path}/{name}"
    tmp = f"{path}/{TMP_PREFIX}{name}"  # invisible to readers until moved into place
    pq.write_table(table, tmp, filesystem=fs)
    fs.move(tmp, part)
    return part
