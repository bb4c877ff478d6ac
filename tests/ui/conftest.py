"""One ``dagster dev`` for the UI tests, started the way the README does it (workspace.yaml, a
fresh DAGSTER_HOME with the project's dagster.yaml) and configured through BOOK_ASSETS_* env
vars: the generated corpus, the loopback cover server, the tiny CLIP, years 2019-2020 only."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import CORPUS_YEARS, REPO
from tests.support.dagster_dev import DagsterDev, make_dagster_home

ARTIFACTS = REPO / "test-artifacts"
YEARS = [str(y) for y in CORPUS_YEARS]
ALL_ASSETS = ["openlibrary_dump", "recent_fiction", "cover_urls", "cover_embeddings", "milvus_collection"]
SPARK_ASSETS = ["recent_fiction", "cover_urls", "cover_embeddings"]


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def dagster_dev(tmp_path_factory, corpus, cover_server, tiny_clip_dir, artifacts_dir):
    corpus_dir, _ = corpus
    root = tmp_path_factory.mktemp("dagster_ui")
    home = make_dagster_home(root / "dagster_home")
    env = {
        "BOOK_ASSETS_HOME": str(root / "data"),
        "BOOK_ASSETS_EDITIONS_DUMP": str(corpus_dir / "editions.txt.gz"),
        "BOOK_ASSETS_WORKS_DUMP": str(corpus_dir / "works.txt.gz"),
        "BOOK_ASSETS_AUTHORS_DUMP": str(corpus_dir / "authors.txt.gz"),
        "BOOK_ASSETS_COVER_URL_TEMPLATE": cover_server.url_template,
        "BOOK_ASSETS_CLIP_MODEL": str(tiny_clip_dir),
        "BOOK_ASSETS_CLIP_BATCH_SIZE": "8",
        "BOOK_ASSETS_YEARS": f"{YEARS[0]}-{YEARS[-1]}",
        "BOOK_ASSETS_COVERS_RPS": "200",
        "BOOK_ASSETS_COVERS_TIMEOUT": "3",
        "BOOK_ASSETS_COVERS_RETRIES": "2",
        "BOOK_ASSETS_CURRENT_YEAR": "2026",
        "BOOK_ASSETS_SPARK_MASTER": "local[2]",
        "BOOK_ASSETS_SPARK_DRIVER_MEMORY": "1g",
        "BOOK_ASSETS_MAX_MALFORMED_RATE": "0.2",
        "BOOK_ASSETS_MAX_COVER_FAILURE_RATE": "0.5",
        "BOOK_ASSETS_PART_LINES": "150",
        "BOOK_ASSETS_AUTO_REBUILD": "",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    server = DagsterDev(home, env, log_path=artifacts_dir / "dagster-dev.log")
    if server.log_path.exists():
        server.log_path.unlink()
    started = time.monotonic()
    with server:
        print(f"dagster dev ready on {server.url} in {time.monotonic() - started:.0f}s")
        yield server


@pytest.fixture(scope="session")
def full_backfill(dagster_dev):
    """The whole graph for both years as one backfill from GraphQL, as the UI launches it."""
    started = time.monotonic()
    backfill_id = dagster_dev.launch_backfill(ALL_ASSETS, YEARS, title="test: two years, whole graph")
    data = dagster_dev.wait_backfill(backfill_id, timeout=600)
    print(f"backfill {backfill_id}: {data['status']} in {time.monotonic() - started:.0f}s, {len(data['runs'])} runs")
    return data
