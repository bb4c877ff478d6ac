"""With no authors dump configured, an authors folder staged for an earlier configuration must
not count in ``recent_fiction``'s line accounting (it made the blocking malformed-rate check
fail with an invented 100% authors rate)."""
from __future__ import annotations

import json

from dagster import materialize

from book_assets.assets.ingest import recent_fiction
from book_assets.resources.pipeline import PipelineConfig
from book_assets.resources.spark import SparkJobResult, SparkLauncher

FIGURES = dict(rows=10, null_edition_key=0, null_work_key=0, null_title=0, pages_not_over_100=0, not_english=0,
               with_cover=5, year_mismatch=0, duplicate_edition_keys=0)
REPORT = {"job": "recent_fiction", "years": [2019], "lines_read": {"editions": 1000, "works": 500, "authors": 0},
          "malformed": {"editions": {}, "works": {}, "authors": {}}, "rejections": {"not_english": 990},
          "per_year": {"2019": FIGURES}}


class ReportingLauncher(SparkLauncher):
    def run_job(self, context, job, args, extras=None):
        assert "--authors" not in args
        return SparkJobResult(reports=[REPORT])


def test_a_stale_authors_staging_is_not_counted(tmp_path):
    stale = tmp_path / "staged" / "authors"
    stale.mkdir(parents=True)
    (stale / "_manifest.json").write_text(json.dumps({"skipped": {"not_utf8": 3}}))
    pipeline = PipelineConfig(home=str(tmp_path), authors_dump="", editions_dump="e", works_dump="w",
                              max_malformed_rate=0.01)
    result = materialize([recent_fiction], partition_key="2019", raise_on_error=False,
                         resources={"pipeline": pipeline, "spark": ReportingLauncher()})
    assert result.success
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["lines_read"].value == {"editions": 1000, "works": 500, "authors": 0}
    assert metadata["malformed_total"].value == 0
    [rate] = [e for e in result.get_asset_check_evaluations() if e.check_name == "malformed_rate_below_threshold"]
    assert rate.passed
