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

RESULT_DDL = (
    "reject_reason string, edition_key string, work_key string, title string, "
    "by_statement_authors array<string>, author_keys array<string>, year int, publish_date string, "
    "pages int, subjects array<string>, cover_id long, isbn_13 string, languages array<string>"
)
WORK_DDL = "reject_reason string, work_key string, subjects array<string>, author_keys array<string>"
AUTHOR_DDL = "reject_reason string, author_key string, name string"
PENDING_FICTION = "not_fiction"


def _edition_batches(batches: Iterator, years: set[int], current_year: int) -> Iterator:
    """mapInPandas body: parse edition lines, keep candidates, count everything else by reason."""
    import pandas as pd

    from book_assets.openlibrary.dump_lines import parse_dump_line
    from book_assets.openlibrary.records import edition_fields, edition_rejection

    for frame in batches:
        out = []
        for line in frame["value"]:
            record, reason = parse_dump_line(line)
            if record is None:
                out.append({"reject_reason": f"malformed:{reason}"})
                continue
            if record.record_type != "/type/edition":
                out.append({"reject_reason": "not_an_edition"})
                continue
            fields = edition_fields(record.key, record.data, current_year)
            rejection = edition_rejection(fields, [], years)
            # "not_fiction" is decided after the join with the work's subjects.
            if rejection is not None and rejection != PENDING_FICTION:
                out.append({"reject_reason": rejection})
                continue
            fields["reject_reason"] = None
            out.append(fields)
        frame_out = pd.DataFrame(out, columns=[c.split(" ")[0] for c in RESULT_DDL.split(", ")])
        yield frame_out.astype({"year": "Int32", "pages": "Int32", "cover_id": "Int64"})


def _work_batches(batches: Iterator) -> Iterator:
    import pandas as pd

    from book_assets.openlibrary.dump_lines import parse_dump_line
    from book_assets.openlibrary.records import work_fields

    for frame in batches:
        out = []
        for line in frame["value"]:
            record, reason = parse_dump_line(line)
            if record is None:
                out.append({"reject_reason": f"malformed:{reason}"})
            elif record.record_type != "/type/work":
                out.append({"reject_reason": "not_a_work"})
            else:
                fields = work_fields(record.key, record.data)
                out.append({"reject_reason": None, "work_key": fields["work_key"],
                            "subjects": fields["subjects"], "author_keys": fields["author_keys"]})
        yield pd.DataFrame(out, columns=["reject_reason", "work_key", "subjects", "author_keys"])


def _author_batches(batches: Iterator) -> Iterator:
    import pandas as pd

    from book_assets.openlibrary.dump_lines import parse_dump_line
    from book_assets.openlibrary.records import author_fields

    for frame in batches:
        out = []
        for line in frame["value"]:
            record, reason = parse_dump_line(line)
            if record is None:
                out.append({"reject_reason": f"malformed:{reason}"})
            elif record.record_type != "/type/author":
                out.append({"reject_reason": "not_an_author"})
            else:
                fields = author_fields(record.key, record.data)
                out.append({"reject_reason": None, **fields})
        yield pd.DataFrame(out, columns=["reject_reason", "author_key", "name"])


def _finalise_partition(rows: Iterator) -> Iterator:
    """Decide fiction from edition + work subjects and resolve author names (pure functions)."""
    from book_assets.openlibrary.fiction import is_fiction
    from book_assets.openlibrary.records import author_names

    for row in rows:
        subjects = list(row["subjects"] or [])
        work_subjects = list(row["work_subjects"] or [])
        if not is_fiction(subjects + work_subjects):
            yield ("not_fiction", None)
            continue
        names = dict(zip(row["resolved_keys"] or [], row["resolved_names"] or []))
        keys = list(row["author_keys"] or []) or list(row["work_author_keys"] or [])
        authors = author_names(keys, names, list(row["by_statement_authors"] or []))
        merged = []
        for s in subjects + work_subjects:
            if s not in merged:
                merged.append(s)
        yield (None, {
            "edition_key": row["edition_key"], "work_key": row["work_key"], "title": row["title"],
            "authors": authors, "year": row["year"], "pages": row["pages"], "subjects": merged,
            "cover_id": row["cover_id"], "isbn_13": row["isbn_13"],
            "publish_date": row["publish_date"], "language": "eng",
        })


def main(argv: list[str] | None = None) -> None:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

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
        reporter.info(f"recent_fiction: years {sorted(years)}, editions {args.editions}")

        editions = spark.read.text(args.editions).mapInPandas(
            lambda it: _edition_batches(it, years, args.current_year), RESULT_DDL
        ).persist()
        edition_reasons = Counter(
            {r["reject_reason"] or "candidate": r["n"]
             for r in editions.groupBy("reject_reason").agg(F.count("*").alias("n")).collect()}
        )
        candidates = editions.filter(F.col("reject_reason").isNull()).drop("reject_reason")

        works = spark.read.text(args.works).mapInPandas(_work_batches, WORK_DDL)
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
            authors = spark.read.text(args.authors).mapInPandas(_author_batches, AUTHOR_DDL).persist()
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

        final_schema = T.StructType([
            T.StructField("reject_reason", T.StringType()),
            T.StructField("row", T.StructType([
                T.StructField("edition_key", T.StringType()), T.StructField("work_key", T.StringType()),
                T.StructField("title", T.StringType()),
                T.StructField("authors", T.ArrayType(T.StringType())),
                T.StructField("year", T.IntegerType()), T.StructField("pages", T.IntegerType()),
                T.StructField("subjects", T.ArrayType(T.StringType())),
                T.StructField("cover_id", T.LongType()), T.StructField("isbn_13", T.StringType()),
                T.StructField("publish_date", T.StringType()), T.StructField("language", T.StringType()),
            ])),
        ])
        decided = spark.createDataFrame(
            joined.rdd.mapPartitions(lambda rows: _finalise_partition(r.asDict() for r in rows)),
            final_schema,
        ).persist()
        fiction_rejects = decided.filter(F.col("reject_reason").isNotNull()).count()
        edition_reasons["not_fiction"] += fiction_rejects
        edition_reasons["candidate"] -= fiction_rejects
        kept = decided.filter(F.col("reject_reason").isNull()).select("row.*")
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
