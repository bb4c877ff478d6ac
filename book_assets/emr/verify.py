"""Figures a job reads back from what it just wrote, for the asset checks to judge.

The jobs compute these on the written files (not on their in-memory results), so a check fails
when the files are wrong, wherever the job ran (local disk or S3 on EMR).
"""
from __future__ import annotations

from typing import Any


def verify_fiction_years(spark: Any, paths: dict[int, str]) -> dict[int, dict]:
    """Counts of rows and of rule breaks in each ``recent_fiction/year=YYYY`` folder of ``paths``.

    All folders are read in one pass and grouped by the folder each row's file lies in, so a row
    written under the wrong year shows up as a ``year_mismatch`` of the folder it is in.
    """
    from pyspark.sql import functions as F

    from book_assets.openlibrary.publish_dates import publish_year
    from book_assets.openlibrary.records import ENGLISH, MIN_PAGES_EXCLUSIVE

    df = spark.read.parquet(*paths.values()).withColumn(
        "_folder_year", F.regexp_extract(F.input_file_name(), r"/year=(-?[0-9]+)/[^/]*$", 1).cast("int"))
    rows = df.groupBy("_folder_year").agg(
        F.count("*").alias("rows"),
        F.sum(F.col("edition_key").isNull().cast("int")).alias("null_edition_key"),
        F.sum(F.col("work_key").isNull().cast("int")).alias("null_work_key"),
        F.sum(F.col("title").isNull().cast("int")).alias("null_title"),
        F.sum((F.col("pages").isNull() | (F.col("pages") <= MIN_PAGES_EXCLUSIVE)).cast("int")).alias("pages_not_over_100"),
        F.sum((~F.coalesce(F.array_contains("languages", ENGLISH), F.lit(False))).cast("int")).alias("not_english"),
        # duplicates = non-null keys - distinct keys (countDistinct skips nulls; a null key is
        # counted by null_edition_key, not as a duplicate)
        F.count("edition_key").alias("edition_keys"),
        F.countDistinct("edition_key").alias("distinct_edition_keys"),
        F.sum(F.col("cover_id").isNotNull().cast("int")).alias("with_cover"),
    ).collect()
    names = ("rows", "null_edition_key", "null_work_key", "null_title", "pages_not_over_100", "not_english",
             "edition_keys", "distinct_edition_keys", "with_cover")
    found = {r["_folder_year"]: {k: int(r[k] or 0) for k in names} for r in rows}
    mismatched: dict = {}
    for r in df.groupBy("_folder_year", "publish_date").count().collect():
        if publish_year(r["publish_date"], 9999) != r["_folder_year"]:
            mismatched[r["_folder_year"]] = mismatched.get(r["_folder_year"], 0) + int(r["count"])
    out = {}
    for year in paths:
        figures = found.get(year, dict.fromkeys(names, 0))
        figures["year_mismatch"] = mismatched.get(year, 0)
        figures["duplicate_edition_keys"] = figures.pop("edition_keys") - figures.pop("distinct_edition_keys")
        out[year] = figures
    unexpected = set(found) - set(paths)
    if unexpected:  # a file whose folder name is not one of the years read: cannot happen unless renamed
        raise RuntimeError(f"rows in folders of unexpected years {sorted(unexpected)} under {list(paths.values())}")
    return out


def verify_cover_urls_year(spark: Any, path: str, fiction_path: str) -> dict:
    """Counts of rows, duplicates and malformed URLs in one ``cover_urls/year=YYYY`` folder, and
    how its cover ids differ from the distinct positive cover ids of the year's written
    ``recent_fiction`` (``fiction_path``): ``missing_cover_ids`` (there, not listed) and
    ``unexpected_cover_ids`` (listed, not there), so an empty or partial list fails its check."""
    from pyspark.sql import functions as F

    from book_assets.urls import is_well_formed_cover_url

    df = spark.read.parquet(path)
    row = df.agg(
        F.count("*").alias("rows"),
        # duplicates = non-null values - distinct values (countDistinct skips nulls; a null is
        # counted by bad_cover_id / malformed_urls, not as a duplicate)
        F.count("cover_id").alias("cover_ids"),
        F.countDistinct("cover_id").alias("distinct_cover_ids"),
        F.count("url").alias("urls"),
        F.countDistinct("url").alias("distinct_urls"),
        F.sum((F.col("cover_id").isNull() | (F.col("cover_id") <= 0)).cast("int")).alias("bad_cover_id"),
        F.sum(F.col("edition_key").isNull().cast("int")).alias("null_edition_key"),
    ).collect()[0].asDict()
    figures = {k: int(v or 0) for k, v in row.items()}
    urls = [r["url"] for r in df.select("url").collect()]
    figures["malformed_urls"] = sum(1 for u in urls if not is_well_formed_cover_url(u))
    figures["duplicate_cover_ids"] = figures.pop("cover_ids") - figures.pop("distinct_cover_ids")
    figures["duplicate_urls"] = figures.pop("urls") - figures.pop("distinct_urls")
    expected = (spark.read.parquet(fiction_path).filter(F.col("cover_id") > 0).select("cover_id").distinct())
    written = df.filter(F.col("cover_id").isNotNull()).select("cover_id").distinct()
    figures["missing_cover_ids"] = expected.subtract(written).count()
    figures["unexpected_cover_ids"] = written.subtract(expected).count()
    return figures


def embedding_figures(urls: Any, emb: Any, fail: Any, expected_dim: int) -> dict:
    """Figures of one year's embeddings: judged against its cover URL list and the model's dimension.

    ``urls``, ``emb`` and ``fail`` are pyarrow tables with the ``cover_urls``, ``cover_embeddings``
    and ``cover_failures`` schemas. ``covers`` is the number of distinct cover ids in ``urls``;
    ``missing_ids`` counts those in neither output, ``unexpected_ids`` output ids not in ``urls``;
    ``wrong_dim`` counts vectors whose length is not ``expected_dim`` (a missing vector included).
    """
    from collections import Counter

    import numpy as np

    url_ids = {int(c) for c in urls.column("cover_id").to_pylist() if c is not None}
    emb_ids = emb.column("cover_id").to_pylist()
    fail_ids = fail.column("cover_id").to_pylist()
    vectors = emb.column("embedding").to_pylist()
    dims = Counter(len(v) if v is not None else 0 for v in vectors)
    wrong_dim = sum(n for d, n in dims.items() if d != expected_dim)
    nan_rows = 0
    max_norm_error = 0.0
    for v in vectors:
        if not v:
            continue
        arr = np.asarray([float("nan") if x is None else x for x in v], dtype=np.float32)
        if not np.all(np.isfinite(arr)):
            nan_rows += 1
            continue
        max_norm_error = max(max_norm_error, abs(float(np.linalg.norm(arr)) - 1.0))
    written = set(emb_ids) | set(fail_ids)
    return {
        "covers": len(url_ids),
        "embedded": len(emb_ids),
        "failed": len(fail_ids),
        "dim": expected_dim,
        "dims_seen": {str(d): n for d, n in sorted(dims.items())},
        "wrong_dim": wrong_dim,
        "nan_rows": nan_rows,
        "max_norm_error": max_norm_error,
        "duplicate_embedding_ids": len(emb_ids) - len(set(emb_ids)),
        "duplicate_failure_ids": len(fail_ids) - len(set(fail_ids)),
        "overlap_ids": len(set(emb_ids) & set(fail_ids)),
        "missing_ids": len(url_ids - written),
        "unexpected_ids": len(written - url_ids),
        "failures_by_reason": dict(Counter(fail.column("reason").to_pylist())),
    }


def verify_embeddings_year(warehouse: str, year: int, expected_dim: int) -> dict:
    """Figures read back from one year's ``cover_urls``, ``cover_embeddings`` and ``cover_failures`` files.

    The expected covers come from the written ``cover_urls`` table, not from the job's memory, so a
    cover the job dropped, wrote twice or wrote to both tables shows up in the figures.
    """
    from book_assets.storage import read_parquet_dir, read_replaced_dirs
    from book_assets.warehouse import COVER_EMBEDDINGS, COVER_FAILURES, COVER_URLS, year_uri

    emb, fail = read_replaced_dirs([year_uri(warehouse, COVER_EMBEDDINGS, year),
                                    year_uri(warehouse, COVER_FAILURES, year)])  # the same generation
    return embedding_figures(read_parquet_dir(year_uri(warehouse, COVER_URLS, year)), emb, fail, expected_dim)
