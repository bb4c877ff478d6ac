"""Fixtures shared by the whole suite: the shared data folder, a generated dump corpus, a tiny
CLIP saved with ``save_pretrained``, a loopback cover server, and Dagster resources pointing at
all of them."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared").resolve()
COVERS_DIR = SHARED / "data" / "covers"
CORPUS_YEARS = (2019, 2020)
CHROMIUM = "/usr/bin/chromium"
SKIP_BROWSER_TESTS = "BOOK_ASSETS_SKIP_BROWSER_TESTS"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DAGSTER_TELEMETRY_DISABLED", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def require_browser() -> None:
    """Browser tests run in CI: a missing Debian chromium or playwright package fails them, unless
    ``BOOK_ASSETS_SKIP_BROWSER_TESTS=1`` opts out (then they are skipped, with the reason)."""
    import importlib.util

    missing = []
    if not os.path.exists(CHROMIUM):
        missing.append(f"{CHROMIUM} (apt-get install -y chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright python package")
    if not missing:
        return
    reason = "browser tests cannot run, missing: " + "; ".join(missing)
    if os.environ.get(SKIP_BROWSER_TESTS) == "1":
        pytest.skip(f"{reason} ({SKIP_BROWSER_TESTS}=1)")
    pytest.fail(f"{reason} (set {SKIP_BROWSER_TESTS}=1 to skip them instead)")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not COVERS_DIR.is_dir():
        pytest.fail(f"the shared data folder is missing: {COVERS_DIR}")
    return SHARED


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """A small generated dump (editions, works, authors) and the manifest of what it planted."""
    from book_assets.corpus.generator import generate_corpus

    out = tmp_path_factory.mktemp("corpus")
    manifest = generate_corpus(out, n_editions=400, seed=7, years=CORPUS_YEARS)
    return out, manifest


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory) -> Path:
    from tests.support.tiny_clip import build_tiny_clip

    return build_tiny_clip(tmp_path_factory.mktemp("tiny_clip"))


@pytest.fixture(scope="session")
def cover_server(shared_dir):
    from tests.support.cover_server import CoverServer

    with CoverServer(COVERS_DIR) as server:
        yield server


def make_resources(home: Path, corpus_dir: Path, cover_template: str, clip_dir: Path | str, **overrides) -> dict:
    """Dagster resources for a test run: everything local, nothing from the environment."""
    from book_assets.resources.milvus import MilvusResource
    from book_assets.resources.pipeline import ClipConfig, CoversConfig, PipelineConfig
    from book_assets.resources.spark import SparkLauncher

    return {
        "pipeline": PipelineConfig(
            home=str(home),
            editions_dump=str(corpus_dir / "editions.txt.gz"),
            works_dump=str(corpus_dir / "works.txt.gz"),
            authors_dump=str(corpus_dir / "authors.txt.gz"),
            cover_url_template=cover_template,
            part_lines=overrides.pop("part_lines", 150),
            current_year=2026,
            max_malformed_rate=overrides.pop("max_malformed_rate", 0.2),
        ),
        "covers": CoversConfig(rps=overrides.pop("rps", 200.0), timeout_s=overrides.pop("timeout_s", 3.0),
                               retries=2, max_concurrency=8, max_failure_rate=overrides.pop("max_failure_rate", 0.5)),
        "clip": ClipConfig(model=str(clip_dir), batch_size=8, chunk_size=overrides.pop("chunk_size", 2000)),
        "milvus": MilvusResource(uri=str(home / "milvus.db")),
        "spark": SparkLauncher(master="local[2]", driver_memory="1g",
                               spark_conf={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4"}),
        **overrides,
    }
