"""An EMR Serverless emulator for tests: moto's API (EMR Serverless, S3, CloudWatch Logs) served
in-process, with job runs that really run.

moto 5.2.5 implements the EMR Serverless API but runs nothing: a job run is SUCCESS at once. Here
``StartJobRun`` (patched into moto's backend, so the boto3/HTTP surface stays moto's) starts a
thread that

* downloads the entry point and ``--py-files`` from (moto) S3, checks that ``spark.archives``
  exist there (a missing archive fails the run, as on EMR), and runs the entry point with the
  local ``spark-submit`` on ``local[N]``. The packed environment itself is not unpacked: Python
  paths that point into it (``./environment/bin/python``) are replaced by this interpreter, and
  the sizing confs (driver/executor memory and cores, dynamic allocation) are recorded but not
  applied;
* passes ``spark.emr-serverless.driverEnv.*`` to the driver as environment variables (that is how
  Dagster Pipes bootstraps the job);
* moves the run SUBMITTED → PENDING → SCHEDULED → RUNNING → SUCCESS / FAILED, or CANCELLING →
  CANCELLED on ``CancelJobRun`` (the driver's process group is killed), FAILED on
  ``executionTimeoutMinutes``;
* writes the driver's stdout/stderr, while it runs, to the CloudWatch streams
  ``<prefix>/applications/<app>/jobs/<run>/SPARK_DRIVER/{stdout,stderr}`` and to
  ``<logUri>/applications/<app>/jobs/<run>/SPARK_DRIVER/{stdout,stderr}.gz`` — where EMR
  Serverless puts them;
* honours ``clientToken`` idempotency (same token → same job run), which moto does not.
"""
from __future__ import annotations

import gzip
import logging
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
ACCOUNT_ID = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/book-assets-emr-job"
IGNORED_CONF_PREFIXES = ("spark.driver.memory", "spark.driver.cores", "spark.executor.memory",
                         "spark.executor.cores", "spark.dynamicAllocation.")


@dataclass
class EmulatedRun:
    """One job run as the emulator executed it (for assertions)."""

    application_id: str
    job_run_id: str
    request: dict
    job_run: Any
    states: list[str] = field(default_factory=list)
    command: list[str] = field(default_factory=list)
    driver_env: dict[str, str] = field(default_factory=dict)
    ignored_conf: dict[str, str] = field(default_factory=dict)
    archives: list[str] = field(default_factory=list)
    returncode: int | None = None
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    process: subprocess.Popen | None = None
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def state(self) -> str:
        return self.job_run.state


class EmrServerlessEmulator:
    def __init__(self, region: str = "us-east-1", master: str = "local[2]", driver_memory: str = "1g",
                 extra_conf: dict[str, str] | None = None, step_delay_s: float = 0.2, flush_interval_s: float = 0.5):
        self.region, self.master, self.driver_memory = region, master, driver_memory
        self.extra_conf = {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4", **(extra_conf or {})}
        self.step_delay_s, self.flush_interval_s = step_delay_s, flush_interval_s
        self.runs: dict[str, EmulatedRun] = {}
        self._by_token: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._server = None
        self._backend = None
        self._workdir = Path(tempfile.mkdtemp(prefix="emr-emulator-"))
        self.endpoint_url = ""

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> "EmrServerlessEmulator":
        from moto.emrserverless.models import emrserverless_backends
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        self._backend = emrserverless_backends[ACCOUNT_ID][self.region]
        self._orig_start, self._orig_cancel = self._backend.start_job_run, self._backend.cancel_job_run
        self._backend.start_job_run = self._start_job_run
        self._backend.cancel_job_run = self._cancel_job_run
        return self

    def __exit__(self, *exc) -> None:
        for run in list(self.runs.values()):
            if not run.done.is_set():
                run.cancel_requested.set()
                self._kill(run)
                run.done.wait(15)
        if self._backend is not None:
            del self._backend.start_job_run, self._backend.cancel_job_run
        if self._server is not None:
            self._server.stop()

    def client(self, service: str):
        import boto3

        return boto3.session.Session(
            aws_access_key_id=FAKE_AWS_ENV["AWS_ACCESS_KEY_ID"], aws_secret_access_key=FAKE_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=FAKE_AWS_ENV["AWS_SESSION_TOKEN"], region_name=self.region,
        ).client(service, endpoint_url=self.endpoint_url)

    def create_application(self, name: str = "book-assets", release_label: str = "emr-7.5.0") -> str:
        return self.client("emr-serverless").create_application(
            name=name, releaseLabel=release_label, type="SPARK")["applicationId"]

    def wait_for_state(self, job_run_id: str, states: tuple[str, ...], timeout_s: float = 60) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            run = self.runs.get(job_run_id)
            if run is not None and run.state in states:
                return run.state
            time.sleep(0.1)
        raise TimeoutError(f"job run {job_run_id} not in {states} after {timeout_s}s")

    # -- patched backend calls -------------------------------------------------------------------
    def _start_job_run(self, **kwargs: Any):
        token = kwargs.get("client_token")
        with self._lock:
            if token and token in self._by_token:
                return self._by_token[token]
            job_run = self._orig_start(**kwargs)
            job_run.state = "SUBMITTED"
            run = EmulatedRun(application_id=job_run.application_id, job_run_id=job_run.id,
                              request=dict(kwargs), job_run=job_run, states=["SUBMITTED"])
            self.runs[job_run.id] = run
            if token:
                self._by_token[token] = job_run
        threading.Thread(target=self._execute, args=(run,), daemon=True, name=f"emr-run-{job_run.id}").start()
        return job_run

    def _cancel_job_run(self, application_id: str, job_run_id: str):
        run = self.runs.get(job_run_id)
        if run is None:
            return self._orig_cancel(application_id=application_id, job_run_id=job_run_id)
        if not run.done.is_set() and run.state not in ("SUCCESS", "FAILED", "CANCELLED"):
            run.cancel_requested.set()
            self._set_state(run, "CANCELLING")
            self._kill(run)
        return application_id, job_run_id

    # -- execution -------------------------------------------------------------------------------
    def _set_state(self, run: EmulatedRun, state: str, details: str | None = None) -> None:
        from moto.core.utils import utcnow

        with self._lock:
            run.job_run.state = state
            if details is not None:
                run.job_run.state_details = details
            run.job_run.updated_at = utcnow()
            run.states.append(state)

    def _kill(self, run: EmulatedRun) -> None:
        proc = run.process
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)

    def _fetch(self, uri: str, dest_dir: Path) -> Path:
        if not uri.startswith("s3://"):
            return Path(uri)
        bucket, _, key = uri[5:].partition("/")
        dest = dest_dir / key.rsplit("/", 1)[-1]
        self.client("s3").download_file(bucket, key, str(dest))
        return dest

    def _s3_exists(self, uri: str) -> bool:
        bucket, _, key = uri[5:].partition("/")
        try:
            self.client("s3").head_object(Bucket=bucket, Key=key)
            return True
        except Exception:
            return False

    def _prepare(self, run: EmulatedRun, workdir: Path) -> list[str]:
        from book_assets.resources.spark import spark_submit_executable

        driver = run.request["job_driver"]["sparkSubmit"]
        entry = self._fetch(driver["entryPoint"], workdir)
        tokens = shlex.split(driver.get("sparkSubmitParameters") or "")
        conf: dict[str, str] = {}
        py_files: list[str] = []
        i = 0
        while i < len(tokens):
            flag = tokens[i]
            value = tokens[i + 1] if i + 1 < len(tokens) else ""
            if flag == "--conf":
                k, _, v = value.partition("=")
                conf[k] = v
            elif flag == "--py-files":
                py_files += [str(self._fetch(u, workdir)) for u in value.split(",") if u]
            elif flag == "--archives":
                run.archives += value.split(",")
            elif flag in ("--files", "--jars"):
                [self._fetch(u, workdir) for u in value.split(",") if u]
            i += 2
        run.archives += [a for a in conf.pop("spark.archives", "").split(",") if a]
        for archive in run.archives:
            uri = archive.split("#", 1)[0]
            if uri.startswith("s3://") and not self._s3_exists(uri):
                raise RuntimeError(f"Failed to download archive {uri}: the object does not exist")
        passed: dict[str, str] = {}
        for key, value in conf.items():
            if key.startswith("spark.emr-serverless.driverEnv."):
                run.driver_env[key.split(".", 3)[3]] = value
            elif key.startswith("spark.executorEnv.PYSPARK_PYTHON") or key.startswith(IGNORED_CONF_PREFIXES):
                run.ignored_conf[key] = value
            else:
                passed[key] = value
        cmd = [spark_submit_executable(), "--master", self.master, "--driver-memory", self.driver_memory]
        for key, value in {**passed, **self.extra_conf}.items():
            cmd += ["--conf", f"{key}={value}"]
        if py_files:
            cmd += ["--py-files", ",".join(py_files)]
        return cmd + [str(entry), *driver.get("entryPointArguments", [])]

    def _env(self, run: EmulatedRun) -> dict[str, str]:
        from book_assets.resources.spark import spark_home

        env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_PIPES_")}
        for key, value in run.driver_env.items():
            if key in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON") and not os.path.isabs(value):
                value = sys.executable  # the packed env is not unpacked here
            env[key] = value
        env.setdefault("PYSPARK_PYTHON", sys.executable)
        env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        env["SPARK_HOME"] = env.get("SPARK_HOME") or spark_home()
        return env

    def _log_targets(self, run: EmulatedRun) -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
        from book_assets.resources.emr_serverless import driver_log_paths

        monitoring = (run.request.get("configuration_overrides") or {}).get("monitoringConfiguration", {})
        where = driver_log_paths(monitoring, run.application_id, run.job_run_id, None)
        return where.get("cloudwatch"), where.get("s3")

    def _execute(self, run: EmulatedRun) -> None:
        started = time.monotonic()
        workdir = self._workdir / run.job_run_id
        workdir.mkdir(parents=True, exist_ok=True)
        cw, s3 = self._log_targets(run)
        shipper = _LogShipper(self, run, cw, s3)
        try:
            for state in ("PENDING", "SCHEDULED"):
                time.sleep(self.step_delay_s)
                if run.cancel_requested.is_set():
                    break
                self._set_state(run, state)
            if run.cancel_requested.is_set():
                self._set_state(run, "CANCELLED", "Job run cancelled by user")
                return
            try:
                run.command = self._prepare(run, workdir)
            except Exception as exc:
                self._set_state(run, "FAILED", f"Job failed to start: {exc}")
                return
            shipper.start()
            self._set_state(run, "RUNNING")
            run.process = subprocess.Popen(run.command, env=self._env(run), cwd=workdir, stdout=subprocess.PIPE,
                                           stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True)
            readers = [threading.Thread(target=self._pump, args=(run.process.stdout, run.stdout), daemon=True),
                       threading.Thread(target=self._pump, args=(run.process.stderr, run.stderr), daemon=True)]
            for r in readers:
                r.start()
            timeout = 60 * int(run.request.get("execution_timeout_minutes") or 720)
            timed_out = False
            try:
                run.returncode = run.process.wait(timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                self._kill(run)
                run.returncode = run.process.wait()
            for r in readers:
                r.join(10)
            shipper.stop()
            run.job_run.total_execution_duration_seconds = int(time.monotonic() - started)
            if run.cancel_requested.is_set():
                self._set_state(run, "CANCELLED", "Job run cancelled by user")
            elif timed_out:
                self._set_state(run, "FAILED", "Job run timed out: exceeded executionTimeoutMinutes")
            elif run.returncode == 0:
                self._set_state(run, "SUCCESS", "")
            else:
                errors = [line for line in run.stdout + run.stderr
                          if ("Error" in line or "Exception" in line) and "__dagster_pipes_version" not in line][-3:]
                self._set_state(run, "FAILED", (
                    "Job failed, please check complete logs in configured logging destination. "
                    f"ExitCode: {run.returncode}. Last few exceptions: " + " | ".join(errors)))
        finally:
            shipper.stop()
            run.done.set()

    @staticmethod
    def _pump(stream, sink: list[str]) -> None:
        for line in stream:
            sink.append(line.rstrip("\n"))


class _LogShipper:
    """Copies the driver's captured output to CloudWatch (put_log_events) and S3 (whole .gz)."""

    def __init__(self, emu: EmrServerlessEmulator, run: EmulatedRun, cw, s3) -> None:
        self.emu, self.run, self.cw, self.s3 = emu, run, cw, s3
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sent = {"stdout": 0, "stderr": 0}
        self._s3_sent = {"stdout": -1, "stderr": -1}

    def start(self) -> None:
        if self.cw:
            logs = self.emu.client("logs")
            group, stream = self.cw
            try:
                logs.create_log_group(logGroupName=group)
            except logs.exceptions.ResourceAlreadyExistsException:
                pass
            for name in ("stdout", "stderr"):
                logs.create_log_stream(logGroupName=group, logStreamName=f"{stream}/{name}")
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(30)
        self._thread = None
        self._flush()

    def _loop(self) -> None:
        while not self._stop.wait(self.emu.flush_interval_s):
            self._flush()

    def _flush(self) -> None:
        for name, lines in (("stdout", self.run.stdout), ("stderr", self.run.stderr)):
            count = len(lines)
            if self.cw and count > self._sent[name]:
                group, stream = self.cw
                now = int(time.time() * 1000)
                events = [{"timestamp": now, "message": line or " "} for line in lines[self._sent[name]:count]]
                logs = self.emu.client("logs")
                for start in range(0, len(events), 5000):
                    logs.put_log_events(logGroupName=group, logStreamName=f"{stream}/{name}",
                                        logEvents=events[start:start + 5000])
                self._sent[name] = count
            if self.s3 and count != self._s3_sent[name]:
                bucket, prefix = self.s3
                body = gzip.compress(("\n".join(lines[:count]) + ("\n" if count else "")).encode())
                self.emu.client("s3").put_object(Bucket=bucket, Key=f"{prefix}/{name}.gz", Body=body)
                self._s3_sent[name] = count
