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
