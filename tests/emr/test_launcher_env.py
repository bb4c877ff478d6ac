"""What the launcher hands to spark-submit and to EMR Serverless besides the job's arguments:
the executors' Python and the environment the job's Python workers read (no Spark is started)."""
import shlex
import sys

import pytest
from dagster import build_asset_context

from book_assets.resources import emr_serverless
from book_assets.resources import spark as spark_mod
from book_assets.resources.emr_serverless import EmrServerlessConfig
from book_assets.resources.spark import SparkLauncher

ROLE = "arn:aws:iam::123456789012:role/book-assets-emr-job"


@pytest.fixture
def submitted(monkeypatch):
    """Runs a launcher in local / spark-submit mode with a fake Pipes subprocess client; returns
    what spark-submit would have been started with: ``{"env": …, "command": […]}``."""
    got = {}

    class FakePipes:
        def __init__(self, env):
            got["env"] = env

        def run(self, context, command, extras):
            got["command"] = command
            return type("Invocation", (), {"get_custom_messages": lambda self: [{"ok": True}]})()

    monkeypatch.setattr(spark_mod, "PipesSubprocessClient", FakePipes)
    monkeypatch.delenv("PYSPARK_PYTHON", raising=False)

    def run(launcher: SparkLauncher) -> dict:
        launcher.run_job(build_asset_context(), "fiction", ["--years", "2019"])
        return got

    return run


def _confs(command: list[str]) -> dict[str, str]:
    return dict(command[i + 1].split("=", 1) for i, token in enumerate(command) if token == "--conf")


@pytest.mark.parametrize("master", ["yarn", "spark://10.0.0.5:7077", "k8s://https://k8s.example:6443"])
def test_cluster_executors_do_not_get_this_hosts_python(submitted, master):
    got = submitted(SparkLauncher(mode="spark-submit", master=master, py_files="dist/emr/book_assets.zip"))
    assert "PYSPARK_PYTHON" not in got["env"]  # the cluster's own setting applies
    assert got["env"]["PYSPARK_DRIVER_PYTHON"] == sys.executable  # client mode: the driver runs here


def test_cluster_keeps_the_users_pyspark_python(submitted, monkeypatch):
    monkeypatch.setenv("PYSPARK_PYTHON", "/opt/cluster/bin/python3")
    got = submitted(SparkLauncher(mode="spark-submit", master="yarn"))
    assert got["env"]["PYSPARK_PYTHON"] == "/opt/cluster/bin/python3"


def test_spark_python_setting_names_the_executors_python(submitted, monkeypatch):
    monkeypatch.setenv("PYSPARK_PYTHON", "/ignored/python")
    got = submitted(SparkLauncher(mode="spark-submit", master="yarn", python="/opt/conda/envs/ba/bin/python"))
    assert got["env"]["PYSPARK_PYTHON"] == "/opt/conda/envs/ba/bin/python"
    assert got["env"]["PYSPARK_DRIVER_PYTHON"] == sys.executable


@pytest.mark.parametrize("launcher", [SparkLauncher(), SparkLauncher(mode="spark-submit", master="local[2]")],
                         ids=["local-mode", "spark-submit-local-master"])
def test_local_master_executors_use_this_interpreter(submitted, launcher):
    got = submitted(launcher)
    assert got["env"]["PYSPARK_PYTHON"] == got["env"]["PYSPARK_DRIVER_PYTHON"] == sys.executable


def test_torch_threads_reach_spark_submit_executors(submitted):
    got = submitted(SparkLauncher(mode="spark-submit", master="yarn", torch_threads=3))
    assert _confs(got["command"])["spark.executorEnv.BOOK_ASSETS_TORCH_THREADS"] == "3"
    unset = submitted(SparkLauncher(mode="spark-submit", master="yarn"))
    assert not any("BOOK_ASSETS_TORCH_THREADS" in token for token in unset["command"])


def test_torch_threads_reach_emr_serverless_executors(monkeypatch):
    requests = []

    class FakeClient:
        client = type("Emr", (), {"get_application": lambda self, applicationId: {"application": {}}})()

        def run(self, *, context, start_job_run_params, extras):
            requests.append(start_job_run_params)
            return type("Invocation", (), {"get_custom_messages": lambda self: [{"ok": True}]})()

    monkeypatch.setattr(emr_serverless, "make_client", lambda cfg: FakeClient())
    emr = EmrServerlessConfig(application_id="00fabc", execution_role_arn=ROLE, s3_prefix="s3://bkt/p")
    launcher = SparkLauncher(mode="emr-serverless", emr=emr, torch_threads=2)
    launcher.run_job(build_asset_context(), "embeddings", ["--warehouse", "s3://bkt/p/warehouse", "--years", "2019"])
    params = shlex.split(requests[0]["jobDriver"]["sparkSubmit"]["sparkSubmitParameters"])
    confs = dict(params[i + 1].split("=", 1) for i, token in enumerate(params) if token == "--conf")
    assert confs["spark.executorEnv.BOOK_ASSETS_TORCH_THREADS"] == "2"


def test_factory_reads_spark_python_and_torch_threads(monkeypatch):
    from book_assets.resources.factory import build_resources

    monkeypatch.setenv("BOOK_ASSETS_SPARK", "spark-submit")
    monkeypatch.setenv("BOOK_ASSETS_SPARK_PYTHON", "/opt/py/bin/python")
    monkeypatch.setenv("BOOK_ASSETS_TORCH_THREADS", "4")
    spark = build_resources()["spark"]
    values = {k: (v.get_value() if hasattr(v, "get_value") else v) for k, v in spark.__dict__.items()}
    assert values["python"] == "/opt/py/bin/python" and int(values["torch_threads"]) == 4
