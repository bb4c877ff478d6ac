"""Where remote jobs read and write: the staged dumps and cover cache are configurable URIs, and
EMR Serverless is refused paths on this host before any job run is started."""
from __future__ import annotations

import dagster
import pytest
from dagster import build_asset_context

from book_assets.resources.emr_serverless import EmrServerlessConfig
from book_assets.resources.factory import build_resources
from book_assets.resources.pipeline import PipelineConfig
from book_assets.resources.spark import SparkLauncher, host_local_locations


def test_local_locations_are_found_by_flag():
    args = ["--editions", "data/staged/editions", "--works", "s3://b/staged/works", "--warehouse",
            "file:///tmp/wh", "--years", "2019,2020", "--cover-cache", "s3://b/covers", "--model", "/models/clip"]
    assert host_local_locations(args) == [("--editions", "data/staged/editions"), ("--warehouse", "file:///tmp/wh")]


def test_emr_serverless_refuses_host_paths_before_starting_a_run(monkeypatch):
    started = []
    monkeypatch.setattr("book_assets.resources.emr_serverless.run_emr_serverless_job",
                        lambda *a, **k: started.append(a))
    launcher = SparkLauncher(mode="emr-serverless", emr=EmrServerlessConfig(application_id="00f", s3_prefix="s3://b/p"))
    with pytest.raises(ValueError, match=r"--editions data/staged/editions.*BOOK_ASSETS_STAGED"):
        launcher.run_job(build_asset_context(), "fiction",
                         ["--editions", "data/staged/editions", "--warehouse", "s3://b/p/warehouse"])
    assert started == []
    launcher.run_job(build_asset_context(), "fiction", ["--editions", "s3://b/p/staged/editions",
                                                        "--warehouse", "s3://b/p/warehouse"])
    assert len(started) == 1


def test_pipeline_locations_default_to_home_and_follow_their_settings(tmp_path):
    home = PipelineConfig(home=str(tmp_path))
    assert home.staged("works") == str(tmp_path / "staged" / "works")
    assert home.covers_cache() == f"{tmp_path}/covers"
    remote = PipelineConfig(home=str(tmp_path), staged_uri="s3://b/p/staged/", covers_cache_uri="s3://b/p/covers")
    assert remote.local_staged("works") == tmp_path / "staged" / "works"  # staging itself stays on this host
    assert remote.staged("works") == "s3://b/p/staged/works"
    assert remote.covers_cache() == "s3://b/p/covers"


def _pipeline_from_env() -> PipelineConfig:
    """The pipeline resource as a run gets it: Dagster resolves its EnvVar fields."""
    with dagster.build_resources({"pipeline": build_resources()["pipeline"]}) as resources:
        return resources.pipeline


def test_locations_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BOOK_ASSETS_HOME", str(tmp_path))
    monkeypatch.setenv("BOOK_ASSETS_STAGED", "s3://b/p/staged")
    monkeypatch.setenv("BOOK_ASSETS_COVERS_CACHE", "s3://b/p/covers")
    pipeline = _pipeline_from_env()
    assert pipeline.staged("editions") == "s3://b/p/staged/editions"
    assert pipeline.covers_cache() == "s3://b/p/covers"


def test_an_empty_authors_dump_setting_means_no_authors_dump(monkeypatch):
    monkeypatch.setenv("BOOK_ASSETS_AUTHORS_DUMP", "")
    assert _pipeline_from_env().authors_dump == ""
    monkeypatch.delenv("BOOK_ASSETS_AUTHORS_DUMP")
    assert _pipeline_from_env().authors_dump.endswith("ol_dump_authors_latest.txt.gz")
    monkeypatch.setenv("BOOK_ASSETS_AUTHORS_DUMP", "/dumps/authors.txt.gz")
    assert _pipeline_from_env().authors_dump == "/dumps/authors.txt.gz"


def test_a_rate_setting_that_is_not_a_number_names_the_variable(monkeypatch):
    monkeypatch.setenv("BOOK_ASSETS_MAX_MALFORMED_RATE", "0.05")
    assert build_resources()["pipeline"].max_malformed_rate == 0.05
    monkeypatch.setenv("BOOK_ASSETS_MAX_MALFORMED_RATE", "1%")
    with pytest.raises(ValueError, match=r"BOOK_ASSETS_MAX_MALFORMED_RATE='1%' is not a number"):
        build_resources()
