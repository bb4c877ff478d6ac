"""Streaming, resumable download of one dump file (a local path is used in place).

An interrupted download keeps its ``.part`` file and, beside it, ``.part.validator``: the strong
ETag (else the Last-Modified date) of the response the bytes came from. A resume sends
``Range`` with ``If-Range: <validator>``, so if the URL now serves another file (OpenLibrary's
"latest" moved to a new dump) the server answers 200 with the whole new file and the ``.part``
is rewritten from byte 0 -- never an old prefix spliced onto a new suffix. Started over too: a
``.part`` without a validator (e.g. from a server that sends none), a full-size ``.part`` whose
validator is not the one HEAD reports (servers answer 416 there without looking at If-Range),
and a 206 that does not start where the ``.part`` ends. A GET whose size differs from what HEAD
just said fails at once (:class:`DumpChangedError`; the next run fetches the new dump). The
finished file must match the server's size, or the fetch fails instead of leaving a short dump.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
from tenacity import (
    retry,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential,
)
from tqdm import tqdm

USER_AGENT = "book_assets/0.1 (OpenLibrary dump ingest)"
CHUNK = 1 << 20


class DumpFetchError(RuntimeError):
    """The dump could not be fetched completely."""


class DumpChangedError(DumpFetchError):
    """The server now serves another file than the HEAD request described: not retried (a
    new run HEADs again and fetches the new file)."""


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


def resume_validator_of(info: dict) -> str:
    """:func:`resume_validator` of a :func:`remote_version` answer."""
    return resume_validator({"ETag": info.get("etag", ""), "Last-Modified": info.get("last_modified", "")})


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
    return _local_version(path)


def _local_version(path: Path) -> str:
    """``size:mtime`` of a local dump, the mtime in whole seconds (the format versions have always
    recorded: a finer one would make every staged dump look new once). A dump replaced by one of
    the very same size within the same second is not seen as new."""
    st = path.stat()
    return f"{st.st_size}:{int(st.st_mtime)}"


def resume_validator(headers) -> str:
    """What ``If-Range`` may carry for a response with these headers: its strong ETag, else its
    Last-Modified date, else ``""`` (then a partial download cannot be resumed safely).

    A weak ETag (``W/"..."``) is not allowed in ``If-Range`` (RFC 9110 13.1.5), so it is skipped.
    """
    etag = (headers.get("ETag") or "").strip()
    if etag and not etag.startswith("W/"):
        return etag
    return (headers.get("Last-Modified") or "").strip()


_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-")


def _discard(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


@retry(
    retry=retry_if_exception_type(
        (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError, DumpFetchError)
    ) & retry_if_not_exception_type(DumpChangedError),
    stop=stop_after_attempt(5),
    wait=wait_exponential(multiplier=1, max=30),
    reraise=True,
)
def _download_with_resume(
    url: str, dest: Path, expected_size: int | None, timeout: float, current_validator: str = ""
) -> int:
    """Append to ``dest.part`` from where it stopped (only if it holds the same version of the
    file); return the bytes fetched in this call.

    ``current_validator``: :func:`resume_validator` of the HEAD answer, or ``""`` if unknown.
    """
    part = dest.with_name(dest.name + ".part")
    stamp = dest.with_name(dest.name + ".part.validator")
    have = part.stat().st_size if part.exists() else 0
    validator = stamp.read_text().strip() if have and stamp.exists() else ""
    if have and (not validator or (expected_size is not None and have > expected_size)):
        _discard(part, stamp)  # cannot prove these bytes belong to the file now served
        have, validator = 0, ""
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
        headers["If-Range"] = validator
    fetched = 0
    with requests.get(url, stream=True, timeout=timeout, headers=headers) as resp:
        if resp.status_code == 416 and have:
            # If-Range is not evaluated for an unsatisfiable range: the .part is complete only if
            # it has the advertised size AND came from the version HEAD just described.
            if expected_size != have or (current_validator and validator != current_validator):
                _discard(part, stamp)
                raise DumpFetchError(f"GET {url}: HTTP 416 for bytes {have}-; starting over")
        elif resp.status_code == 206 and have:
            match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != have:
                _discard(part, stamp)
                raise DumpFetchError(
                    f"GET {url}: asked for bytes {have}- but got Content-Range "
                    f"{resp.headers.get('Content-Range')!r}; starting over"
                )
        elif resp.status_code == 200:
            # A fresh download, or the file changed (If-Range failed) or Range is not supported:
            # the body is the whole file, so the .part starts over from byte 0.
            _discard(part, stamp)
            have = 0
            length = resp.headers.get("Content-Length", "")
            if expected_size is not None and length.isdigit() and int(length) != expected_size:
                raise DumpChangedError(
                    f"GET {url} serves {length} bytes but HEAD said {expected_size} bytes: "
                    "the file changed while fetching; run again"
                )
        else:
            raise DumpFetchError(f"GET {url} answered HTTP {resp.status_code}")
        if resp.status_code in (200, 206):
            if resp.status_code == 200:
                part.write_bytes(b"")
                new_validator = resume_validator(resp.headers)
                if new_validator:  # without one, an interrupted download restarts from 0
                    stamp.write_text(new_validator)
            with open(part, "ab") as out, tqdm(
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
    stamp.unlink(missing_ok=True)
    return fetched


def fetch_dump(source: str, raw_dir: Path, timeout: float = 60.0) -> FetchedDump:
    """Make ``source`` available on local disk: download a URL (resumable), or use a path in place."""
    if not is_url(source):
        path = Path(source).expanduser().resolve()
        if not path.is_file():
            raise DumpFetchError(f"dump file not found: {path}")
        return FetchedDump(source, path, path.stat().st_size, _local_version(path), 0)
    info = remote_version(source, timeout)
    raw_dir.mkdir(parents=True, exist_ok=True)
    dest = raw_dir / Path(urlsplit(source).path).name
    version = _version_string(info)
    marker = dest.with_name(dest.name + ".version")
    if dest.exists() and marker.exists() and marker.read_text() == version:
        return FetchedDump(source, dest, dest.stat().st_size, version, 0)
    if dest.exists():
        dest.unlink()
    fetched = _download_with_resume(source, dest, info["size"], timeout, resume_validator_of(info))
    marker.write_text(version)
    return FetchedDump(source, dest, dest.stat().st_size, version, fetched)
