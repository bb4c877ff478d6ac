"""The one Spark launcher resource: asset code asks it to run a job script with arguments.

``mode`` picks where the job runs — ``local`` (spark-submit to ``local[N]``, the default),
``spark-submit`` (any master URL: standalone, YARN, k8s) or ``emr-serverless``. Every mode runs the
same script from :mod:`book_assets.emr` and talks to it over Dagster Pipes, so the job's logs and
figures come back to the Dagster run the same way wherever it ran.
"""
from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource, PipesSubprocessClient
from pydantic import Field

from book_assets.emr import job_script
from book_assets.emr.job_runtime import BASE_SPARK_CONF
from book_assets.resources.emr_serverless import EmrServerlessConfig

LAUNCH_MODES = ("local", "spark-submit", "emr-serverless")
LOCATION_FLAGS = ("--editions", "--works", "--authors", "--warehouse", "--cover-cache", "--report-out")
"""The job arguments that name a place to read or write."""


def host_local_locations(args: list[str]) -> list[tuple[str, str]]:
    """``(flag, value)`` for each location argument that is a path on this host (no scheme, or
    ``file://``): a job that runs elsewhere, e.g. on EMR Serverless, cannot reach it."""
    found = []
    for flag, value in zip(args, args[1:]):
        if flag in LOCATION_FLAGS and value and ("://" not in value or value.startswith("file://")):
            found.append((flag, value))
    return found


@dataclass
class SparkJobResult:
    """What a finished job reported (its Pipes custom messages, newest last)."""

    reports: list[dict] = field(default_factory=list)

    @property
    def report(self) -> dict:
        if not self.reports:
            raise RuntimeError("the Spark job finished without reporting its figures")
        return self.reports[-1]


def spark_submit_executable() -> str:
    """The ``spark-submit`` of the pyspark installed beside this interpreter (or on PATH)."""
    beside = Path(sys.executable).parent / "spark-submit"
    if beside.exists():
        return str(beside)
    found = shutil.which("spark-submit")
    if not found:
        raise RuntimeError("spark-submit not found: install pyspark into this environment")
    return found


def spark_home() -> str:
    """SPARK_HOME of the pip-installed pyspark (spark-submit cannot always find it itself)."""
    import pyspark

    return str(Path(pyspark.__file__).resolve().parent)


class SparkLauncher(ConfigurableResource):
    """Runs the project's Spark job scripts locally, on a Spark cluster or on EMR Serverless."""

    mode: str = Field(default="local", description="local | spark-submit | emr-serverless")
    master: str = Field(default="local[*]", description="Spark master URL for local/spark-submit modes")
    driver_memory: str = Field(default="2g", description="spark-submit --driver-memory")
    spark_conf: dict[str, str] = Field(default_factory=dict, description="extra --conf key=value pairs")
    py_files: str = Field(
        default="",
        description="comma-separated --py-files (e.g. the book_assets zip) for remote clusters",
    )
    python: str = Field(
        default="",
        description="BOOK_ASSETS_SPARK_PYTHON: PYSPARK_PYTHON for the executors (blank: this interpreter with a "
        "local[...] master, the cluster's own PYSPARK_PYTHON otherwise)",
    )
    torch_threads: int = Field(
        default=0,
        description="BOOK_ASSETS_TORCH_THREADS: torch threads per Python worker, passed to the executors "
        "(0 = the Spark task's cores)",
    )
    emr: EmrServerlessConfig = Field(
        default_factory=EmrServerlessConfig, description="EMR Serverless settings (mode emr-serverless)"
    )

    def effective_master(self) -> str:
        return self.master if self.mode == "spark-submit" or self.master else "local[*]"

    def executor_env(self) -> dict[str, str]:
        """Settings the job's Python workers read from their environment, for every launch mode."""
        return {"BOOK_ASSETS_TORCH_THREADS": str(self.torch_threads)} if self.torch_threads > 0 else {}

    def submit_env(self) -> dict[str, str]:
        """The environment of the spark-submit subprocess (local / spark-submit modes).

        The driver runs here (client mode), so it gets this interpreter. The executors get
        ``PYSPARK_PYTHON``, which pyspark ships to them as is: this interpreter's path only makes
        sense for a ``local[...]`` master; on a cluster it is ``python`` if set, else whatever this
        environment or the cluster's Spark configuration says.
        """
        env = {
            **os.environ,
            "SPARK_HOME": os.environ.get("SPARK_HOME") or spark_home(),
            "PYSPARK_DRIVER_PYTHON": sys.executable,
        }
        if self.python:
            env["PYSPARK_PYTHON"] = self.python
        elif self.effective_master().startswith("local"):
            env.setdefault("PYSPARK_PYTHON", sys.executable)
        return env

    def submit_command(self, job: str, args: list[str]) -> list[str]:
        """The spark-submit command line for ``job`` in local / spark-submit modes."""
        if self.mode not in ("local", "spark-submit"):
            raise ValueError(f"submit_command is for local/spark-submit, not {self.mode!r}")
        cmd = [spark_submit_executable(), "--master", self.effective_master(), "--driver-memory", self.driver_memory]
        executor_env = {f"spark.executorEnv.{key}": value for key, value in self.executor_env().items()}
        conf = {**BASE_SPARK_CONF, "spark.ui.showConsoleProgress": "false", **executor_env, **self.spark_conf}
        for key, value in conf.items():
            cmd += ["--conf", f"{key}={value}"]
        if self.py_files:
            cmd += ["--py-files", self.py_files]
        return cmd + [str(job_script(job)), *args]

    def run_job(
        self, context: Any, job: str, args: list[str], extras: dict[str, Any] | None = None
    ) -> SparkJobResult:
        """Run ``book_assets/emr/<job>_job.py`` with ``args``; return what it reported."""
        if self.mode not in LAUNCH_MODES:
            raise ValueError(f"BOOK_ASSETS_SPARK must be one of {LAUNCH_MODES}, got {self.mode!r}")
        if self.mode == "emr-serverless":
            from book_assets.resources.emr_serverless import run_emr_serverless_job

            local = host_local_locations(args)
            if local and not self.emr.allow_local_paths:
                named = ", ".join(f"{flag} {value}" for flag, value in local)
                raise ValueError(
                    f"EMR Serverless cannot read paths on this host ({named}): set BOOK_ASSETS_WAREHOUSE, "
                    "BOOK_ASSETS_STAGED and BOOK_ASSETS_COVERS_CACHE to s3:// URIs (see book_assets/emr/README.md)"
                )

            return run_emr_serverless_job(context, self.emr, job, args, extras, executor_env=self.executor_env())
        command = self.submit_command(job, args)
        context.log.info("spark-submit: " + " ".join(command))
        invocation = PipesSubprocessClient(env=self.submit_env()).run(
            context=context, command=command, extras=extras or {}
        )
        return SparkJobResult(reports=list(invocation.get_custom_messages()))
