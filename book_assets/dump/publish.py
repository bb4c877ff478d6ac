"""Copy a staged dump folder to where the Spark jobs read it (``s3://…`` for EMR Serverless).

Staging always splits the dump on the Dagster host's disk (``$BOOK_ASSETS_HOME/staged/<kind>``).
When the jobs run elsewhere (EMR Serverless, a remote cluster) they cannot read that disk, so the
parts are copied to ``BOOK_ASSETS_STAGED/<kind>`` (any URI pyarrow.fs opens). The copy is
idempotent: the staging manifest is uploaded last and compared first, so a folder whose manifest
equals the local one is complete and is not copied again, and an interrupted copy (no manifest
yet, or an older one) is replaced as a whole on the next run.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

from book_assets.dump.staging import MANIFEST
from book_assets.storage import filesystem_and_path


@dataclass(frozen=True)
class PublishedDump:
    """Where the jobs read a staged dump, and what publishing it did."""

    uri: str
    files: int  # files copied (0 when the target was already complete or is the staged folder)
    bytes: int
    reused: bool


def is_same_place(local_dir: Path, target_uri: str) -> bool:
    """``target_uri`` names ``local_dir`` itself (a plain path), so there is nothing to copy."""
    return "://" not in target_uri and Path(target_uri).resolve() == Path(local_dir).resolve()


def publish_staged(local_dir: Path, target_uri: str) -> PublishedDump:
    """Make ``target_uri`` hold exactly the staged parts and manifest of ``local_dir``."""
    local_dir = Path(local_dir)
    manifest = (local_dir / MANIFEST).read_bytes()  # staging writes it last: a staged folder has one
    if is_same_place(local_dir, target_uri):
        return PublishedDump(uri=str(local_dir), files=0, bytes=0, reused=True)
    fs, root = filesystem_and_path(target_uri)
    target_manifest = f"{root}/{MANIFEST}"
    if fs.get_file_info(target_manifest).type == pafs.FileType.File:
        with fs.open_input_stream(target_manifest) as f:
            if f.read() == manifest:
                return PublishedDump(uri=target_uri, files=0, bytes=0, reused=True)
    if fs.get_file_info(root).type != pafs.FileType.NotFound:
        fs.delete_dir(root)  # old parts, or a copy interrupted before its manifest
    if isinstance(fs, pafs.LocalFileSystem):  # object stores need no folders (S3 would get a marker)
        fs.create_dir(root, recursive=True)
    parts = sorted(p for p in local_dir.iterdir() if p.is_file() and p.name != MANIFEST)
    local = pafs.LocalFileSystem()
    for part in parts:
        pafs.copy_files(str(part), f"{root}/{part.name}", source_filesystem=local, destination_filesystem=fs)
    copied = sum(part.stat().st_size for part in parts)
    with fs.open_output_stream(target_manifest) as dst:  # last: marks the copy complete
        dst.write(manifest)
    return PublishedDump(uri=target_uri, files=len(parts) + 1, bytes=copied + len(manifest), reused=False)
