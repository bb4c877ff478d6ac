"""The EMR Serverless launch mode end to end through the emulator (moto + local spark-submit):
a range run of recent_fiction (both years, one job) and cover_urls with S3-borne messages, a job
that fails, and a Dagster run interrupted mid-job (the client's cancel path)."""
import gzip
import os
import shlex
import signal
import threading
import time

import pyarrow.parquet as pq
import pytest
from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, DagsterEventType, DagsterInstance, asset, materialize

from book_assets.assets.ingest import cover_urls, openlibrary_dump, recent_fiction
from book_assets.partitions import year_partitions
from book_assets.resources.spark import SparkLauncher
from book_assets.warehouse import COVER_URLS, RECENT_FICTION, year_uri
from tests.conftest import CORPUS_YEARS, make_resources
from tests.emr.conftest import BUCKET, S3_PREFIX, TAG, emr_launcher

pytestmark = pytest.mark.slow
RANGE_TAGS = {"dagster/asset_partition_range_start": "2019", "dagster/asset_partition_range_end": "2020"}


def _materialize(*args, **kwargs):
    """materialize on an instance we keep, so the run's log lines can be read back."""
    instance = DagsterInstance.ephemeral()
    result = materialize(*args, instance=instance, **kwargs)
    result.log_text = "\n".join(r.user_message or "" for r in instance.all_logs(result.run_id))
    return result


def _run_for(emu, result):
    runs = [r for r in emu.runs.values() if r.request["tags"].get("dagster/run-id") == result.run_id]
    assert len(runs) == 1, runs
    return runs[0]


@pytest.fixture(scope="module")
def emr_home(tmp_path_factory, corpus, emr_emulator, emr_app):
    corpus_dir, _ = corpus
    home = tmp_path_factory.mktemp("emr_home")
    app_id, _ = emr_app
    resources = make_resources(home, corpus_dir, "https://covers.example.org/b/id/{cover_id}-M.jpg", "unused")
    assert materialize([openlibrary_dump], resources=resources).success
    resources["spark"] = emr_launcher(emr_emulator, app_id)
    started = time.monotonic()
    fiction = _materialize([openlibrary_dump, recent_fiction], selection=[recent_fiction], tags=RANGE_TAGS,
                          resources=resources)
    fiction_s = time.monotonic() - started
    return home, resources, fiction, fiction_s


def test_range_run_reports_metadata_and_checks(emr_home, emr_emulator, corpus):
    home, _, result, seconds = emr_home
    _, manifest = corpus
    assert result.success
    print(f"recent_fiction via emulated EMR Serverless: {seconds:.1f}s")
    mat = result.get_asset_materialization_events()[0].materialization
    expected_rows = sum(len(manifest.expected_fiction[y]) for y in CORPUS_YEARS)
    assert mat.metadata["range_row_count"].value == expected_rows  # both years: not one year's count
    assert "dagster/row_count" not in mat.metadata and mat.metadata["range_years"].value == ["2019", "2020"]
    assert mat.metadata["years"].value == list(CORPUS_YEARS)
    assert mat.metadata["lines_read"].value["editions"] > 0
    evaluations = result.get_asset_check_evaluations()
    assert {e.partition for e in evaluations} >= {"2019", "2020"}
    assert all(e.passed for e in evaluations), [e.check_name for e in evaluations if not e.passed]
    for year in CORPUS_YEARS:
        keys = set(pq.read_table(year_uri(str(home / "warehouse"), RECENT_FICTION, year)).column("edition_key").to_pylist())
        assert keys == {r["edition_key"] for r in manifest.expected_fiction[year]}
    # the job's own log lines came back through Pipes (CloudWatch stdout stream)
    text = result.log_text
    assert "recent_fiction year=2019" in text and "recent_fiction year=2020" in text
    run = _run_for(emr_emulator, result)
    assert run.states == ["SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "SUCCESS"]
    assert run.job_run_id in text  # "EMR Serverless job run <id>: RUNNING"


def test_start_job_run_request_as_received(emr_home, emr_emulator, emr_app):
    _, resources, result, _ = emr_home
    app_id, _ = emr_app
    req = _run_for(emr_emulator, result).request
    assert req["application_id"] == app_id
    assert req["execution_role_arn"] == resources["spark"].emr.execution_role_arn
    assert req["name"] == "book-assets-fiction-2019-2020"
    driver = req["job_driver"]["sparkSubmit"]
    assert driver["entryPoint"] == f"{S3_PREFIX}/artifacts/{TAG}/jobs/fiction_job.py"
    args = driver["entryPointArguments"]
    assert args[args.index("--years") + 1] == "2019,2020"
    params = shlex.split(driver["sparkSubmitParameters"])
    confs = dict(params[i + 1].split("=", 1) for i, p in enumerate(params) if p == "--conf")
    assert params[params.index("--py-files") + 1] == f"{S3_PREFIX}/artifacts/{TAG}/book_assets.zip"
    assert confs["spark.archives"] == f"{S3_PREFIX}/artifacts/{TAG}/pyspark_env.tar.gz#environment"
    assert confs["spark.emr-serverless.driverEnv.PYSPARK_PYTHON"] == "./environment/bin/python"
    assert confs["spark.executor.memory"] == "16g" and confs["spark.executor.cores"] == "4"
    assert confs["spark.dynamicAllocation.maxExecutors"] == "20"
    assert confs["spark.sql.files.maxPartitionBytes"] == "128m"
    assert "spark.emr-serverless.driverEnv.DAGSTER_PIPES_CONTEXT" in confs  # added by the Pipes client
    assert "spark.emr-serverless.driverEnv.DAGSTER_PIPES_MESSAGES" in confs
    assert req["tags"]["dagster/run-id"] == result.run_id
    assert req["tags"]["book_assets/job"] == "fiction" and req["tags"]["book_assets/years"] == "2019-2020"
    assert req["execution_timeout_minutes"] == 30
    cw = req["configuration_overrides"]["monitoringConfiguration"]["cloudWatchLoggingConfiguration"]
    assert cw["enabled"] is True and cw["logGroupName"] == "/aws/emr-serverless"
    tokens = [r.request["client_token"] for r in emr_emulator.runs.values()]
    assert len(tokens) == len(set(tokens))


def test_driver_output_lands_where_emr_serverless_puts_it(emr_home, emr_emulator, emr_app):
    _, _, result, _ = emr_home
    app_id, _ = emr_app
    run = _run_for(emr_emulator, result)
    logs = emr_emulator.client("logs")
    stream = f"book-assets/applications/{app_id}/jobs/{run.job_run_id}/SPARK_DRIVER"
    out = logs.get_log_events(logGroupName="/aws/emr-serverless", logStreamName=f"{stream}/stdout", startFromHead=True)
    err = logs.get_log_events(logGroupName="/aws/emr-serverless", logStreamName=f"{stream}/stderr", startFromHead=True)
    # spark-submit merges the Python driver's stderr into stdout: Pipes messages and the job's own
    # log lines are in stdout, the JVM's log4j output in stderr
    assert any('"__dagster_pipes_version"' in e["message"] for e in out["events"])
    assert any("recent_fiction year=2019" in e["message"] for e in out["events"])
    assert any("SparkContext" in e["message"] for e in err["events"])
    body = emr_emulator.client("s3").get_object(
        Bucket=BUCKET, Key=f"emr/logs/applications/{app_id}/jobs/{run.job_run_id}/SPARK_DRIVER/stdout.gz")["Body"].read()
    assert '"__dagster_pipes_version"' in gzip.decompress(body).decode()


@asset(partitions_def=year_partitions, backfill_policy=BackfillPolicy.single_run())
def reported(context: AssetExecutionContext, spark: SparkLauncher) -> MaterializeResult:
    years = sorted(int(k) for k in context.partition_keys)
    report = spark.run_job(context, "report", ["--years", ",".join(map(str, years))]).report
    return MaterializeResult(metadata={"years": report["years"],
                                       "rows": sum(v["rows"] for v in report["per_year"].values())})


@pytest.mark.parametrize("messages", ["cloudwatch", "s3"])
def test_range_run_messages_through_cloudwatch_or_s3(emr_emulator, emr_app, messages):
    app_id, _ = emr_app
    result = _materialize([reported], tags=RANGE_TAGS, resources={"spark": emr_launcher(emr_emulator, app_id, messages=messages)})
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["years"].value == [2019, 2020] and meta["rows"].value == 19 + 20
    assert "report job for years [2019, 2020]" in result.log_text
    run = _run_for(emr_emulator, result)
    assert run.states == ["SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "SUCCESS"]
    args = run.request["job_driver"]["sparkSubmit"]["entryPointArguments"]
    assert args == ["--years", "2019,2020"]


@asset(partitions_def=year_partitions)
def broken(context: AssetExecutionContext, spark: SparkLauncher):
    spark.run_job(context, "broken", ["--years", ",".join(context.partition_keys), "/no/such/dump"])


@asset(partitions_def=year_partitions)
def sleepy(context: AssetExecutionContext, spark: SparkLauncher):
    spark.run_job(context, "sleepy", ["--years", ",".join(context.partition_keys)])


def test_failed_job_names_run_and_shows_driver_error(emr_emulator, emr_app):
    app_id, _ = emr_app
    result = _materialize([broken], partition_key="2019", resources={"spark": emr_launcher(emr_emulator, app_id)},
                         raise_on_error=False)
    assert not result.success
    run = _run_for(emr_emulator, result)
    assert run.states[-2:] == ["RUNNING", "FAILED"]
    failure = next(e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE)
    message = failure.step_failure_data.error.message
    assert run.job_run_id in message and "FAILED" in message
    assert "ValueError: deliberate failure: the input folder /no/such/dump is missing" in message
    # the job's own Pipes log line still reached Dagster before the failure
    assert "broken job starting" in result.log_text


def test_interrupting_the_dagster_run_cancels_the_job_run(emr_emulator, emr_app):
    app_id, _ = emr_app
    before = set(emr_emulator.runs)

    def interrupt_when_running():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            new = [r for k, r in emr_emulator.runs.items() if k not in before]
            if new and new[0].state == "RUNNING" and any("sleepy job started" in line for line in new[0].stdout):
                os.kill(os.getpid(), signal.SIGINT)  # what terminating a run does to the run worker
                return
            time.sleep(0.2)

    helper = threading.Thread(target=interrupt_when_running, daemon=True)
    helper.start()
    result = _materialize([sleepy], partition_key="2019", resources={"spark": emr_launcher(emr_emulator, app_id)},
                         raise_on_error=False)
    helper.join()
    assert not result.success
    run = _run_for(emr_emulator, result)
    assert emr_emulator.wait_for_state(run.job_run_id, ("CANCELLED",), timeout_s=30) == "CANCELLED"
    assert "CANCELLING" in run.states and run.returncode not in (0, None)
    assert f"cancelling EMR Serverless job run {run.job_run_id}" in result.log_text
