"""Spark job scripts (runnable with plain ``spark-submit``) and their packaging for EMR Serverless.

Each ``*_job.py`` module here is a standalone entry point: the Dagster launcher resource submits
the same file locally, to any Spark master, or to EMR Serverless.
"""
from pathlib import Path

JOBS_DIR = Path(__file__).resolve().parent


def job_script(name: str) -> Path:
    """Path of the job script ``<name>_job.py`` shipped in this package."""
    path = JOBS_DIR / f"{name}_job.py"
    if not path.exists():
        raise FileNotFoundError(f"no Spark job script named {name!r} ({path})")
    return path
