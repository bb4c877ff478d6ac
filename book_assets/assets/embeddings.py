"""Embedding assets: every cover of a year downloaded once and embedded with CLIP in Spark."""

from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, MetadataValue, TableColumn, TableSchema, asset

from book_assets import quality
from book_assets.assets.automation import downstream_automation_condition
from book_assets.assets.ingest import cover_urls
from book_assets.assets.results import check_specs, materialize_with_checks, per_year_table, selected_years
from book_assets.partitions import year_partitions
from book_assets.resources.pipeline import ClipConfig, CoversConfig, PipelineConfig
from book_assets.resources.spark import SparkLauncher
from book_assets.warehouse import COVER_EMBEDDINGS_SCHEMA, COVER_FAILURES, year_uri


COVERS_POOL = "cover_downloads"


def gallery_markdown(urls: list[str], width: int = 90) -> str:
    """A small markdown gallery of cover thumbnails for materialization metadata."""
    if not urls:
        return "_no covers embedded_"
    return " ".join(f'<img src="{u}" width="{width}"/>' for u in urls)


@asset(
    deps=[cover_urls],
    partitions_def=year_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    # One embeddings job at a time: the covers rate ceiling is per job, so two concurrent
    # jobs would reach the covers service at twice the polite rate.
    pool=COVERS_POOL,
    group_name="embeddings",
    kinds={"spark", "pytorch", "parquet"},
    owners=["team:book-assets"],
    tags={"layer": "gold", "engine": "spark", "model": "clip"},
    code_version="1",
    automation_condition=downstream_automation_condition(),
    check_specs=check_specs("cover_embeddings", quality.EMBEDDING_CHECKS),
)
def cover_embeddings(
    context: AssetExecutionContext, pipeline: PipelineConfig, covers: CoversConfig, clip: ClipConfig, spark: SparkLauncher
):
    """CLIP image embeddings (L2-normalised float32) of every cover of the year.

    Spark job ``book_assets/emr/embeddings_job.py``: covers are fetched once ever into a
    content-addressed cache (polite: ``BOOK_ASSETS_COVERS_RPS`` ceiling, 429/Retry-After, retries),
    embeddings computed once per (cover id, model) and reused on rebuilds. Covers that cannot be
    embedded are recorded with their reason in ``warehouse/cover_failures/year=YYYY/``.
    """
    years = selected_years(context)
    args = [
        "--warehouse", pipeline.warehouse(), "--cover-cache", pipeline.covers_cache(),
        "--years", ",".join(map(str, years)), "--model", clip.model,
        "--batch-size", str(clip.batch_size), "--chunk-size", str(clip.chunk_size),
        "--rps", str(covers.rps), "--concurrency", str(covers.max_concurrency),
        "--timeout", str(covers.timeout_s), "--retries", str(covers.retries),
        "--min-bytes", str(covers.min_bytes),
        f"--allowed-hosts={covers.allowed_hosts}",  # always: "" (the cover host only) differs from the default
    ]
    report = spark.run_job(context, "embeddings", args).report
    per_year = report["per_year"]
    samples = [u for y in years for u in per_year[str(y)]["sample_urls"]][:8]
    metadata = {
        "dagster/row_count": MetadataValue.int(sum(per_year[str(y)]["embedded"] for y in years)),
        "dagster/column_schema": TableSchema(columns=[TableColumn(f.name, str(f.type)) for f in COVER_EMBEDDINGS_SCHEMA]),
        "per_year": per_year_table(per_year),
        "covers": MetadataValue.int(sum(per_year[str(y)]["covers"] for y in years)),
        "failed": MetadataValue.int(sum(per_year[str(y)]["failed"] for y in years)),
        "reused_embeddings": MetadataValue.int(sum(per_year[str(y)]["reused"] for y in years)),
        "embedded_now": MetadataValue.int(sum(per_year[str(y)]["embedded_now"] for y in years)),
        "failures_by_reason": MetadataValue.json(report["download_failures_by_reason"]),
        "download_stats": MetadataValue.json(report["download"]),
        "model": MetadataValue.text(report["model"]),
        "failures_table": MetadataValue.json([year_uri(pipeline.warehouse(), COVER_FAILURES, y) for y in years]),
        "gallery": MetadataValue.md(gallery_markdown(samples)),
    }
    outcomes = {str(y): quality.embedding_checks(per_year[str(y)], covers.max_failure_rate) for y in years}
    yield from materialize_with_checks(context, "cover_embeddings", metadata, outcomes, totals=(
        "dagster/row_count", "covers", "failed", "reused_embeddings", "embedded_now"))
