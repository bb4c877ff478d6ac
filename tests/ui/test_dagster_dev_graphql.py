"""The operator's path through ``dagster dev``, driven over GraphQL: backfill two years of the
whole graph, read back materializations and per-year check results, rebuild one year."""
from __future__ import annotations

import time

import pytest

from book_assets import quality
from tests.ui.conftest import ALL_ASSETS, SPARK_ASSETS, YEARS

pytestmark = pytest.mark.slow

CHECKS = {
    "recent_fiction": list(quality.FICTION_CHECKS) + list(quality.DUMP_CHECKS),
    "cover_urls": list(quality.COVER_URL_CHECKS),
    "cover_embeddings": list(quality.EMBEDDING_CHECKS),
    "milvus_collection": list(quality.MILVUS_CHECKS),
}


def _tags(run: dict) -> dict:
    return {t["key"]: t["value"] for t in run["tags"]}


def _assets(run: dict) -> set[str]:
    return {"/".join(k["path"]) for k in run["assetSelection"] or []}


def _years_of(run: dict) -> list[str]:
    tags = _tags(run)
    if "dagster/partition" in tags:
        return [tags["dagster/partition"]]
    start, end = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    if start and end:
        return [y for y in YEARS if start <= y <= end]
    return []


def _meta(mat: dict) -> dict:
    return {e["label"]: e for e in mat["metadataEntries"]}


def test_backfill_runs_spark_once_per_range_and_milvus_once_per_year(full_backfill):
    assert full_backfill["status"] == "COMPLETED_SUCCESS", full_backfill
    runs = full_backfill["runs"]
    assert all(r["status"] == "SUCCESS" for r in runs), [(r["runId"], r["status"]) for r in runs]
    for asset in SPARK_ASSETS:
        spark_runs = [r for r in runs if asset in _assets(r)]
        assert len(spark_runs) == 1, (asset, [(_assets(r), _tags(r)) for r in runs])
        assert _years_of(spark_runs[0]) == YEARS, _tags(spark_runs[0])
    milvus_runs = [r for r in runs if "milvus_collection" in _assets(r)]
    assert sorted(y for r in milvus_runs for y in _years_of(r)) == YEARS
    assert all(_assets(r) == {"milvus_collection"} and len(_years_of(r)) == 1 for r in milvus_runs)
    dump_runs = [r for r in runs if "openlibrary_dump" in _assets(r)]
    assert len(dump_runs) == 1


def test_every_year_has_materializations_with_numeric_metadata(dagster_dev, full_backfill):
    for asset in ALL_ASSETS[1:]:
        mats = dagster_dev.materializations(asset, YEARS)
        assert sorted({m["partition"] for m in mats}) == YEARS, asset
        for m in mats:
            meta = _meta(m)
            # the Spark assets built both years in one run: the run's total is not one year's count
            row_count = "range_row_count" if asset in SPARK_ASSETS else "dagster/row_count"
            assert meta[row_count]["__typename"] == "IntMetadataEntry", asset
            assert (asset in SPARK_ASSETS) != ("dagster/row_count" in meta), asset
            assert meta["dagster/column_schema"]["schema"]["columns"], asset
    fiction = _meta(dagster_dev.materializations("recent_fiction", YEARS)[0])
    assert any(k.startswith("skipped_") and v["__typename"] == "IntMetadataEntry" for k, v in fiction.items())
    for asset in ("cover_embeddings", "milvus_collection"):
        gallery = _meta(dagster_dev.materializations(asset, YEARS)[0])["gallery"]
        assert gallery["__typename"] == "MarkdownMetadataEntry" and "<img" in gallery["mdStr"]
    dump = dagster_dev.materializations("openlibrary_dump")
    assert len(dump) == 1 and "editions_version" in _meta(dump[0])


def test_check_results_are_recorded_per_year(dagster_dev, full_backfill):
    for asset, names in CHECKS.items():
        node = dagster_dev.asset_node(asset)
        checks = {c["name"]: c for c in node["assetChecksOrError"]["checks"]}
        assert set(names) <= set(checks), (asset, sorted(checks))
        for name in names:
            assert checks[name]["blocking"]
            statuses = checks[name]["partitionStatuses"]
            assert sorted(statuses["succeededPartitions"]) == YEARS, (asset, name, statuses)
            assert not statuses["failedPartitions"] and not statuses["executionFailedPartitions"]
            for year in YEARS:
                latest = dagster_dev.check_executions(asset, name, partition=year, limit=1)
                assert latest, (asset, name, year)
                assert latest[0]["partition"] == year and latest[0]["status"] == "SUCCEEDED", latest[0]
                assert latest[0]["evaluation"]["success"] and latest[0]["evaluation"]["partition"] == year


def test_asset_nodes_read_well_in_the_ui(dagster_dev):
    groups = {}
    for asset in ALL_ASSETS:
        node = dagster_dev.asset_node(asset)
        groups[asset] = node["groupName"]
        assert node["description"] and node["opVersion"], asset
        assert any(o.get("team") == "book-assets" for o in node["owners"]), node["owners"]
    assert groups == {"openlibrary_dump": "ingest", "recent_fiction": "ingest", "cover_urls": "ingest",
                      "cover_embeddings": "embeddings", "milvus_collection": "search"}
    assert {"spark", "pytorch", "parquet"} <= set(dagster_dev.asset_node("cover_embeddings")["kinds"])
    assert "milvus" in dagster_dev.asset_node("milvus_collection")["kinds"]


def test_rebuilding_one_year_runs_only_that_year(dagster_dev, full_backfill):
    latest_before = {a: _latest_by_partition(dagster_dev.materializations(a, YEARS)) for a in ALL_ASSETS[1:]}
    dump_before = len(dagster_dev.materializations("openlibrary_dump"))
    started = time.monotonic()
    backfill_id = dagster_dev.launch_backfill(ALL_ASSETS[1:], [YEARS[0]], title=f"test: rebuild {YEARS[0]}")
    data = dagster_dev.wait_backfill(backfill_id, timeout=600)
    print(f"rebuild of {YEARS[0]}: {data['status']} in {time.monotonic() - started:.0f}s, {len(data['runs'])} runs")
    assert data["status"] == "COMPLETED_SUCCESS", data
    assert data["runs"] and all(_years_of(r) == [YEARS[0]] for r in data["runs"]), [_tags(r) for r in data["runs"]]
    new_run_ids = {r["runId"] for r in data["runs"]}
    for asset in ALL_ASSETS[1:]:
        latest = _latest_by_partition(dagster_dev.materializations(asset, YEARS))
        assert latest[YEARS[0]]["runId"] in new_run_ids, asset
        assert latest[YEARS[1]]["runId"] == latest_before[asset][YEARS[1]]["runId"], asset
        assert latest_before[asset][YEARS[0]]["runId"] not in new_run_ids
    assert len(dagster_dev.materializations("openlibrary_dump")) == dump_before
    for asset, names in CHECKS.items():
        for name in names:
            latest = dagster_dev.check_executions(asset, name, partition=YEARS[0], limit=1)[0]
            assert latest["runId"] in new_run_ids and latest["status"] == "SUCCEEDED", (asset, name, latest)


def _latest_by_partition(mats: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for m in sorted(mats, key=lambda m: float(m["timestamp"])):
        out[m["partition"]] = m
    return out
