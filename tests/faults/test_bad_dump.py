"""Issue 7, item 1 (the parts that need no Spark): corrupt dump FILES fail the raw asset loudly,
with the file name and offset; lines that are not UTF-8 are dropped, counted and reported.

The line-level faults that Spark counts (3/7 columns, invalid JSON, wrong shapes, 10 MB line) are
checked end to end in ``test_pipeline_faults.py``; single-line parsing is unit-tested in
``tests/openlibrary/test_dump_lines.py`` and ``test_fields.py``.
"""
from __future__ import annotations

import gzip
import shutil

import pytest
from dagster import materialize

from book_assets.assets.ingest import openlibrary_dump
from book_assets.dump.staging import DumpFileError, stage_dump
from tests.conftest import make_resources
from tests.faults.bad_dump import build_bad_corpus


def _failure_text(result) -> str:
    [failure] = result.get_step_failure_events()
    error = failure.event_specific_data.error
    text = []
    while error is not None:
        text.append(error.message)
        error = error.cause
    return "\n".join(text)


def _corpus_copy(corpus, tmp_path):
    corpus_dir, _ = corpus
    out = tmp_path / "dump"
    shutil.copytree(corpus_dir, out)
    return out


def test_truncated_gzip_fails_the_raw_asset_with_file_and_offset(corpus, tmp_path):
    dump = _corpus_copy(corpus, tmp_path)
    data = (dump / "editions.txt.gz").read_bytes()
    (dump / "editions.txt.gz").write_bytes(data[: len(data) * 2 // 3])  # cut mid-stream
    home = tmp_path / "home"
    result = materialize([openlibrary_dump], resources=make_resources(home, dump, "http://x/{cover_id}", "unused"),
                         raise_on_error=False)
    assert not result.success
    text = _failure_text(result)
    assert str(dump / "editions.txt.gz") in text
    assert "corrupt gzip" in text and "compressed offset" in text
    # no silently short dataset: nothing staged for the corrupt file
    assert not (home / "staged" / "editions").exists()
    assert not (home / "staged" / "editions.staging").exists()


def test_file_that_is_not_gzip_fails_the_raw_asset(corpus, tmp_path):
    dump = _corpus_copy(corpus, tmp_path)
    (dump / "works.txt.gz").write_bytes(b"<html>502 Bad Gateway</html>\n" * 20)  # e.g. a proxy error page
    result = materialize([openlibrary_dump],
                         resources=make_resources(tmp_path / "home", dump, "http://x/{cover_id}", "unused"),
                         raise_on_error=False)
    assert not result.success
    text = _failure_text(result)
    assert str(dump / "works.txt.gz") in text and "not a gzip file" in text


def test_truncated_gzip_after_a_good_staging_keeps_the_good_parts(corpus, tmp_path):
    corpus_dir, _ = corpus
    good = stage_dump("editions", corpus_dir / "editions.txt.gz", "src", "v1", tmp_path / "staged", part_lines=100)
    cut = tmp_path / "cut.txt.gz"
    data = (corpus_dir / "editions.txt.gz").read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DumpFileError, match=r"cut\.txt\.gz: corrupt gzip after \d+ lines \(compressed offset \d+\)"):
        stage_dump("editions", cut, "src", "v2", tmp_path / "staged", part_lines=100)
    parts = sorted((tmp_path / "staged").glob("part-*.txt.gz"))
    assert len(parts) == good.parts  # the previous complete staging is untouched
    assert sum(len(gzip.open(p).read().splitlines()) for p in parts) == good.lines


def test_not_utf8_lines_are_dropped_counted_and_reported(corpus, tmp_path):
    corpus_dir, manifest = corpus
    dump = build_bad_corpus(corpus_dir, tmp_path / "dump")
    home = tmp_path / "home"
    result = materialize([openlibrary_dump], resources=make_resources(home, dump, "http://x/{cover_id}", "unused"))
    assert result.success
    [mat] = result.get_asset_materialization_events()
    meta = {k: v.value for k, v in mat.materialization.metadata.items()}
    planted = 4  # shape, script title, 10 MB line, not UTF-8
    assert meta["editions_lines_read"] == manifest.line_counts["editions"] + planted
    assert meta["editions_lines"] == manifest.line_counts["editions"] + planted - 1
    assert meta["editions_not_utf8_lines"] == 1
    assert meta["editions_skipped_lines"] == {"not_utf8": 1}
    assert meta["works_not_utf8_lines"] == 0 and meta["works_skipped_lines"] == {}
    staged = b"".join(gzip.open(p).read() for p in sorted((home / "staged" / "editions").glob("part-*.txt.gz")))
    assert b"/books/OL990004M" not in staged  # dropped
    assert b"/books/OL990001M" in staged and b"/books/OL990002M" in staged  # neighbours kept
