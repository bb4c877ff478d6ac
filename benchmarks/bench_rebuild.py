"""Benchmark 6: incremental rebuild -- one year of ten versus the full build.

    .venv/bin/python benchmarks/bench_rebuild.py [--editions 20000] [--no-embeddings]
    .venv/bin/python benchmarks/bench_rebuild.py --smoke     # 1,200 editions, three years (2018-2020)

Materializes the real Dagster assets in-process (``dagster.materialize``, the local Spark
launcher at ``local[2]``) over a generated corpus with ten selected years (2015-2024):

* ``staging``: ``openlibrary_dump`` (split the dumps into parts);
* ``full build, cold``: ``recent_fiction`` + ``cover_urls`` for the ten years in ONE range run
  (the assets' single-run backfill policy), then ``cover_embeddings`` + ``milvus_collection`` for
  each year (tiny test CLIP, covers from the loopback cover server, no added latency), into empty
  cover and embedding caches;
* ``rebuild 2019, warm``: the same assets for year 2019 only, everything already built once (the
  embedding and cover caches are warm, as they are in production);
* ``full rebuild, warm``: the same assets for all ten years again, run exactly like the cold full
  build but with the caches as warm as the one-year rebuild's.

Two ratio columns for each one-year row: against the cold full build (what a one-year rebuild
costs next to building everything from scratch -- mostly cache hits) and against the warm full
rebuild (the same cache state: what selecting one year of ten saves by itself). The notes give
the embeddings reused / embedded now and covers downloaded in each embeddings step.
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
SMOKE_YEARS = [2018, 2019, 2020]
"""The smoke run's years: the same rows and ratios, a third of the Spark launches (one embedding job
per year and build), so the test suite's copy takes minutes less."""
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
    years = YEARS
    if args.smoke:
        args.editions, years = 1200, SMOKE_YEARS
    os.environ["BOOK_ASSETS_YEARS"] = f"{years[0]}-{years[-1]}"  # before book_assets.partitions is imported
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
        log(f"generating {args.editions:,} editions for {years[0]}-{years[-1]} (not timed)")
        generate_corpus(corpus, args.editions, seed=args.seed, years=years)
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

    def embed_counts(result) -> dict[str, int]:
        """Summed ``cover_embeddings`` materialization metadata of one run (empty if absent)."""
        counts: dict[str, int] = {}
        for event in result.asset_materializations_for_node("cover_embeddings"):
            for key in ("reused_embeddings", "embedded_now", "failed"):
                value = event.metadata.get(key)
                if value is not None:
                    counts[key] = counts.get(key, 0) + int(value.value)
            stats = event.metadata.get("download_stats")
            if stats is not None:
                counts["downloaded"] = counts.get("downloaded", 0) + int(stats.value.get("downloaded", 0))
        return counts

    def build(label: str, years: list[int]) -> tuple[float, float | None, dict[str, int]]:
        """Ingest (one range run, or one partition) then embeddings + milvus per year; timed apart."""
        if len(years) > 1:
            ingest_kwargs = {"tags": {"dagster/asset_partition_range_start": str(years[0]),
                                      "dagster/asset_partition_range_end": str(years[-1])}}
        else:
            ingest_kwargs = {"partition_key": str(years[0])}
        with Timer() as ingest_t:
            run([recent_fiction, cover_urls], **ingest_kwargs)
        log(f"{label} ingest: {ingest_t.seconds:.1f}s")
        if not embeddings:
            return ingest_t.seconds, None, {}
        counts: dict[str, int] = {}
        with Timer() as down_t:
            for year in years:  # milvus_collection runs one partition per run
                for key, n in embed_counts(run(downstream, partition_key=str(year))).items():
                    counts[key] = counts.get(key, 0) + n
        log(f"{label} embeddings + milvus: {down_t.seconds:.1f}s {counts}")
        return ingest_t.seconds, down_t.seconds, counts

    rows = []
    with CoverServer(args.covers_dir) as server:
        resources = make_resources(home, corpus, server.url_template, clip_dir, part_lines=part_lines,
                                   rps=0.0, max_failure_rate=1.0)
        with Timer() as t:
            run([openlibrary_dump])
        rows.append(["staging (openlibrary_dump)", t.seconds, None, None])
        cold = build("cold full build", years)
        one = build(f"warm rebuild {REBUILD_YEAR}", [REBUILD_YEAR])
        warm = build("warm full rebuild", years)

    def group(name, cold_s, warm_s, one_s):
        rows.append([f"full build, cold caches: {name} ({len(years)} years)", cold_s, None, None])
        rows.append([f"full rebuild, warm caches: {name} ({len(years)} years)", warm_s, None, None])
        rows.append([f"rebuild {REBUILD_YEAR}, warm caches: {name}", one_s,
                     f"{one_s / cold_s:.0%}", f"{one_s / warm_s:.0%}"])

    group("recent_fiction + cover_urls", cold[0], warm[0], one[0])
    notes = [f"full ingest = one range run over the {len(years)} year partitions; embeddings/milvus = one run per year "
             "(tiny test CLIP, loopback covers); cold = empty cover and embedding caches; warm = everything "
             "built once before (the one-year rebuild runs first, then the warm full rebuild)",
             "ratios: the one-year rebuild's time / the cold full build's, and / the warm full rebuild's "
             "(same cache state)"]
    if embeddings:
        group("cover_embeddings + milvus_collection", cold[1], warm[1], one[1])
        group("whole graph after staging", cold[0] + cold[1], warm[0] + warm[1], one[0] + one[1])

        def counts_text(counts):
            if not counts:
                return "n/a"
            return (f"{counts.get('reused_embeddings', '?')} reused, {counts.get('embedded_now', '?')} embedded now, "
                    f"{counts.get('downloaded', '?')} covers downloaded, {counts.get('failed', '?')} failed")

        notes.append(f"cover_embeddings: cold full build {counts_text(cold[2])}; warm full rebuild "
                     f"{counts_text(warm[2])}; rebuild {REBUILD_YEAR} {counts_text(one[2])}")
    print_table(
        f"Incremental rebuild: {args.editions:,} editions, {len(years)} years, local[2]",
        ["step", "seconds", "rebuild / cold full", "rebuild / warm full"], rows, notes=notes,
    )
    if args.smoke or args.work_dir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
