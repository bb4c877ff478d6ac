"""The fiction job end to end on hand-made dumps: the fiction decision from edition + work
subjects, author names resolved in key order (edition keys, else the work's, else the
by-statement), merged subjects, duplicate edition keys, and every line counted."""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from book_assets.emr.job_runtime import REPORT_PREFIX
from book_assets.resources.spark import SparkLauncher, spark_home
from book_assets.warehouse import RECENT_FICTION, RECENT_FICTION_SCHEMA, year_uri

pytestmark = pytest.mark.slow

TS = "2024-01-01T00:00:00"


def _line(record_type: str, key: str, data: dict) -> str:
    return f"{record_type}\t{key}\t1\t{TS}\t{json.dumps({'key': key, **data})}\n"


def _edition(n: int, *, subjects=(), authors=(), work: str | None = "/works/OL1W", by: str | None = None,
             year: str = "2019", pages: int = 300) -> str:
    data = {"title": f"Book {n}", "languages": [{"key": "/languages/eng"}], "publish_date": year,
            "number_of_pages": pages, "subjects": list(subjects), "covers": [1000 + n],
            "authors": [{"key": a} for a in authors]}
    if work:
        data["works"] = [{"key": work}]
    if by:
        data["by_statement"] = by
    return _line("/type/edition", f"/books/OL{n}M", data)


EDITIONS = [
    _edition(1, subjects=["Fiction"], authors=["/authors/A1", "/authors/A2", "/authors/A3"], by="by Zed Zee"),
    _edition(2, work="/works/OL2W"),  # no subjects or authors of its own: all from the work
    _edition(3, subjects=["Fiction"], authors=["/authors/A9"], by="by Carl Doe"),  # nothing resolves
    _edition(4, subjects=["Fiction"], authors=["/authors/A1"]),
    _edition(4, subjects=["Fiction"], authors=["/authors/A1"]),  # the same edition twice
    _edition(5, subjects=["Fiction"], work="/works/OL5W"),  # the work says juvenile: not adult fiction
    _edition(6, subjects=["Fiction", "Love stories"], authors=["/authors/A5", "/authors/A6"], work="/works/OL6W"),
    _edition(7, subjects=["History"], work="/works/OL7W"),  # not fiction on either side
    _edition(8, subjects=["Fiction"], year="2020", authors=["/authors/A1"]),
    _edition(9, subjects=["Fiction"], pages=50),  # too few pages
    "not\ta\tdump line\n",
]
WORKS = [
    _line("/type/work", "/works/OL1W", {"subjects": ["Fiction"], "authors": [{"author": {"key": "/authors/A4"}}]}),
    _line("/type/work", "/works/OL2W", {"subjects": ["Novels"], "authors": [
        {"author": {"key": "/authors/A4"}}, {"author": {"key": "/authors/A1"}}, {"author": {"key": "/authors/A4"}}]}),
    _line("/type/work", "/works/OL5W", {"subjects": ["Juvenile fiction"]}),
    _line("/type/work", "/works/OL6W", {"subjects": ["Fiction", "Romance"]}),
    _line("/type/work", "/works/OL7W", {"subjects": ["Biography"]}),
]
AUTHORS = [
    _line("/type/author", "/authors/A1", {"name": "Ann"}),
    _line("/type/author", "/authors/A3", {"name": ""}),
    _line("/type/author", "/authors/A4", {"name": "Bob"}),
    _line("/type/author", "/authors/A5", {"name": "Dee"}),
    _line("/type/author", "/authors/A6", {"name": "Dee"}),
]


@pytest.fixture(scope="module")
def job_output(tmp_path_factory):
    root = tmp_path_factory.mktemp("fiction_job")
    for kind, lines in (("editions", EDITIONS), ("works", WORKS), ("authors", AUTHORS)):
        (root / kind).mkdir()
        with gzip.open(root / kind / "part-00000.txt.gz", "wt", encoding="utf-8") as fh:
            fh.writelines(lines)
    warehouse = root / "warehouse"
    # Left by an earlier build: 2021 (selected, no rows this time) must be emptied, 2018 (not
    # selected) must be left as it is.
    stale = pa.Table.from_pylist([{"edition_key": "/books/STALE", "pages": 200}], schema=RECENT_FICTION_SCHEMA)
    for year in (2018, 2021):
        folder = Path(year_uri(str(warehouse), RECENT_FICTION, year))
        folder.mkdir(parents=True)
        pq.write_table(stale, folder / "part-stale.parquet")
    launcher = SparkLauncher(master="local[2]", driver_memory="1g",
                             spark_conf={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4"})
    cmd = launcher.submit_command("fiction", [
        "--editions", str(root / "editions"), "--works", str(root / "works"), "--authors", str(root / "authors"),
        "--warehouse", str(warehouse), "--years", "2019,2020,2021", "--current-year", "2026"])
    env = {**os.environ, "SPARK_HOME": os.environ.get("SPARK_HOME") or spark_home(),
           "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    env.pop("DAGSTER_PIPES_CONTEXT", None)
    env.pop("DAGSTER_PIPES_MESSAGES", None)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = next(json.loads(line[len(REPORT_PREFIX):]) for line in proc.stdout.splitlines()
                  if line.startswith(REPORT_PREFIX))
    rows = {}
    for year in (2019, 2020, 2021):
        for row in pq.read_table(year_uri(str(warehouse), RECENT_FICTION, year)).to_pylist():
            rows[row["edition_key"]] = {**row, "folder_year": year}
    return report, rows, warehouse


def test_fiction_decided_on_edition_and_work_subjects(job_output):
    _, rows, _ = job_output
    assert set(rows) == {"/books/OL1M", "/books/OL2M", "/books/OL3M", "/books/OL4M", "/books/OL6M", "/books/OL8M"}
    assert rows["/books/OL8M"]["folder_year"] == 2020


def test_author_names_in_key_order_with_fallbacks(job_output):
    _, rows, _ = job_output
    assert rows["/books/OL1M"]["authors"] == ["Ann"]  # A2 unknown, A3 has an empty name
    assert rows["/books/OL2M"]["authors"] == ["Bob", "Ann"]  # the work's keys, repeats dropped
    assert rows["/books/OL3M"]["authors"] == ["Carl Doe"]  # A9 unknown, no work authors: "by Carl Doe"
    assert rows["/books/OL6M"]["authors"] == ["Dee"]  # two keys with the same name


def test_subjects_merged_and_duplicates_dropped(job_output):
    _, rows, _ = job_output
    assert rows["/books/OL6M"]["subjects"] == ["Fiction", "Love stories", "Romance"]
    assert rows["/books/OL2M"]["subjects"] == ["Novels"]
    assert rows["/books/OL4M"]["authors"] == ["Ann"]


def test_every_line_counted_and_years_verified(job_output):
    report, _, _ = job_output
    assert report["lines_read"] == {"editions": len(EDITIONS), "works": len(WORKS), "authors": len(AUTHORS)}
    assert report["rejections"] == {"not_fiction": 2, "too_few_pages": 1, "duplicate_edition": 1}
    assert report["malformed"]["editions"] == {"wrong_column_count": 1}
    # Every edition line is malformed, rejected for one reason, or one written row.
    written = sum(f["rows"] for f in report["per_year"].values())
    assert sum(report["malformed"]["editions"].values()) + sum(report["rejections"].values()) + written == len(EDITIONS)
    per_year = report["per_year"]
    assert {y: f["rows"] for y, f in per_year.items()} == {"2019": 5, "2020": 1, "2021": 0}
    assert all(f["year_mismatch"] == 0 and f["duplicate_edition_keys"] == 0 for f in per_year.values())


def test_selected_years_replaced_and_other_years_left_alone(job_output):
    _, _, warehouse = job_output
    emptied = Path(year_uri(str(warehouse), RECENT_FICTION, 2021))
    assert not (emptied / "part-stale.parquet").exists()
    assert pq.read_table(emptied).num_rows == 0  # a year without rows is an empty table, not stale data
    assert pq.read_table(emptied).schema.names == RECENT_FICTION_SCHEMA.names
    kept = Path(year_uri(str(warehouse), RECENT_FICTION, 2018))
    assert [p.name for p in kept.iterdir()] == ["part-stale.parquet"]
    for year in (2019, 2020):  # one file per year, rows sorted by edition key
        files = [p for p in Path(year_uri(str(warehouse), RECENT_FICTION, year)).iterdir() if p.suffix == ".parquet"]
        keys = pq.read_table(files[0]).column("edition_key").to_pylist()
        assert len(files) == 1 and keys == sorted(keys)
