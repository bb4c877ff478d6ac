"""Dump fetching (resumable HTTP with size check; local paths in place) and staging into parts."""
from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from book_assets.dump.fetch import DumpFetchError, fetch_dump
from book_assets.dump.staging import stage_dump
from tests.support.dump_server import DumpServer


def _dump_bytes(lines: int) -> bytes:
    text = "".join(f"/type/edition\t/books/OL{i}M\t1\t2020-01-01\t{{\"title\": \"t{i}\"}}\n" for i in range(lines))
    return gzip.compress(text.encode())


def test_interrupted_download_resumes_with_range(tmp_path, monkeypatch):
    import book_assets.dump.fetch as fetch

    monkeypatch.setattr(fetch, "CHUNK", 1000)  # the cut falls after whole chunks were written
    monkeypatch.setattr(fetch._download_with_resume.retry, "wait", lambda *a, **k: 0)
    payload = _dump_bytes(3000)
    cut = len(payload) // 3
    server = DumpServer(payload)
    server.cut_at, server.cuts_left = cut, 1  # only the first GET is cut short
    with server as url:
        fetched = fetch_dump(url, tmp_path / "raw")
    assert fetched.path.read_bytes() == payload
    assert fetched.size == len(payload)
    first, second = server.gets
    assert first["range"] is None
    resumed_at = int(second["range"].split("=")[1].rstrip("-"))
    assert 0 < resumed_at <= cut and (second["if_range"], second["status"]) == ('"v1"', 206)


def test_same_remote_version_is_not_downloaded_twice(tmp_path):
    payload = _dump_bytes(500)
    server = DumpServer(payload)
    with server as url:
        fetch_dump(url, tmp_path / "raw")
        again = fetch_dump(url, tmp_path / "raw")
    assert len(server.gets) == 1 and again.downloaded_bytes == 0


def test_short_download_fails_the_size_check(tmp_path, monkeypatch):
    import book_assets.dump.fetch as fetch

    monkeypatch.setattr(fetch._download_with_resume.retry, "wait", lambda *a, **k: 0)
    with DumpServer(_dump_bytes(200), lie_about_size=True) as url:
        with pytest.raises(DumpFetchError, match="bytes"):
            fetch_dump(url, tmp_path / "raw")


def test_local_path_is_used_in_place(tmp_path):
    path = tmp_path / "editions.txt.gz"
    path.write_bytes(_dump_bytes(10))
    fetched = fetch_dump(str(path), tmp_path / "raw")
    assert fetched.path == path.resolve() and not (tmp_path / "raw").exists()
    with pytest.raises(DumpFetchError, match="not found"):
        fetch_dump(str(tmp_path / "missing.txt.gz"), tmp_path / "raw")


def _read_parts(folder: Path) -> list[bytes]:
    lines = []
    for part in sorted(folder.glob("part-*.txt.gz")):
        lines += gzip.decompress(part.read_bytes()).splitlines()
    return lines


def test_local_dump_version_is_size_and_whole_seconds(tmp_path):
    """The format staged manifests and materializations have recorded all along."""
    import os

    from book_assets.dump.fetch import source_version

    dump = tmp_path / "editions.txt"
    dump.write_text("/type/edition\t/books/OL1M\t1\t2020-01-01\t{}\n")
    os.utime(dump, ns=(1_700_000_000_600_000_000, 1_700_000_000_600_000_000))
    assert fetch_dump(str(dump), tmp_path / "raw").version == source_version(str(dump)) == f"{dump.stat().st_size}:1700000000"


def test_staging_splits_into_parts_keeps_every_line_and_is_idempotent(tmp_path):
    src = tmp_path / "editions.txt.gz"
    src.write_bytes(_dump_bytes(1050))
    out = tmp_path / "staged" / "editions"
    staged = stage_dump("editions", src, str(src), "v1", out, part_lines=100)
    assert staged.parts == 11 and staged.lines == 1050 and not staged.reused
    assert _read_parts(out) == gzip.decompress(src.read_bytes()).splitlines()
    again = stage_dump("editions", src, str(src), "v1", out, part_lines=100)
    assert again.reused and again.lines == 1050
    newer = stage_dump("editions", src, str(src), "v2", out, part_lines=500)
    assert not newer.reused and newer.parts == 3


def test_a_gzip_of_several_members_stages_every_line(tmp_path):
    """A dump written as concatenated gzip members (as appending writers and parallel gzips make
    them), one line even split across two members, stages whole."""
    lines = gzip.decompress(_dump_bytes(30))
    cut = lines.index(b"\n", len(lines) // 2) - 5  # inside a line
    src = tmp_path / "editions.txt.gz"
    src.write_bytes(gzip.compress(lines[:cut]) + gzip.compress(lines[cut:-40]) + gzip.compress(lines[-40:]))
    out = tmp_path / "staged" / "editions"
    staged = stage_dump("editions", src, str(src), "v1", out, part_lines=7)
    assert staged.lines == 30
    assert _read_parts(out) == lines.splitlines()


def test_sample_mode_reads_only_the_first_lines(tmp_path):
    src = tmp_path / "editions.txt.gz"
    src.write_bytes(_dump_bytes(1000))
    out = tmp_path / "staged"
    staged = stage_dump("editions", src, str(src), "v1", out, part_lines=100, sample_lines=250)
    assert staged.lines == 250
    assert _read_parts(out) == gzip.decompress(src.read_bytes()).splitlines()[:250]
