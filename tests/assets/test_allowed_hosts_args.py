"""``BOOK_ASSETS_COVERS_ALLOWED_HOSTS`` reaches the embeddings job as set: the default
(``.archive.org``), a list, and set-but-empty (the cover host only), which must not turn back
into the job's own default on the way."""
from __future__ import annotations

import pytest
from dagster import materialize

from book_assets.assets.embeddings import cover_embeddings
from book_assets.emr.embeddings_job import build_parser
from book_assets.resources.pipeline import ClipConfig, CoversConfig, PipelineConfig
from book_assets.resources.spark import SparkLauncher
from book_assets.settings import DEFAULT_COVERS_ALLOWED_HOSTS

SEEN: list = []
"""The job arguments each launch got (resources are copied by Dagster, so they live here)."""


class _Stop(Exception):
    pass


class RecordingLauncher(SparkLauncher):
    def run_job(self, context, job, args, extras=None):
        SEEN.append((job, list(args)))
        raise _Stop("recorded")


def _job_args(tmp_path, covers: CoversConfig) -> list[str]:
    SEEN.clear()
    materialize([cover_embeddings], partition_key="2019", raise_on_error=False,
                resources={"pipeline": PipelineConfig(home=str(tmp_path)), "covers": covers,
                           "clip": ClipConfig(), "spark": RecordingLauncher()})
    [(job, args)] = SEEN
    assert job == "embeddings"
    return args


@pytest.mark.parametrize("configured, expected", [
    (None, DEFAULT_COVERS_ALLOWED_HOSTS),
    (".archive.org,img.example", ".archive.org,img.example"),
    ("", ""),
])
def test_the_job_gets_the_configured_hosts(tmp_path, configured, expected):
    covers = CoversConfig() if configured is None else CoversConfig(allowed_hosts=configured)
    args = _job_args(tmp_path, covers)
    assert build_parser().parse_args(args).allowed_hosts == expected


def test_the_job_alone_defaults_like_the_pipeline():
    args = build_parser().parse_args(["--warehouse", "w", "--cover-cache", "c", "--years", "2019", "--model", "m"])
    assert args.allowed_hosts == DEFAULT_COVERS_ALLOWED_HOSTS == CoversConfig().allowed_hosts == ".archive.org"
