"""Fixtures for the EMR Serverless / spark-submit launcher tests: the emulator with uploaded
artifacts, and launcher resources pointing at it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.emr_emulator import FAKE_AWS_ENV, ROLE_ARN, EmrServerlessEmulator

BUCKET = "book-assets-test"
S3_PREFIX = f"s3://{BUCKET}/emr"
TAG = "test"

# Small job scripts that exist only in the emulator's S3 (next to the real ones).
EXTRA_JOBS = {
    "broken": '''
import sys
from book_assets.emr.job_runtime import open_reporter
with open_reporter() as reporter:
    reporter.info("broken job starting")
    raise ValueError("deliberate failure: the input folder " + sys.argv[-1] + " is missing")
''',
    "report": '''
import sys
from book_assets.emr.job_runtime import open_reporter, parse_years_arg
years = parse_years_arg(sys.argv[sys.argv.index("--years") + 1])
with open_reporter() as reporter:
    reporter.info(f"report job for years {years}")
    reporter.report({"job": "report", "years": years, "per_year": {str(y): {"rows": y - 2000} for y in years}})
''',
    "sleepy": '''
import time
from book_assets.emr.job_runtime import open_reporter
with open_reporter() as reporter:
    reporter.info("sleepy job started")
    time.sleep(600)
''',
}


@pytest.fixture(scope="session")
def fake_aws_env():
    saved = {k: os.environ.get(k) for k in FAKE_AWS_ENV}
    os.environ.update(FAKE_AWS_ENV)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def emr_emulator(fake_aws_env):
    with EmrServerlessEmulator() as emu:
        yield emu


@pytest.fixture(scope="session")
def emr_app(emr_emulator, tmp_path_factory):
    """An application, the bucket and the packaged artifacts (plus the extra test jobs) uploaded."""
    from book_assets.emr import package

    s3 = emr_emulator.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    out = tmp_path_factory.mktemp("emr_dist")
    files = package.build(out / "dist")
    env_archive = out / "pyspark_env.tar.gz"
    env_archive.write_bytes(b"not a real env: the emulator only checks that it exists")
    files[package.ENV_ARCHIVE] = env_archive
    for name, text in EXTRA_JOBS.items():
        path = out / f"{name}_job.py"
        path.write_text(text)
        files[f"jobs/{name}_job.py"] = path
    uris = package.upload(files, S3_PREFIX, TAG, client=s3)
    return emr_emulator.create_application(release_label="emr-7.5.0"), uris


def emr_config(emu: EmrServerlessEmulator, app_id: str, **overrides):
    from book_assets.resources.emr_serverless import EmrServerlessConfig

    values = dict(application_id=app_id, execution_role_arn=ROLE_ARN, s3_prefix=S3_PREFIX, artifacts_tag=TAG,
                  region_name=emu.region, endpoint_url=emu.endpoint_url, poll_interval_s=0.5,
                  execution_timeout_minutes=30,
                  allow_local_paths=True)  # the emulator runs the jobs on this host, beside its files
    values.update(overrides)
    return EmrServerlessConfig(**values)


def emr_launcher(emu: EmrServerlessEmulator, app_id: str, **overrides):
    from book_assets.resources.spark import SparkLauncher

    return SparkLauncher(mode="emr-serverless", emr=emr_config(emu, app_id, **overrides))
