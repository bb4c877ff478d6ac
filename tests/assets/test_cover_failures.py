"""cover_embeddings through the Spark job against a misbehaving cover server: every cover ends as
an embedding or a failure row with the right reason, and the run succeeds."""
from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from dagster import materialize

from book_assets.assets.embeddings import cover_embeddings
from book_assets.assets.ingest import cover_urls, openlibrary_dump, recent_fiction
from book_assets.warehouse import COVER_EMBEDDINGS, COVER_FAILURES, year_uri
from tests.conftest import make_resources
from tests.support.cover_server import Behaviour

pytestmark = pytest.mark.slow
YEAR = 2020


def test_each_server_fault_ends_in_the_right_row(tmp_path, corpus, cover_server, tiny_clip_dir):
    corpus_dir, manifest = corpus
    ids = sorted(manifest.expected_cover_ids[YEAR])
    plan = {  # cover id → (behaviour, expected failure reason or None for an embedding)
        ids[0]: (Behaviour.not_found(), "http_404"),
        ids[1]: (Behaviour.rate_limited(times=1, retry_after="1"), None),
        ids[2]: (Behaviour.server_error(times=1), None),
        ids[3]: (Behaviour.slow(delay_s=5.0), "timeout"),
        ids[4]: (Behaviour.truncated(), "truncated"),
        ids[5]: (Behaviour.html(), "not_an_image"),
        ids[6]: (Behaviour.placeholder(), "placeholder"),
        ids[7]: (Behaviour.bomb(), "decompression_bomb"),
    }
    for cover_id, (behaviour, _) in plan.items():
        cover_server.set_behaviour(cover_id, behaviour)
    try:
        resources = make_resources(tmp_path, corpus_dir, cover_server.url_template, tiny_clip_dir,
                                   timeout_s=1.5, max_failure_rate=0.5)
        assert materialize([openlibrary_dump], resources=resources).success
        result = materialize([openlibrary_dump, recent_fiction, cover_urls, cover_embeddings],
                             selection=[recent_fiction, cover_urls, cover_embeddings],
                             partition_key=str(YEAR), resources=resources)
        assert result.success
    finally:
        for cover_id in plan:
            cover_server.clear_behaviour(cover_id)
    warehouse = str(tmp_path / "warehouse")
    embedded = {r["cover_id"] for r in pq.read_table(year_uri(warehouse, COVER_EMBEDDINGS, YEAR)).to_pylist()}
    failures = {r["cover_id"]: r["reason"] for r in pq.read_table(year_uri(warehouse, COVER_FAILURES, YEAR)).to_pylist()}
    for cover_id, (_, reason) in plan.items():
        if reason is None:
            assert cover_id in embedded, f"cover {cover_id} should have been embedded after retries"
        else:
            assert failures.get(cover_id) == reason, (cover_id, failures.get(cover_id), reason)
    assert embedded | set(failures) == set(ids)
    assert not embedded & set(failures)
    mats = {m.asset_key.to_user_string(): m.materialization.metadata for m in result.get_asset_materialization_events()}
    assert mats["cover_embeddings"]["failed"].value == len(failures)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations() if e.asset_key.to_user_string() == "cover_embeddings"}
    assert checks["all_covers_accounted"].passed and checks["failure_rate_below_threshold"].passed
