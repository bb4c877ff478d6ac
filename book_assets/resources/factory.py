"""Builds every resource from the environment: one place that maps env vars to resources."""
from __future__ import annotations

from book_assets import settings as defaults
from book_assets.resources.env import env_value
from book_assets.resources.milvus import MilvusResource
from book_assets.resources.pipeline import ClipConfig, CoversConfig, PipelineConfig
from book_assets.resources.spark import SparkLauncher


def build_resources() -> dict:
    resources = {
        "pipeline": PipelineConfig(
            home=env_value("BOOK_ASSETS_HOME", defaults.DEFAULT_HOME),
            warehouse_uri=env_value("BOOK_ASSETS_WAREHOUSE", ""),
            editions_dump=env_value("BOOK_ASSETS_EDITIONS_DUMP", defaults.DEFAULT_EDITIONS_DUMP),
            works_dump=env_value("BOOK_ASSETS_WORKS_DUMP", defaults.DEFAULT_WORKS_DUMP),
            authors_dump=env_value("BOOK_ASSETS_AUTHORS_DUMP", defaults.DEFAULT_AUTHORS_DUMP),
            cover_url_template=env_value("BOOK_ASSETS_COVER_URL_TEMPLATE", defaults.DEFAULT_COVER_URL_TEMPLATE),
            sample_lines=env_value("BOOK_ASSETS_SAMPLE_LINES", 0),
            part_lines=env_value("BOOK_ASSETS_PART_LINES", 500_000),
            max_malformed_rate=env_value("BOOK_ASSETS_MAX_MALFORMED_RATE", 0.01),
            current_year=env_value("BOOK_ASSETS_CURRENT_YEAR", 0),
        ),
        "covers": CoversConfig(
            rps=env_value("BOOK_ASSETS_COVERS_RPS", defaults.DEFAULT_COVERS_RPS),
            max_concurrency=env_value("BOOK_ASSETS_COVERS_CONCURRENCY", 8),
            timeout_s=env_value("BOOK_ASSETS_COVERS_TIMEOUT", 10.0),
            retries=env_value("BOOK_ASSETS_COVERS_RETRIES", 4),
            allowed_hosts=env_value("BOOK_ASSETS_COVERS_ALLOWED_HOSTS", ""),
            min_bytes=env_value("BOOK_ASSETS_COVERS_MIN_BYTES", 1000),
            max_failure_rate=env_value("BOOK_ASSETS_MAX_COVER_FAILURE_RATE", 0.2),
        ),
        "clip": ClipConfig(
            model=env_value("BOOK_ASSETS_CLIP_MODEL", defaults.DEFAULT_CLIP_MODEL),
            batch_size=env_value("BOOK_ASSETS_CLIP_BATCH_SIZE", 32),
        ),
        "milvus": MilvusResource(
            uri=env_value("BOOK_ASSETS_MILVUS_URI", f"{defaults.Settings.from_env().home}/milvus.db"),
            token=env_value("BOOK_ASSETS_MILVUS_TOKEN", ""),
            collection=env_value("BOOK_ASSETS_MILVUS_COLLECTION", defaults.DEFAULT_COLLECTION),
        ),
        "spark": SparkLauncher(
            mode=env_value("BOOK_ASSETS_SPARK", "local"),
            master=env_value("BOOK_ASSETS_SPARK_MASTER", "local[*]"),
            driver_memory=env_value("BOOK_ASSETS_SPARK_DRIVER_MEMORY", "2g"),
        ),
    }
    return resources
