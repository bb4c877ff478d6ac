"""The ``mapInPandas`` function that turns cover blobs into CLIP embeddings.

Usage from a Spark job::

    df.mapInPandas(
        functools.partial(embed_cover_batches, model_id=model_id, batch_size=32),
        schema=OUTPUT_SCHEMA_DDL,
    )

Input frames carry ``cover_id`` (int64), ``edition_key`` (str) and ``blob_path`` (a local
path or any URI ``pyarrow.fs.FileSystem.from_uri`` reads; ``s3a://``/``s3n://`` are read as
``s3://``). Every input row yields exactly one output row. A blob that cannot be read
gives ``failure_reason="read_error"``; bytes that do not decode to an image, or decode to
a placeholder smaller than ``MIN_IMAGE_SIDE`` pixels (OpenLibrary's 1x1 GIF), give
``failure_reason="bad_image"``; both with ``embedding=None`` and a short
``failure_detail``. One bad blob never fails the task.

The model comes from ``get_clip`` (loaded once per Python worker, on first use). While the
model embeds one batch, a background thread reads, decodes and preprocesses the next.
No Spark imports here: the module is importable (and testable) without a JVM.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

OUTPUT_SCHEMA_DDL = (
    "cover_id long, edition_key string, embedding array<float>, model_id string, "
    "failure_reason string, failure_detail string"
)
OUTPUT_COLUMNS = ["cover_id", "edition_key", "embedding", "model_id", "failure_reason", "failure_detail"]
FAILURE_READ_ERROR = "read_error"
FAILURE_BAD_IMAGE = "bad_image"
MIN_IMAGE_SIDE = 8
IO_THREADS = 4
_DETAIL_MAX = 500

_FS_CACHE: dict[str, tuple[object, int]] = {}
_FS_LOCK = threading.Lock()


def _normalise_uri(uri: str) -> str:
    for alias in ("s3a://", "s3n://"):
        if uri.startswith(alias):
            return "s3://" + uri[len(alias) :]
    return uri


def read_blob(path: str) -> bytes:
    """Read a whole blob from a local path or a ``pyarrow.fs`` URI (filesystems are cached)."""
    path = str(path)
    if "://" not in path:
        with open(path, "rb") as fh:
            return fh.read()
    uri = _normalise_uri(path)
    scheme, rest = uri.split("://", 1)
    authority = rest.split("/", 1)[0]
    key = f"{scheme}://{authority}"
    cached = _FS_CACHE.get(key) if "?" not in uri else None
    if cached is not None:
        fs, strip = cached
        inner = uri[strip:]
    else:
        from pyarrow import fs as pafs

        fs, inner = pafs.FileSystem.from_uri(uri)
        if "?" not in uri and uri.endswith(inner):
            with _FS_LOCK:
                _FS_CACHE[key] = (fs, len(uri) - len(inner))
    with fs.open_input_stream(inner) as stream:
        return stream.read()


def _detail(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:_DETAIL_MAX]


def _load_one(blob_path) -> tuple[object, str | None, str | None]:
    """(image | None, failure_reason, failure_detail) for one blob."""
    from book_assets.clip.preprocess import decode_image

    if blob_path is None or (isinstance(blob_path, float) and np.isnan(blob_path)) or str(blob_path) == "":
        return None, FAILURE_READ_ERROR, "no blob_path"
    try:
        data = read_blob(blob_path)
    except Exception as exc:  # noqa: BLE001 - any I/O problem is a per-row failure
        return None, FAILURE_READ_ERROR, _detail(exc)
    try:
        image = decode_image(data)
    except Exception as exc:  # noqa: BLE001 - PIL raises many types for garbage bytes
        return None, FAILURE_BAD_IMAGE, _detail(exc)
    if min(image.size) < MIN_IMAGE_SIDE:
        w, h = image.size
        return None, FAILURE_BAD_IMAGE, f"image too small ({w}x{h}, {len(data)} bytes): placeholder"
    return image, None, None


@dataclass
class _Prepared:
    cover_ids: np.ndarray
    edition_keys: list
    reasons: list = field(default_factory=list)
    details: list = field(default_factory=list)
    ok_rows: list = field(default_factory=list)  # row positions with pixel values
    pixel_values: object = None  # torch.Tensor (len(ok_rows), 3, H, W) or None


def _prepare(chunk: pd.DataFrame, image_processor, io_pool: ThreadPoolExecutor) -> _Prepared:
    """Read, decode and preprocess one chunk; per-row failures are recorded, not raised."""
    import torch

    from book_assets.clip.preprocess import preprocess_batch

    prep = _Prepared(
        cover_ids=chunk["cover_id"].to_numpy(dtype=np.int64),
        edition_keys=[None if pd.isna(k) else str(k) for k in chunk["edition_key"]],
    )
    loaded = list(io_pool.map(_load_one, chunk["blob_path"].tolist()))
    images, rows = [], []
    for i, (image, reason, detail) in enumerate(loaded):
        prep.reasons.append(reason)
        prep.details.append(detail)
        if image is not None:
            images.append(image)
            rows.append(i)
    if not images:
        return prep
    try:
        pixel_values = preprocess_batch(images, image_processor)
    except Exception:  # noqa: BLE001 - isolate the image that broke the batch
        tensors, kept = [], []
        for image, row in zip(images, rows):
            try:
                tensors.append(preprocess_batch([image], image_processor))
                kept.append(row)
            except Exception as exc:  # noqa: BLE001
                prep.reasons[row], prep.details[row] = FAILURE_BAD_IMAGE, _detail(exc)
        pixel_values = torch.cat(tensors) if tensors else None
        rows = kept
    prep.ok_rows, prep.pixel_values = rows, pixel_values
    return prep


def _chunks(batches: Iterator[pd.DataFrame], batch_size: int) -> Iterator[pd.DataFrame]:
    for frame in batches:
        for start in range(0, len(frame), batch_size):
            yield frame.iloc[start : start + batch_size]


def _output_frame(prep: _Prepared, embeddings: np.ndarray | None, model_id: str) -> pd.DataFrame:
    n = len(prep.cover_ids)
    column: list = [None] * n
    if embeddings is not None:
        for row, vec in zip(prep.ok_rows, embeddings):
            column[row] = vec
    return pd.DataFrame(
        {
            "cover_id": prep.cover_ids,
            "edition_key": pd.Series(prep.edition_keys, dtype=object),
            "embedding": pd.Series(column, dtype=object),
            "model_id": pd.Series([model_id] * n, dtype=object),
            "failure_reason": pd.Series(prep.reasons, dtype=object),
            "failure_detail": pd.Series(prep.details, dtype=object),
        },
        columns=OUTPUT_COLUMNS,
    )


def embed_cover_batches(
    batches: Iterator[pd.DataFrame], model_id: str, batch_size: int = 32
) -> Iterator[pd.DataFrame]:
    """Embed cover blobs; yields one output frame (``OUTPUT_SCHEMA_DDL``) per batch."""
    from book_assets.clip.embed import embed_pixel_values
    from book_assets.clip.model import get_clip

    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    chunks = _chunks(batches, batch_size)
    first = next(chunks, None)
    if first is None:
        return  # empty partition: do not even load the model
    bundle = get_clip(model_id)
    io_pool = ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="clip-io")
    prefetch = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clip-prefetch")
    try:
        pending = prefetch.submit(_prepare, first, bundle.image_processor, io_pool)
        while pending is not None:
            prep = pending.result()
            following = next(chunks, None)
            pending = (
                prefetch.submit(_prepare, following, bundle.image_processor, io_pool) if following is not None else None
            )
            embeddings = embed_pixel_values(bundle, prep.pixel_values) if prep.pixel_values is not None else None
            yield _output_frame(prep, embeddings, bundle.model_id)
    finally:
        prefetch.shutdown(wait=True, cancel_futures=True)
        io_pool.shutdown(wait=True, cancel_futures=True)
