"""Spark job: one row per distinct positive cover id of each year's fiction, with its cover URL.

Usage::

    spark-submit book_assets/emr/cover_urls_job.py --warehouse URI --years 2019,2020 \
        --template 'https://covers.openlibrary.org/b/id/{cover_id}-M.jpg' [--report-out URI]

Reads ``recent_fiction/year=YYYY`` and replaces ``cover_urls/year=YYYY``. Editions without a
cover (missing, empty or only ``-1``) are counted, not listed; a cover id shared by several
editions is listed once, with the smallest edition key.
"""
from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> None:
    from pyspark.sql import functions as F

    from book_assets.emr.job_runtime import build_spark, open_reporter, parse_years_arg
    from book_assets.emr.verify import verify_cover_urls_year
    from book_assets.urls import cover_url
    from book_assets.warehouse import COVER_URLS, RECENT_FICTION, year_uri

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--years", required=True, type=parse_years_arg)
    parser.add_argument("--template", required=True)
    parser.add_argument("--report-out", default="")
    args = parser.parse_args(argv)
    cover_url(args.template, 1)  # fail fast on a template without {cover_id}

    with open_reporter(args.report_out or None) as reporter:
        spark = build_spark("book_assets.cover_urls")
        template = args.template
        to_url = F.udf(lambda cid: cover_url(template, cid), "string")
        per_year = {}
        for year in args.years:
            source = spark.read.parquet(year_uri(args.warehouse, RECENT_FICTION, year))
            editions = source.count()
            with_cover = source.filter(F.col("cover_id").isNotNull() & (F.col("cover_id") > 0))
            urls = (
                with_cover.groupBy("cover_id").agg(F.min("edition_key").alias("edition_key"))
                .withColumn("url", to_url("cover_id"))
                .select("cover_id", "edition_key", "url").orderBy("cover_id")
            )
            target = year_uri(args.warehouse, COVER_URLS, year)
            urls.coalesce(1).write.mode("overwrite").parquet(target)
            figures = verify_cover_urls_year(spark, target, year_uri(args.warehouse, RECENT_FICTION, year))
            figures["editions"] = editions
            figures["editions_without_cover"] = editions - with_cover.count()
            per_year[str(year)] = figures
            reporter.info(f"cover_urls year={year}: {figures['rows']} covers from {editions} editions")
        reporter.report({"job": "cover_urls", "years": list(args.years), "per_year": per_year})
        spark.stop()


if __name__ == "__main__":
    main()
