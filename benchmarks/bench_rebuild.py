"""Benchmark 6: incremental rebuild -- one year of ten versus the full build.

    .venv/bin/python benchmarks/bench_rebuild.py [--editions 20000] [--no-embeddings]
    .venv/bin/python benchmarks/bench_rebuild.py --smoke

Materializes the real Dagster assets in-process (``dagster.materialize``, the local Spark
launcher at ``local[2]``) over a generated corpus with ten selected years (2015-2024):

* ``staging``: ``openlibrary_dump`` (split the dumps into parts);
* ``full build``: ``recent_fiction`` + ``cover_urls`` for the ten years in ONE range run (the
  assets' single-run backfill policy), then ``cover_embeddings`` + ``milvus_collection`` for
  each year (tiny test CLIP, covers from the loopback cover server, no added latency);
* ``rebuild one year``: the same assets for year 2019 only, everything already built once (the
  embedding and cover caches are warm, as they are in production).

The ratio column is rebuild / full build: what rebuilding one year costs relative to all ten.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import COVERS_DIR, DEFAULT_WORK, REPO, Timer, log, print_table  # noqa: E402

sys.path.insert(0, str(REPO))
YEARS = list(range(2015, 2025))
os.environ["BOOK_ASSETS_YEARS"] = f"{YEARS[0]}-{YEARS[-1]}"  # before book_assets.partitions is imported
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DAGSTER_TELEMETRY_DISABLED", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REBUILD_YEAR = 2019


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--editions", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--no-embeddings", action="store_true", help="ingest assets only")
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--covers-dir", type=Path, default=COVERS_DIR)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    if args.smoke:
        args.editions = 1200
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench_rebuild_", dir=DEFAULT_WORK if DEFAULT_WORK.exists() else None))
    work.mkdir(parents=True, exist_ok=True)

    from dagster import materialize

    from book_assets.assets.ingest import cover_urls, openlibrary_dump, recent_fiction
    from book_assets.corpus.generator import generate_corpus
    from tests.conftest import make_resources
    from tests.support.cover_server import CoverServer
    from tests.support.tiny_clip import build_tiny_clip

    embeddings = not args.no_embeddings
    corpus = work / "corpus"
    if not (corpus / "manifest.json").exists():
        log(f"generating {args.editions:,} editions for {YEARS[0]}-{YEARS[-1]} (not timed)")
        generate_corpus(corpus, args.editions, seed=args.seed, years=YEARS)
    clip_dir = build_tiny_clip(work / "tiny_clip")
    home = work / "home"
    shutil.rmtree(home, ignore_errors=True)
    ingest = [openlibrary_dump, recent_fiction, cover_urls]
    downstream = []
    if embeddings:
        from book_assets.assets.embeddings import cover_embeddings
        from book_assets.assets.search_index import milvus_collection

        downstream = [cover_embeddings, milvus_collection]
    all_assets = ingest + downstream
    part_lines = max(1000, args.editions // 4)

    def run(selection, **kwargs):
        result = materialize(all_assets, selection=selection, resources=resources, raise_on_error=True, **kwargs)
        assert result.success
        return result

    rows = []
    with CoverServer(args.covers_dir) as server:
        resources = make_resources(home, corpus, server.url_template, clip_dir, part_lines=part_lines,
                                   rps=0.0, max_failure_rate=1.0)
        with Timer() as t:
            run([openlibrary_dump])
        rows.append(["staging (openlibrary_dump)", t.seconds, None])
        range_tags = {"dagster/asset_partition_range_start": str(YEARS[0]),
                      "dagster/asset_partition_range_end": str(YEARS[-1])}
        with Timer() as full_ingest:
            run([recent_fiction, cover_urls], tags=range_tags)
        log(f"full ingest: {full_ingest.seconds:.1f}s")
        full_down = None
        if embeddings:
            with Timer() as full_down:
                for year in YEARS:  # milvus_collection runs one partition per run
                    run(downstream, partition_key=str(year))
            log(f"full embeddings + milvus: {full_down.seconds:.1f}s")
        with Timer() as one_ingest:
            run([recent_fiction, cover_urls], partition_key=str(REBUILD_YEAR))
        log(f"one-year ingest: {one_ingest.seconds:.1f}s")
        one_down = None
        if embeddings:
            with Timer() as one_down:
                run(downstream, partition_key=str(REBUILD_YEAR))
            log(f"one-year embeddings + milvus: {one_down.seconds:.1f}s")

    def pair(name, full, one):
        rows.append([f"full build: {name} (10 years)", full, None])
        rows.append([f"rebuild {REBUILD_YEAR}: {name}", one, f"{one / full:.0%} of full"])

    pair("recent_fiction + cover_urls", full_ingest.seconds, one_ingest.seconds)
    if embeddings:
        pair("cover_embeddings + milvus_collection", full_down.seconds, one_down.seconds)
        pair("whole graph after staging", full_ingest.seconds + full_down.seconds,
             one_ingest.seconds + one_down.seconds)
    print_table(
        f"Incremental rebuild: {args.editions:,} editions, 10 years, local[2]",
        ["step", "seconds", "rebuild / full"], rows,
        notes=["full ingest = one range run over the ten year partitions; embeddings/milvus = one run per year "
               "(tiny test CLIP, loopback covers); the rebuild re-runs the same assets for one year with warm caches"],
    )
    if args.smoke or args.work_dir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
