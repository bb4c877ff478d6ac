"""The whole graph for two years with the tiny CLIP and the loopback cover server, then search
through the Python API, the CLI and the web JSON endpoint; rebuilding a year fetches and embeds
nothing new."""
from __future__ import annotations

import json
import urllib.request

import numpy as np
import pyarrow.parquet as pq
import pytest
from dagster import materialize

from book_assets.assets.embeddings import cover_embeddings
from book_assets.assets.ingest import cover_urls, openlibrary_dump, recent_fiction
from book_assets.assets.search_index import milvus_collection
from book_assets.milvus.store import CoverStore
from book_assets.search.api import SearchService, clip_text_encoder
from book_assets.warehouse import COVER_EMBEDDINGS, COVER_FAILURES, year_uri
from tests.conftest import CORPUS_YEARS, make_resources

pytestmark = pytest.mark.slow
ALL = [openlibrary_dump, recent_fiction, cover_urls, cover_embeddings, milvus_collection]
PARTITIONED = [recent_fiction, cover_urls, cover_embeddings, milvus_collection]


@pytest.fixture(scope="module")
def graph(tmp_path_factory, corpus, cover_server, tiny_clip_dir):
    corpus_dir, manifest = corpus
    home = tmp_path_factory.mktemp("graph_home")
    resources = make_resources(home, corpus_dir, cover_server.url_template, tiny_clip_dir)
    assert materialize([openlibrary_dump], resources=resources).success
    results = {}
    for year in CORPUS_YEARS:
        results[year] = materialize(ALL, selection=PARTITIONED, partition_key=str(year), resources=resources)
        assert results[year].success
    return home, resources, manifest, results


def _service(home, tiny_clip_dir) -> SearchService:
    return SearchService(CoverStore(str(home / "milvus.db")), clip_text_encoder(str(tiny_clip_dir)))


def test_every_cover_embedded_or_failed_and_checks_pass(graph):
    home, _, manifest, results = graph
    for year in CORPUS_YEARS:
        emb = pq.read_table(year_uri(str(home / "warehouse"), COVER_EMBEDDINGS, year)).to_pylist()
        fail = pq.read_table(year_uri(str(home / "warehouse"), COVER_FAILURES, year)).to_pylist()
        expected = set(manifest.expected_cover_ids[year])
        assert {r["cover_id"] for r in emb} | {r["cover_id"] for r in fail} == expected
        assert len(emb) >= len(expected) - 1
        for r in emb:
            v = np.asarray(r["embedding"], dtype=np.float32)
            assert abs(np.linalg.norm(v) - 1) < 1e-4
            assert r["edition_key"] == manifest.expected_cover_ids[year][r["cover_id"]]
        evaluations = results[year].get_asset_check_evaluations()
        names = {(e.asset_key.to_user_string(), e.check_name) for e in evaluations}
        assert ("cover_embeddings", "all_covers_accounted") in names
        assert ("milvus_collection", "entity_count_matches") in names
        assert all(e.passed for e in evaluations), [(e.check_name, e.metadata) for e in evaluations if not e.passed]


def test_search_api_returns_stored_cover_first_and_filters_years(graph, tiny_clip_dir):
    home, _, _, _ = graph
    service = _service(home, tiny_clip_dir)
    try:
        emb = pq.read_table(year_uri(str(home / "warehouse"), COVER_EMBEDDINGS, 2019)).to_pylist()
        probe = emb[0]
        hits = service.store.search(np.asarray(probe["embedding"], dtype=np.float32), years=[2019], top_k=3)
        assert hits[0]["cover_id"] == probe["cover_id"]
        results = service.search("a lonely robot on a red planet", years=(2020, 2020), top_k=10)
        assert results and all(r.year == 2020 for r in results)
        both = service.search("a detective in the rain", top_k=50)
        assert {r.year for r in both} == set(CORPUS_YEARS)
        like = service.more_like_this(probe["edition_key"], top_k=5)
        assert like and probe["edition_key"] not in {r.edition_key for r in like}
    finally:
        service.close()


def test_cli_and_web_json(graph, tiny_clip_dir, capsys):
    from book_assets.search import cli
    from book_assets.search.web import BackgroundServer

    home, _, _, _ = graph
    service = _service(home, tiny_clip_dir)
    try:
        assert cli.main(["a lonely robot", "--years", "2019-2019", "--top-k", "5", "--json"],
                        service_factory=lambda: service) == 0
        out = json.loads(capsys.readouterr().out)
        assert 0 < len(out) <= 5 and all(r["year"] == 2019 for r in out)
        assert set(out[0]) >= {"score", "title", "authors", "year", "edition_key", "cover_url"}
        with BackgroundServer(service) as server:
            with urllib.request.urlopen(f"{server.url}/api/search?q=robot&years=2020-2020&top_k=4") as resp:
                body = json.loads(resp.read())
        results = body["results"] if isinstance(body, dict) else body
        assert results and all(r["year"] == 2020 for r in results)
    finally:
        service.close()


def test_rebuilding_a_year_fetches_and_embeds_nothing_new(graph, cover_server):
    home, resources, _, _ = graph
    before = cover_server.request_count
    store = CoverStore(str(home / "milvus.db"))
    counts_before = {y: store.count_year(y) for y in CORPUS_YEARS}
    store.close()
    result = materialize(ALL, selection=PARTITIONED, partition_key="2019", resources=resources)
    assert result.success
    assert cover_server.request_count == before
    mats = {m.asset_key.to_user_string(): m.materialization.metadata for m in result.get_asset_materialization_events()}
    assert mats["cover_embeddings"]["embedded_now"].value == 0
    assert mats["cover_embeddings"]["reused_embeddings"].value == mats["cover_embeddings"]["dagster/row_count"].value
    store = CoverStore(str(home / "milvus.db"))
    try:
        assert {y: store.count_year(y) for y in CORPUS_YEARS} == counts_before
    finally:
        store.close()
