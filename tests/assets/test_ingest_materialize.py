"""dump → recent_fiction → cover_urls materialized for two years, checked row by row against
what the corpus generator planted; rebuilding one year leaves the other year's files untouched."""
from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from dagster import materialize

from book_assets.assets.ingest import cover_urls, openlibrary_dump, recent_fiction
from book_assets.warehouse import COVER_URLS, RECENT_FICTION, year_uri
from tests.conftest import CORPUS_YEARS, make_resources

pytestmark = pytest.mark.slow


def _files(folder):
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def ingest_home(tmp_path_factory, corpus):
    corpus_dir, _ = corpus
    home = tmp_path_factory.mktemp("home")
    resources = make_resources(home, corpus_dir, "https://covers.example.org/b/id/{cover_id}-M.jpg", "unused")
    assets = [openlibrary_dump, recent_fiction, cover_urls]
    first = materialize([openlibrary_dump], resources=resources)
    assert first.success
    results = {}
    for year in CORPUS_YEARS:
        result = materialize(assets, selection=[recent_fiction, cover_urls], partition_key=str(year), resources=resources)
        assert result.success
        results[year] = result
    return home, resources, results


def test_fiction_rows_match_planted(ingest_home, corpus):
    home, _, _ = ingest_home
    _, manifest = corpus
    for year in CORPUS_YEARS:
        table = pq.read_table(year_uri(str(home / "warehouse"), RECENT_FICTION, year)).to_pylist()
        got = {r["edition_key"]: r for r in table}
        expected = {r["edition_key"]: r for r in manifest.expected_fiction[year]}
        assert set(got) == set(expected), f"year {year}: edition keys differ"
        assert len(expected) >= 5
        for key, exp in expected.items():
            row = got[key]
            assert row["work_key"] == exp["work_key"]
            assert row["title"] == exp["title"]
            assert list(row["authors"]) == list(exp["authors"])
            assert row["pages"] == exp["pages"]
            assert row["cover_id"] == exp["cover_id"]
            assert row["isbn_13"] == exp["isbn_13"]
            assert list(row["languages"]) == exp["languages"] and "eng" in exp["languages"]


def test_cover_urls_match_planted(ingest_home, corpus):
    home, _, _ = ingest_home
    _, manifest = corpus
    for year in CORPUS_YEARS:
        rows = pq.read_table(year_uri(str(home / "warehouse"), COVER_URLS, year)).to_pylist()
        got = {r["cover_id"]: (r["edition_key"], r["url"]) for r in rows}
        expected = manifest.expected_cover_ids[year]
        assert set(got) == set(expected)
        for cover_id, edition_key in expected.items():
            assert got[cover_id] == (edition_key, f"https://covers.example.org/b/id/{cover_id}-M.jpg")


def test_checks_pass_and_metadata_reports_skips(ingest_home, corpus):
    _, _, results = ingest_home
    _, manifest = corpus
    for year, result in results.items():
        evaluations = result.get_asset_check_evaluations()
        assert evaluations, "no check results recorded"
        failed = [(e.asset_key.to_user_string(), e.check_name) for e in evaluations if not e.passed]
        assert not failed, failed
        assert {e.partition for e in evaluations} == {str(year)}
        mats = {m.asset_key.to_user_string(): m for m in result.get_asset_materialization_events()}
        meta = mats["recent_fiction"].materialization.metadata
        assert meta["dagster/row_count"].value == len(manifest.expected_fiction[year])
        malformed = meta["malformed_lines"].value
        for kind, reasons in manifest.malformed.items():
            assert {k: v for k, v in malformed[kind].items() if v} == {k: v for k, v in reasons.items() if v}


def test_rebuilding_one_year_leaves_the_other_untouched(ingest_home):
    home, resources, _ = ingest_home
    other = home / "warehouse" / RECENT_FICTION / "year=2020"
    other_urls = home / "warehouse" / COVER_URLS / "year=2020"
    before, before_urls = _files(other), _files(other_urls)
    rebuilt = home / "warehouse" / RECENT_FICTION / "year=2019"
    rebuilt_before = _files(rebuilt)
    result = materialize([openlibrary_dump, recent_fiction, cover_urls], selection=[recent_fiction, cover_urls],
                         partition_key="2019", resources=resources)
    assert result.success
    assert _files(other) == before
    assert _files(other_urls) == before_urls
    after = _files(rebuilt)
    rows_after = pq.read_table(str(rebuilt)).num_rows
    assert rows_after > 0
    assert max(m for m, _ in after.values()) > max(m for m, _ in rebuilt_before.values())
