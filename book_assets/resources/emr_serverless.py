"""EMR Serverless launch mode of :class:`~book_assets.resources.spark.SparkLauncher`.

:class:`EmrServerlessConfig` holds the settings. All of them show in the launchpad. Most are set by
one ``BOOK_ASSETS_EMR_*`` env var each (``resources/factory.py::build_emr_config``). These are
launchpad-only, with no env var: ``driver_cores``, ``driver_memory``, ``max_partition_bytes``,
``min_executors``, ``initial_executors``, ``spark_conf``, ``log_group_name``,
``log_stream_prefix``, ``poll_interval_s`` and ``allow_local_paths``.
:func:`build_start_job_run_request` turns them into a *fresh* StartJobRun request for
one job (the Pipes client mutates the dict it is given); :func:`run_emr_serverless_job` runs it
through :class:`BookAssetsEmrServerlessClient`, a subclass of dagster-aws's
``PipesEMRServerlessClient`` that works around these upstream defects (dagster-aws 0.29.27):

* ``get_dashboard_for_job_run`` is called unconditionally while polling; an API without it
  (moto, some partitions/proxies) fails the whole run. Here it is optional.
* on FAILED/CANCELLED it raises ``RuntimeError("EMR Serverless job failed")`` *before* Pipes
  messages and logs are read, so the driver's traceback never reaches Dagster. Here the session
  drains messages and logs first. The error names the job run id and its state details, then
  shows the tail of the driver's stdout (Pipes messages removed; the Python traceback is there)
  and then the tail of its stderr.
* messages are only read after the job finished (log group/stream are announced at the end).
  Here they are announced right after StartJobRun, so logs and messages stream during the run.
* ``PipesCloudWatchLogReader`` busy-loops (no sleep, never checks for session close) on an
  existing but empty stream, and the logs thread waits 60 s for streams that are never written.
  Here log readers poll with a sleep, treat a missing stream as empty and stop after the session
  closes.
* only CloudWatch can carry messages upstream; here the driver's ``stdout.gz`` that EMR Serverless
  writes under the S3 ``logUri`` can carry them too (``messages="s3"``), so the job scripts keep
  the default stdout Pipes writer in both modes.
* only an interrupt cancels the job run; any other error while polling (expired credentials, a
  throttled or unreachable endpoint) leaves it running, so a re-run starts a second writer. Here
  transient GetJobRun errors are retried with backoff, and any error after StartJobRun cancels the
  job run (best effort) and fails with a ``Failure`` naming it and whether the cancel worked.
"""
from __future__ import annotations

import collections
import contextlib
import copy
import gzip
import shlex
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import IO, Any

import tenacity
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.retries import standard as botocore_retries
from dagster import Config, DagsterInvariantViolationError, Failure, MetadataValue
from dagster._core.pipes.client import PipesClientCompletedInvocation, PipesParams
from dagster._core.pipes.utils import (
    PipesLogReader,
    PipesThreadedMessageReader,
    forward_only_logs_to_file,
    open_pipes_session,
)
from dagster_aws.pipes import PipesEMRServerlessClient
from dagster_pipes import PipesDefaultMessageWriter
from pydantic import Field

from book_assets.emr.job_runtime import BASE_SPARK_CONF
from book_assets.settings import parse_year_spec

PYSPARK_ENV_ALIAS = "environment"
CODE_ZIP = "book_assets.zip"
ENV_ARCHIVE = "pyspark_env.tar.gz"
DRIVER = "SPARK_DRIVER"
TERMINAL_STATES = ("SUCCESS", "FAILED", "CANCELLED")
ERROR_TAIL_LINES = 40
POLL_ATTEMPTS = 8  # GetJobRun tries per poll on transient errors (backoff from poll_interval, max 60 s)
MAX_LOG_PAGES = 50  # GetLogEvents pages per read (the next read goes on from there)
MAX_NAME = 256  # StartJobRun ``name`` (botocore does not check the maximum; AWS rejects the request)
MAX_TAG_VALUE = 256


class EmrServerlessConfig(Config):
    """Where and how jobs run on EMR Serverless (``BOOK_ASSETS_EMR_*``; see book_assets/emr/README.md)."""

    application_id: str = Field(default="", description="BOOK_ASSETS_EMR_APPLICATION_ID: EMR Serverless Spark application")
    execution_role_arn: str = Field(default="", description="BOOK_ASSETS_EMR_EXECUTION_ROLE_ARN: job runtime role")
    s3_prefix: str = Field(
        default="",
        description="BOOK_ASSETS_EMR_S3_PREFIX: s3://bucket/prefix holding artifacts/, logs/ (and warehouse/ by convention)",
    )
    artifacts_tag: str = Field(default="latest", description="BOOK_ASSETS_EMR_ARTIFACTS_TAG: artifacts/<tag>/ uploaded by `python -m book_assets.emr.package`")
    release_label: str = Field(default="emr-7.5.0", description="BOOK_ASSETS_EMR_RELEASE_LABEL: the application's release (checked, and used by packaging)")
    region_name: str = Field(default="", description="BOOK_ASSETS_EMR_REGION (blank = AWS default region)")
    endpoint_url: str = Field(default="", description="BOOK_ASSETS_EMR_ENDPOINT_URL: only for emulators (blank = AWS)")
    python_env: str = Field(
        default="archive",
        description="BOOK_ASSETS_EMR_PYTHON_ENV: 'archive' (spark.archives packed env) or 'image' (custom image python)",
    )
    image_python: str = Field(default="/usr/bin/python3.11", description="BOOK_ASSETS_EMR_IMAGE_PYTHON: PYSPARK_PYTHON with python_env=image")
    driver_cores: int = Field(default=4, description="spark.driver.cores")
    driver_memory: str = Field(default="16g", description="spark.driver.memory (the driver also downloads covers)")
    executor_cores: int = Field(default=4, description="BOOK_ASSETS_EMR_EXECUTOR_CORES: spark.executor.cores")
    executor_memory: str = Field(default="16g", description="BOOK_ASSETS_EMR_EXECUTOR_MEMORY: spark.executor.memory (CLIP per Python worker)")
    max_partition_bytes: str = Field(default="128m", description="spark.sql.files.maxPartitionBytes (dump parts are gzip: one part = one task anyway)")
    min_executors: int = Field(default=1, description="spark.dynamicAllocation.minExecutors")
    initial_executors: int = Field(default=2, description="spark.dynamicAllocation.initialExecutors")
    max_executors: int = Field(default=20, description="BOOK_ASSETS_EMR_MAX_EXECUTORS: spark.dynamicAllocation.maxExecutors")
    spark_conf: dict[str, str] = Field(default_factory=dict, description="extra --conf key=value pairs")
    execution_timeout_minutes: int = Field(default=180, description="BOOK_ASSETS_EMR_TIMEOUT_MINUTES: executionTimeoutMinutes")
    messages: str = Field(default="cloudwatch", description="BOOK_ASSETS_EMR_MESSAGES: read Pipes messages from 'cloudwatch' or 's3' driver logs")
    log_group_name: str = Field(default="/aws/emr-serverless", description="CloudWatch log group")
    log_stream_prefix: str = Field(default="book-assets", description="CloudWatch log stream name prefix")
    poll_interval_s: float = Field(default=10.0, description="seconds between GetJobRun polls")
    allow_local_paths: bool = Field(
        default=False,
        description="only for an emulator whose jobs run on this host: let jobs get this host's paths "
        "(on EMR Serverless every input and output location must be an s3:// URI)",
    )

    # -- derived locations -------------------------------------------------------------------
    def artifacts_uri(self) -> str:
        return f"{_require(self.s3_prefix, 's3_prefix').rstrip('/')}/artifacts/{self.artifacts_tag}"

    def logs_uri(self) -> str:
        return f"{_require(self.s3_prefix, 's3_prefix').rstrip('/')}/logs/"

    def entry_point(self, job: str) -> str:
        return f"{self.artifacts_uri()}/jobs/{job}_job.py"

    def boto_kwargs(self) -> dict[str, str]:
        kwargs = {}
        if self.region_name:
            kwargs["region_name"] = self.region_name
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        return kwargs


def _require(value: str, name: str) -> str:
    if not value:
        raise ValueError(f"EMR Serverless setting {name!r} is empty (see book_assets/emr/README.md)")
    return value


def spark_properties(cfg: EmrServerlessConfig, executor_env: dict[str, str] | None = None) -> dict[str, str]:
    """All ``--conf`` pairs of a job: workload sizing, Python env, the project's base settings,
    and ``executor_env`` as ``spark.executorEnv.*``."""
    props = {
        **BASE_SPARK_CONF,
        "spark.driver.cores": str(cfg.driver_cores),
        "spark.driver.memory": cfg.driver_memory,
        "spark.executor.cores": str(cfg.executor_cores),
        "spark.executor.memory": cfg.executor_memory,
        "spark.sql.files.maxPartitionBytes": cfg.max_partition_bytes,
        "spark.dynamicAllocation.enabled": "true",
        "spark.dynamicAllocation.minExecutors": str(cfg.min_executors),
        "spark.dynamicAllocation.initialExecutors": str(cfg.initial_executors),
        "spark.dynamicAllocation.maxExecutors": str(cfg.max_executors),
        "spark.ui.showConsoleProgress": "false",
    }
    if cfg.python_env == "archive":
        python = f"./{PYSPARK_ENV_ALIAS}/bin/python"
        props["spark.archives"] = f"{cfg.artifacts_uri()}/{ENV_ARCHIVE}#{PYSPARK_ENV_ALIAS}"
    elif cfg.python_env == "image":
        python = cfg.image_python
    else:
        raise ValueError(f"python_env must be 'archive' or 'image', got {cfg.python_env!r}")
    props["spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON"] = python
    props["spark.emr-serverless.driverEnv.PYSPARK_PYTHON"] = python
    props["spark.executorEnv.PYSPARK_PYTHON"] = python
    props.update({f"spark.executorEnv.{key}": value for key, value in (executor_env or {}).items()})
    props.update(cfg.spark_conf)
    return props


def spark_submit_parameters(cfg: EmrServerlessConfig, executor_env: dict[str, str] | None = None) -> str:
    parts = [f"--conf {key}={value}" for key, value in spark_properties(cfg, executor_env).items()]
    parts.append(f"--py-files {cfg.artifacts_uri()}/{CODE_ZIP}")
    return " ".join(parts)


def _tag_value(value: str) -> str:
    """AWS tag values allow letters, digits, spaces and ``_.:/=+-@`` (max 256)."""
    return "".join(c if c.isalnum() or c in " _.:/=+-@" else "_" for c in value)[:MAX_TAG_VALUE]


def years_label(years: list[int], max_len: int = MAX_TAG_VALUE) -> str:
    """The years for a job name or tag: runs of consecutive years as ranges (``2001-2003 2005``);
    longer than ``max_len``, only the count and the span (``37 years in 1950-2049``)."""
    runs: list[list[int]] = []
    for year in sorted(set(years)):
        if runs and year == runs[-1][-1] + 1:
            runs[-1].append(year)
        else:
            runs.append([year])
    label = " ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)
    if len(label) > max_len:
        label = f"{len(set(years))} years in {runs[0][0]}-{runs[-1][-1]}"
    return label[:max_len]


def build_start_job_run_request(
    cfg: EmrServerlessConfig, job: str, args: list[str], *, run_id: str = "", years: list[int] | None = None,
    executor_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A new StartJobRun request for ``job`` (never reuse one: the Pipes client mutates it).

    The years are in ``args`` (``--years``) because Pipes gives the job no partition key in range
    runs; they are repeated, as a :func:`years_label`, in the job name and a tag for the console.
    ``executor_env`` becomes environment variables of the executors.
    """
    token = f"{(run_id or 'adhoc')[:8]}-{job}-{uuid.uuid4().hex}"[:64]
    name = f"book-assets-{job}"
    if years:
        name += "-" + years_label(years, MAX_NAME - len(name) - 1)
    monitoring: dict[str, Any] = {
        "s3MonitoringConfiguration": {"logUri": cfg.logs_uri()},
        "cloudWatchLoggingConfiguration": {
            "enabled": True,
            "logGroupName": cfg.log_group_name,
            "logStreamNamePrefix": cfg.log_stream_prefix,
            "logTypes": {DRIVER: ["STDOUT", "STDERR"], "SPARK_EXECUTOR": ["STDERR"]},
        },
    }
    return {
        "applicationId": _require(cfg.application_id, "application_id"),
        "executionRoleArn": _require(cfg.execution_role_arn, "execution_role_arn"),
        "clientToken": token,
        "name": name[:MAX_NAME],
        "jobDriver": {
            "sparkSubmit": {
                "entryPoint": cfg.entry_point(job),
                "entryPointArguments": list(args),
                "sparkSubmitParameters": spark_submit_parameters(cfg, executor_env),
            }
        },
        "configurationOverrides": {"monitoringConfiguration": monitoring},
        "tags": {
            "book_assets/job": _tag_value(job),
            "book_assets/years": _tag_value(years_label(years or [])),
            "book_assets/artifacts": _tag_value(cfg.artifacts_tag),
        },
        "executionTimeoutMinutes": cfg.execution_timeout_minutes,
    }


def years_from_args(args: list[str]) -> list[int]:
    """The years in a job's ``--years`` argument (for the run's name and tags); ``[]`` without one.

    Parsed by :func:`book_assets.settings.parse_year_spec`, as the job script itself parses it.
    """
    if "--years" in args and args.index("--years") + 1 < len(args):
        return parse_year_spec(args[args.index("--years") + 1], "--years")
    return []


# -- where the driver's output lands ---------------------------------------------------------------
class DriverLog:
    """One driver output (stdout or stderr) of a job run, read incrementally: CloudWatch or S3."""

    def read_from(self, cursor: Any) -> tuple[Any, str] | None:  # pragma: no cover - interface
        raise NotImplementedError

    def exists(self) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def tail(self, lines: int = ERROR_TAIL_LINES) -> str:
        """The last ``lines`` lines that are not Pipes messages. It describes a failed job run,
        which must not be masked: an unreadable log gives the reason instead."""
        kept: collections.deque[str] = collections.deque(maxlen=lines)
        cursor = None
        try:
            while (got := self.read_from(cursor)) and got[0] != cursor:
                cursor = got[0]
                kept.extend(line for line in got[1].splitlines() if '"__dagster_pipes_version"' not in line)
        except DriverLogError as exc:
            return f"({exc})"
        except Exception as exc:
            return f"(cannot read {self.name}: {type(exc).__name__}: {exc})"
        return "\n".join(kept)


def is_transient(exc: BaseException) -> bool:
    """A ClientError worth another try later: throttling, a 5xx or a timeout (botocore's own
    classification, which its retries have already spent)."""
    if not isinstance(exc, ClientError):
        return False
    context = botocore_retries.RetryContext(attempt_number=1, parsed_response=exc.response)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return status >= 500 or any(
        checker.is_retryable(context)
        for checker in (botocore_retries.ThrottledRetryableChecker(), botocore_retries.TransientRetryableChecker())
    )


class CloudWatchDriverLog(DriverLog):
    """A CloudWatch Logs stream. A missing stream, throttling or a 5xx read as "nothing yet"; any
    other failure (AccessDenied, …) raises :class:`DriverLogError` naming the stream."""

    def __init__(self, client: Any, group: str, stream: str) -> None:
        self.client, self.group, self.stream = client, group, stream

    @property
    def name(self) -> str:
        return f"cloudwatch:{self.group}:{self.stream}"

    def _request(self, call: Callable[..., Any], **params: Any) -> Any | None:
        """``call(logGroupName=…, **params)``; ``None`` for "nothing yet"."""
        try:
            return call(logGroupName=self.group, **params)
        except self.client.exceptions.ResourceNotFoundException:
            return None
        except Exception as exc:
            if is_transient(exc):
                return None
            raise DriverLogError(f"cannot read driver log {self.name}: {type(exc).__name__}: {exc}") from exc

    def exists(self) -> bool:
        found = self._request(self.client.describe_log_streams, logStreamNamePrefix=self.stream) or {}
        return any(s["logStreamName"] == self.stream for s in found.get("logStreams", []))

    def read_from(self, cursor: str | None) -> tuple[str, str] | None:
        """Events after ``cursor``, following ``nextForwardToken`` until it repeats (pages may be
        empty while more events follow) or for :data:`MAX_LOG_PAGES` pages."""
        start, lines = cursor, []
        for _ in range(MAX_LOG_PAGES):
            page = {"nextToken": cursor} if cursor else {}
            response = self._request(self.client.get_log_events, logStreamName=self.stream, startFromHead=True, **page)
            if response is None:  # not there yet, or try again later: re-read from ``start`` then
                return None
            lines += [e.get("message", "") for e in response.get("events", [])]
            token = response.get("nextForwardToken")
            if not token or token == cursor:
                break
            cursor = token
        return (cursor, "\n".join(lines)) if lines or cursor != start else None


class DriverLogError(RuntimeError):
    """A driver log cannot be read for a reason other than "not written yet" or "try again later"
    (access denied, no such bucket, no connection): the message names the log."""


# What S3 answers for an object that does not exist (yet): GetObject's NoSuchKey, HeadObject's bare 404.
_S3_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})


class S3DriverLog(DriverLog):
    """``<logUri>/applications/<app>/jobs/<run>/SPARK_DRIVER/<stdout|stderr>.gz`` (rewritten as it grows).

    An object that is not there yet, throttling (SlowDown) or a 5xx read as "nothing yet"; any
    other failure (AccessDenied, NoSuchBucket, an unreachable endpoint) raises
    :class:`DriverLogError` with the URI, so a missing permission shows up as such instead of as a
    job that "reported no figures".
    """

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self.client, self.bucket, self.key = client, bucket, key

    @property
    def name(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def _request(self, call: Callable[..., Any]) -> Any | None:
        """``call(Bucket=…, Key=…)``; ``None`` if the object does not exist (yet)."""
        try:
            return call(Bucket=self.bucket, Key=self.key)
        except Exception as exc:
            error = getattr(exc, "response", None)
            code = str(error.get("Error", {}).get("Code", "")) if isinstance(error, dict) else ""
            if code in _S3_NOT_FOUND or is_transient(exc):
                return None
            raise DriverLogError(f"cannot read driver log {self.name}: {code or type(exc).__name__}: {exc}") from exc

    def exists(self) -> bool:
        return self._request(self.client.head_object) is not None

    def read_from(self, cursor: int | None) -> tuple[int, str] | None:
        got = self._request(self.client.get_object)
        if got is None:
            return None
        try:
            body = got["Body"].read()
        except (BotoCoreError, OSError):  # the connection dropped mid-body: try again next time
            return None
        try:
            text = gzip.decompress(body).decode("utf-8", "replace")
        except (OSError, EOFError):  # a half-written object: try again next time
            return None
        start = cursor or 0
        end = text.rfind("\n") + 1  # whole lines only
        if end <= start:
            return None
        return end, text[start:end].rstrip("\n")


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def driver_log_paths(monitoring: dict, application_id: str, job_run_id: str, attempt: int | None) -> dict[str, Any]:
    """Where EMR Serverless puts the driver's stdout/stderr for this job run (CloudWatch and S3)."""
    run_path = f"/applications/{application_id}/jobs/{job_run_id}"
    if attempt is not None and attempt > 1:
        run_path += f"/attempts/{attempt}"
    out: dict[str, Any] = {}
    cw = monitoring.get("cloudWatchLoggingConfiguration") or {}
    if cw.get("enabled"):
        stream = f"{cw.get('logStreamNamePrefix') or ''}{run_path}/{DRIVER}"
        out["cloudwatch"] = (cw.get("logGroupName") or "/aws/emr-serverless", stream)
    s3 = monitoring.get("s3MonitoringConfiguration") or {}
    if s3.get("logUri"):
        bucket, key = split_s3_uri(s3["logUri"])
        prefix = key.rstrip("/")
        out["s3"] = (bucket, f"{prefix}{run_path}/{DRIVER}".lstrip("/"))
    return out


# -- Pipes readers ---------------------------------------------------------------------------------
class DriverStdoutMessageReader(PipesThreadedMessageReader):
    """Pipes messages from the driver's stdout (the job keeps the default stdout message writer).

    The log location is unknown until StartJobRun answers; the client hands it over with
    :meth:`attach` (no 60 s wait, no dependence on ``on_launched`` payload shapes).
    """

    def __init__(self, interval: float = 2.0) -> None:
        super().__init__(interval=interval)
        self._log: DriverLog | None = None

    def attach(self, log: DriverLog) -> None:
        self._log = log

    @contextlib.contextmanager
    def get_params(self) -> Iterator[PipesParams]:
        yield {PipesDefaultMessageWriter.STDIO_KEY: PipesDefaultMessageWriter.STDOUT}

    def messages_are_readable(self, params: PipesParams) -> bool:
        return self._log is not None and self._log.exists()

    def download_messages(self, cursor: Any, params: PipesParams) -> tuple[Any, str] | None:
        assert self._log is not None
        return self._log.read_from(cursor)

    def no_messages_debug_text(self) -> str:
        return f"Attempted to read Pipes messages from the driver's stdout ({getattr(self._log, 'name', 'not attached')})."


class DriverLogForwarder(PipesLogReader):
    """Forwards a driver log to this process's stdout/stderr, polling with a sleep; stops after the
    session closes once the log has stopped growing."""

    def __init__(self, log: DriverLog, target: IO[str], interval: float = 2.0, settle_s: float = 3.0) -> None:
        self.log, self.target, self.interval, self.settle_s = log, target, interval, settle_s
        self.thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return f"DriverLogForwarder({self.log.name})"

    def target_is_readable(self, params: PipesParams) -> bool:
        return True  # a missing stream reads as empty

    def start(self, params: PipesParams, is_session_closed: threading.Event) -> None:
        self.thread = threading.Thread(target=self._run, args=(is_session_closed,), daemon=True)
        self.thread.start()

    def _run(self, is_session_closed: threading.Event) -> None:
        cursor, quiet_since = None, None
        while True:
            closed = is_session_closed.is_set()
            try:
                got = self.log.read_from(cursor)
            except DriverLogError as exc:  # forwarding is a convenience: say why it stops, once
                self.target.write(f"[book_assets] driver log {self.log.name} cannot be forwarded: {exc}\n")
                self.target.flush()
                return
            if got:
                cursor, text = got
                for line in text.splitlines():
                    if line:
                        forward_only_logs_to_file(line, self.target)
                quiet_since = None
            elif closed:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= self.settle_s:
                    return
            is_session_closed.wait(self.interval if not closed else 0.5)

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.join(timeout=30)

    def is_running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


# -- the client --------------------------------------------------------------------------------------
class BookAssetsEmrServerlessClient(PipesEMRServerlessClient):
    """``PipesEMRServerlessClient`` with the upstream defects listed in the module docstring fixed."""

    def __init__(self, client: Any, logs_client: Any, s3_client: Any, messages: str = "cloudwatch",
                 poll_interval: float = 10.0, forward_termination: bool = True) -> None:
        if messages not in ("cloudwatch", "s3"):
            raise ValueError(f"messages must be 'cloudwatch' or 's3', got {messages!r}")
        super().__init__(client=client, message_reader=DriverStdoutMessageReader(),
                         forward_termination=forward_termination, poll_interval=poll_interval)
        self.logs_client, self.s3_client, self.messages = logs_client, s3_client, messages
        self.last_job_run_id: str | None = None

    def run(self, *, context: Any, start_job_run_params: dict, extras: dict | None = None) -> PipesClientCompletedInvocation:  # type: ignore[override]
        params = copy.deepcopy(start_job_run_params)
        with open_pipes_session(context=context, message_reader=self.message_reader,
                                context_injector=self.context_injector, extras=extras) as session:
            params = self._enrich_start_params(context, session, params)
            started = self._start(context, params)
            self.last_job_run_id = started["jobRunId"]
            try:
                logs = self._driver_logs(params, started)
                self.message_reader.attach(logs["stdout"])
                for stream, target in (("stdout", sys.stdout), ("stderr", sys.stderr)):
                    self.message_reader.add_log_reader(DriverLogForwarder(logs[stream], target))
                final = self._poll(context, started)
            except BaseException as exc:  # the job run must not outlive this step unnoticed
                self._abandon(context, started, exc)
                raise
            job_run = final["jobRun"]
            if job_run["state"] != "SUCCESS":
                # spark-submit merges the Python driver's stderr into the driver's stdout, so a
                # traceback lands in stdout; the JVM's own errors are in stderr.
                out_tail, err_tail = logs["stdout"].tail(), logs["stderr"].tail(ERROR_TAIL_LINES // 2)
                tail = f"{out_tail}\n--- driver stderr ({logs['stderr'].name}) ---\n{err_tail}"
                raise Failure(
                    description=(
                        f"EMR Serverless job run {job_run['jobRunId']} (application {job_run['applicationId']}) "
                        f"ended {job_run['state']}: {job_run.get('stateDetails') or 'no details'}\n"
                        f"--- driver stdout ({logs['stdout'].name}), Pipes messages removed ---\n{tail}"
                    ),
                    metadata={
                        "emr_job_run_id": MetadataValue.text(job_run["jobRunId"]),
                        "emr_state": MetadataValue.text(job_run["state"]),
                        "driver_stderr_tail": MetadataValue.md(f"```\n{tail}\n```"),
                    },
                )
        return PipesClientCompletedInvocation(session, metadata=self._extract_dagster_metadata(final))

    def _driver_logs(self, params: dict, started: dict) -> dict[str, DriverLog]:
        monitoring = params.get("configurationOverrides", {}).get("monitoringConfiguration", {})
        where = driver_log_paths(monitoring, started["applicationId"], started["jobRunId"], None)
        if self.messages not in where:
            raise ValueError(f"messages={self.messages!r} but the request has no {self.messages} monitoring configuration")
        if self.messages == "cloudwatch":
            group, stream = where["cloudwatch"]
            return {s: CloudWatchDriverLog(self.logs_client, group, f"{stream}/{s}") for s in ("stdout", "stderr")}
        bucket, prefix = where["s3"]
        return {s: S3DriverLog(self.s3_client, bucket, f"{prefix}/{s}.gz") for s in ("stdout", "stderr")}

    def _abandon(self, context: Any, started: dict, exc: BaseException) -> None:
        """After ``exc`` (raised while the job run was not yet finished): cancel the job run, best
        effort. An interrupt is re-raised as is (and cancels only with ``forward_termination``);
        any other error becomes a :class:`Failure` naming the job run and what became of it."""
        app, run = started["applicationId"], started["jobRunId"]
        interrupted = not isinstance(exc, Exception)
        if interrupted and not self.forward_termination:
            return
        where = f"EMR Serverless job run {run} (application {app})"
        context.log.warning(f"[pipes] {'Dagster run interrupted' if interrupted else type(exc).__name__}: cancelling {where}")
        try:
            self.client.cancel_job_run(applicationId=app, jobRunId=run)
            outcome, cancelled = "was cancelled", True
        except Exception as cancel_exc:
            outcome, cancelled = (f"could NOT be cancelled ({type(cancel_exc).__name__}: {cancel_exc}) and may still be "
                                  f"running: cancel it before a re-run"), False
            context.log.error(f"[pipes] {where} {outcome}")
        if interrupted:
            return
        raise Failure(
            description=f"{where}: {type(exc).__name__}: {exc}\nThe job run {outcome}.",
            metadata={"emr_application_id": MetadataValue.text(app), "emr_job_run_id": MetadataValue.text(run),
                      "emr_cancelled": MetadataValue.bool(cancelled)},
        ) from exc

    def _get_job_run(self, context: Any, app: str, run: str) -> dict:
        """GetJobRun, retried with backoff on throttling, 5xx and connection errors (botocore has
        already spent its own few quick retries): a blip must not abandon a long job run."""
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(
                lambda e: is_transient(e) or isinstance(e, (BotoConnectionError, HTTPClientError))),
            wait=tenacity.wait_exponential(multiplier=self.poll_interval, max=max(60.0, self.poll_interval)),
            stop=tenacity.stop_after_attempt(POLL_ATTEMPTS),
            before_sleep=lambda state: context.log.warning(
                f"[pipes] GetJobRun {run} failed ({state.outcome.exception()}), "
                f"try {state.attempt_number}/{POLL_ATTEMPTS}: retrying in {state.upcoming_sleep:.0f} s"),
            reraise=True,
        )
        return retrying(self.client.get_job_run, applicationId=app, jobRunId=run)

    def _poll(self, context: Any, started: dict) -> dict:
        app, run = started["applicationId"], started["jobRunId"]
        seen = None
        dashboard_tried = False
        while True:
            response = self._get_job_run(context, app, run)
            state = response["jobRun"]["state"]
            if state != seen:
                context.log.info(f"[pipes] EMR Serverless job run {run}: {state}")
                seen = state
            if state == "RUNNING" and not dashboard_tried:
                dashboard_tried = True
                self._log_dashboard(context, app, run)
            if state in TERMINAL_STATES:
                return response
            if state not in ("SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "QUEUED", "CANCELLING"):
                raise DagsterInvariantViolationError(f"Unexpected state for EMR Serverless job run {run}: {state}")
            time.sleep(self.poll_interval)

    def _log_dashboard(self, context: Any, app: str, run: str) -> None:
        try:
            url = self.client.get_dashboard_for_job_run(applicationId=app, jobRunId=run).get("url")
            context.log.info(f"[pipes] Spark UI for job run {run}: {url}")
        except Exception as exc:  # not offered by every endpoint (moto); never fatal
            context.log.debug(f"[pipes] no dashboard for job run {run}: {exc}")


def make_client(cfg: EmrServerlessConfig, forward_termination: bool = True) -> BookAssetsEmrServerlessClient:
    import boto3

    session = boto3.session.Session()
    kwargs = cfg.boto_kwargs()
    return BookAssetsEmrServerlessClient(
        client=session.client("emr-serverless", **kwargs),
        logs_client=session.client("logs", **kwargs),
        s3_client=session.client("s3", **kwargs),
        messages=cfg.messages,
        poll_interval=cfg.poll_interval_s,
        forward_termination=forward_termination,
    )


def check_application(cfg: EmrServerlessConfig, client: Any, log: Callable[[str], None]) -> None:
    """Warn when the application's release differs from the one the artifacts were built for."""
    try:
        app = client.get_application(applicationId=cfg.application_id)["application"]
    except Exception as exc:
        raise Failure(description=f"EMR Serverless application {cfg.application_id!r} not reachable: {exc}") from exc
    if app.get("releaseLabel") and app["releaseLabel"] != cfg.release_label:
        log(f"EMR Serverless application {cfg.application_id} runs {app['releaseLabel']}, "
            f"artifacts were configured for {cfg.release_label}: check the Python/Spark pairing")


def run_emr_serverless_job(
    context: Any, cfg: EmrServerlessConfig, job: str, args: list[str], extras: dict[str, Any] | None = None,
    client: BookAssetsEmrServerlessClient | None = None, executor_env: dict[str, str] | None = None,
):
    """Run ``<job>_job.py`` on EMR Serverless through Pipes; return what it reported."""
    from book_assets.resources.spark import SparkJobResult

    client = client or make_client(cfg)
    check_application(cfg, client.client, context.log.warning)
    request = build_start_job_run_request(
        cfg, job, args, run_id=getattr(context, "run_id", "") or "", years=years_from_args(args),
        executor_env=executor_env,
    )
    context.log.info(
        f"EMR Serverless: {request['jobDriver']['sparkSubmit']['entryPoint']} "
        + shlex.join(request["jobDriver"]["sparkSubmit"]["entryPointArguments"])
    )
    invocation = client.run(context=context, start_job_run_params=request, extras=extras or {})
    return SparkJobResult(reports=list(invocation.get_custom_messages()))
