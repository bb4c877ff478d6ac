"""Streaming, resumable download of one dump file (a local path is used in place).

An interrupted download keeps its ``.part`` file and resumes with an HTTP ``Range`` request; the
finished file must match the server's size, or the fetch fails instead of leaving a short dump.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential
from tqdm import tqdm

USER_AGENT = "book_assets/0.1 (OpenLibrary dump ingest)"
CHUNK = 1 << 20


class DumpFetchError(RuntimeError):
    """The dump could not be fetched completely."""


@dataclass(frozen=True)
class FetchedDump:
    """A dump file on local disk and what identifies its version (for staging idempotency)."""

    source: str
    path: Path
    size: int
    version: str  # ETag / Last-Modified for URLs, size+mtime for local files
    downloaded_bytes: int


def is_url(source: str) -> bool:
    return urlsplit(source).scheme in ("http", "https")


def remote_version(url: str, timeout: float = 30.0) -> dict:
    """HEAD the dump URL: ``{"etag", "last_modified", "size"}`` (used by the dump sensor too)."""
    resp = requests.head(url, allow_redirects=True, timeout=timeout, headers={"User-Agent": USER_AGENT})
    resp.raise_for_status()
    size = resp.headers.get("Content-Length")
    return {
        "etag": resp.headers.get("ETag", ""),
        "last_modified": resp.headers.get("Last-Modified", ""),
        "size": int(size) if size and size.isdigit() else None,
    }


def _version_string(info: dict) -> str:
    return json.dumps({"etag": info["etag"], "last_modified": info["last_modified"], "size": info["size"]})


def source_version(source: str, timeout: float = 30.0) -> str:
    """The version string :func:`fetch_dump` records for ``source``, without downloading it.

    ETag/Last-Modified/size (HEAD) for a URL, ``size:mtime`` for a local file, ``missing`` for a
    local path that does not exist. The dump sensor compares it with the last materialization.
    """
    if is_url(source):
        return _version_string(remote_version(source, timeout))
    path = Path(source).expanduser().resolve()
    if not path.is_file():
        return "missing"
    st = path.stat()
    return f"{st.st_size}:{int(st.st_mtime)}"


@retry(
    retry=retry_if_exception_type(
        (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError, DumpFetchError)
    ),
    stop=stop_after_attempt(5),
    wait=wait_exponential(multiplier=1, max=30),
    reraise=True,
)
def _download_with_resume(url: str, dest: Path, expected_size: int | None, timeout: float) -> int:
    """Append to ``dest.part`` from where it stopped; return the bytes fetched in this call."""
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if expected_size is not None and have > expected_size:
        part.unlink()
        have = 0
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    fetched = 0
    with requests.get(url, stream=True, timeout=timeout, headers=headers) as resp:
        if resp.status_code == 416 and expected_size == have:
            pass  # already complete
        elif have and resp.status_code == 200:
            have = 0  # server ignored Range: start over
            part.unlink(missing_ok=True)
        elif resp.status_code not in (200, 206):
            raise DumpFetchError(f"GET {url} answered HTTP {resp.status_code}")
        if resp.status_code in (200, 206):
            mode = "ab" if have else "wb"
            with open(part, mode) as out, tqdm(
                total=expected_size, initial=have, unit="B", unit_scale=True,
                desc=dest.name, mininterval=2.0, disable=None,
            ) as bar:
                for chunk in resp.iter_content(CHUNK):
                    out.write(chunk)
                    fetched += len(chunk)
                    bar.update(len(chunk))
    size = part.stat().st_size
    if expected_size is not None and size != expected_size:
        raise DumpFetchError(f"{url}: got {size} of {expected_size} bytes; will resume")
    os.replace(part, dest)
    return fetched


def fetch_dump(source: str, raw_dir: Path, timeout: float = 60.0) -> FetchedDump:
    """Make ``source`` available on local disk: download a URL (resumable), or use a path in place."""
    if not is_url(source):
        path = Path(source).expanduser().resolve()
        if not path.is_file():
            raise DumpFetchError(f"dump file not found: {path}")
        st = path.stat()
        return FetchedDump(source, path, st.st_size, f"{st.st_size}:{int(st.st_mtime)}", 0)
    info = remote_version(source, timeout)
    raw_dir.mkdir(parents=True, exist_ok=True)
    dest = raw_dir / Path(urlsplit(source).path).name
    version = _version_string(info)
    marker = dest.with_name(dest.name + ".version")
    if dest.exists() and marker.exists() and marker.read_text() == version:
        return FetchedDump(source, dest, dest.stat().st_size, version, 0)
    if dest.exists():
        dest.unlink()
    fetched = _download_with_resume(source, dest, info["size"], timeout)
    marker.write_text(version)
    return FetchedDump(source, dest, dest.stat().st_size, version, fetched)
