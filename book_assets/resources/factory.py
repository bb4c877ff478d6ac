"""Builds every resource from the environment: one place that maps env vars to resources."""
from __future__ import annotations

from book_assets import settings as defaults
from book_assets.resources.emr_serverless import EmrServerlessConfig
from book_assets.resources.env import env_value
from book_assets.resources.milvus import MilvusResource
from book_assets.resources.pipeline import ClipConfig, CoversConfig, PipelineConfig
from book_assets.resources.spark import SparkLauncher


def build_resources() -> dict:
    resources = {
        "pipeline": PipelineConfig(
            home=env_value("BOOK_ASSETS_HOME", defaults.DEFAULT_HOME),
            warehouse_uri=env_value("BOOK_ASSETS_WAREHOUSE", ""),
            staged_uri=env_value("BOOK_ASSETS_STAGED", ""),
            covers_cache_uri=env_value("BOOK_ASSETS_COVERS_CACHE", ""),
            editions_dump=env_value("BOOK_ASSETS_EDITIONS_DUMP", defaults.DEFAULT_EDITIONS_DUMP),
            works_dump=env_value("BOOK_ASSETS_WORKS_DUMP", defaults.DEFAULT_WORKS_DUMP),
            # Set but empty means "no authors dump" (names from by_statement), not the default.
            authors_dump=env_value("BOOK_ASSETS_AUTHORS_DUMP", defaults.DEFAULT_AUTHORS_DUMP, empty_is_value=True),
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
            allowed_hosts=env_value(
                "BOOK_ASSETS_COVERS_ALLOWED_HOSTS", defaults.DEFAULT_COVERS_ALLOWED_HOSTS, empty_is_value=True),  # "" = own host
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
            index=env_value("BOOK_ASSETS_MILVUS_INDEX", "auto"),
        ),
        "spark": SparkLauncher(
            mode=env_value("BOOK_ASSETS_SPARK", "local"),
            master=env_value("BOOK_ASSETS_SPARK_MASTER", "local[*]"),
            driver_memory=env_value("BOOK_ASSETS_SPARK_DRIVER_MEMORY", "2g"),
            py_files=env_value("BOOK_ASSETS_SPARK_PY_FILES", ""),
            python=env_value("BOOK_ASSETS_SPARK_PYTHON", ""),
            torch_threads=env_value("BOOK_ASSETS_TORCH_THREADS", 0),
            emr=build_emr_config(),
        ),
    }
    return resources


def build_emr_config() -> EmrServerlessConfig:
    """EMR Serverless settings from ``BOOK_ASSETS_EMR_*`` (see book_assets/emr/README.md)."""
    return EmrServerlessConfig(
        application_id=env_value("BOOK_ASSETS_EMR_APPLICATION_ID", ""),
        execution_role_arn=env_value("BOOK_ASSETS_EMR_EXECUTION_ROLE_ARN", ""),
        s3_prefix=env_value("BOOK_ASSETS_EMR_S3_PREFIX", ""),
        artifacts_tag=env_value("BOOK_ASSETS_EMR_ARTIFACTS_TAG", "latest"),
        release_label=env_value("BOOK_ASSETS_EMR_RELEASE_LABEL", "emr-7.5.0"),
        region_name=env_value("BOOK_ASSETS_EMR_REGION", ""),
        endpoint_url=env_value("BOOK_ASSETS_EMR_ENDPOINT_URL", ""),
        python_env=env_value("BOOK_ASSETS_EMR_PYTHON_ENV", "archive"),
        image_python=env_value("BOOK_ASSETS_EMR_IMAGE_PYTHON", "/usr/bin/python3.11"),
        executor_cores=env_value("BOOK_ASSETS_EMR_EXECUTOR_CORES", 4),
        executor_memory=env_value("BOOK_ASSETS_EMR_EXECUTOR_MEMORY", "16g"),
        max_executors=env_value("BOOK_ASSETS_EMR_MAX_EXECUTORS", 20),
        execution_timeout_minutes=env_value("BOOK_ASSETS_EMR_TIMEOUT_MINUTES", 180),
        messages=env_value("BOOK_ASSETS_EMR_MESSAGES", "cloudwatch"),
    )
