"""Fixtures for the fault tests: a private cover server (behaviours set here never leak into other
suites), a Spark environment for running job scripts directly, and process-group helpers."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import COVERS_DIR

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fault_server(shared_dir):
    from tests.support.cover_server import CoverServer

    with CoverServer(COVERS_DIR) as server:
        yield server


def spark_env(**extra: str) -> dict:
    """The environment SparkLauncher gives a job, plus ``extra``."""
    from book_assets.resources.spark import spark_home

    env = {**os.environ, "SPARK_HOME": os.environ.get("SPARK_HOME") or spark_home(),
           "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    env.update(extra)
    return env


def start_group(cmd: list[str], env: dict, **kwargs) -> subprocess.Popen:
    """Start ``cmd`` in its own process group (so the JVM and Python workers die with it)."""
    return subprocess.Popen(cmd, env=env, cwd=str(REPO), start_new_session=True, **kwargs)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the whole process group of ``proc`` and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)
    time.sleep(0.3)  # let the kernel release file locks of the group's other members
