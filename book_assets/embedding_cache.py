"""The embedding cache: every (cover id, model id) embedding ever computed, reused across rebuilds.

Stored as Parquet part files under ``<warehouse>/embedding_cache/model=<slug>/``; each finished
chunk of covers adds one part, so a job killed halfway keeps every chunk it finished. Reads
de-duplicate by cover id (a retried chunk may have written twice).

A part is written under a temporary name starting with ``_``, synced (local filesystems), and
moved to ``part-<uuid>.parquet`` once complete; reads open only the finished ``*.parquet`` parts
(never names starting with ``_`` or ``.``), so a writer killed mid-write leaves a leftover that no
later run trips over. Parts are read one at a time: one that cannot be read (a file emptied by a
crash, a bad copy) is skipped with a warning, so its covers are simply embedded again.

Each row records the URL its image came from: given the covers' current URLs, :func:`load` skips
embeddings of another URL (a new cover URL template: another size or mirror), so those covers are
fetched and embedded again. Rows written before URLs were recorded (``url`` null) match any URL,
as the cover cache's entries without a URL do.
"""
from __future__ import annotations

import logging
import os
import re
import uuid
from typing import Iterable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from book_assets.storage import TMP_PREFIX, exists, filesystem_and_path
from book_assets.warehouse import EMBEDDING_CACHE, join_uri

log = logging.getLogger(__name__)

SCHEMA = pa.schema([("cover_id", pa.int64()), ("embedding", pa.list_(pa.float32())), ("model_id", pa.string()),
                    ("url", pa.string()), ("min_bytes", pa.int64())])
"""``min_bytes``: the cover size threshold the image passed when it was embedded (null in rows from
before it was recorded): a run with a higher threshold re-judges only rows below it."""


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


def load(uri: str, cover_ids: Iterable[int] | None = None, *, urls: Mapping[int, str] | None = None,
         unreadable: list[str] | None = None, judged_at: dict[int, int | None] | None = None) -> dict[int, np.ndarray]:
    """Cached embeddings (optionally only for ``cover_ids``, or the ids of ``urls``), one per cover id.

    With ``urls`` (cover id -> the URL its image is fetched from now), an embedding recorded for
    another URL is left out; one recorded for this URL wins over one without a URL. A part whose
    content is not Parquet (``ArrowInvalid``: a file emptied by a crash, a bad copy) is skipped,
    logged, and its path added to ``unreadable`` when given; an I/O error (throttling, access
    denied) is raised, never taken for an empty cache. ``judged_at``, when given, is filled with
    each returned id's recorded ``min_bytes`` (the highest among its rows for this URL).
    """
    if cover_ids is None and urls is not None:
        cover_ids = urls
    if not exists(uri):
        return {}
    fs, _ = filesystem_and_path(uri)
    parts = part_files(uri)
    wanted = None if cover_ids is None else pa.array(sorted(set(int(c) for c in cover_ids)), pa.int64())

    def read(paths: list[str]) -> pa.Table:
        return ds.dataset(paths, filesystem=fs, format="parquet", schema=SCHEMA).to_table(
            filter=None if wanted is None else ds.field("cover_id").isin(wanted))

    try:
        tables = [read(parts)] if parts else []  # one scan: parts are read ahead in parallel
    except pa.ArrowInvalid:  # some part is damaged: read them one by one, skipping the bad ones
        tables = []
        for part in parts:
            try:
                tables.append(read([part]))
            except pa.ArrowInvalid as exc:
                log.warning("embedding cache: skipping unreadable part %s (%s); its covers will be embedded again",
                            part, exc)
                if unreadable is not None:
                    unreadable.append(part)
    out: dict[int, np.ndarray] = {}
    exact: set[int] = set()  # ids whose embedding was recorded for the wanted URL
    for table in tables:
        for cid, emb, url, threshold in zip(
                table.column("cover_id").to_pylist(), table.column("embedding").to_pylist(),
                table.column("url").to_pylist(), table.column("min_bytes").to_pylist()):
            cid = int(cid)
            want = None if urls is None else urls.get(cid)
            if emb is None or (want is not None and url is not None and url != want):
                continue
            is_exact = want is not None and url == want
            if cid in exact:  # the same image again (re-recorded under a higher threshold)
                if is_exact and judged_at is not None and threshold is not None:
                    judged_at[cid] = max(judged_at[cid] or 0, threshold)
                continue
            out[cid] = np.asarray(emb, dtype=np.float32)
            if judged_at is not None:
                judged_at[cid] = threshold
            if is_exact:
                exact.add(cid)
    return out


def append(uri: str, model_id: str, embeddings: dict[int, np.ndarray],
           urls: Mapping[int, str] | None = None, min_bytes: int | None = None) -> str | None:
    """Write one new part with ``embeddings`` (and the URL of each image, from ``urls``, and the
    size threshold their images passed); returns its path (None when nothing to write)."""
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
            "url": pa.array([(urls or {}).get(i) for i in ids], pa.string()),
            "min_bytes": pa.array([min_bytes] * len(ids), pa.int64()),
        },
        schema=SCHEMA,
    )
    name = f"part-{uuid.uuid4().hex}.parquet"
    part = f"{path}/{name}"
    tmp = f"{path}/{TMP_PREFIX}{name}"  # invisible to readers until moved into place
    if isinstance(fs, pafs.LocalFileSystem):
        with open(tmp, "wb") as f:
            pq.write_table(table, f)
            f.flush()
            os.fsync(f.fileno())  # durable before the name points at it
    else:
        pq.write_table(table, tmp, filesystem=fs)  # one PUT on object stores
    fs.move(tmp, part)
    return part
