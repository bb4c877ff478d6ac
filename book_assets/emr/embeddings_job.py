"""Spark job: download each year's covers once (cached) and embed them with CLIP's image tower.

Usage::

    spark-submit book_assets/emr/embeddings_job.py --warehouse URI --cover-cache URI \
        --years 2019,2020 --model openai/clip-vit-base-patch32 [--rps 6] [...]

Stages: (1) covers whose (cover id, model, URL) embedding is already cached are not fetched again;
an embedding made under a lower ``--min-bytes`` than this run's (or before thresholds were
recorded) has its cover cache entry read (the index keeps each cover's size:
:func:`cached_too_small`), so raising the threshold turns small covers into failures whether or
not they were embedded before; the others are recorded again under this threshold, so the next
run at the same one reads no entry;
(2) the rest are fetched by one polite downloader in the driver — one rate ceiling for the
whole job, cached content-addressed so a cover is fetched once, ever; (3) images are embedded in
Spark (``mapInPandas``, model loaded once per Python worker), a chunk at a time, each finished
chunk appended to the embedding cache (a killed job resumes there); (4) each year's
``cover_embeddings/year=YYYY`` and ``cover_failures/year=YYYY`` are replaced together
(:func:`~book_assets.storage.replace_parquet_dirs`: both new files first, then the old ones
deleted; readers take the newest generation both folders hold) and read back for the checks (:mod:`book_assets.emr.verify`),
against the year's written ``cover_urls`` and the model's ``projection_dim``.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import functools
import time
from collections import Counter


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def cached_too_small(cover_cache, urls: dict[int, str], min_bytes: int,
                     workers: int = 8) -> dict[int, tuple[str, str]]:
    """``too_small`` failures, under the current ``min_bytes``, among covers (id -> URL) whose
    embedding is cached: judged from the size their cover cache entry records (no request, no
    blob read). A cover without an entry for that URL, or without a recorded size, is kept."""
    from book_assets.covers.images import TOO_SMALL, too_few_bytes

    def judge(item: tuple[int, str]):
        cover_id, url = item
        try:
            entry = cover_cache.lookup(cover_id, url, check_blob=False)
        except Exception:  # an unreadable entry: keep the embedding, as before
            return None
        if entry is None or not entry.sha256 or entry.size <= 0:  # no kept bytes, or no size recorded
            return None
        small = too_few_bytes(entry.size, min_bytes)
        return (cover_id, (TOO_SMALL, small)) if small else None

    with cf.ThreadPoolExecutor(max(1, workers), thread_name_prefix="min-bytes") as pool:
        return dict(r for r in pool.map(judge, urls.items()) if r is not None)


def apply_min_bytes(cached: dict, judged_at: dict, urls: dict[int, str], cover_cache, cache_uri: str,
                    model_id: str, min_bytes: int, workers: int = 8, chunk_size: int = 1000) -> dict[int, tuple[str, str]]:
    """Drop from ``cached`` the embeddings whose cover is now under ``min_bytes``; returns their failures.

    Only embeddings made under a lower threshold (or an unrecorded one: ``judged_at``) are judged
    again, and those that pass are recorded again under this one, so the next run at the same
    ``min_bytes`` reads no cover cache entry.
    """
    import book_assets.embedding_cache as embedding_cache

    rejudge = {cid: urls[cid] for cid in cached if (judged_at.get(cid) or 0) < min_bytes}
    failures = cached_too_small(cover_cache, rejudge, min_bytes, workers=workers)
    for cid in failures:
        del cached[cid]
    passed = [cid for cid in rejudge if cid in cached]
    for chunk in _chunks(passed, chunk_size):
        embedding_cache.append(cache_uri, model_id, {cid: cached[cid] for cid in chunk},
                               urls={cid: urls[cid] for cid in chunk}, min_bytes=min_bytes)
    return failures


def model_dim(model_id: str) -> int:
    """The embedding size the model produces: ``projection_dim`` of its CLIP config (hub id or local dir)."""
    from transformers import CLIPConfig

    return int(CLIPConfig.from_pretrained(model_id).projection_dim)


def build_parser() -> argparse.ArgumentParser:
    """The job's command line (the ``cover_embeddings`` asset builds its arguments)."""
    from book_assets.emr.job_runtime import parse_years_arg
    from book_assets.settings import DEFAULT_COVERS_ALLOWED_HOSTS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--cover-cache", required=True)
    parser.add_argument("--years", required=True, type=parse_years_arg)
    parser.add_argument("--model", required=True)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--chunk-size", type=int, default=2000)
    parser.add_argument("--rps", type=float, default=6.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--retries", type=int, default=4)
    parser.add_argument("--allowed-hosts", default=DEFAULT_COVERS_ALLOWED_HOSTS,
                        help="hosts redirects may go to besides the cover URL's own (comma-separated; '' = none)")
    parser.add_argument("--min-bytes", type=int, default=1000)
    parser.add_argument("--report-out", default="")
    return parser


def main(argv: list[str] | None = None) -> None:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from book_assets import embedding_cache
    from book_assets.clip.spark_udf import OUTPUT_SCHEMA_DDL, embed_cover_batches
    from book_assets.covers.cache import CoverCache
    from book_assets.covers.download import CoverDownloader, DownloadSettings
    from book_assets.emr.job_runtime import build_spark, open_reporter
    from book_assets.emr.verify import verify_embeddings_year
    from book_assets.storage import read_parquet_dir, replace_parquet_dirs
    from book_assets.warehouse import (
        COVER_EMBEDDINGS, COVER_EMBEDDINGS_SCHEMA, COVER_FAILURES, COVER_FAILURES_SCHEMA, COVER_URLS, year_uri,
    )

    args = build_parser().parse_args(argv)

    with open_reporter(args.report_out or None) as reporter:
        expected_dim = model_dim(args.model)
        spark = build_spark("book_assets.cover_embeddings")
        # 1. what each year needs
        wanted: dict[int, dict[int, tuple[str, str]]] = {}
        for year in args.years:
            table = read_parquet_dir(year_uri(args.warehouse, COVER_URLS, year))
            wanted[year] = {
                int(c): (e, u) for c, e, u in zip(
                    table.column("cover_id").to_pylist(), table.column("edition_key").to_pylist(),
                    table.column("url").to_pylist())
            }
        all_ids = {cid: v for per in wanted.values() for cid, v in per.items()}
        urls = {cid: url for cid, (_, url) in all_ids.items()}
        cache_uri = embedding_cache.cache_uri(args.warehouse, args.model)
        unreadable: list[str] = []
        judged_at: dict[int, int | None] = {}
        cached = embedding_cache.load(cache_uri, urls=urls, unreadable=unreadable, judged_at=judged_at)
        if unreadable:
            reporter.warning(f"embedding cache: {len(unreadable)} unreadable part(s) skipped, their covers are "
                             f"embedded again: {unreadable[:5]}")
        cover_cache = CoverCache(args.cover_cache)
        failures: dict[int, tuple[str, str]] = apply_min_bytes(
            cached, judged_at, urls, cover_cache, cache_uri, args.model, args.min_bytes,
            workers=args.concurrency, chunk_size=args.chunk_size)
        todo = sorted(cid for cid in all_ids if cid not in cached and cid not in failures)
        reporter.info(f"{len(all_ids)} covers for years {args.years}: {len(cached)} embeddings reused, "
                      f"{len(failures)} now under --min-bytes, {len(todo)} to fetch/embed")

        # 2. polite downloads, one ceiling for the whole job
        settings = DownloadSettings(
            rps=args.rps, max_concurrency=args.concurrency, timeout_s=args.timeout, retries=args.retries,
            allowed_hosts=tuple(h for h in args.allowed_hosts.split(",") if h) or None, min_bytes=args.min_bytes,
        )
        downloader = CoverDownloader(cover_cache, settings)
        last_log = [0.0]

        def progress(done: int, total: int, rate: float) -> None:
            now = time.monotonic()
            if now - last_log[0] >= 5 or done == total:
                last_log[0] = now
                reporter.info(f"covers downloaded {done}/{total} ({rate:.1f} covers/s)")

        outcomes = downloader.download_all([(cid, urls[cid]) for cid in todo], progress=progress)
        ready = []
        for o in outcomes:
            if o.status == "ok":
                ready.append(o)
            else:
                failures[o.cover_id] = (o.reason or "unknown", o.detail or "")
        download_stats = dict(getattr(downloader, "stats", {}))

        # 3. embed in Spark, chunk by chunk; each chunk lands in the embedding cache
        embed = functools.partial(embed_cover_batches, model_id=args.model, batch_size=args.batch_size)
        parallelism = max(1, spark.sparkContext.defaultParallelism)
        fresh: dict[int, np.ndarray] = {}
        started = time.monotonic()
        for chunk in _chunks(ready, args.chunk_size):
            frame = pd.DataFrame({
                "cover_id": [o.cover_id for o in chunk],
                "edition_key": [all_ids[o.cover_id][0] for o in chunk],
                "blob_path": [cover_cache.blob_path(o.sha256) for o in chunk],
            })
            df = spark.createDataFrame(frame).repartition(min(parallelism, len(chunk)))
            rows = df.mapInPandas(embed, OUTPUT_SCHEMA_DDL).collect()
            part: dict[int, np.ndarray] = {}
            for r in rows:
                if r["failure_reason"]:
                    failures[int(r["cover_id"])] = (r["failure_reason"], r["failure_detail"] or "")
                else:
                    part[int(r["cover_id"])] = np.asarray(r["embedding"], dtype=np.float32)
            embedding_cache.append(cache_uri, args.model, part, urls={cid: urls[cid] for cid in part},
                                   min_bytes=args.min_bytes)
            fresh.update(part)
            done = len(fresh)
            reporter.info(f"embedded {done}/{len(ready)} covers ({done / max(time.monotonic() - started, 1e-9):.1f} covers/s)")

        # 4. rewrite each year's outputs
        per_year = {}
        for year, ids in wanted.items():
            emb_rows, fail_rows = [], []
            for cid in sorted(ids):
                edition_key, url = ids[cid]
                vector = cached.get(cid)
                if vector is None:
                    vector = fresh.get(cid)
                if vector is not None:
                    emb_rows.append((cid, edition_key, vector.tolist(), args.model))
                else:
                    reason, detail = failures.get(cid, ("not_embedded", "no embedding produced"))
                    fail_rows.append((cid, edition_key, url, reason, detail))
            emb_table = pa.Table.from_pylist(
                [dict(zip(COVER_EMBEDDINGS_SCHEMA.names, r)) for r in emb_rows], schema=COVER_EMBEDDINGS_SCHEMA)
            fail_table = pa.Table.from_pylist(
                [dict(zip(COVER_FAILURES_SCHEMA.names, r)) for r in fail_rows], schema=COVER_FAILURES_SCHEMA)
            replace_parquet_dirs({year_uri(args.warehouse, COVER_EMBEDDINGS, year): emb_table,
                                  year_uri(args.warehouse, COVER_FAILURES, year): fail_table})
            figures = verify_embeddings_year(args.warehouse, year, expected_dim)
            figures["reused"] = sum(1 for cid in ids if cid in cached)
            figures["embedded_now"] = sum(1 for cid in ids if cid in fresh)
            figures["sample_urls"] = [ids[c][1] for c in sorted(ids) if c in cached or c in fresh][:8]
            per_year[str(year)] = figures
            reporter.info(f"cover_embeddings year={year}: {figures['embedded']} embedded, {figures['failed']} failed")
        reporter.report({
            "job": "cover_embeddings", "years": list(args.years), "model": args.model,
            "per_year": per_year, "download": download_stats,
            "reused_total": len(cached), "embedded_total": len(fresh),
            "embedding_cache_unreadable_parts": len(unreadable),
            "download_failures_by_reason": dict(Counter(r for r, _ in failures.values())),
        })
        spark.stop()


if __name__ == "__main__":
    main()
