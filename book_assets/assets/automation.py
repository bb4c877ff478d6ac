"""Keeping the raw dump fresh: a job, a monthly schedule and a change sensor.

OpenLibrary publishes a new dump about once a month. Two ways keep ``openlibrary_dump`` fresh:

* ``openlibrary_dump_sensor`` (stopped until switched on in the UI) looks at the configured dump
  sources every ``BOOK_ASSETS_DUMP_SENSOR_INTERVAL`` seconds (default one hour): a URL is HEADed
  (ETag / Last-Modified / size), a local file is stat-ed. When that version, or the configured
  source itself, differs from what the last ``openlibrary_dump`` materialization recorded, it
  requests one run of ``refresh_openlibrary_dump``.
* ``monthly_openlibrary_dump_schedule`` (stopped until switched on) runs the same job on the 2nd
  of every month; fetching and staging are idempotent, so an unchanged dump costs a HEAD request.

Only the raw asset is refreshed. Years are rebuilt by an explicit backfill from the UI (pick
the years), or — opt-in — by setting ``BOOK_ASSETS_AUTO_REBUILD=1`` for the code location, which
gives the year assets :func:`downstream_automation_condition`: every configured year is
rebuilt once after the dump changes (one Spark run for all years, one Milvus run per year).
"Changes" means the dump's data version (:func:`dump_data_version`: sources, remote versions,
sample and part sizes), so a refresh that found the same dump rebuilds nothing. Nothing
downstream is launched by surprise.
"""
from __future__ import annotations

import hashlib
import json
import os

from dagster import (
    AssetKey,
    AssetSelection,
    AutomationCondition,
    DagsterRunStatus,
    DataVersion,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    sensor,
)

from book_assets.resources.pipeline import PipelineConfig

DUMP_ASSET = AssetKey("openlibrary_dump")
DUMP_KINDS = ("editions", "works", "authors")

refresh_openlibrary_dump = define_asset_job(
    "refresh_openlibrary_dump",
    selection=AssetSelection.assets(DUMP_ASSET),
    description="Fetch (if changed) and stage the OpenLibrary dumps. Years are not rebuilt.",
    tags={"book_assets/trigger": "dump"},
)

monthly_openlibrary_dump_schedule = ScheduleDefinition(
    name="monthly_openlibrary_dump_schedule",
    job=refresh_openlibrary_dump,
    cron_schedule="0 6 2 * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
    description="Refresh the raw dump on the 2nd of each month (unchanged dumps are reused).",
)


def auto_rebuild_enabled() -> bool:
    return os.environ.get("BOOK_ASSETS_AUTO_REBUILD", "").strip().lower() in ("1", "true", "yes")


def downstream_automation_condition(after_dump: bool = False, enabled: bool | None = None) -> AutomationCondition | None:
    """The year assets' automation condition: none unless ``BOOK_ASSETS_AUTO_REBUILD=1``.

    When enabled: a year is requested once when an upstream changed since it was last built,
    and never while upstream is still running or missing, or the year is in progress
    (``AutomationCondition.eager()``'s guards). ``after_dump`` is for the asset that reads the
    dump: there "changed" means the dump's data version changed, not merely that it was
    materialized again (the monthly refresh of an unchanged dump rebuilds nothing).
    """
    if not (auto_rebuild_enabled() if enabled is None else enabled):
        return None
    if not after_dump:
        return AutomationCondition.eager()
    dump_changed = AutomationCondition.any_deps_match(
        AutomationCondition.data_version_changed() | AutomationCondition.will_be_requested()
    ).with_label("dump_data_version_changed")
    return (
        (AutomationCondition.newly_missing() | dump_changed).since_last_handled()
        & ~AutomationCondition.any_deps_missing()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label("eager_on_dump_change")


def dump_data_version(identity: dict[str, dict]) -> DataVersion:
    """The data version of ``openlibrary_dump`` from what decides the staged parts' content:
    ``{kind: {"source", "version", "sample_lines", "part_lines"}}``."""
    return DataVersion(_digest(identity))


def _digest(value: dict) -> str:
    """A short stable hash of a JSON-able dict (key order does not matter)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def dump_sources(pipeline) -> dict[str, str]:
    """``{kind: source}`` of the dumps the pipeline reads (no authors entry when that is blank)."""
    sources = {"editions": pipeline.editions_dump, "works": pipeline.works_dump}
    if pipeline.authors_dump:
        sources["authors"] = pipeline.authors_dump
    return sources


def recorded_versions(metadata) -> dict[str, dict[str, str]]:
    """``{kind: {"source", "version"}}`` as the last ``openlibrary_dump`` materialization wrote it."""
    out: dict[str, dict[str, str]] = {}
    for kind in DUMP_KINDS:
        source, version = metadata.get(f"{kind}_source"), metadata.get(f"{kind}_version")
        if source is not None:
            out[kind] = {"source": source.value, "version": version.value if version is not None else ""}
    return out


def dump_changes(current: dict[str, dict[str, str]], recorded: dict[str, dict[str, str]]) -> list[str]:
    """Human-readable reasons why the dump must be refreshed (empty: it is up to date)."""
    if not recorded:
        return ["the dump was never materialized"]
    reasons = []
    for kind, now in current.items():
        before = recorded.get(kind)
        if before is None:
            reasons.append(f"{kind}: newly configured ({now['source']})")
        elif before["source"] != now["source"]:
            reasons.append(f"{kind}: source changed to {now['source']}")
        elif before["version"] != now["version"]:
            reasons.append(f"{kind}: remote version changed ({now['version']})")
    return reasons


FINGERPRINT_TAG = "book_assets/dump_fingerprint"
UNFINISHED = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
              DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]


def _sensor_interval() -> int:
    raw = os.environ.get("BOOK_ASSETS_DUMP_SENSOR_INTERVAL", "").strip()
    try:
        return int(raw) if raw else 3600
    except ValueError:
        raise ValueError(f"BOOK_ASSETS_DUMP_SENSOR_INTERVAL must be whole seconds, got {raw!r}") from None


@sensor(
    name="openlibrary_dump_sensor",
    job=refresh_openlibrary_dump,
    minimum_interval_seconds=_sensor_interval(),
    default_status=DefaultSensorStatus.STOPPED,
    description="Refresh openlibrary_dump when a new dump is configured or the remote dump changes.",
)
def openlibrary_dump_sensor(context: SensorEvaluationContext, pipeline: PipelineConfig):
    from book_assets.dump.fetch import source_version

    current = {}
    for kind, source in dump_sources(pipeline).items():
        try:
            current[kind] = {"source": source, "version": source_version(source)}
        except Exception as exc:  # an unreachable server is a skipped tick, not a failure
            return SkipReason(f"{kind}: cannot check {source}: {exc}")
    event = context.instance.get_latest_materialization_event(DUMP_ASSET)
    recorded = recorded_versions(event.asset_materialization.metadata) if event and event.asset_materialization else {}
    reasons = dump_changes(current, recorded)
    if not reasons:
        return SkipReason("the configured dumps match the last materialization")
    fingerprint = _digest(current)
    if context.instance.get_runs_count(RunsFilter(job_name=refresh_openlibrary_dump.name, statuses=UNFINISHED)):
        return SkipReason("a refresh_openlibrary_dump run is still queued or running")
    # run_key: one run per dump version, however many ticks see it. A run that failed or was
    # canceled has used its key (Dagster never launches a key twice), so each one counts into it:
    # the next tick tries again instead of waiting for the next dump.
    tries = context.instance.get_runs_count(RunsFilter(
        job_name=refresh_openlibrary_dump.name, tags={FINGERPRINT_TAG: fingerprint},
        statuses=[DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]))
    context.log.info("; ".join(reasons) + (f" (after {tries} failed refresh runs)" if tries else ""))
    return RunRequest(run_key=f"dump-{fingerprint}" + (f"-retry{tries}" if tries else ""),
                      tags={"book_assets/dump_change": "; ".join(reasons)[:200], FINGERPRINT_TAG: fingerprint})

