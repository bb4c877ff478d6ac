"""Bulk load of one year into a Milvus *server*: pymilvus ``BulkWriter`` (Parquet) → import.

Why: a server inserts ~12k rows/s through ``insert``; an import reads Parquet files straight from
the server's storage and builds sealed segments, without the per-row gRPC and WAL cost. Milvus
Lite has no import at all, so :func:`choose_method` falls back to batched inserts there.

How it works (Milvus 2.3 … 2.6, the gRPC ``Import`` API every server version has):

1. ``LocalBulkWriter`` writes the year's rows as Parquet files under ``bulk_dir`` — a directory
   the *server* can read at the same path: with ``common.storageType: local`` (standalone, the
   PyPI ``milvus`` server) that is any shared path; with MinIO/S3 it must be the bucket mount
   (or use ``pymilvus.bulk_writer.RemoteBulkWriter`` and pass its ``batch_files``).
2. ``do_bulk_insert(collection, partition, files)`` per file batch, into the year's (new, empty)
   partition; poll the task state until Completed.
3. The caller flushes and loads; imported segments become visible only after the query
   coordinator's next target update (seconds), so :func:`wait_visible` polls a Strong count
   until it equals the number of imported rows.

``pymilvus[bulk_writer]`` (minio, azure-storage-blob, ml_dtypes) is needed for step 1. setup.py
installs it; if an environment lacks it, :func:`bulk_available` says why and the store inserts
instead.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable

log = logging.getLogger(__name__)

BULK_DIR_ENV = "BOOK_ASSETS_MILVUS_BULK_DIR"
DEFAULT_BULK_MIN_ROWS = 50_000
_DONE = {"Completed"}
_FAILED = {"Failed", "Failed and cleaned"}


def bulk_available() -> str | None:
    """``None`` when ``pymilvus.bulk_writer`` imports, else the reason it does not."""
    try:
        from pymilvus.bulk_writer import LocalBulkWriter  # noqa: F401
    except Exception as exc:  # ModuleNotFoundError for the optional extras
        return f"pymilvus.bulk_writer unavailable ({exc}); pip install 'pymilvus[bulk_writer]'"
    return None


def choose_method(requested: str, *, is_lite: bool, n_rows: int, bulk_dir: str | None,
                  min_rows: int = DEFAULT_BULK_MIN_ROWS) -> str:
    """``"insert"`` or ``"bulk"`` for a year of ``n_rows`` rows.

    ``auto``: bulk only on a server, with a ``bulk_dir`` the server can read, when the writer is
    installed and the year has at least ``min_rows`` rows; inserts otherwise. An explicit
    ``"bulk"`` on Lite (or without a ``bulk_dir``) is an error rather than a silent fallback.
    """
    requested = (requested or "auto").lower()
    if requested not in {"auto", "insert", "bulk"}:
        raise ValueError(f"load method must be auto, insert or bulk, got {requested!r}")
    if requested == "insert":
        return "insert"
    problem = None
    if is_lite:
        problem = "Milvus Lite has no bulk import"
    elif not bulk_dir:
        problem = f"no bulk_dir (set {BULK_DIR_ENV} to a directory the Milvus server can read)"
    else:
        problem = bulk_available()
    if requested == "bulk":
        if problem:
            raise ValueError(f"bulk load impossible: {problem}")
        return "bulk"
    if problem or n_rows < min_rows:
        return "insert"
    return "bulk"


def write_parquet(schema, batches: Iterable[list[dict]], bulk_dir: str | Path,
                  progress: Callable[[int], None] | None = None) -> tuple[Path, list[list[str]], int]:
    """Write entity batches as Parquet with ``LocalBulkWriter``; returns (dir, file batches, rows)."""
    from pymilvus.bulk_writer import BulkFileType, LocalBulkWriter

    root = Path(bulk_dir)
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="covers-", dir=root))
    rows = 0
    try:
        writer = LocalBulkWriter(schema=schema, local_path=str(work), file_type=BulkFileType.PARQUET)
        for batch in batches:
            for entity in batch:
                writer.append_row(entity)
            rows += len(batch)
            if progress is not None:
                progress(rows)
        writer.commit()
        files = [list(map(str, group)) for group in writer.batch_files]
    except BaseException:
        remove_staging(work)
        raise
    return work, files, rows


def import_files(client, collection: str, partition: str, file_batches: list[list[str]],
                 timeout_s: float = 3600.0, poll_s: float = 0.5) -> int:
    """``do_bulk_insert`` each file batch into ``partition`` and wait; returns rows imported."""
    conn = client._get_connection()  # MilvusClient has no do_bulk_insert; its gRPC handler does
    task_ids = [conn.do_bulk_insert(collection, partition, files) for files in file_batches]
    deadline = time.monotonic() + timeout_s
    total = 0
    for task_id in task_ids:
        while True:
            state = conn.get_bulk_insert_state(task_id)
            name = state.state_name
            if name in _DONE:
                total += int(state.row_count)
                break
            if name in _FAILED:
                raise RuntimeError(f"bulk import task {task_id} into {partition} failed: {state.failed_reason}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"bulk import task {task_id} still {name} after {timeout_s:.0f} s")
            time.sleep(poll_s)
    return total


def wait_visible(count: Callable[[], int], expected: int, timeout_s: float = 300.0,
                 poll_s: float = 0.5) -> int:
    """Poll ``count()`` (a Strong count) until it reaches ``expected``; returns the final count."""
    deadline = time.monotonic() + timeout_s
    seen = count()
    while seen < expected:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {seen} of {expected} imported rows visible after {timeout_s:.0f} s")
        time.sleep(poll_s)
        seen = count()
    return seen


def remove_staging(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def default_bulk_dir() -> str | None:
    value = os.environ.get(BULK_DIR_ENV, "").strip()
    return value or None


__all__: list[Any] = [
    "BULK_DIR_ENV", "DEFAULT_BULK_MIN_ROWS", "bulk_available", "choose_method", "write_parquet",
    "import_files", "wait_visible", "remove_staging", "default_bulk_dir",
]
