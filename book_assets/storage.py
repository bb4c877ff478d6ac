"""Small file helpers over local paths and ``scheme://`` URIs (pyarrow.fs), used by jobs and assets."""
from __future__ import annotations

import itertools
import os
import re
import threading
import time
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


_tmp_serial = itertools.count()


def write_local_file(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` whole: a tmp file unique to this process and thread, ``fsync``,
    then ``os.replace``; the tmp file is removed if anything fails.

    Plain ``os`` calls rather than ``open()``: a buffered file object adds ``fstat``, ``isatty`` and
    ``lseek`` calls, and each system call hands the GIL over among the cover downloader's threads
    (``CoverCache`` writes every file here). With two files per cover that was about 6% of the unthrottled download rate (``bench_download``,
    442/411/432/414 against 454/458/440/446 covers/s, alternating).
    """
    tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}-{next(_tmp_serial)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)  # durable before the name points at it
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_text(uri: str, text: str) -> None:
    """Write a small text file atomically where the filesystem allows (local: :func:`write_local_file`)."""
    write_bytes(uri, text.encode("utf-8"))


def write_bytes(uri: str, data: bytes) -> None:
    fs, path = filesystem_and_path(uri)
    parent = path.rsplit("/", 1)[0]
    fs.create_dir(parent, recursive=True)
    if isinstance(fs, pafs.LocalFileSystem):
        write_local_file(path, data)
    else:
        with fs.open_output_stream(path) as f:
            f.write(data)


def delete_dir(uri: str) -> None:
    fs, path = filesystem_and_path(uri)
    if fs.get_file_info(path).type != pafs.FileType.NotFound:
        fs.delete_dir(path)


def read_parquet_dir(uri: str) -> "pa.Table":
    """Every data file of a Parquet folder (local path or URI) as one table."""
    import pyarrow.parquet as pq

    fs, path = filesystem_and_path(uri)
    return pq.read_table(path, filesystem=fs)


# --- year folders replaced whole (cover_embeddings, cover_failures) --------------------------------
_GENERATION_FILE = re.compile(r"part-(\d{20})-[0-9a-f]{32}\.parquet")


def _generation(name: str) -> int:
    """The generation in a replaced folder's file name; 0 for any other data file (older layouts)."""
    match = _GENERATION_FILE.fullmatch(name)
    return int(match.group(1)) if match else 0


def _data_files(fs: pafs.FileSystem, path: str) -> list[pafs.FileInfo]:
    """The files a reader would read: not hidden (``_``/``.`` prefixes: temp files, markers)."""
    return [info for info in fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
            if info.type == pafs.FileType.File and not info.base_name.startswith(("_", "."))]


def replace_parquet_dirs(tables: dict[str, "pa.Table"]) -> dict[str, str]:
    """Make each table the only content of its folder (``{folder uri: table}``); returns the new files.

    Steps: (1) every table is written to a hidden ``_tmp-part-<generation>-<uuid>.parquet``,
    (2) each is renamed to ``part-<generation>-<uuid>.parquet``, all with ONE generation, higher
    than that of any file already in any of the folders, (3) everything else in the folders is
    deleted. A crash before (2) leaves the old files (and a hidden leftover); a crash during (2)
    or (3) leaves old and new files together, and :func:`read_replaced_dirs` reads the newest
    generation that every folder holds, so readers of the folders together see all the old
    tables or all the new ones, never a mix or an empty folder. The next call removes every
    leftover, so re-running converges on one file per folder.
    """
    import pyarrow.parquet as pq

    folders = []
    for uri in tables:
        fs, path = filesystem_and_path(uri)
        fs.create_dir(path, recursive=True)
        folders.append((uri, fs, path))
    newest = max((_generation(i.base_name) for _, fs, path in folders for i in _data_files(fs, path)), default=0)
    generation = max(time.time_ns(), newest + 1)
    staged = []
    for uri, fs, path in folders:
        name = f"part-{generation:020d}-{uuid.uuid4().hex}.parquet"
        tmp = f"{path}/{TMP_PREFIX}{name}"
        pq.write_table(tables[uri], tmp, filesystem=fs)
        staged.append((uri, fs, path, name, tmp))
    for _, fs, path, name, tmp in staged:
        fs.move(tmp, f"{path}/{name}")
    for _, fs, path, name, _ in staged:
        for info in fs.get_file_info(pafs.FileSelector(path)):
            if info.base_name == name:
                continue
            if info.type == pafs.FileType.Directory:
                fs.delete_dir(info.path)
            else:
                fs.delete_file(info.path)
    return {uri: f"{path}/{name}" for uri, _, path, name, _ in staged}


def read_replaced_dirs(uris: list[str]) -> list["pa.Table"]:
    """The tables of folders replaced together by :func:`replace_parquet_dirs`, in ``uris`` order:
    of each folder, the files of the newest generation that every folder holds.

    Older files are there only after a replacement crashed before its clean-up, and a newer
    generation held by only some folders only after it crashed between its renames. Folders
    that share no generation (written one by one, by versions before the generation was shared)
    give each folder's newest. Raises ``FileNotFoundError`` when a folder holds no data file.
    """
    import pyarrow.parquet as pq

    listed = []
    for uri in uris:
        fs, path = filesystem_and_path(uri)
        files = _data_files(fs, path)
        if not files:
            raise FileNotFoundError(f"no data file in {uri}")
        listed.append((fs, files))
    generations = [{_generation(i.base_name) for i in files} for _, files in listed]
    common = set.intersection(*generations)
    # no generation in common: folders written one by one (versions before the generation was
    # shared): each folder's newest, as those versions read them
    chosen = [max(common) if common else max(g) for g in generations]
    return [pq.read_table([i.path for i in files if _generation(i.base_name) == gen], filesystem=fs)
            for (fs, files), gen in zip(listed, chosen)]


def read_replaced_dir(uri: str) -> "pa.Table":
    """The table of one folder written by :func:`replace_parquet_dirs`: its newest generation."""
    return read_replaced_dirs([uri])[0]
