"""``milvus_collection``'s guard across runs: a year is loaded only when the latest evaluation of
every blocking ``cover_embeddings`` check for it passed. The embeddings job is replaced by a
launcher that returns a made-up report (or dies), so the Dagster side runs for real."""
from __future__ import annotations

import pytest
from dagster import DagsterInstance, materialize

from book_assets import quality
from book_assets.assets.embeddings import cover_embeddings
from book_assets.assets.results import failed_blocking_checks
from book_assets.resources.pipeline import ClipConfig, CoversConfig, PipelineConfig
from book_assets.resources.spark import SparkJobResult, SparkLauncher

YEAR = "2019"


def _year_figures(covers: int, failed: int) -> dict:
    return dict(covers=covers, failed=failed, embedded=covers - failed, reused=0, embedded_now=covers - failed,
                sample_urls=[], wrong_dim=0, nan_rows=0, max_norm_error=0.0, dim=4, dims_seen={"4": covers - failed},
                duplicate_embedding_ids=0, duplicate_failure_ids=0, overlap_ids=0, missing_ids=0, unexpected_ids=0)


NEXT_OUTCOME: list = []
"""What the next embeddings job gives (resources are copied by Dagster, so it lives here)."""


class ScriptedLauncher(SparkLauncher):
    """Answers each embeddings job with the scripted outcome: a year's figures, or an error."""

    def run_job(self, context, job, args, extras=None):
        outcome = NEXT_OUTCOME.pop()
        if isinstance(outcome, Exception):
            raise outcome
        return SparkJobResult(reports=[{"per_year": {YEAR: outcome}, "download_failures_by_reason": {},
                                        "download": {}, "model": "m"}])


def _run(instance, home, outcome) -> bool:
    NEXT_OUTCOME[:] = [outcome]
    launcher = ScriptedLauncher()
    result = materialize([cover_embeddings], partition_key=YEAR, instance=instance, raise_on_error=False,
                         resources={"pipeline": PipelineConfig(home=str(home)), "covers": CoversConfig(),
                                    "clip": ClipConfig(), "spark": launcher})
    return result.success


def _blocked(instance) -> list[str]:
    return failed_blocking_checks(instance, "cover_embeddings", quality.EMBEDDING_CHECKS, YEAR)


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as inst:
        yield inst


def test_a_year_never_built_is_not_blocked(instance):
    assert _blocked(instance) == []


def test_a_failed_check_blocks_until_a_rebuild_passes(instance, tmp_path):
    assert _run(instance, tmp_path, _year_figures(10, 1))
    assert _blocked(instance) == []
    assert not _run(instance, tmp_path, _year_figures(10, 9))  # 90% of covers failed
    assert _blocked(instance) == ["failure_rate_below_threshold"]
    assert _run(instance, tmp_path, _year_figures(10, 0))
    assert _blocked(instance) == []


def test_a_rebuild_that_dies_before_its_checks_blocks_too(instance, tmp_path):
    """The job may have replaced the files before it died: nothing vouches for them, whether
    the evaluation before it passed or failed."""
    assert not _run(instance, tmp_path, _year_figures(10, 9))
    assert not _run(instance, tmp_path, RuntimeError("spark job died"))
    blocked = _blocked(instance)
    assert blocked and all(name.endswith("(not evaluated: its last run stopped before the check)") for name in blocked)
    assert {name.split(" ")[0] for name in blocked} == set(quality.EMBEDDING_CHECKS)

    assert _run(instance, tmp_path, _year_figures(10, 0))
    assert not _run(instance, tmp_path, RuntimeError("spark job died"))
    assert _blocked(instance)
    assert _run(instance, tmp_path, _year_figures(10, 0))
    assert _blocked(instance) == []
