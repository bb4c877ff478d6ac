"""Split one gzip dump into many gzip parts, so Spark reads it on every core.

A single ``.gz`` is not splittable: Spark reads it as one partition on one core. Staging streams
the dump once and writes ``part-NNNNN.txt.gz`` files of ``part_lines`` lines each. It stops at
``sample_lines`` when set (demo mode). A truncated or non-gzip file fails with the file name and
the byte offset reached, instead of producing a silently short dataset. Lines that are not
valid UTF-8 are dropped here and counted by reason (``not_utf8``): Spark's text reader would
silently replace the bad bytes, so this is the one place they can be seen. Staging is idempotent:
an identical source (same version, same sample size) is not staged twice.
"""
from __future__ import annotations

import gzip
import json
import shutil
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

MANIFEST = "_manifest.json"
NOT_UTF8 = "not_utf8"


class DumpFileError(RuntimeError):
    """The dump file is corrupt (not gzip, truncated); names the file and offset."""


@dataclass(frozen=True)
class StagedDump:
    """What staging produced: the folder of parts and the figures for metadata."""

    kind: str
    source: str
    version: str
    directory: str
    parts: int
    lines: int
    bytes_in: int
    sample_lines: int
    seconds: float
    reused: bool
    lines_read: int = 0  # lines read from the source, dropped ones included
    skipped: dict = field(default_factory=dict)  # reason -> lines dropped (``not_utf8``)
    skipped_examples: dict = field(default_factory=dict)  # reason -> first line numbers (1-based)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def _open_lines(path: Path):
    raw = open(path, "rb")
    magic = raw.read(2)
    raw.seek(0)
    if magic != b"\x1f\x8b":
        raw.close()
        if path.suffix == ".gz":
            raise DumpFileError(f"{path}: not a gzip file (starts with {magic!r})")
        return open(path, "rb"), None  # plain text dump (tests, pre-decompressed files)
    return gzip.GzipFile(fileobj=raw, mode="rb"), raw


def stage_dump(
    kind: str,
    source_path: Path,
    source: str,
    version: str,
    out_dir: Path,
    part_lines: int = 500_000,
    sample_lines: int = 0,
) -> StagedDump:
    """Stage ``source_path`` into ``out_dir`` (replaced atomically when re-staged)."""
    manifest_path = out_dir / MANIFEST
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        if (old.get("version") == version and old.get("sample_lines") == sample_lines and old.get("source") == source
                and "lines_read" in old):  # older manifests were staged without the UTF-8 check
            return StagedDump(**{**old, "reused": True})
    started = time.monotonic()
    tmp = out_dir.with_name(out_dir.name + ".staging")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    stream, raw = _open_lines(source_path)
    lines = parts = in_part = read = not_utf8 = 0
    bad_examples: list[int] = []
    out = None
    try:
        with tqdm(desc=f"staging {kind}", unit=" lines", mininterval=2.0, disable=None) as bar:
            for line in stream:
                read += 1
                if not line.isascii():  # cheap test first; only non-ASCII lines are decoded
                    try:
                        line.decode("utf-8")
                    except UnicodeDecodeError:
                        not_utf8 += 1
                        if len(bad_examples) < 10:
                            bad_examples.append(read)
                        continue
                if out is None or in_part >= part_lines:
                    if out is not None:
                        out.close()
                    out = gzip.open(tmp / f"part-{parts:05d}.txt.gz", "wb", compresslevel=1)
                    parts += 1
                    in_part = 0
                out.write(line if line.endswith(b"\n") else line + b"\n")
                in_part += 1
                lines += 1
                if lines % 100_000 == 0:
                    bar.update(100_000)
                if sample_lines and lines >= sample_lines:
                    break
    except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
        offset = raw.tell() if raw is not None else -1
        shutil.rmtree(tmp, ignore_errors=True)
        raise DumpFileError(
            f"{source_path}: corrupt gzip after {lines} lines (compressed offset {offset}): {exc}"
        ) from exc
    finally:
        if out is not None:
            out.close()
        stream.close()
        if raw is not None:
            raw.close()
    if parts == 0:  # an empty dump still gives Spark one (empty) file to read
        gzip.open(tmp / "part-00000.txt.gz", "wb").close()
        parts = 1
    staged = StagedDump(
        kind=kind, source=source, version=version, directory=str(out_dir), parts=parts, lines=lines,
        bytes_in=source_path.stat().st_size, sample_lines=sample_lines,
        seconds=round(time.monotonic() - started, 3), reused=False, lines_read=read,
        skipped={NOT_UTF8: not_utf8} if not_utf8 else {},
        skipped_examples={NOT_UTF8: bad_examples} if not_utf8 else {},
    )
    (tmp / MANIFEST).write_text(staged.to_json())
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return staged
