"""How a range run's per-year check outcomes combine into the run's own check results.

A range run (a backfill's single Spark job over several years) has no partition key: each year's
evaluation is logged as its own event, and the step returns one combined result per check. A year
that failed must fail the combined result (with ERROR severity for a blocking check), or the
backfill would report success while a year failed; a warn-only check failing must WARN and block
nothing, neither the run nor the Milvus load of that year (``failed_blocking_checks``).
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from dagster import (
    AssetCheckEvaluation, AssetCheckResult, AssetCheckSeverity, BackfillPolicy, DagsterInstance, MaterializeResult,
    asset, materialize,
)

from book_assets.assets.results import check_results, check_specs, failed_blocking_checks, materialize_with_checks
from book_assets.partitions import year_partitions
from book_assets.quality import CheckOutcome

YEARS = ["2019", "2020", "2021"]
BLOCKING, WARN_ONLY = "no_null_keys", "has_rows"


def _outcomes(bad_blocking: set[str] = frozenset(), bad_warn: set[str] = frozenset()) -> dict[str, list[CheckOutcome]]:
    return {
        y: [CheckOutcome(BLOCKING, y not in bad_blocking, f"{BLOCKING} in {y}"),
            CheckOutcome(WARN_ONLY, y not in bad_warn, f"{WARN_ONLY} in {y}", warn_only=True)]
        for y in YEARS
    }


def _range_context():
    """What a range step's context offers: no partition key, the years, and an event log."""
    events: list = []
    return SimpleNamespace(has_partition_key=False, partition_keys=list(YEARS), log_event=events.append), events


def _by_name(results) -> dict[str, AssetCheckResult]:
    assert all(isinstance(r, AssetCheckResult) for r in results)
    return {r.check_name: r for r in results}


def test_every_year_passing_passes_the_combined_results():
    context, events = _range_context()
    results = _by_name(check_results(context, "recent_fiction", _outcomes()))
    assert set(results) == {BLOCKING, WARN_ONLY}
    for r in results.values():
        assert r.passed and r.metadata["failed_years"].value == []
        assert r.description == "3 of 3 years passed"
    assert len(events) == 2 * len(YEARS) and all(e.passed for e in events)


def test_one_failing_year_fails_the_blocking_check_with_error():
    context, events = _range_context()
    results = _by_name(check_results(context, "recent_fiction", _outcomes(bad_blocking={"2020"})))
    blocking = results[BLOCKING]
    assert blocking.passed is False
    assert blocking.severity == AssetCheckSeverity.ERROR
    assert blocking.metadata["failed_years"].value == ["2020"]
    assert "2 of 3 years passed" in blocking.description and "2020" in blocking.description
    assert blocking.metadata["per_year"].value == {y: f"{BLOCKING} in {y}" for y in YEARS}
    assert results[WARN_ONLY].passed  # the other check is not dragged down
    # each year's own evaluation is logged against its year, with its own verdict
    logged = {(e.check_name, e.partition): e for e in events}
    assert all(isinstance(e, AssetCheckEvaluation) for e in events)
    assert set(logged) == {(n, y) for n in (BLOCKING, WARN_ONLY) for y in YEARS}
    assert [y for y in YEARS if not logged[(BLOCKING, y)].passed] == ["2020"]
    assert logged[(BLOCKING, "2020")].severity == AssetCheckSeverity.ERROR


def test_every_failing_year_is_named():
    context, _ = _range_context()
    blocking = _by_name(check_results(context, "recent_fiction", _outcomes(bad_blocking={"2019", "2021"})))[BLOCKING]
    assert blocking.passed is False and blocking.severity == AssetCheckSeverity.ERROR
    assert blocking.metadata["failed_years"].value == ["2019", "2021"]
    assert "1 of 3 years passed" in blocking.description


def test_a_failing_warn_only_check_warns():
    context, events = _range_context()
    results = _by_name(check_results(context, "recent_fiction", _outcomes(bad_warn={"2021"})))
    warn = results[WARN_ONLY]
    assert warn.passed is False and warn.severity == AssetCheckSeverity.WARN
    assert warn.metadata["failed_years"].value == ["2021"]
    assert results[BLOCKING].passed
    assert {e.severity for e in events if e.check_name == WARN_ONLY} == {AssetCheckSeverity.WARN}


def test_a_one_year_range_without_partition_key_takes_the_range_path():
    """A backfill's one-year run of a multi-run asset has no partition key either."""
    events: list = []
    context = SimpleNamespace(has_partition_key=False, partition_keys=["2020"], log_event=events.append)
    outcomes = {"2020": _outcomes(bad_blocking={"2020"})["2020"]}
    results = _by_name(check_results(context, "recent_fiction", outcomes))
    assert results[BLOCKING].passed is False and results[BLOCKING].metadata["failed_years"].value == ["2020"]
    assert {(e.check_name, e.partition) for e in events} == {(BLOCKING, "2020"), (WARN_ONLY, "2020")}


def test_materialize_with_checks_yields_the_materialization_then_the_failing_combined_result():
    context, events = _range_context()
    out = list(materialize_with_checks(context, "recent_fiction", {}, _outcomes(bad_blocking={"2020"})))
    assert isinstance(out[0], MaterializeResult) and not out[0].check_results
    results = _by_name(out[1:])
    assert results[BLOCKING].passed is False and results[BLOCKING].severity == AssetCheckSeverity.ERROR
    assert results[BLOCKING].metadata["failed_years"].value == ["2020"]
    assert len(events) == 2 * len(YEARS)


# --- through Dagster: a range run, then the Milvus guard's view of each year ------------------------
PLANTED: dict = {}
"""The outcomes the test asset reports on its next run."""


@asset(partitions_def=year_partitions, backfill_policy=BackfillPolicy.single_run(),
       check_specs=check_specs("ranged", [BLOCKING, WARN_ONLY]))  # both blocking specs, as the assets declare them
def ranged(context):
    yield from materialize_with_checks(context, "ranged", {}, {y: PLANTED[y] for y in context.partition_keys})


def _range_run(instance, outcomes) -> bool:
    PLANTED.clear()
    PLANTED.update(outcomes)
    tags = {"dagster/asset_partition_range_start": YEARS[0], "dagster/asset_partition_range_end": YEARS[-1]}
    return materialize([ranged], instance=instance, tags=tags, raise_on_error=False).success


def _blocked(instance, year: str) -> list[str]:
    return failed_blocking_checks(instance, "ranged", [BLOCKING, WARN_ONLY], year)


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as inst:
        yield inst


def test_a_range_run_with_a_failing_year_fails_and_blocks_that_year_only(instance):
    assert YEARS[0] in year_partitions.get_partition_keys() and YEARS[-1] in year_partitions.get_partition_keys()
    assert _range_run(instance, _outcomes()) and all(_blocked(instance, y) == [] for y in YEARS)
    assert not _range_run(instance, _outcomes(bad_blocking={"2020"}))  # the run must not report success
    assert {y: _blocked(instance, y) for y in YEARS} == {"2019": [], "2020": [BLOCKING], "2021": []}


def test_a_failing_warn_only_check_neither_fails_the_run_nor_blocks_the_year(instance):
    assert _range_run(instance, _outcomes(bad_warn={"2021"}))
    assert {y: _blocked(instance, y) for y in YEARS} == {y: [] for y in YEARS}
    # ... while an ERROR on the same year still blocks it, and a passing rerun unblocks it
    assert not _range_run(instance, _outcomes(bad_blocking={"2021"}, bad_warn={"2021"}))
    assert _blocked(instance, "2021") == [BLOCKING]
    assert _range_run(instance, _outcomes())
    assert _blocked(instance, "2021") == []
