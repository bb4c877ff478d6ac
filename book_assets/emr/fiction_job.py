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


OTHER_TYPE = {"editions": "not_an_edition", "works": "not_a_work", "authors": "not_an_author"}
"""The reject reason of a line whose record type is not the one a pass reads, per dump."""

DUPLICATE_EDITION = "duplicate_edition"
"""The reject reason of a kept edition line whose edition key an earlier kept line already has."""


def _arrow_schemas():
    import pyarrow as pa

    strs = pa.list_(pa.string())
    edition = pa.schema([
        ("reject_reason", pa.string()), ("edition_key", pa.string()), ("work_key", pa.string()),
        ("title", pa.string()), ("by_statement_authors", strs), ("author_keys", strs), ("year", pa.int32()),
        ("publish_date", pa.string()), ("pages", pa.int32()), ("subjects", strs), ("cover_id", pa.int64()),
        ("isbn_13", pa.string()), ("languages", strs), ("fiction_blocked", pa.bool_()),
        ("fiction_signal", pa.bool_()), ("lines", pa.int64()),
    ])
    work = pa.schema([("reject_reason", pa.string()), ("work_key", pa.string()), ("subjects", strs),
                      ("author_keys", strs), ("fiction_blocked", pa.bool_()), ("fiction_signal", pa.bool_())])
    author = pa.schema([("reject_reason", pa.string()), ("author_key", pa.string()), ("name", pa.string())])
    return edition, work, author


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


def _candidates_then_counts(rows: list, rejected: Counter, schema) -> Iterator:
    """The output of one input batch: the candidate rows (``lines`` = 1 each), then one row per
    reject reason holding in ``lines`` how many lines it took. Most editions are rejected, so
    counting them here instead of returning a row each spares Spark most of the rows."""
    import pyarrow as pa

    if rows:
        yield pa.RecordBatch.from_pylist(rows, schema=schema)
    if rejected:
        n = len(rejected)
        yield pa.RecordBatch.from_arrays(
            [pa.array(list(rejected), pa.string())] + [pa.nulls(n, f.type) for f in list(schema)[1:-1]]
            + [pa.array(list(rejected.values()), pa.int64())], schema=schema)


def _edition_batches(batches: Iterator, years: set[int], current_year: int) -> Iterator:
    """mapInArrow body: parse edition lines, keep candidates, count everything else by reason.

    ``edition_precheck`` (the checks of ``edition_rejection`` that need one field each: language,
    year, pages) runs first, so most editions are rejected before the full ``edition_fields``
    extraction.
    """
    from book_assets.openlibrary.fiction import fiction_signals
    from book_assets.openlibrary.records import edition_fields, edition_precheck

    schema = _arrow_schemas()[0]
    for batch in batches:
        rows, rejected = [], Counter()
        for key, data, reason in _parsed(_lines(batch), "/type/edition", OTHER_TYPE["editions"]):
            if reason is None:
                reason = edition_precheck(data, years, current_year)
            if reason is None:
                # English, a selected year, > 100 pages: edition_rejection could now only say
                # "not_fiction", which is decided after the join with the work's subjects.
                fields = edition_fields(key, data, current_year)
                fields["reject_reason"] = None
                fields["fiction_blocked"], fields["fiction_signal"] = fiction_signals(fields["subjects"])
                fields["lines"] = 1
                rows.append(fields)
            else:
                rejected[reason] += 1
        yield from _candidates_then_counts(rows, rejected, schema)


def _work_batches(batches: Iterator) -> Iterator:
    import pyarrow as pa

    from book_assets.openlibrary.fiction import fiction_signals
    from book_assets.openlibrary.fields import string_list, work_author_keys

    schema = _arrow_schemas()[1]
    strs = pa.list_(pa.string())
    for batch in batches:
        reasons, keys, subjects, authors, blocked, fiction = [], [], [], [], [], []
        for key, data, reason in _parsed(_lines(batch), "/type/work", OTHER_TYPE["works"]):
            reasons.append(reason)
            keys.append(key)
            if reason is None:  # work_fields' readers, without the title the job drops
                work_subjects = string_list(data.get("subjects"))
                subjects.append(work_subjects)
                authors.append(work_author_keys(data))
                flags = fiction_signals(work_subjects)
            else:
                subjects.append(None)
                authors.append(None)
                flags = (None, None)
            blocked.append(flags[0])
            fiction.append(flags[1])
        yield pa.RecordBatch.from_arrays(
            [pa.array(reasons, pa.string()), pa.array(keys, pa.string()), pa.array(subjects, strs),
             pa.array(authors, strs), pa.array(blocked, pa.bool_()), pa.array(fiction, pa.bool_())],
            schema=schema)


def _author_batches(batches: Iterator) -> Iterator:
    import pyarrow as pa

    from book_assets.openlibrary.records import author_fields

    schema = _arrow_schemas()[2]
    for batch in batches:
        reasons, keys, names = [], [], []
        for key, data, reason in _parsed(_lines(batch), "/type/author", OTHER_TYPE["authors"]):
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


def _reason_names(kind: str) -> list[str]:
    """Every reject reason the pass over the ``kind`` dump can give a line (kept lines have none).

    Editions can fail every ``edition_rejection`` check but the fiction one, which is decided
    after the join with the works.
    """
    from book_assets.openlibrary.dump_lines import SKIP_REASONS
    from book_assets.openlibrary.records import REJECT_NOT_FICTION, REJECT_REASONS

    reasons = [f"malformed:{r}" for r in SKIP_REASONS] + [OTHER_TYPE[kind]]
    if kind == "editions":
        reasons += [r for r in REJECT_REASONS if r != REJECT_NOT_FICTION]
    return reasons


def _reason_metrics(reasons: list[str], lines):
    """Aggregate expressions for ``DataFrame.observe``: lines per reason (``r0``, ``r1``...), the
    kept lines (``kept``) and all lines (``total``), ``lines`` being each row's line count."""
    from pyspark.sql import functions as F

    reason = F.col("reject_reason")
    return ([F.sum(F.when(reason == r, lines).otherwise(0)).alias(f"r{i}") for i, r in enumerate(reasons)]
            + [F.sum(F.when(reason.isNull(), lines).otherwise(0)).alias("kept"), F.sum(lines).alias("total")])


OBSERVATION_TIMEOUT_S = 300


def _observed(observation, name: str, timeout_s: float = OBSERVATION_TIMEOUT_S) -> dict:
    """The metrics of ``observation``, which the one action of the job has filled in.

    ``Observation.get`` waits for ever when no action delivered the metrics; after the action
    has finished they are there at once, so a missing result is raised as an error instead of
    leaving the job (and an EMR bill) hanging.
    """
    import threading

    box: dict = {}

    def fetch() -> None:
        try:
            box["metrics"] = dict(observation.get)
        except Exception as exc:  # pragma: no cover - surfaced below
            box["error"] = exc

    thread = threading.Thread(target=fetch, name="observation-get", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if "error" in box:
        raise box["error"]
    if "metrics" not in box:
        raise RuntimeError(f"the counts observed as {name!r} never arrived (waited {timeout_s:.0f} s)")
    return box["metrics"]


def _reason_counts(observation, name: str, reasons: list[str], kept_name: str) -> Counter:
    """The observed metrics as ``{reason: lines}``; a line with a reason not in ``reasons`` would
    make the parts miss the total, which is an error, not a silent loss."""
    metrics = _observed(observation, name)
    counts = Counter({r: int(metrics[f"r{i}"] or 0) for i, r in enumerate(reasons)})
    counts[kept_name] = int(metrics["kept"] or 0)
    total = int(metrics["total"] or 0)
    if sum(counts.values()) != total:
        raise RuntimeError(f"{name}: {total} lines read but {dict(counts)} accounted for")
    return +counts


def main(argv: list[str] | None = None) -> None:
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    from book_assets.emr.job_runtime import build_spark, open_reporter, parse_years_arg
    from book_assets.emr.verify import verify_fiction_years
    from book_assets.warehouse import RECENT_FICTION, RECENT_FICTION_SCHEMA, table_uri, year_uri

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

        # Passes, joins and write are ONE Spark action (the partitioned write below): each pass
        # runs once, only the deduplicated fiction rows are cached, and lines are counted by
        # reason on the way through (observed metrics), not by extra jobs over cached passes.
        edition_reasons_list = _reason_names("editions")
        editions_seen = Observation("editions")
        candidates = (
            spark.read.text(args.editions)
            .mapInArrow(lambda it: _edition_batches(it, years, args.current_year), _spark_schema(edition_schema))
            .observe(editions_seen, *_reason_metrics(edition_reasons_list, F.col("lines")))
            .filter(F.col("reject_reason").isNull()).drop("reject_reason", "lines")
        )
        work_reasons_list = _reason_names("works")
        works_seen = Observation("works")
        work_info = (
            spark.read.text(args.works).mapInArrow(_work_batches, _spark_schema(work_schema))
            .observe(works_seen, *_reason_metrics(work_reasons_list, F.lit(1)))
            .filter(F.col("reject_reason").isNull())
            .dropDuplicates(["work_key"])
            .select("work_key", F.col("subjects").alias("work_subjects"),
                    F.col("author_keys").alias("work_author_keys"),
                    F.col("fiction_blocked").alias("work_blocked"), F.col("fiction_signal").alias("work_fiction"))
        )
        # is_fiction(edition subjects + work subjects), from the flags both passes computed.
        fiction_seen = Observation("fiction")
        fiction = candidates.join(work_info, "work_key", "left").filter(
            (F.col("fiction_signal") | F.coalesce(F.col("work_fiction"), F.lit(False)))
            & ~(F.col("fiction_blocked") | F.coalesce(F.col("work_blocked"), F.lit(False)))
        ).observe(fiction_seen, F.count(F.lit(1)).alias("rows"))

        no_strings = F.array().cast("array<string>")
        # One row per edition key (which duplicate survives is arbitrary, as in any dedupe), so
        # author names can be grouped back by edition key.
        # Cached: the author names are grouped from it and joined back to it, and without the
        # cache each side would run the edition and work passes again.
        kept = fiction.dropDuplicates(["edition_key"]).withColumn(
            "_author_keys",  # the edition's own author keys, else the work's (author_names' order)
            F.when(F.size(F.coalesce("author_keys", no_strings)) > 0, F.col("author_keys"))
            .otherwise(F.coalesce("work_author_keys", no_strings))).persist()
        authors_seen = None
        author_reasons_list = _reason_names("authors")
        if args.authors:
            authors_seen = Observation("authors")
            names = (
                spark.read.text(args.authors).mapInArrow(_author_batches, _spark_schema(author_schema))
                .observe(authors_seen, *_reason_metrics(author_reasons_list, F.lit(1)))
                .filter(F.col("reject_reason").isNull() & F.col("name").isNotNull() & (F.col("name") != ""))
                .dropDuplicates(["author_key"]).select("author_key", "name")
            )
            named = (
                kept.select("edition_key", F.posexplode("_author_keys").alias("_pos", "author_key"))
                .join(names, "author_key", "inner")
                .groupBy("edition_key")
                .agg(F.array_sort(F.collect_list(F.struct("_pos", "name"))).alias("_named"))
            )
            kept = kept.join(named, "edition_key", "left")
            resolved = F.array_distinct(F.transform(
                F.coalesce("_named", F.array().cast("array<struct<_pos:int,name:string>>")), lambda x: x["name"]))
        else:
            resolved = no_strings
        # author_names(): the resolved names in key order without repeats, else the by-statement
        kept = kept.select(
            "edition_key", "work_key", "title",
            F.when(F.size(resolved) > 0, resolved)
            .otherwise(F.coalesce("by_statement_authors", no_strings)).alias("authors"),
            "year", "pages",
            F.array_distinct(F.concat(F.coalesce("subjects", no_strings),
                                      F.coalesce("work_subjects", no_strings))).alias("subjects"),
            "cover_id", "isbn_13", "publish_date", "languages",
        )

        # One write for all years: each year's rows in one sorted file under year=YYYY/, and
        # "dynamic" overwrite replaces exactly the year folders written, leaving other years be.
        columns = [f.name for f in RECENT_FICTION_SCHEMA]
        years_seen = Observation("years")
        (kept.select(*columns, "year")
         .observe(years_seen, *[F.sum((F.col("year") == y).cast("long")).alias(f"y{y}") for y in sorted(years)])
         .repartition("year").sortWithinPartitions("year", "edition_key")
         .write.partitionBy("year").mode("overwrite").option("partitionOverwriteMode", "dynamic")
         .parquet(table_uri(args.warehouse, RECENT_FICTION)))
        targets = {year: year_uri(args.warehouse, RECENT_FICTION, year) for year in sorted(years)}
        rows_per_year = _observed(years_seen, "years")
        for year in sorted(years):
            if not rows_per_year[f"y{year}"]:  # no rows: the write above left this folder alone
                (spark.createDataFrame([], kept.select(*columns).schema).coalesce(1)
                 .write.mode("overwrite").parquet(targets[year]))

        edition_reasons = _reason_counts(editions_seen, "editions", edition_reasons_list, "candidate")
        work_reasons = _reason_counts(works_seen, "works", work_reasons_list, "ok")
        author_reasons = (_reason_counts(authors_seen, "authors", author_reasons_list, "ok")
                          if authors_seen is not None else Counter())
        fiction_rows = int(_observed(fiction_seen, "fiction")["rows"] or 0)
        written_rows = sum(int(rows_per_year[f"y{year}"] or 0) for year in years)
        edition_reasons["not_fiction"] = edition_reasons["candidate"] - fiction_rows
        edition_reasons[DUPLICATE_EDITION] = fiction_rows - written_rows  # dropped by the dedupe above
        edition_reasons["candidate"] = written_rows

        per_year = {str(year): figures for year, figures in verify_fiction_years(spark, targets).items()}
        for year, figures in per_year.items():
            reporter.info(f"recent_fiction year={year}: {figures['rows']} rows")

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
