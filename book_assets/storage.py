"""Small file helpers over local paths and ``scheme://`` URIs (pyarrow.fs), used by jobs and assets."""
from __future__ import annotations

import os
import uuid

import pyarrow.fs as pafs


TMP_PREFIX = "_tmp-"
"""Prefix of a data file still being written: Spark and pyarrow readers skip names starting with ``_``."""


def filesystem_and_path(uri: str) -> tuple[pafs.FileSystem, str]:
    """``pyarrow.fs`` filesystem for a URI, or the local filesystem for a plain path."""
    if "://" in uri:
        return pafs.FileSystem.from_uri(uri)
    return pafs.LocalFileSystem(), os.path.abspath(uri)


def exists(uri: str) -> bool:
    fs, path = filesystem_and_path(uri)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def read_text(uri: str) -> str:
    fs, path = filesystem_and_path(uri)
    with fs.open_input_stream(path) as f:
        return f.read().decode("utf-8")


def write_text(uri: str, text: str) -> None:
    """Write a small text file atomically where the filesystem allows (local: tmp + rename)."""
    write_bytes(uri, text.encode("utf-8"))


def write_bytes(uri: str, data: bytes) -> None:
    fs, path = filesystem_and_path(uri)
    parent = path.rsplit("/", 1)[0]
    fs.create_dir(parent, recursive=True)
    if isinstance(fs, pafs.LocalFileSystem):
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        with fs.open_output_stream(tmp) as f:
            f.write(data)
        os.replace(tmp, path)
    else:
        with fs.open_output_stream(path) as f:
            f.write(data)


def delete_dir(uri: str) -> None:
    fs, path = filesystem_and_path(uri)
    if fs.get_file_info(path).type != pafs.FileType.NotFound:
        fs.delete_dir(path)
