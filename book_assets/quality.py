"""Data-quality rules as plain functions over the figures the jobs report.

Each function returns :class:`CheckOutcome` objects; the assets turn them into Dagster
``AssetCheckResult``s (per year), and tests call them directly with hand-made figures.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    description: str
    warn_only: bool = False
    metadata: dict = field(default_factory=dict)


# --- openlibrary_dump -------------------------------------------------------------------------
DUMP_CHECKS = ("malformed_rate_below_threshold", "dump_has_lines")


def dump_checks(lines: dict[str, int], malformed: dict[str, dict[str, int]], max_rate: float) -> list[CheckOutcome]:
    """Malformed lines (wrong column count, bad JSON, ...) per dump, against ``max_rate``."""
    rates = {}
    for kind, count in lines.items():
        bad = sum(malformed.get(kind, {}).values())
        rates[kind] = (bad / count) if count else 0.0
    worst = max(rates.values(), default=0.0)
    return [
        CheckOutcome(
            "malformed_rate_below_threshold",
            worst <= max_rate,
            f"worst malformed-line rate {worst:.4%} (threshold {max_rate:.4%})",
            metadata={"rates": rates, "malformed": malformed, "max_rate": max_rate},
        ),
        CheckOutcome(
            "dump_has_lines",
            all(lines.get(k, 0) > 0 for k in ("editions", "works")),
            f"lines read: {lines}",
            metadata={"lines": lines},
        ),
    ]


# --- recent_fiction -----------------------------------------------------------------------------
FICTION_CHECKS = ("has_rows", "no_null_keys", "year_matches_partition", "pages_over_100", "english_only", "unique_editions")


def fiction_checks(year_figures: dict[str, int]) -> list[CheckOutcome]:
    f = year_figures
    return [
        CheckOutcome("has_rows", f["rows"] > 0, f"{f['rows']} fiction editions", warn_only=True,
                     metadata={"rows": f["rows"]}),
        # Some real editions have no work; only the edition key is required.
        CheckOutcome("no_null_keys", f["null_edition_key"] == 0,
                     f"null edition keys {f['null_edition_key']} (editions without a work: {f['null_work_key']})",
                     metadata={"null_edition_key": f["null_edition_key"], "null_work_key": f["null_work_key"]}),
        CheckOutcome("year_matches_partition", f["year_mismatch"] == 0,
                     f"{f['year_mismatch']} rows whose publish_date parses to another year",
                     metadata={"year_mismatch": f["year_mismatch"]}),
        CheckOutcome("pages_over_100", f["pages_not_over_100"] == 0,
                     f"{f['pages_not_over_100']} rows with pages missing or <= 100",
                     metadata={"pages_not_over_100": f["pages_not_over_100"]}),
        CheckOutcome("english_only", f["not_english"] == 0, f"{f['not_english']} rows not English",
                     metadata={"not_english": f["not_english"]}),
        CheckOutcome("unique_editions", f["duplicate_edition_keys"] == 0,
                     f"{f['duplicate_edition_keys']} duplicate edition keys",
                     metadata={"duplicate_edition_keys": f["duplicate_edition_keys"]}),
    ]


# --- cover_urls ----------------------------------------------------------------------------------
COVER_URL_CHECKS = ("urls_unique", "urls_well_formed", "cover_ids_positive", "urls_complete")


def cover_url_checks(f: dict[str, int]) -> list[CheckOutcome]:
    return [
        CheckOutcome("urls_unique", f["duplicate_cover_ids"] == 0 and f["duplicate_urls"] == 0,
                     f"{f['duplicate_cover_ids']} duplicate cover ids, {f['duplicate_urls']} duplicate URLs",
                     metadata={k: f[k] for k in ("duplicate_cover_ids", "duplicate_urls")}),
        CheckOutcome("urls_well_formed", f["malformed_urls"] == 0, f"{f['malformed_urls']} malformed URLs",
                     metadata={"malformed_urls": f["malformed_urls"]}),
        CheckOutcome("cover_ids_positive", f["bad_cover_id"] == 0 and f["null_edition_key"] == 0,
                     f"{f['bad_cover_id']} non-positive cover ids, {f['null_edition_key']} null edition keys",
                     metadata={k: f[k] for k in ("bad_cover_id", "null_edition_key")}),
        CheckOutcome("urls_complete", f["missing_cover_ids"] == 0 and f["unexpected_cover_ids"] == 0,
                     f"{f['missing_cover_ids']} cover ids of the year's fiction not listed, "
                     f"{f['unexpected_cover_ids']} listed that it does not have",
                     metadata={k: f[k] for k in ("missing_cover_ids", "unexpected_cover_ids")}),
    ]


# --- cover_embeddings ----------------------------------------------------------------------------
EMBEDDING_CHECKS = ("failure_rate_below_threshold", "embeddings_valid", "one_row_per_cover", "all_covers_accounted")


def embedding_checks(f: dict, max_failure_rate: float) -> list[CheckOutcome]:
    """Rules over :func:`book_assets.emr.verify.embedding_figures` (read back from the written files)."""
    total = f["covers"]
    rate = (f["failed"] / total) if total else 0.0
    return [
        CheckOutcome("failure_rate_below_threshold", rate <= max_failure_rate,
                     f"{f['failed']} of {total} covers failed ({rate:.2%}; threshold {max_failure_rate:.2%})",
                     metadata={"failure_rate": rate, "failures_by_reason": f.get("failures_by_reason", {})}),
        CheckOutcome("embeddings_valid",
                     f["wrong_dim"] == 0 and f["nan_rows"] == 0 and f["max_norm_error"] <= 1e-3,
                     f"{f['wrong_dim']} vectors not of the model's dim {f['dim']} (lengths seen: "
                     f"{f.get('dims_seen', {})}), NaN rows {f['nan_rows']}, max |norm-1| {f['max_norm_error']:.2e}",
                     metadata={k: f[k] for k in ("wrong_dim", "nan_rows", "max_norm_error", "dim", "dims_seen")}),
        CheckOutcome("one_row_per_cover",
                     f["duplicate_embedding_ids"] == 0 and f["duplicate_failure_ids"] == 0 and f["overlap_ids"] == 0,
                     f"duplicates: embeddings {f['duplicate_embedding_ids']}, failures {f['duplicate_failure_ids']}, "
                     f"in both {f['overlap_ids']}",
                     metadata={k: f[k] for k in ("duplicate_embedding_ids", "duplicate_failure_ids", "overlap_ids")}),
        CheckOutcome("all_covers_accounted",
                     f["missing_ids"] == 0 and f["unexpected_ids"] == 0 and f["embedded"] + f["failed"] == total,
                     f"embedded {f['embedded']} + failed {f['failed']} rows vs {total} covers in the URL list; "
                     f"{f['missing_ids']} covers in neither table, {f['unexpected_ids']} not in the URL list",
                     metadata={k: f[k] for k in ("embedded", "failed", "covers", "missing_ids", "unexpected_ids")}),
    ]


# --- milvus_collection ---------------------------------------------------------------------------
MILVUS_CHECKS = ("entity_count_matches", "probe_finds_itself", "index_exists", "rows_have_metadata")


def milvus_checks(f: dict) -> list[CheckOutcome]:
    return [
        CheckOutcome("entity_count_matches", f["entities"] == f["expected"],
                     f"{f['entities']} entities in partition vs {f['expected']} embeddings",
                     metadata={"entities": f["entities"], "expected": f["expected"]}),
        CheckOutcome("probe_finds_itself", f["probe_ok"],
                     f"probe query with a stored vector: {f.get('probe_detail', '')}",
                     metadata={"probe_detail": f.get("probe_detail", "")}),
        CheckOutcome("index_exists", f["index_exists"], f"index: {f.get('index_info', {})}",
                     metadata={"index_info": f.get("index_info", {})}),
        CheckOutcome("rows_have_metadata", f["without_fiction_row"] == 0 and f["without_cover_url"] == 0,
                     f"{f['without_fiction_row']} vectors without their recent_fiction row, "
                     f"{f['without_cover_url']} without their cover URL (loaded with blank text)",
                     metadata={"without_fiction_row": f["without_fiction_row"],
                               "without_cover_url": f["without_cover_url"]}),
    ]
