"""Content-addressed cover cache on a local directory or any URI ``pyarrow.fs`` understands.

Layout under ``root`` (a plain path, ``file://…`` or ``s3://bucket/prefix`` on EMR)::

    blobs/<sha[:2]>/<sha256>             image bytes, stored once per distinct content
    ids/<cover_id % 1000:03d>/<id>.json  the index: {"cover_id", "status", "sha256", "reason", "size", "url", ...}

An id's entry is either ``ok`` (pointing at a blob) or ``failed`` with a *permanent* reason (404,
placeholder GIF, not an image, truncated, too small, decompression bomb) so that a rebuild never
asks the covers service for it again. Transient failures (timeouts, 5xx, 429, connection errors)
are never stored: :meth:`CoverCache.store_failure` refuses them.

Some verdicts depend on a setting rather than on the bytes alone (``too_small`` follows
``min_bytes``, see :data:`THRESHOLD_REASONS`): such failures are stored *with* their bytes (a blob,
``sha256`` and ``size`` in the entry), and an ``ok`` entry records its ``size``, so the downloader
re-judges them under the current settings without a new request.

An entry records the URL it was fetched from: :meth:`CoverCache.lookup` with another URL (a new
cover URL template: another size or mirror) is a miss, so the cover is fetched again. Entries
written before URLs were recorded (no ``url``) match any URL: the template was the default then,
and treating them as misses would fetch a whole existing cache again.

A blob whose size on disk differs from the size its entry records (a file left empty by a crash,
a partial copy) is a miss too, and storing those bytes again overwrites it.

Every file is written whole: tmp file, ``fsync``, then ``os.replace`` on a local filesystem, a
single PUT on object stores. Names of tmp files are unique per writer, and blobs are immutable and named by
their content, so several threads or processes can share one cache without locks.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass

import pyarrow.fs as pafs

from book_assets.covers import images
from book_assets.storage import write_local_file

OK = "ok"
FAILED = "failed"

#: Failure reasons that are properties of the cover itself, safe to remember forever.
PERMANENT_REASONS = frozenset({"http_404"}) | images.IMAGE_REASONS
#: Permanent reasons whose verdict depends on a threshold setting: re-judged from the kept bytes.
THRESHOLD_REASONS = frozenset({images.TOO_SMALL})


@dataclass(frozen=True)
class CacheEntry:
    cover_id: int
    status: str  # "ok" | "failed"
    sha256: str | None
    reason: str | None
    detail: str
    size: int
    url: str = ""  # where the bytes came from; "" in entries written before URLs were recorded


def _filesystem(root: str) -> tuple[pafs.FileSystem, str]:
    if "://" in root:
        fs, path = pafs.FileSystem.from_uri(root)
        return fs, path.rstrip("/")
    return pafs.LocalFileSystem(), os.path.abspath(root)


def _read_local(path: str) -> bytes:
    """The whole file at ``path`` (``FileNotFoundError`` if there is none), with plain ``os`` calls."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


class CoverCache:
    """Cover id -> image bytes (or a permanent failure), content-addressed by SHA-256."""

    def __init__(self, root: str):
        self.root = root
        self._fs, self._base = _filesystem(root)
        self._local = isinstance(self._fs, pafs.LocalFileSystem)
        self._made_dirs: set[str] = set()
        self._dirs_lock = threading.Lock()

    # -- paths ---------------------------------------------------------------------------------
    def _blob_fs_path(self, sha: str) -> str:
        return f"{self._base}/blobs/{sha[:2]}/{sha}"

    def _index_fs_path(self, cover_id: int) -> str:
        return f"{self._base}/ids/{cover_id % 1000:03d}/{cover_id}.json"

    def blob_path(self, sha: str) -> str:
        """Where a blob lives, in the same form as ``root`` (plain path or URI)."""
        if self._local and "://" not in self.root:
            return self._blob_fs_path(sha)
        return f"{self.root.rstrip('/')}/blobs/{sha[:2]}/{sha}"

    # -- low-level IO --------------------------------------------------------------------------
    def _ensure_dir(self, path: str) -> None:
        if path in self._made_dirs:
            return
        self._fs.create_dir(path, recursive=True)
        with self._dirs_lock:
            self._made_dirs.add(path)

    def _write(self, path: str, data: bytes) -> None:
        self._ensure_dir(path.rsplit("/", 1)[0])
        if self._local:
            write_local_file(path, data)
        else:
            with self._fs.open_output_stream(path) as f:
                f.write(data)

    def _read(self, path: str) -> bytes | None:
        try:
            if self._local:
                return _read_local(path)
            with self._fs.open_input_stream(path) as f:
                return f.read()
        except FileNotFoundError:
            return None
        except OSError:
            if self._exists(path):
                raise
            return None

    def _exists(self, path: str) -> bool:
        return self._size(path) is not None

    def _size(self, path: str) -> int | None:
        """Size of the file at ``path``, None if there is none."""
        if self._local:
            try:
                return os.stat(path).st_size
            except FileNotFoundError:
                return None
        info = self._fs.get_file_info(path)
        return None if info.type == pafs.FileType.NotFound else info.size

    def _store_blob(self, sha: str, data: bytes) -> None:
        """Write the blob unless an intact one (of the right size) is already there."""
        path = self._blob_fs_path(sha)
        if self._size(path) != len(data):
            self._write(path, bytes(data))

    # -- public API ----------------------------------------------------------------------------
    def lookup(self, cover_id: int, url: str | None = None, *, check_blob: bool = True) -> CacheEntry | None:
        """The cached entry for ``cover_id``, or None: never seen, unreadable, recorded for another
        ``url`` (when one is given), or - unless ``check_blob`` is False - its blob missing or not
        of the recorded size."""
        raw = self._read(self._index_fs_path(int(cover_id)))
        if raw is None:
            return None
        try:
            doc = json.loads(raw)
            entry = CacheEntry(
                cover_id=int(doc["cover_id"]),
                status=doc["status"],
                sha256=doc.get("sha256"),
                reason=doc.get("reason"),
                detail=doc.get("detail", ""),
                size=int(doc.get("size", 0)),
                url=doc.get("url") or "",
            )
        except (ValueError, KeyError, TypeError):
            return None  # a damaged index file is a miss: the cover gets fetched again
        if entry.status not in (OK, FAILED) or (entry.status == OK and not entry.sha256):
            return None
        if url is not None and entry.url and entry.url != url:
            return None  # fetched from another URL (another size or mirror): fetch this one
        if check_blob and entry.sha256:
            size = self._size(self._blob_fs_path(entry.sha256))
            if size is None or (entry.size and size != entry.size):
                return None  # blob gone or damaged (an image, or the kept bytes of a failure): download again
        return entry

    def store_image(self, cover_id: int, data: bytes, content_type: str, url: str = "") -> CacheEntry:
        """Store the bytes once under their SHA-256 and point ``cover_id`` (fetched from ``url``) at them."""
        sha = hashlib.sha256(data).hexdigest()
        self._store_blob(sha, data)
        entry = CacheEntry(int(cover_id), OK, sha, None, "", len(data), url or "")
        self._write_index(entry, content_type=content_type or "")
        return entry

    def store_failure(self, cover_id: int, reason: str, detail: str, data: bytes | None = None,
                      url: str = "") -> CacheEntry:
        """Remember a permanent failure so the cover is never requested again.

        ``data`` (the bytes judged) is kept as a blob, so a threshold-dependent verdict
        (``THRESHOLD_REASONS``) can be judged again later without downloading.
        Raises ``ValueError`` for reasons that are not permanent (see ``PERMANENT_REASONS``).
        """
        if reason not in PERMANENT_REASONS:
            raise ValueError(f"{reason!r} is not a permanent failure; only {sorted(PERMANENT_REASONS)} are cached")
        sha = None
        if data is not None:
            sha = hashlib.sha256(data).hexdigest()
            self._store_blob(sha, data)
        entry = CacheEntry(int(cover_id), FAILED, sha, reason, detail or "", len(data) if data is not None else 0,
                           url or "")
        self._write_index(entry)
        return entry

    def read_blob(self, sha: str) -> bytes:
        data = self._read(self._blob_fs_path(sha))
        if data is None:
            raise FileNotFoundError(self.blob_path(sha))
        return data

    def _write_index(self, entry: CacheEntry, content_type: str = "") -> None:
        doc = asdict(entry)
        doc["content_type"] = content_type
        doc["stored_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self._write(self._index_fs_path(entry.cover_id), json.dumps(doc, sort_keys=True).encode("utf-8"))
