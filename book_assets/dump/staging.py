"""Split one gzip dump into many gzip parts, so Spark reads it on every core.

A single ``.gz`` is not splittable: Spark reads it as one partition on one core. Staging streams
the dump once and writes ``part-NNNNN.txt.gz`` files of ``part_lines`` lines each. It stops at
``sample_lines`` when set (demo mode). A truncated or non-gzip file fails with the file name and
the byte offset reached, instead of producing a silently short dataset. Lines that are not
valid UTF-8 are dropped here and counted by reason (``not_utf8``): Spark's text reader would
silently replace the bad bytes, so this is the one place they can be seen. Staging is idempotent:
an identical source (same version, same sample size, same part size) is not staged twice.
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

try:  # ISA-L: several times faster gzip (de)compression, same format; stdlib gzip is the fallback
    from isal import igzip as _gz
    from isal.isal_zlib import error as _isal_error
except ImportError:  # pragma: no cover - isal is an install requirement
    _gz = gzip
    _isal_error = zlib.error

MANIFEST = "_manifest.json"
CHUNK_BYTES = 4 << 20
PART_COMPRESSLEVEL = 1
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
    part_lines: int = 0  # lines per part asked for (0 in manifests written before it was recorded)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def staged_skips(staged_uri: str) -> dict[str, int]:
    """Lines staging dropped from the dump staged at ``staged_uri`` (any URI), by reason, read from
    its manifest; ``{}`` when nothing is staged there (e.g. no authors dump)."""
    from book_assets.storage import exists, read_text
    from book_assets.warehouse import join_uri

    manifest = join_uri(staged_uri, MANIFEST)
    if not exists(manifest):
        return {}
    return {str(k): int(v) for k, v in (json.loads(read_text(manifest)).get("skipped") or {}).items()}


def _open_lines(path: Path):
    raw = open(path, "rb")
    magic = raw.read(2)
    raw.seek(0)
    if magic != b"\x1f\x8b":
        raw.close()
        if path.suffix == ".gz":
            raise DumpFileError(f"{path}: not a gzip file (starts with {magic!r})")
        return open(path, "rb"), None  # plain text dump (tests, pre-decompressed files)
    return _gz.GzipFile(fileobj=raw, mode="rb"), raw


def _blocks(stream):
    """The stream as blocks of whole lines (~``CHUNK_BYTES`` each), every line ending in a
    newline (one is added to a last line without it)."""
    pending: list[bytes] = []
    while True:
        chunk = stream.read(CHUNK_BYTES)
        if not chunk:
            if pending:
                yield b"".join(pending) + b"\n"
            return
        cut = chunk.rfind(b"\n") + 1
        if cut == 0:  # no line ends in this chunk: keep it for the next one
            pending.append(chunk)
            continue
        yield b"".join([*pending, chunk[:cut]]) if pending else chunk[:cut]
        pending = [chunk[cut:]] if cut < len(chunk) else []


def _valid_utf8(block: bytes) -> bool:
    if block.isascii():
        return True
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class _Parts:
    """Writes whole lines into ``part-NNNNN.txt.gz`` files of ``part_lines`` lines each."""

    def __init__(self, folder: Path, part_lines: int, sample_lines: int):
        self.folder, self.part_lines, self.sample_lines = folder, max(1, int(part_lines)), sample_lines
        self.out = None
        self.parts = self.in_part = self.lines = 0

    @property
    def full(self) -> bool:
        return bool(self.sample_lines) and self.lines >= self.sample_lines

    def write(self, block: bytes, count: int) -> int:
        """Write ``block`` (``count`` newline-terminated lines); returns the lines written, fewer
        than ``count`` only when the sample size is reached."""
        written = 0
        while block and not self.full:
            if self.out is None or self.in_part >= self.part_lines:
                if self.out is not None:
                    self.out.close()
                self.out = _gz.open(self.folder / f"part-{self.parts:05d}.txt.gz", "wb",
                                    compresslevel=PART_COMPRESSLEVEL)
                self.parts += 1
                self.in_part = 0
            room = self.part_lines - self.in_part
            if self.sample_lines:
                room = min(room, self.sample_lines - self.lines)
            take = count - written
            if take <= room:
                piece, block = block, b""
            else:
                end = -1
                for _ in range(room):
                    end = block.index(b"\n", end + 1)
                piece, block, take = block[: end + 1], block[end + 1:], room
            self.out.write(piece)
            self.in_part += take
            self.lines += take
            written += take
        return written

    def close(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None


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
                and old.get("part_lines") == max(1, int(part_lines))  # a new part size re-splits
                and "lines_read" in old):  # older manifests were staged without the UTF-8 check
            return StagedDump(**{**old, "reused": True})
    started = time.monotonic()
    tmp = out_dir.with_name(out_dir.name + ".staging")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    stream, raw = _open_lines(source_path)
    read = not_utf8 = 0
    bad_examples: list[int] = []
    writer = _Parts(tmp, part_lines, sample_lines)
    try:
        with tqdm(desc=f"staging {kind}", unit=" lines", mininterval=2.0, disable=None) as bar:
            # Whole blocks of lines are checked and copied at once; a block that is not valid
            # UTF-8 is gone through line by line to drop (and count) the bad lines.
            for block in _blocks(stream):
                if _valid_utf8(block):
                    written = writer.write(block, block.count(b"\n"))
                    read += written
                    bar.update(written)
                else:
                    for line in block.split(b"\n")[:-1]:
                        read += 1
                        if not _valid_utf8(line):
                            not_utf8 += 1
                            if len(bad_examples) < 10:
                                bad_examples.append(read)
                            continue
                        writer.write(line + b"\n", 1)
                        bar.update(1)
                        if writer.full:
                            break
                if writer.full:
                    break
    except (EOFError, zlib.error, _isal_error, gzip.BadGzipFile, OSError) as exc:
        offset = raw.tell() if raw is not None else -1
        shutil.rmtree(tmp, ignore_errors=True)
        raise DumpFileError(
            f"{source_path}: corrupt gzip after {writer.lines} lines (compressed offset {offset}): {exc}"
        ) from exc
    finally:
        writer.close()
        stream.close()
        if raw is not None:
            raw.close()
    lines, parts = writer.lines, writer.parts
    if parts == 0:  # an empty dump still gives Spark one (empty) file to read
        _gz.open(tmp / "part-00000.txt.gz", "wb").close()
        parts = 1
    staged = StagedDump(
        kind=kind, source=source, version=version, directory=str(out_dir), parts=parts, lines=lines,
        bytes_in=source_path.stat().st_size, sample_lines=sample_lines,
        seconds=round(time.monotonic() - started, 3), reused=False, lines_read=read,
        skipped={NOT_UTF8: not_utf8} if not_utf8 else {},
        skipped_examples={NOT_UTF8: bad_examples} if not_utf8 else {},
        part_lines=writer.part_lines,
    )
    (tmp / MANIFEST).write_text(staged.to_json())
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return staged
