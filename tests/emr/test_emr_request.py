"""StartJobRun request construction, field by field (no AWS, no Spark), and the env wiring."""
import shlex

import pytest

from book_assets.resources.emr_serverless import (
    EmrServerlessConfig,
    build_start_job_run_request,
    driver_log_paths,
    years_from_args,
)

ROLE = "arn:aws:iam::123456789012:role/book-assets-emr-job"


def _cfg(**kw):
    return EmrServerlessConfig(application_id="00fabc", execution_role_arn=ROLE, s3_prefix="s3://bkt/book-assets",
                               **kw)


def _confs(params: str) -> tuple[dict, list[str]]:
    tokens = shlex.split(params)
    confs = dict(tokens[i + 1].split("=", 1) for i, t in enumerate(tokens) if t == "--conf")
    return confs, tokens


def test_request_field_by_field():
    args = ["--warehouse", "s3://bkt/book-assets/warehouse", "--years", "2019,2020"]
    req = build_start_job_run_request(_cfg(), "fiction", args, run_id="0123456789abcdef", years=[2019, 2020])
    assert set(req) == {"applicationId", "executionRoleArn", "clientToken", "name", "jobDriver",
                        "configurationOverrides", "tags", "executionTimeoutMinutes"}
    assert req["applicationId"] == "00fabc"
    assert req["executionRoleArn"] == ROLE
    assert req["name"] == "book-assets-fiction-2019-2020"
    assert req["clientToken"].startswith("01234567-fiction-") and len(req["clientToken"]) <= 64
    driver = req["jobDriver"]["sparkSubmit"]
    assert driver["entryPoint"] == "s3://bkt/book-assets/artifacts/latest/jobs/fiction_job.py"
    assert driver["entryPointArguments"] == args and driver["entryPointArguments"] is not args
    confs, tokens = _confs(driver["sparkSubmitParameters"])
    assert tokens[tokens.index("--py-files") + 1] == "s3://bkt/book-assets/artifacts/latest/book_assets.zip"
    assert confs["spark.archives"] == "s3://bkt/book-assets/artifacts/latest/pyspark_env.tar.gz#environment"
    for key in ("spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON", "spark.emr-serverless.driverEnv.PYSPARK_PYTHON",
                "spark.executorEnv.PYSPARK_PYTHON"):
        assert confs[key] == "./environment/bin/python"
    assert confs["spark.executor.memory"] == "16g"
    assert confs["spark.executor.cores"] == "4"
    assert confs["spark.sql.files.maxPartitionBytes"] == "128m"
    assert confs["spark.dynamicAllocation.enabled"] == "true"
    assert (confs["spark.dynamicAllocation.minExecutors"], confs["spark.dynamicAllocation.maxExecutors"]) == ("1", "20")
    assert confs["spark.sql.ansi.enabled"] == "false"  # the project's base settings travel too
    monitoring = req["configurationOverrides"]["monitoringConfiguration"]
    assert monitoring["s3MonitoringConfiguration"] == {"logUri": "s3://bkt/book-assets/logs/"}
    cw = monitoring["cloudWatchLoggingConfiguration"]
    assert cw["enabled"] is True and cw["logGroupName"] == "/aws/emr-serverless"
    assert cw["logStreamNamePrefix"] == "book-assets"
    assert cw["logTypes"]["SPARK_DRIVER"] == ["STDOUT", "STDERR"]
    assert req["tags"] == {"book_assets/job": "fiction", "book_assets/years": "2019-2020", "book_assets/artifacts": "latest"}
    assert req["executionTimeoutMinutes"] == 180


def test_each_request_is_fresh_with_its_own_token():
    cfg = _cfg()
    first = build_start_job_run_request(cfg, "embeddings", ["--years", "2019"], run_id="r", years=[2019])
    first["tags"]["dagster/run-id"] = "mutated"
    first["jobDriver"]["sparkSubmit"]["sparkSubmitParameters"] += " --conf spark.emr-serverless.driverEnv.X=1"
    second = build_start_job_run_request(cfg, "embeddings", ["--years", "2019"], run_id="r", years=[2019])
    assert "dagster/run-id" not in second["tags"]
    assert "driverEnv.X" not in second["jobDriver"]["sparkSubmit"]["sparkSubmitParameters"]
    tokens = {build_start_job_run_request(cfg, "embeddings", [], run_id="r")["clientToken"] for _ in range(50)}
    assert len(tokens) == 50


def test_image_python_and_overrides():
    cfg = _cfg(python_env="image", image_python="/usr/bin/python3.11", artifacts_tag="abc123", executor_memory="8g",
               max_executors=50, execution_timeout_minutes=60, spark_conf={"spark.sql.shuffle.partitions": "400"})
    req = build_start_job_run_request(cfg, "cover_urls", ["--years", "2020"], years=[2020])
    confs, _ = _confs(req["jobDriver"]["sparkSubmit"]["sparkSubmitParameters"])
    assert "spark.archives" not in confs
    assert confs["spark.emr-serverless.driverEnv.PYSPARK_PYTHON"] == "/usr/bin/python3.11"
    assert confs["spark.executor.memory"] == "8g" and confs["spark.dynamicAllocation.maxExecutors"] == "50"
    assert confs["spark.sql.shuffle.partitions"] == "400"
    assert req["jobDriver"]["sparkSubmit"]["entryPoint"] == "s3://bkt/book-assets/artifacts/abc123/jobs/cover_urls_job.py"
    assert req["executionTimeoutMinutes"] == 60


def _limits() -> tuple[int, int]:
    """StartJobRun's ``name`` and tag value maxima, from the service model (botocore does not check them)."""
    import botocore.session

    shape = botocore.session.get_session().get_service_model("emr-serverless").operation_model("StartJobRun").input_shape
    return shape.members["name"].metadata["max"], shape.members["tags"].value.metadata["max"]


def test_years_in_name_and_tag_are_ranges():
    req = build_start_job_run_request(_cfg(), "fiction", [], years=[2011, 2001, 2002, 2003, 2005, 2010, 2002])
    assert req["name"] == "book-assets-fiction-2001-2003 2005 2010-2011"
    assert req["tags"]["book_assets/years"] == "2001-2003 2005 2010-2011"
    single = build_start_job_run_request(_cfg(), "fiction", [], years=[2019])
    assert (single["name"], single["tags"]["book_assets/years"]) == ("book-assets-fiction-2019", "2019")
    assert build_start_job_run_request(_cfg(), "fiction", [])["name"] == "book-assets-fiction"


@pytest.mark.parametrize("years", [list(range(1975, 2025)), list(range(1900, 2025)), list(range(1901, 2025, 2)),
                                   [y for y in range(1900, 2025) if y % 3]],
                         ids=["50-consecutive", "125-consecutive", "62-every-other", "every-third-missing"])
def test_many_years_fit_the_name_and_tag_limits(years):
    max_name, max_tag = _limits()
    req = build_start_job_run_request(_cfg(), "embeddings", ["--years", ",".join(map(str, years))], years=years)
    assert len(req["name"]) <= max_name and len(req["tags"]["book_assets/years"]) <= max_tag
    assert req["name"].startswith("book-assets-embeddings-")
    assert str(years[0]) in req["name"] and str(years[-1]) in req["name"]
    if years == list(range(years[0], years[-1] + 1)):
        assert req["name"] == f"book-assets-embeddings-{years[0]}-{years[-1]}"
    else:
        assert req["name"] == f"book-assets-embeddings-{len(years)} years in {years[0]}-{years[-1]}"


def test_missing_settings_are_named():
    with pytest.raises(ValueError, match="application_id"):
        build_start_job_run_request(EmrServerlessConfig(execution_role_arn=ROLE, s3_prefix="s3://b/p"), "fiction", [])
    with pytest.raises(ValueError, match="s3_prefix"):
        build_start_job_run_request(EmrServerlessConfig(application_id="a", execution_role_arn=ROLE), "fiction", [])


def test_driver_log_locations():
    req = build_start_job_run_request(_cfg(), "fiction", [])
    where = driver_log_paths(req["configurationOverrides"]["monitoringConfiguration"], "app1", "run1", None)
    assert where["cloudwatch"] == ("/aws/emr-serverless", "book-assets/applications/app1/jobs/run1/SPARK_DRIVER")
    assert where["s3"] == ("bkt", "book-assets/logs/applications/app1/jobs/run1/SPARK_DRIVER")
    retry = driver_log_paths(req["configurationOverrides"]["monitoringConfiguration"], "app1", "run1", 2)
    assert retry["cloudwatch"][1].endswith("/jobs/run1/attempts/2/SPARK_DRIVER")
    assert years_from_args(["--x", "1", "--years", "2020,2019"]) == [2019, 2020]


def test_factory_reads_emr_env(monkeypatch):
    from book_assets.resources.factory import build_resources

    monkeypatch.setenv("BOOK_ASSETS_SPARK", "emr-serverless")
    monkeypatch.setenv("BOOK_ASSETS_EMR_APPLICATION_ID", "00fenv")
    monkeypatch.setenv("BOOK_ASSETS_EMR_S3_PREFIX", "s3://env-bucket/p")
    monkeypatch.setenv("BOOK_ASSETS_EMR_MAX_EXECUTORS", "7")
    monkeypatch.setenv("BOOK_ASSETS_EMR_MESSAGES", "s3")
    spark = build_resources()["spark"]
    from dagster import build_init_resource_context

    launcher = spark.with_replaced_resource_context(build_init_resource_context()) if hasattr(
        spark, "with_replaced_resource_context") else spark
    emr = launcher.emr
    values = {k: (v.get_value() if hasattr(v, "get_value") else v) for k, v in emr.__dict__.items()}
    assert values["application_id"] == "00fenv" and values["s3_prefix"] == "s3://env-bucket/p"
    assert int(values["max_executors"]) == 7 and values["messages"] == "s3"
