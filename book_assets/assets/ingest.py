"""Ingest assets: the raw OpenLibrary dump, recent English fiction per year, cover URLs per year."""

from pathlib import Path

from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    asset,
)

from book_assets import quality
from book_assets.assets.automation import downstream_automation_condition, dump_data_version, dump_sources
from book_assets.assets.results import check_specs, materialize_with_checks, per_year_table, selected_years
from book_assets.dump.fetch import DumpFetchError, fetch_dump
from book_assets.dump.publish import publish_staged
from book_assets.dump.staging import DumpFileError, stage_dump, staged_skips
from book_assets.partitions import year_partitions
from book_assets.resources.pipeline import PipelineConfig
from book_assets.resources.spark import SparkLauncher
from book_assets.warehouse import COVER_URLS_SCHEMA, RECENT_FICTION_SCHEMA

INGEST_GROUP = "ingest"


def _schema(schema) -> TableSchema:
    return TableSchema(columns=[TableColumn(f.name, str(f.type)) for f in schema])


@asset(
    group_name=INGEST_GROUP,
    kinds={"python", "gzip"},
    owners=["team:book-assets"],
    tags={"layer": "raw"},
    code_version="1",
)
def openlibrary_dump(context: AssetExecutionContext, pipeline: PipelineConfig) -> MaterializeResult:
    """The OpenLibrary editions, works and authors dumps, fetched and staged for parallel reads.

    A URL is downloaded (streaming, resumable, size-checked) into ``$BOOK_ASSETS_HOME/raw``; a
    local path is used in place. Each dump is then split into gzip parts under
    ``$BOOK_ASSETS_HOME/staged/<kind>/`` so Spark reads it on every core (one ``.gz`` is one
    Spark task). ``BOOK_ASSETS_SAMPLE_LINES`` keeps only the first N lines of each dump. With
    ``BOOK_ASSETS_STAGED`` set (``s3://…`` for EMR Serverless) the parts are then copied there,
    where the Spark jobs read them; an up-to-date copy is not made again.
    """
    metadata: dict = {}
    identity: dict = {}
    for kind, source in dump_sources(pipeline).items():
        try:
            fetched = fetch_dump(source, Path(pipeline.home) / "raw")
            staged = stage_dump(
                kind, fetched.path, source, fetched.version, pipeline.local_staged(kind),
                part_lines=pipeline.part_lines, sample_lines=pipeline.sample_lines,
            )
        except (DumpFetchError, DumpFileError) as exc:
            raise Failure(description=f"{kind} dump: {exc}") from exc
        try:
            published = publish_staged(pipeline.local_staged(kind), pipeline.staged(kind))
        except OSError as exc:  # pyarrow.fs errors (access denied, no such bucket) are OSErrors
            raise Failure(description=f"{kind} dump: copying the staged parts to {pipeline.staged(kind)} failed: {exc}") from exc
        if published.files:
            context.log.info(f"{kind}: copied {published.files} files ({published.bytes} bytes) to {published.uri}")
        context.log.info(
            f"{kind}: {staged.lines} lines in {staged.parts} parts"
            + (" (reused)" if staged.reused else f" staged in {staged.seconds}s")
        )
        metadata[f"{kind}_lines"] = MetadataValue.int(staged.lines)
        metadata[f"{kind}_parts"] = MetadataValue.int(staged.parts)
        metadata[f"{kind}_bytes"] = MetadataValue.int(staged.bytes_in)
        metadata[f"{kind}_source"] = MetadataValue.text(source)
        metadata[f"{kind}_staged_uri"] = MetadataValue.text(published.uri)
        metadata[f"{kind}_version"] = MetadataValue.text(fetched.version)
        identity[kind] = {"source": source, "version": fetched.version, "sample_lines": pipeline.sample_lines,
                          "part_lines": pipeline.part_lines}
        metadata[f"{kind}_downloaded_bytes"] = MetadataValue.int(fetched.downloaded_bytes)
        # Lines staging dropped (not valid UTF-8): Spark would silently replace their bytes.
        metadata[f"{kind}_lines_read"] = MetadataValue.int(staged.lines_read or staged.lines)
        metadata[f"{kind}_skipped_lines"] = MetadataValue.json(dict(staged.skipped))
        metadata[f"{kind}_not_utf8_lines"] = MetadataValue.int(int(staged.skipped.get("not_utf8", 0)))
        if staged.skipped:
            context.log.warning(
                f"{kind}: dropped lines by reason {dict(staged.skipped)} "
                f"(first line numbers: {dict(staged.skipped_examples)})"
            )
    metadata["sample_lines"] = MetadataValue.int(pipeline.sample_lines)
    # the same dump staged the same way keeps its data version: year assets rebuilt on a dump
    # change (BOOK_ASSETS_AUTO_REBUILD) are not rebuilt by a refresh that found nothing new
    return MaterializeResult(metadata=metadata, data_version=dump_data_version(identity))


@asset(
    deps=[openlibrary_dump],
    partitions_def=year_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name=INGEST_GROUP,
    kinds={"spark", "parquet"},
    owners=["team:book-assets"],
    tags={"layer": "silver", "engine": "spark"},
    code_version="1",
    automation_condition=downstream_automation_condition(after_dump=True),
    check_specs=check_specs("recent_fiction", quality.FICTION_CHECKS)
    + check_specs("recent_fiction", quality.DUMP_CHECKS),
)
def recent_fiction(context: AssetExecutionContext, pipeline: PipelineConfig, spark: SparkLauncher):
    """English adult fiction editions with more than 100 pages, by publication year.

    Spark job ``book_assets/emr/fiction_job.py``: fiction is decided from the edition's AND its
    work's subjects ("Nonfiction", "Juvenile…", "Children's…" never count), the year from the
    messy ``publish_date`` (future or unparseable dates are not assigned). Writes
    ``warehouse/recent_fiction/year=YYYY/``; a range run builds all its years in one job.
    """
    years = selected_years(context)
    args = [
        "--editions", pipeline.staged("editions"),
        "--works", pipeline.staged("works"),
        "--warehouse", pipeline.warehouse(),
        "--years", ",".join(map(str, years)),
        "--current-year", str(pipeline.effective_current_year()),
    ]
    if pipeline.authors_dump:
        args += ["--authors", pipeline.staged("authors")]
    report = spark.run_job(context, "fiction", args).report
    # Lines staging dropped (not UTF-8) never reached the job: count them as read and malformed.
    lines_read, malformed = dict(report["lines_read"]), {k: dict(v) for k, v in report["malformed"].items()}
    for kind in dump_sources(pipeline):  # only the dumps the job read: a stale staged/authors is not one
        for reason, count in staged_skips(pipeline.staged(kind)).items():
            malformed.setdefault(kind, {})[reason] = malformed.get(kind, {}).get(reason, 0) + count
            lines_read[kind] = lines_read.get(kind, 0) + count
    dump_outcomes = quality.dump_checks(lines_read, malformed, pipeline.max_malformed_rate)
    outcomes = {str(y): quality.fiction_checks(report["per_year"][str(y)]) + dump_outcomes for y in years}
    rows = sum(report["per_year"][str(y)]["rows"] for y in years)
    metadata = {
        "dagster/row_count": MetadataValue.int(rows),
        "dagster/column_schema": _schema(RECENT_FICTION_SCHEMA),
        "years": MetadataValue.json(years),
        "per_year": per_year_table(report["per_year"]),
        "lines_read": MetadataValue.json(lines_read),
        "malformed_lines": MetadataValue.json(malformed),
        "skipped_by_reason": MetadataValue.json(report["rejections"]),
        "malformed_total": MetadataValue.int(sum(sum(v.values()) for v in malformed.values())),
    }
    for reason, count in report["rejections"].items():
        metadata[f"skipped_{reason}"] = MetadataValue.int(count)
    yield from materialize_with_checks(context, "recent_fiction", metadata, outcomes)


@asset(
    deps=[recent_fiction],
    partitions_def=year_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name=INGEST_GROUP,
    kinds={"spark", "parquet"},
    owners=["team:book-assets"],
    tags={"layer": "silver", "engine": "spark"},
    code_version="1",
    automation_condition=downstream_automation_condition(),
    check_specs=check_specs("cover_urls", quality.COVER_URL_CHECKS),
)
def cover_urls(context: AssetExecutionContext, pipeline: PipelineConfig, spark: SparkLauncher):
    """One row per distinct positive cover id of the year's fiction, with its cover URL.

    URLs come from ``BOOK_ASSETS_COVER_URL_TEMPLATE`` (cover-id lookups, never ISBN). Editions
    with no cover, or only deleted ones (``-1``), are counted in metadata.
    """
    years = selected_years(context)
    report = spark.run_job(context, "cover_urls", [
        "--warehouse", pipeline.warehouse(),
        "--years", ",".join(map(str, years)),
        "--template", pipeline.cover_url_template,
    ]).report
    per_year = report["per_year"]
    metadata = {
        "dagster/row_count": MetadataValue.int(sum(per_year[str(y)]["rows"] for y in years)),
        "dagster/column_schema": _schema(COVER_URLS_SCHEMA),
        "per_year": per_year_table(per_year),
        "editions_without_cover": MetadataValue.int(sum(per_year[str(y)]["editions_without_cover"] for y in years)),
        "url_template": MetadataValue.text(pipeline.cover_url_template),
    }
    outcomes = {str(y): quality.cover_url_checks(per_year[str(y)]) for y in years}
    yield from materialize_with_checks(context, "cover_urls", metadata, outcomes,
                                       totals=("dagster/row_count", "editions_without_cover"))
