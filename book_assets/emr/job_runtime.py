"""What every Spark job script shares: its SparkSession and a reporter that speaks Dagster Pipes.

Under Dagster (local subprocess, spark-submit or EMR Serverless via Pipes) the reporter forwards
log lines and the job's figures to the Dagster run as Pipes messages. Run standalone with
``spark-submit``, it prints the same figures as one JSON line and can write them to a file.
"""
from __future__ import annotations

import contextlib
import json
import logging
import sys
from typing import Any, Iterator

REPORT_PREFIX = "BOOK_ASSETS_REPORT "

# Settings every job sets explicitly so it behaves the same on Spark 3.5 (EMR Serverless 7.x),
# where ANSI mode is off by default, and on Spark 4.x, where it is on.
BASE_SPARK_CONF = {
    "spark.sql.ansi.enabled": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "2048",
    "spark.sql.parquet.compression.codec": "zstd",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.adaptive.coalescePartitions.enabled": "true",
}


class JobReporter:
    """Logs and reports figures either through Dagster Pipes or to stdout."""

    def __init__(self, pipes: Any | None, report_path: str | None) -> None:
        self._pipes = pipes
        self._report_path = report_path
        self._log = logging.getLogger("book_assets.job")
        if not self._log.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            self._log.addHandler(handler)
            self._log.setLevel(logging.INFO)

    @property
    def under_dagster(self) -> bool:
        return self._pipes is not None

    def info(self, message: str) -> None:
        if self._pipes is not None:
            self._pipes.log.info(message)
        self._log.info(message)

    def warning(self, message: str) -> None:
        if self._pipes is not None:
            self._pipes.log.warning(message)
        self._log.warning(message)

    def report(self, payload: dict) -> None:
        """Send the job's figures: a Pipes custom message, a JSON line, and the report file."""
        text = json.dumps(payload, sort_keys=True, default=str)
        if self._pipes is not None:
            self._pipes.report_custom_message(json.loads(text))
        print(REPORT_PREFIX + text, flush=True)
        if self._report_path:
            from book_assets.storage import write_text

            write_text(self._report_path, text)


@contextlib.contextmanager
def open_reporter(report_path: str | None = None) -> Iterator[JobReporter]:
    """A reporter bound to Dagster Pipes when this process was launched by Dagster."""
    from dagster_pipes import PipesEnvVarParamsLoader, open_dagster_pipes

    loader = PipesEnvVarParamsLoader()
    if loader.is_dagster_pipes_process():
        with open_dagster_pipes(params_loader=loader) as pipes:
            yield JobReporter(pipes, report_path)
    else:
        yield JobReporter(None, report_path)


def build_spark(app_name: str, extra_conf: dict[str, str] | None = None):
    """Get (or create) the SparkSession with the project's explicit settings.

    The master URL comes from spark-submit (``--master``); a bare ``python job.py`` falls back to
    ``local[*]``.
    """
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    for key, value in {**BASE_SPARK_CONF, **(extra_conf or {})}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if spark.sparkContext.master is None:  # pragma: no cover - spark always sets one
        raise RuntimeError("Spark has no master")
    for key, value in {**BASE_SPARK_CONF, **(extra_conf or {})}.items():
        try:
            spark.conf.set(key, value)
        except Exception:  # static confs cannot be changed on a running session
            pass
    return spark


def parse_years_arg(value: str) -> list[int]:
    """``--years``: ``"2019,2020"`` (what the launcher passes) or any spec ``BOOK_ASSETS_YEARS`` takes.

    Parsed by :func:`book_assets.settings.parse_year_spec`; a bad value is an
    ``argparse.ArgumentTypeError`` carrying the parser's message (argparse prints it and exits 2).
    """
    import argparse

    from book_assets.settings import parse_year_spec

    try:
        return parse_year_spec(value, "--years")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
