"""The figures the fiction checks judge, read back from written year folders: each rule break
planted in a folder is counted (so the checks can fail), and clean rows count none."""
from __future__ import annotations

import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from book_assets import quality
from book_assets.emr.verify import verify_fiction_years
from book_assets.resources.spark import spark_home
from book_assets.warehouse import RECENT_FICTION, RECENT_FICTION_SCHEMA, year_uri

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark():
    os.environ.setdefault("SPARK_HOME", spark_home())
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from book_assets.emr.job_runtime import build_spark

    session = build_spark("test_fiction_verify", {"spark.master": "local[1]", "spark.ui.enabled": "false"})
    yield session
    session.stop()


def _row(n: int, **changes) -> dict:
    row = {"edition_key": f"/books/OL{n}M", "work_key": f"/works/OL{n}W", "title": f"Book {n}", "authors": ["Ann"],
           "pages": 300, "subjects": ["Fiction"], "cover_id": 1000 + n, "isbn_13": None, "publish_date": "2019",
           "languages": ["eng"]}
    return {**row, **changes}


def test_rule_breaks_are_counted_per_year(tmp_path, spark):
    folders = {
        2019: [_row(1), _row(2, languages=["fre", "eng"]),  # clean (bilingual editions are English too)
               _row(3, languages=["fre"]), _row(4, languages=None), _row(5, languages=[]),
               _row(6, pages=100), _row(7, title=None), _row(7), _row(8, publish_date="2020")],
        2020: [_row(9, publish_date="May 2020")],
    }
    paths = {}
    for year, rows in folders.items():
        paths[year] = year_uri(str(tmp_path), RECENT_FICTION, year)
        os.makedirs(paths[year])
        pq.write_table(pa.Table.from_pylist(rows, schema=RECENT_FICTION_SCHEMA), f"{paths[year]}/part-0.parquet")

    figures = verify_fiction_years(spark, paths)

    assert figures[2019]["rows"] == 9
    assert figures[2019]["not_english"] == 3  # French only, no languages, empty languages
    assert figures[2019]["pages_not_over_100"] == 1
    assert figures[2019]["null_title"] == 1
    assert figures[2019]["duplicate_edition_keys"] == 1
    assert figures[2019]["year_mismatch"] == 1
    clean = figures[2020]
    assert clean["rows"] == 1 and clean["not_english"] == clean["year_mismatch"] == clean["duplicate_edition_keys"] == 0

    failed = {o.name for o in quality.fiction_checks(figures[2019]) if not o.passed}
    assert {"english_only", "pages_over_100", "unique_editions", "year_matches_partition"} <= failed
    assert not [o.name for o in quality.fiction_checks(clean) if not o.passed]


def test_cover_urls_are_judged_against_the_years_fiction(tmp_path, spark):
    """An empty or partial cover URL list (or one with covers the year does not have) fails
    ``urls_complete``; the list the job would write passes."""
    from book_assets.emr.verify import verify_cover_urls_year
    from book_assets.warehouse import COVER_URLS, COVER_URLS_SCHEMA

    fiction = year_uri(str(tmp_path), RECENT_FICTION, 2019)
    os.makedirs(fiction)
    pq.write_table(pa.Table.from_pylist([_row(1), _row(2), _row(3, cover_id=1001), _row(4, cover_id=-1),
                                         _row(5, cover_id=None)], schema=RECENT_FICTION_SCHEMA),
                   f"{fiction}/part-0.parquet")

    def judged(cover_ids: list[int], name: str) -> dict:
        folder = year_uri(str(tmp_path / name), COVER_URLS, 2019)
        os.makedirs(folder)
        rows = [{"cover_id": c, "edition_key": f"/books/OL{c}M", "url": f"https://c.example/b/id/{c}-M.jpg"}
                for c in cover_ids]
        pq.write_table(pa.Table.from_pylist(rows, schema=COVER_URLS_SCHEMA), f"{folder}/part-0.parquet")
        figures = verify_cover_urls_year(spark, folder, fiction)
        return {**figures, "passed": {o.name: o.passed for o in quality.cover_url_checks(figures)}["urls_complete"]}

    complete = judged([1001, 1002], "complete")
    assert (complete["missing_cover_ids"], complete["unexpected_cover_ids"], complete["passed"]) == (0, 0, True)
    empty = judged([], "empty")
    assert (empty["missing_cover_ids"], empty["passed"]) == (2, False)
    stray = judged([1001, 1002, 4242], "stray")
    assert (stray["unexpected_cover_ids"], stray["passed"]) == (1, False)



def _url(cover_id) -> str:
    return f"https://c.example/b/id/{cover_id}-M.jpg"


def _urls(*changes: dict) -> list[dict]:
    """The URL list the job writes for fiction covers 1001 and 1002, with rows changed or added."""
    rows = [{"cover_id": c, "edition_key": f"/books/OL{c - 1000}M", "url": _url(c)} for c in (1001, 1002)]
    for n, change in enumerate(changes):
        if n < len(rows):
            rows[n] = {**rows[n], **change}
        else:
            rows.append({"cover_id": 1003, "edition_key": "/books/OL3M", "url": _url(1003), **change})
    return rows


# case: (table, rows written to the year folder, figures that must differ from 0, checks that must
# fail). Every other counted figure must be 0 and every other check pass: a null key is counted by
# its null figure only, never as a duplicate too.
_FAULTS = {
    "urls_clean": ("cover_urls", _urls(), {}, set()),
    "urls_duplicate_url": ("cover_urls", _urls({}, {"url": _url(1001)}), {"duplicate_urls": 1}, {"urls_unique"}),
    "urls_duplicate_cover_id": ("cover_urls", _urls({}, {"cover_id": 1001}),
                                {"duplicate_cover_ids": 1, "missing_cover_ids": 1}, {"urls_unique", "urls_complete"}),
    "urls_malformed_url": ("cover_urls", _urls({}, {"url": "covers.example/b/id/1002-M.jpg"}),
                           {"malformed_urls": 1}, {"urls_well_formed"}),
    "urls_url_without_path": ("cover_urls", _urls({"url": "https://covers.example"}), {"malformed_urls": 1},
                              {"urls_well_formed"}),
    # a listed cover id that the year's fiction lacks also fails urls_complete (0 and -5 are never there)
    "urls_zero_cover_id": ("cover_urls", _urls({}, {}, {"cover_id": 0}), {"bad_cover_id": 1, "unexpected_cover_ids": 1},
                           {"cover_ids_positive", "urls_complete"}),
    "urls_negative_cover_id": ("cover_urls", _urls({}, {}, {"cover_id": -5}),
                               {"bad_cover_id": 1, "unexpected_cover_ids": 1}, {"cover_ids_positive", "urls_complete"}),
    "urls_null_cover_id": ("cover_urls", _urls({}, {}, {"cover_id": None}), {"bad_cover_id": 1},
                           {"cover_ids_positive"}),
    "urls_null_url": ("cover_urls", _urls({}, {"url": None}), {"malformed_urls": 1}, {"urls_well_formed"}),
    "urls_null_edition_key": ("cover_urls", _urls({}, {"edition_key": None}), {"null_edition_key": 1},
                              {"cover_ids_positive"}),
    "fiction_clean": ("recent_fiction", [_row(1), _row(2, work_key=None)], {"null_work_key": 1}, set()),
    "fiction_duplicate_edition_key": ("recent_fiction", [_row(1), _row(2), _row(1)], {"duplicate_edition_keys": 1},
                                      {"unique_editions"}),
    "fiction_null_edition_key": ("recent_fiction", [_row(1), _row(2, work_key=None), _row(3, edition_key=None)],
                                 {"null_edition_key": 1, "null_work_key": 1}, {"no_null_keys"}),
}
_COUNTED = {
    "cover_urls": ("duplicate_cover_ids", "duplicate_urls", "malformed_urls", "bad_cover_id", "null_edition_key",
                   "missing_cover_ids", "unexpected_cover_ids"),
    "recent_fiction": ("null_edition_key", "null_work_key", "null_title", "pages_not_over_100", "not_english",
                       "year_mismatch", "duplicate_edition_keys"),
}


@pytest.mark.parametrize("case", sorted(_FAULTS))
def test_a_planted_fault_is_counted_and_fails_its_check(tmp_path, spark, case):
    """A fault planted in a ``cover_urls`` or ``recent_fiction`` year folder is counted by its figure,
    and the quality rules then fail the check that names it; the clean folders fail none."""
    from book_assets.emr.verify import verify_cover_urls_year
    from book_assets.warehouse import COVER_URLS, COVER_URLS_SCHEMA

    table, rows, counted, must_fail = _FAULTS[case]
    fiction = year_uri(str(tmp_path), RECENT_FICTION, 2019)
    os.makedirs(fiction)
    fiction_rows = rows if table == "recent_fiction" else [_row(1), _row(2)]  # covers 1001 and 1002
    pq.write_table(pa.Table.from_pylist(fiction_rows, schema=RECENT_FICTION_SCHEMA), f"{fiction}/part-0.parquet")
    if table == "cover_urls":
        folder = year_uri(str(tmp_path / "urls"), COVER_URLS, 2019)
        os.makedirs(folder)
        pq.write_table(pa.Table.from_pylist(rows, schema=COVER_URLS_SCHEMA), f"{folder}/part-0.parquet")
        figures = verify_cover_urls_year(spark, folder, fiction)
        outcomes = quality.cover_url_checks(figures)
    else:
        figures = verify_fiction_years(spark, {2019: fiction})[2019]
        outcomes = quality.fiction_checks(figures)

    assert figures["rows"] == len(rows)
    judged = list(_COUNTED[table])
    assert {k: figures[k] for k in judged} == {**dict.fromkeys(judged, 0), **counted}, figures
    failed = {o.name for o in outcomes if not o.passed}
    assert failed == must_fail, (failed, figures)
