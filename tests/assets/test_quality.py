"""The data-quality rules called directly (Dagster University style): each passes on good figures
and fails on the figures it exists to catch."""
from __future__ import annotations

import pytest

from book_assets import quality

GOOD_FICTION = {"rows": 10, "null_edition_key": 0, "null_work_key": 1, "null_title": 0, "pages_not_over_100": 0,
                "not_english": 0, "year_mismatch": 0, "duplicate_edition_keys": 0, "with_cover": 9}
GOOD_URLS = {"rows": 5, "duplicate_cover_ids": 0, "duplicate_urls": 0, "malformed_urls": 0, "bad_cover_id": 0,
             "null_edition_key": 0, "missing_cover_ids": 0, "unexpected_cover_ids": 0}
GOOD_EMB = {"covers": 10, "embedded": 9, "failed": 1, "dim": 512, "dims_seen": {"512": 9}, "wrong_dim": 0,
            "nan_rows": 0, "max_norm_error": 1e-6, "duplicate_embedding_ids": 0, "duplicate_failure_ids": 0,
            "overlap_ids": 0, "missing_ids": 0, "unexpected_ids": 0}
GOOD_MILVUS = {"entities": 9, "expected": 9, "probe_ok": True, "index_exists": True, "without_fiction_row": 0,
               "without_cover_url": 0}


def _by_name(outcomes):
    return {o.name: o for o in outcomes}


def test_all_rules_pass_on_good_figures():
    outcomes = (quality.fiction_checks(GOOD_FICTION) + quality.cover_url_checks(GOOD_URLS)
                + quality.embedding_checks(GOOD_EMB, 0.2) + quality.milvus_checks(GOOD_MILVUS)
                + quality.dump_checks({"editions": 100, "works": 50}, {"editions": {"bad_json": 1}}, 0.02))
    assert all(o.passed for o in outcomes), [o for o in outcomes if not o.passed]


@pytest.mark.parametrize("field,check", [
    ("rows", "has_rows"), ("null_edition_key", "no_null_keys"), ("year_mismatch", "year_matches_partition"),
    ("pages_not_over_100", "pages_over_100"), ("not_english", "english_only"),
    ("duplicate_edition_keys", "unique_editions"),
])
def test_fiction_rules_fail(field, check):
    figures = dict(GOOD_FICTION, **{field: 0 if field == "rows" else 3})
    outcome = _by_name(quality.fiction_checks(figures))[check]
    assert not outcome.passed
    assert outcome.warn_only == (check == "has_rows")  # an empty year warns; bad rows fail


@pytest.mark.parametrize("field,check", [
    ("duplicate_cover_ids", "urls_unique"), ("duplicate_urls", "urls_unique"),
    ("malformed_urls", "urls_well_formed"), ("bad_cover_id", "cover_ids_positive"),
    ("null_edition_key", "cover_ids_positive"),
    ("missing_cover_ids", "urls_complete"), ("unexpected_cover_ids", "urls_complete"),
])
def test_cover_url_rules_fail(field, check):
    outcomes = _by_name(quality.cover_url_checks(dict(GOOD_URLS, **{field: 1})))
    assert not outcomes[check].passed
    assert all(o.passed for name, o in outcomes.items() if name != check)  # each rule catches its own fault


@pytest.mark.parametrize("change,check", [
    ({"failed": 5, "embedded": 5}, "failure_rate_below_threshold"),
    ({"wrong_dim": 1}, "embeddings_valid"), ({"nan_rows": 1}, "embeddings_valid"),
    ({"max_norm_error": 0.5}, "embeddings_valid"), ({"duplicate_embedding_ids": 1}, "one_row_per_cover"),
    ({"overlap_ids": 1}, "one_row_per_cover"), ({"embedded": 8}, "all_covers_accounted"),
    ({"duplicate_failure_ids": 1}, "one_row_per_cover"),
    ({"missing_ids": 1}, "all_covers_accounted"), ({"unexpected_ids": 1}, "all_covers_accounted"),
])
def test_embedding_rules_fail(change, check):
    outcomes = _by_name(quality.embedding_checks(dict(GOOD_EMB, **change), 0.2))
    assert not outcomes[check].passed
    assert all(o.passed for name, o in outcomes.items() if name != check)  # each rule catches its own fault


def test_embeddings_valid_reports_expected_and_seen_dims():
    outcome = _by_name(quality.embedding_checks(dict(GOOD_EMB, wrong_dim=9, dims_seen={"768": 9}), 0.2))[
        "embeddings_valid"]
    assert not outcome.passed
    assert "512" in outcome.description and "768" in outcome.description
    assert outcome.metadata["dim"] == 512 and outcome.metadata["dims_seen"] == {"768": 9}


@pytest.mark.parametrize("change,check", [
    ({"entities": 8}, "entity_count_matches"), ({"probe_ok": False}, "probe_finds_itself"),
    ({"index_exists": False}, "index_exists"), ({"without_fiction_row": 1}, "rows_have_metadata"),
    ({"without_cover_url": 2}, "rows_have_metadata"),
])
def test_milvus_rules_fail(change, check):
    assert not _by_name(quality.milvus_checks(dict(GOOD_MILVUS, **change)))[check].passed


def test_dump_rules_fail_above_threshold_and_on_empty_dumps():
    outcomes = _by_name(quality.dump_checks({"editions": 100, "works": 50}, {"works": {"bad_json": 5}}, 0.02))
    assert not outcomes["malformed_rate_below_threshold"].passed
    assert outcomes["malformed_rate_below_threshold"].metadata["rates"]["works"] == pytest.approx(0.1)
    assert not _by_name(quality.dump_checks({"editions": 0, "works": 0}, {}, 0.02))["dump_has_lines"].passed


@pytest.mark.parametrize("lines", [
    {"editions": 100, "works": 0}, {"editions": 0, "works": 50}, {"editions": 100},  # one dump empty or unread
])
def test_dump_has_lines_needs_both_dumps(lines):
    """A dump that read nothing fails even when the other one has lines (not only when both are empty)."""
    outcomes = _by_name(quality.dump_checks(lines, {}, 0.02))
    assert not outcomes["dump_has_lines"].passed
    assert outcomes["malformed_rate_below_threshold"].passed


# The README: "fail above this share" / "fail a year above this failure rate": a rate exactly at the
# threshold passes, just above it fails. (The figures give rates that are exact in floating point.)
@pytest.mark.parametrize("failed,passed", [(0, True), (200, True), (201, False), (1000, False)])
def test_failure_rate_threshold_boundary(failed, passed):
    figures = dict(GOOD_EMB, covers=1000, failed=failed, embedded=1000 - failed, dims_seen={"512": 1000 - failed})
    outcome = _by_name(quality.embedding_checks(figures, 0.2))["failure_rate_below_threshold"]
    assert outcome.passed is passed
    assert outcome.metadata["failure_rate"] == failed / 1000


@pytest.mark.parametrize("bad,passed", [(0, True), (100, True), (101, False)])
def test_malformed_rate_threshold_boundary(bad, passed):
    # the worst dump decides: editions exactly at 1%, or just above it; works always clean
    lines = {"editions": 10_000, "works": 10_000}
    outcome = _by_name(quality.dump_checks(lines, {"editions": {"bad_json": bad}, "works": {}}, 0.01))[
        "malformed_rate_below_threshold"]
    assert outcome.passed is passed
    assert outcome.metadata["rates"] == {"editions": bad / 10_000, "works": 0.0}
