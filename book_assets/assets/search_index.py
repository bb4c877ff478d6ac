"""The Milvus collection: one Milvus partition per year, rebuilt exactly when the year is rebuilt."""
import time

from dagster import (
    AssetExecutionContext,
    Failure,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    asset,
)

from book_assets import quality
from book_assets.assets.automation import downstream_automation_condition
from book_assets.assets.embeddings import cover_embeddings, gallery_markdown
from book_assets.assets.results import check_specs, failed_blocking_checks, materialize_with_checks, selected_years
from book_assets.collection_rows import year_rows
from book_assets.partitions import year_partitions
from book_assets.resources.milvus import MilvusResource
from book_assets.resources.pipeline import PipelineConfig

MILVUS_POOL = "milvus_writes"

# The collection's fields (``book_assets.milvus.schema.build_schema``), for the asset page.
MILVUS_COLUMNS = TableSchema(columns=[
    TableColumn("id", "INT64", description="primary key: year and cover id"),
    TableColumn("edition_key", "VARCHAR"),
    TableColumn("work_key", "VARCHAR"),
    TableColumn("title", "VARCHAR"),
    TableColumn("authors", "VARCHAR"),
    TableColumn("year", "INT64", description="publication year (also the Milvus partition yYYYY)"),
    TableColumn("cover_id", "INT64"),
    TableColumn("cover_url", "VARCHAR"),
    TableColumn("vector", "FLOAT_VECTOR", description="L2-normalised CLIP image embedding"),
])


def probe(store, rows) -> tuple[bool, str]:
    """Search with the year's first stored vector: that entity must come back first."""
    if rows.num_rows == 0:
        return True, "empty year: nothing to probe"
    import numpy as np

    vector = np.asarray(rows.column("embedding")[0].as_py(), dtype=np.float32)
    cover_id = rows.column("cover_id")[0].as_py()
    year = rows.column("year")[0].as_py()
    hits = store.search(vector, years=[year], top_k=3)
    if not hits:
        return False, "no hits"
    ok = hits[0]["cover_id"] == cover_id or abs(hits[0]["score"] - 1.0) < 1e-4
    return ok, f"cover {cover_id}: top hit cover {hits[0]['cover_id']} score {hits[0]['score']:.5f}"


@asset(
    deps=[cover_embeddings],
    partitions_def=year_partitions,
    backfill_policy=BackfillPolicy.multi_run(1),
    pool=MILVUS_POOL,
    group_name="search",
    kinds={"milvus"},
    owners=["team:book-assets"],
    tags={"layer": "serving"},
    code_version="1",
    automation_condition=downstream_automation_condition(),
    check_specs=check_specs("milvus_collection", quality.MILVUS_CHECKS),
)
def milvus_collection(context: AssetExecutionContext, pipeline: PipelineConfig, milvus: MilvusResource):
    """The year's cover vectors in Milvus (collection ``book_covers``, partition ``yYYYY``).

    Rebuilding a year replaces exactly that year's entities. Writes are serialised through the
    ``milvus_writes`` concurrency pool (Milvus Lite serves a file to one process at a time).
    """
    years = selected_years(context)
    blocked = {
        y: failed for y in years
        if (failed := failed_blocking_checks(context.instance, "cover_embeddings", quality.EMBEDDING_CHECKS, str(y)))
    }
    if blocked:
        raise Failure(
            description="not loading years whose embeddings failed a blocking check: "
            + "; ".join(f"{y}: {', '.join(names)}" for y, names in blocked.items()),
            metadata={"blocked_years": MetadataValue.json({str(y): n for y, n in blocked.items()})},
        )
    store = milvus.store()
    outcomes, counts, samples = {}, {}, []
    try:
        for year in years:
            loaded = year_rows(pipeline.warehouse(), year)
            rows = loaded.table
            started = time.monotonic()
            last = [0.0]

            def progress(done: int, total: int) -> None:
                if time.monotonic() - last[0] > 5 or done == total:
                    last[0] = time.monotonic()
                    context.log.info(f"milvus y{year}: inserted {done}/{total}")

            inserted = store.reload_year(year, rows, progress=progress)
            ok, detail = probe(store, rows)
            figures = {
                "entities": store.count_year(year), "expected": rows.num_rows, "probe_ok": ok,
                "probe_detail": detail, "index_exists": store.has_index() or rows.num_rows == 0,  # an empty first year makes none
                "index_info": store.index_info(),
                "without_fiction_row": loaded.without_fiction_row, "without_cover_url": loaded.without_cover_url,
            }
            context.log.info(f"milvus y{year}: {inserted} inserted in {time.monotonic() - started:.1f}s")
            outcomes[str(year)] = quality.milvus_checks(figures)
            counts[str(year)] = figures["entities"]
            samples += rows.column("cover_url").to_pylist()[:4]
        total = store.count_total()
    finally:
        store.close()
    metadata = {
        "dagster/row_count": MetadataValue.int(sum(counts.values())),
        "dagster/column_schema": MILVUS_COLUMNS,
        "entities_per_year": MetadataValue.json(counts),
        "collection_total": MetadataValue.int(total),
        "collection": MetadataValue.text(milvus.collection),
        "gallery": MetadataValue.md(gallery_markdown(samples[:8])),
    }
    yield from materialize_with_checks(context, "milvus_collection", metadata, outcomes)
