"""BOOK_ASSETS_STAGED: the dump asset copies the staged parts to another location (a file:// URI
here, s3:// on EMR) and recent_fiction's Spark job reads them from there, not from this host's
staging folder."""
from __future__ import annotations

import shutil

import pyarrow.parquet as pq
import pytest
from dagster import materialize

from book_assets.assets.ingest import openlibrary_dump, recent_fiction
from book_assets.resources.pipeline import PipelineConfig
from book_assets.warehouse import RECENT_FICTION, year_uri
from tests.conftest import CORPUS_YEARS, make_resources

pytestmark = pytest.mark.slow


def test_fiction_reads_the_published_parts(tmp_path, corpus):
    corpus_dir, manifest = corpus
    home = tmp_path / "home"
    elsewhere = tmp_path / "bucket" / "staged"
    resources = make_resources(home, corpus_dir, "https://covers.example.org/b/id/{cover_id}-M.jpg", "unused")
    resources["pipeline"] = PipelineConfig(**{**resources["pipeline"].__dict__, "staged_uri": elsewhere.as_uri()})

    first = materialize([openlibrary_dump], resources=resources)
    assert first.success
    meta = first.get_asset_materialization_events()[0].materialization.metadata
    assert meta["editions_staged_uri"].value == (elsewhere / "editions").as_uri()
    for kind in ("editions", "works", "authors"):
        local = {p.name: p.read_bytes() for p in (home / "staged" / kind).iterdir()}
        assert {p.name: p.read_bytes() for p in (elsewhere / kind).iterdir()} == local

    # Again: nothing is staged or copied twice (the copies keep their files and times).
    stamps = {p: p.stat().st_mtime_ns for p in elsewhere.rglob("*") if p.is_file()}
    assert materialize([openlibrary_dump], resources=resources).success
    assert {p: p.stat().st_mtime_ns for p in elsewhere.rglob("*") if p.is_file()} == stamps

    shutil.rmtree(home / "staged")  # the job can only succeed by reading the published copy
    year = CORPUS_YEARS[0]
    result = materialize([openlibrary_dump, recent_fiction], selection=[recent_fiction], partition_key=str(year),
                         resources=resources)
    assert result.success
    keys = set(pq.read_table(year_uri(str(home / "warehouse"), RECENT_FICTION, year)).column("edition_key").to_pylist())
    assert keys == {r["edition_key"] for r in manifest.expected_fiction[year]}
