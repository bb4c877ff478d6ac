"""Turning job figures and quality outcomes into Dagster check results and metadata, per year.

In a single-year run each check result is recorded against that year. In a range run (one Spark
job for several years) the step has no single partition key, so each year's evaluation is logged
as its own event against its year, and the step also returns one combined result per check.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping, Sequence

from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MaterializeResult,
    MetadataValue,
)

from book_assets.quality import CheckOutcome


def check_specs(asset: str, names: Sequence[str], blocking: bool = True, partitioned: bool = True) -> list[AssetCheckSpec]:
    from book_assets.partitions import year_partitions

    return [
        AssetCheckSpec(name=name, asset=asset, blocking=blocking,
                       partitions_def=year_partitions if partitioned else None)
        for name in names
    ]


def _metadata(outcome: CheckOutcome, year: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"summary": outcome.description}
    if year is not None:
        meta["year"] = year
    for key, value in outcome.metadata.items():
        if isinstance(value, bool):
            meta[key] = MetadataValue.bool(value)
        elif isinstance(value, int):
            meta[key] = MetadataValue.int(value)
        elif isinstance(value, float):
            meta[key] = MetadataValue.float(value)
        elif isinstance(value, (dict, list)):
            meta[key] = MetadataValue.json(value)
        else:
            meta[key] = MetadataValue.text(str(value))
    return meta


def _severity(outcome: CheckOutcome) -> AssetCheckSeverity:
    return AssetCheckSeverity.WARN if outcome.warn_only else AssetCheckSeverity.ERROR


def range_metadata(metadata: Mapping[str, Any], totals: Iterable[str], years: Sequence[Any]) -> dict:
    """``metadata`` as every year of a range run records it (Dagster copies one result to each).

    The ``totals`` keys hold sums over the run's years; on each year they would read as that
    year's figure (``dagster/row_count`` as its row count, the *Plots* of each year), so with
    several years they become ``range_<name>``, beside ``range_years``. The per-year figures
    are in the ``per_year`` table.
    """
    if len(years) < 2:
        return dict(metadata)
    out = {}
    for key, value in metadata.items():
        out[f"range_{key.removeprefix('dagster/')}" if key in totals else key] = value
    out["range_years"] = MetadataValue.json([str(y) for y in years])
    return out


def materialize_with_checks(
    context: Any, asset: str, metadata: Mapping[str, Any], outcomes_by_year: Mapping[str, Iterable[CheckOutcome]],
    totals: Iterable[str] = ("dagster/row_count",),
) -> Iterator[Any]:
    """What a year asset yields: its materialization, then its check results.

    One year: one ``MaterializeResult`` carrying the year's check results. Several years (a
    range run): the materialization first, so that each year's ``AssetCheckEvaluation`` can
    point at that year's new materialization (the UI counts a partition's check as current only
    then), then one combined result per check, which fails a blocking check when any year does.
    ``totals``: the metadata keys summed over the years (see :func:`range_metadata`).
    """
    outcomes_by_year = {y: list(o) for y, o in outcomes_by_year.items()}
    metadata = range_metadata(metadata, set(totals), sorted(outcomes_by_year))
    if _single_partition_step(context, outcomes_by_year):
        yield MaterializeResult(metadata=dict(metadata), check_results=check_results(context, asset, outcomes_by_year))
        return
    yield MaterializeResult(metadata=dict(metadata))
    yield from check_results(context, asset, outcomes_by_year)


def _single_partition_step(context: Any, outcomes_by_year: Mapping[str, Any]) -> bool:
    """One year, run with a partition key. A backfill's one-year run of a ``multi_run`` asset has
    a one-year partition *range* and no partition key: Dagster would then record a returned
    check result against no partition, so such runs take the range path too."""
    if len(outcomes_by_year) != 1:
        return False
    has_key = getattr(context, "has_partition_key", None)
    return True if has_key is None else bool(has_key)


def _target_materialization(context: Any, asset: str, year: str):
    """The latest materialization of ``asset`` for ``year`` (what a check evaluation targets)."""
    from dagster._core.definitions.asset_checks.asset_check_evaluation import (
        AssetCheckEvaluationTargetMaterializationData,
    )
    from dagster import AssetRecordsFilter

    instance = getattr(context, "instance", None)
    if instance is None:
        return None
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[year]), limit=1
    ).records
    if not records:
        return None
    mat = records[0]
    return AssetCheckEvaluationTargetMaterializationData(
        storage_id=mat.storage_id, run_id=mat.event_log_entry.run_id, timestamp=mat.timestamp
    )


def check_results(
    context: Any, asset: str, outcomes_by_year: Mapping[str, Iterable[CheckOutcome]]
) -> list[AssetCheckResult]:
    """Check results for a step that built the years in ``outcomes_by_year``.

    In a range run, call it after the materialization was yielded (see
    :func:`materialize_with_checks`): each year's evaluation then targets that materialization.
    """
    outcomes_by_year = {y: list(o) for y, o in outcomes_by_year.items()}
    if _single_partition_step(context, outcomes_by_year):
        (year, outcomes), = outcomes_by_year.items()
        return [
            AssetCheckResult(check_name=o.name, asset_key=AssetKey(asset), passed=o.passed,
                             severity=_severity(o), metadata=_metadata(o, year), description=o.description)
            for o in outcomes
        ]
    combined: dict[str, list[tuple[str, CheckOutcome]]] = {}
    targets = {year: _target_materialization(context, asset, year) for year in outcomes_by_year}
    for year, outcomes in outcomes_by_year.items():
        for o in outcomes:
            combined.setdefault(o.name, []).append((year, o))
            context.log_event(
                AssetCheckEvaluation(
                    asset_key=AssetKey(asset), check_name=o.name, passed=o.passed,
                    metadata=_metadata(o, year), severity=_severity(o), description=o.description,
                    partition=year, target_materialization_data=targets.get(year),
                )
            )
    results = []
    for name, items in combined.items():
        failed = [y for y, o in items if not o.passed]
        hard_fail = [y for y, o in items if not o.passed and not o.warn_only]
        results.append(
            AssetCheckResult(
                check_name=name, asset_key=AssetKey(asset), passed=not failed,
                severity=AssetCheckSeverity.ERROR if hard_fail else AssetCheckSeverity.WARN,
                description=f"{len(items) - len(failed)} of {len(items)} years passed"
                + (f"; failed: {', '.join(failed)}" if failed else ""),
                metadata={"failed_years": MetadataValue.json(failed),
                          "per_year": MetadataValue.json({y: o.description for y, o in items})},
            )
        )
    return results


def per_year_table(per_year: Mapping[str, Mapping[str, Any]]) -> MetadataValue:
    """A markdown table of per-year figures (numbers only) for materialization metadata."""
    years = sorted(per_year)
    keys = sorted({k for y in years for k, v in per_year[y].items() if isinstance(v, (int, float))})
    lines = ["| year | " + " | ".join(keys) + " |", "|" + "---|" * (len(keys) + 1)]
    for y in years:
        lines.append(f"| {y} | " + " | ".join(str(per_year[y].get(k, "")) for k in keys) + " |")
    return MetadataValue.md("\n".join(lines))


def selected_years(context: Any) -> list[int]:
    """The years this step builds: every partition key in a range run (never partition_key)."""
    return sorted(int(k) for k in context.partition_keys)


def failed_blocking_checks(instance: Any, asset: str, check_names: Sequence[str], year: str) -> list[str]:
    """The checks of ``asset`` that cannot vouch for ``year``: those whose latest evaluation for
    it failed with ERROR severity, or never finished (``"<check> (not evaluated)"``).

    Dagster's blocking checks stop downstream steps in the same run only. A backfill runs the
    Spark assets for a range of years in one run and the Milvus load of each year in its own run
    afterwards, and counts a year as built even when its check failed; the Milvus load asks this
    before writing a year, so a year whose embeddings failed their check is never loaded.

    A latest evaluation that is still only planned belongs to a run that stopped (or is still
    running) before its checks: its job may already have replaced the year's files, which then
    nobody checked, so that blocks too, until a run of ``asset`` for the year completes. A year
    with no evaluation at all (never built through Dagster) is not blocked.
    """
    from dagster import AssetCheckKey
    from dagster._core.event_api import PartitionKeyFilter
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

    failed = []
    for name in check_names:
        records = instance.event_log_storage.get_asset_check_execution_history(
            AssetCheckKey(AssetKey(asset), name), limit=1, partition_filter=PartitionKeyFilter(key=year)
        )
        if not records or records[0].status == AssetCheckExecutionRecordStatus.SUCCEEDED:
            continue
        if records[0].status == AssetCheckExecutionRecordStatus.PLANNED:
            failed.append(f"{name} (not evaluated: its last run stopped before the check)")
            continue
        event = records[0].event
        data = event.dagster_event.event_specific_data if event is not None and event.dagster_event else None
        if getattr(data, "severity", AssetCheckSeverity.ERROR) == AssetCheckSeverity.ERROR:
            failed.append(name)
    return failed
