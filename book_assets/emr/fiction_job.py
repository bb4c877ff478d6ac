"""Spark job: staged OpenLibrary dumps → English adult fiction editions (> 100 pages) per year.

Usage (standalone or via the launcher resource)::

    spark-submit book_assets/emr/fiction_job.py --editions DIR --works DIR [--authors DIR] \
        --warehouse URI --years 2019,2020 [--current-year 2026] [--report-out URI]

Writes ``<warehouse>/recent_fiction/year=YYYY/`` for each requested year (each year's folder is
replaced, other years are untouched) and reports: lines read and malformed lines by reason per
dump, rejections by reason, rows per year, and figures read back from the written files for the
asset checks.
"""
from __future__ import annotations

import argparse
import datetime as dt
from collections import Counter
from typing import Iterator

PENDING_FICTION = "not_fiction"


def _arrow_schemas():
    import pyarrow as pa

    strs = pa.list_(pa.string())
    edition = pa.schema([
        ("reject_reason", pa.string()), ("edition_key", pa.string()), ("work_key", pa.string()),
        ("title", pa.string()), ("by_statement_authors", strs), ("author_keys", strs), ("year", pa.int32()),
        ("publish_date", pa.string()), ("pages", pa.int32()), ("subjects", strs), ("cover_id", pa.int64()),
        ("isbn_13", pa.string()), ("languages", strs),
    ])
    work = pa.schema([("reject_reason", pa.string()), ("work_key", pa.string()), ("subjects", strs),
                      ("author_keys", strs)])
    author = pa.schema([("reject_reason", pa.string()), ("author_key", pa.string()), ("name", pa.string())])
    return edition, work, author


def _final_schema():
    import pyarrow as pa

    strs = pa.list_(pa.string())
    return pa.schema([
        ("reject_reason", pa.string()), ("edition_key", pa.string()), ("work_key", pa.string()),
        ("title", pa.string()), ("authors", strs), ("year", pa.int32()), ("pages", pa.int32()),
        ("subjects", strs), ("cover_id", pa.int64()), ("isbn_13", pa.string()),
        ("publish_date", pa.string()), ("language", pa.string()),
    ])


def _spark_schema(arrow_schema):
    """The Spark schema of a mapInArrow output, derived from the Arrow schema the batches carry."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(arrow_schema)


def _lines(batch) -> list:
    return batch.column(0).to_pylist()


def _parsed(lines: list, record_type: str, other: str) -> Iterator[tuple]:
    """``(key, data, None)`` per line of ``record_type``, else ``(None, None, reject_reason)``
    (``malformed:<reason>``, or ``other`` for a record of another type).

    Exactly :func:`~book_assets.openlibrary.dump_lines.parse_dump_line`'s verdicts, faster: the
    common line (short enough, five columns, JSON that orjson reads as an object) is split and
    parsed inline, and anything else -- too long, wrong columns, bad JSON, lone surrogates,
    bytes -- goes through ``parse_dump_line`` itself, so malformed lines keep their reason.
    """
    from book_assets.openlibrary.dump_lines import COLUMNS, MAX_LINE_BYTES, parse_dump_line

    try:
        from orjson import loads
    except ImportError:  # pragma: no cover - orjson is installed wherever the job runs
        loads = None
    short = MAX_LINE_BYTES // 4  # at most 4 UTF-8 bytes per character: never too long
    for line in lines:
        data = None
        if loads is not None and type(line) is str and len(line) <= short:
            parts = line.rstrip("\r\n").split("\t", COLUMNS - 1)
            if len(parts) == COLUMNS:
                try:
                    data = loads(parts[4])
                except ValueError:
                    data = None
                if type(data) is dict:
                    if parts[0].strip() != record_type:
                        yield None, None, other
                    else:
                        yield parts[1].strip(), data, None
                    continue
        record, reason = parse_dump_line(line)
        if record is None:
            yield None, None, f"malformed:{reason}"
        elif record.record_type != record_type:
            yield None, None, other
        else:
            yield record.key, record.data, None


def _expand(reasons: list, rows: list, positions: list, schema):
    """One output batch: ``rows`` (dicts) at ``positions``, every other line a bare reason."""
    import pyarrow as pa

    n = len(reasons)
    reason_col = pa.array(reasons, type=pa.string())
    if not rows:
        columns = [reason_col] + [pa.nulls(n, type=f.type) for f in list(schema)[1:]]
        return pa.RecordBatch.from_arrays(columns, schema=schema)
    kept = pa.RecordBatch.from_pylist(rows, schema=schema)
    if len(rows) != n:
        index: list = [None] * n
        for i, pos in enumerate(positions):
            index[pos] = i
        kept = kept.take(pa.array(index, type=pa.int32()))
    return pa.RecordBatch.from_arrays([reason_col] + kept.columns[1:], schema=schema)


def _edition_batches(batches: Iterator, years: set[int], current_year: int) -> Iterator:
    """mapInArrow body: parse edition lines, keep candidates, count everything else by reason.

    The checks of ``edition_rejection`` that need one field each (language, year, pages) run
    first, in its order and with the same readers, so most editions are rejected before the
    full ``edition_fields`` extraction.
    """
    from book_assets.openlibrary.fields import language_codes, page_count
    from book_assets.openlibrary.publish_dates import publish_year
    from book_assets.openlibrary.records import (
        ENGLISH, MIN_PAGES_EXCLUSIVE, REJECT_NO_YEAR, REJECT_NOT_ENGLISH, REJECT_TOO_FEW_PAGES,
        REJECT_YEAR_NOT_SELECTED, edition_fields,
    )

    schema = _arrow_schemas()[0]
    for batch in batches:
        reasons, rows, positions = [], [], []
        for i, (key, data, reason) in enumerate(_parsed(_lines(batch), "/type/edition", "not_an_edition")):
            if reason is None:
                if ENGLISH not in language_codes(data):
                    reason = REJECT_NOT_ENGLISH
                else:
                    year = publish_year(data.get("publish_date"), current_year)
                    if year is None:
                        reason = REJECT_NO_YEAR
                    elif years is not None and year not in years:
                        reason = REJECT_YEAR_NOT_SELECTED
                    else:
                        pages = page_count(data)
                        if pages is None or pages <= MIN_PAGES_EXCLUSIVE:
                            reason = REJECT_TOO_FEW_PAGES
            if reason is None:
                # English, a selected year, > 100 pages: edition_rejection could now only say
                # "not_fiction", which is decided after the join with the work's subjects.
                fields = edition_fields(key, data, current_year)
                fields["reject_reason"] = None
                rows.append(fields)
                positions.append(i)
            reasons.append(reason)
        yield _expand(reasons, rows, positions, schema)


def _work_batches(batches: Iterator) -> Iterator:
    import pyarrow as pa

    from book_assets.openlibrary.fields import string_list, work_author_keys

    schema = _arrow_schemas()[1]
    strs = pa.list_(pa.string())
    for batch in batches:
        reasons, keys, subjects, authors = [], [], [], []
        for key, data, reason in _parsed(_lines(batch), "/type/work", "not_a_work"):
            reasons.append(reason)
            keys.append(key)
            if reason is None:  # work_fields' readers, without the title the job drops
                subjects.append(string_list(data.get("subjects")))
                authors.append(work_author_keys(data))
            else:
                subjects.append(None)
                authors.append(None)
        yield pa.RecordBatch.from_arrays(
            [pa.array(reasons, pa.string()), pa.array(keys, pa.string()), pa.array(subjects, strs),
             pa.array(authors, strs)], schema=schema)


def _author_batches(batches: Iterator) -> Iterator:
    import pyarrow as pa

    from book_assets.openlibrary.records import author_fields

    schema = _arrow_schemas()[2]
    for batch in batches:
        reasons, keys, names = [], [], []
        for key, data, reason in _parsed(_lines(batch), "/type/author", "not_an_author"):
            reasons.append(reason)
            if reason is None:
                fields = author_fields(key, data)
                keys.append(fields["author_key"])
                names.append(fields["name"])
            else:
                keys.append(None)
                names.append(None)
        yield pa.RecordBatch.from_arrays(
            [pa.array(reasons, pa.string()), pa.array(keys, pa.string()), pa.array(names, pa.string())],
            schema=schema)


def _finalise_batches(batches: Iterator) -> Iterator:
    """mapInArrow body: decide fiction from edition + work subjects, resolve author names."""
    import pyarrow as pa

    from book_assets.openlibrary.fiction import is_fiction
    from book_assets.openlibrary.records import author_names

    schema = _final_schema()
    for batch in batches:
        out = []
        for row in batch.to_pylist():
            subjects = list(row["subjects"] or [])
            work_subjects = list(row["work_subjects"] or [])
            if not is_fiction(subjects + work_subjects):
                out.append({"reject_reason": "not_fiction"})
                continue
            names = dict(zip(row["resolved_keys"] or [], row["resolved_names"] or []))
            keys = list(row["author_keys"] or []) or list(row["work_author_keys"] or [])
            merged = list(dict.fromkeys(subjects + work_subjects))
            out.append({
                "reject_reason": None, "edition_key": row["edition_key"], "work_key": row["work_key"],
                "title": row["title"], "authors": author_names(keys, names, list(row["by_statement_authors"] or [])),
                "year": row["year"], "pages": row["pages"], "subjects": merged, "cover_id": row["cover_id"],
                "isbn_13": row["isbn_13"], "publish_date": row["publish_date"], "language": "eng",
            })
        yield pa.RecordBatch.from_pylist(out, schema=schema)


def main(argv: list[str] | None = None) -> None:
    from pyspark.sql import functions as F

    from book_assets.emr.job_runtime import build_spark, open_reporter, parse_years_arg
    from book_assets.emr.verify import verify_fiction_year
    from book_assets.warehouse import RECENT_FICTION, RECENT_FICTION_SCHEMA, year_uri

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--editions", required=True)
    parser.add_argument("--works", required=True)
    parser.add_argument("--authors", default="")
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--years", required=True, type=parse_years_arg)
    parser.add_argument("--current-year", type=int, default=dt.date.today().year)
    parser.add_argument("--report-out", default="")
    args = parser.parse_args(argv)
    years = set(args.years)

    with open_reporter(args.report_out or None) as reporter:
        spark = build_spark("book_assets.recent_fiction")
        edition_schema, work_schema, author_schema = _arrow_schemas()
        reporter.info(f"recent_fiction: years {sorted(years)}, editions {args.editions}")

        editions = spark.read.text(args.editions).mapInArrow(
            lambda it: _edition_batches(it, years, args.current_year), _spark_schema(edition_schema)
        ).persist()
        edition_reasons = Counter(
            {r["reject_reason"] or "candidate": r["n"]
             for r in editions.groupBy("reject_reason").agg(F.count("*").alias("n")).collect()}
        )
        candidates = editions.filter(F.col("reject_reason").isNull()).drop("reject_reason")

        works = spark.read.text(args.works).mapInArrow(_work_batches, _spark_schema(work_schema))
        needed_works = candidates.select("work_key").where(F.col("work_key").isNotNull()).distinct()
        works = works.persist()
        work_reasons = Counter(
            {r["reject_reason"] or "ok": r["n"]
             for r in works.groupBy("reject_reason").agg(F.count("*").alias("n")).collect()}
        )
        work_info = (
            works.filter(F.col("reject_reason").isNull())
            .join(needed_works, "work_key", "inner")
            .dropDuplicates(["work_key"])
            .select("work_key", F.col("subjects").alias("work_subjects"),
                    F.col("author_keys").alias("work_author_keys"))
        )
        joined = candidates.join(work_info, "work_key", "left")

        author_reasons: Counter = Counter()
        all_keys = F.array_union(
            F.coalesce("author_keys", F.array().cast("array<string>")),
            F.coalesce("work_author_keys", F.array().cast("array<string>")),
        )
        if args.authors:
            authors = (spark.read.text(args.authors)
                       .mapInArrow(_author_batches, _spark_schema(author_schema)).persist())
            author_reasons = Counter(
                {r["reject_reason"] or "ok": r["n"]
                 for r in authors.groupBy("reject_reason").agg(F.count("*").alias("n")).collect()}
            )
            exploded = joined.select("edition_key", F.explode(all_keys).alias("author_key"))
            names = (
                exploded.join(
                    authors.filter(F.col("reject_reason").isNull() & F.col("name").isNotNull())
                    .dropDuplicates(["author_key"]).select("author_key", "name"),
                    "author_key", "inner")
                .groupBy("edition_key")
                .agg(F.collect_list("author_key").alias("resolved_keys"),
                     F.collect_list("name").alias("resolved_names"))
            )
            joined = joined.join(names, "edition_key", "left")
        else:
            joined = (joined.withColumn("resolved_keys", F.lit(None).cast("array<string>"))
                      .withColumn("resolved_names", F.lit(None).cast("array<string>")))

        decided = joined.mapInArrow(_finalise_batches, _spark_schema(_final_schema())).persist()
        fiction_rejects = decided.filter(F.col("reject_reason").isNotNull()).count()
        edition_reasons["not_fiction"] += fiction_rejects
        edition_reasons["candidate"] -= fiction_rejects
        kept = decided.filter(F.col("reject_reason").isNull()).drop("reject_reason")
        kept = kept.dropDuplicates(["edition_key"]).persist()

        columns = [f.name for f in RECENT_FICTION_SCHEMA]
        per_year = {}
        for year in sorted(years):
            target = year_uri(args.warehouse, RECENT_FICTION, year)
            (kept.filter(F.col("year") == year).select(*columns).orderBy("edition_key")
             .coalesce(1).write.mode("overwrite").parquet(target))
            per_year[str(year)] = verify_fiction_year(spark, target, year)
            reporter.info(f"recent_fiction year={year}: {per_year[str(year)]['rows']} rows")

        malformed = {
            "editions": {k.split(":", 1)[1]: v for k, v in edition_reasons.items() if k.startswith("malformed:")},
            "works": {k.split(":", 1)[1]: v for k, v in work_reasons.items() if k.startswith("malformed:")},
            "authors": {k.split(":", 1)[1]: v for k, v in author_reasons.items() if k.startswith("malformed:")},
        }
        reporter.report({
            "job": "recent_fiction",
            "years": sorted(years),
            "lines_read": {
                "editions": sum(edition_reasons.values()),
                "works": sum(work_reasons.values()),
                "authors": sum(author_reasons.values()),
            },
            "malformed": malformed,
            "rejections": {k: v for k, v in edition_reasons.items()
                           if not k.startswith("malformed:") and k != "candidate"},
            "per_year": per_year,
        })
        spark.stop()


if __name__ == "__main__":
    main()
