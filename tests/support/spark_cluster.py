"""A real Spark standalone cluster on 127.0.0.1 for tests: one master and one worker started with
the pyspark package's ``spark-class``; ready when the master's JSON status lists an ALIVE worker."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SparkStandaloneCluster:
    def __init__(self, workdir: Path, cores: int = 2, memory: str = "2g", ready_timeout_s: float = 90):
        self.workdir, self.cores, self.memory, self.ready_timeout_s = Path(workdir), cores, memory, ready_timeout_s
        self.port, self.ui_port, self.worker_ui_port = _free_port(), _free_port(), _free_port()
        self.master_url = f"spark://127.0.0.1:{self.port}"
        self._procs: list[subprocess.Popen] = []
        self.ready_after_s: float | None = None

    def _spawn(self, name: str, args: list[str], env: dict) -> None:
        from book_assets.resources.spark import spark_submit_executable

        spark_class = str(Path(spark_submit_executable()).with_name("spark-class"))
        log = open(self.workdir / f"{name}.log", "w")
        self._procs.append(subprocess.Popen([spark_class, *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True))

    def __enter__(self) -> "SparkStandaloneCluster":
        from book_assets.resources.spark import spark_home

        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "SPARK_HOME": os.environ.get("SPARK_HOME") or spark_home(), "SPARK_LOCAL_IP": "127.0.0.1",
               "SPARK_LOG_DIR": str(self.workdir), "SPARK_WORKER_DIR": str(self.workdir / "work")}
        started = time.monotonic()
        self._spawn("master", ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                               "--port", str(self.port), "--webui-port", str(self.ui_port)], env)
        self._spawn("worker", ["org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                               "--cores", str(self.cores), "--memory", self.memory,
                               "--webui-port", str(self.worker_ui_port),
                               "--work-dir", str(self.workdir / "work"), self.master_url], env)
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self.ready_after_s = time.monotonic() - started
        return self

    def status(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=5) as r:
            return json.loads(r.read())

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            for p in self._procs:
                if p.poll() is not None:
                    raise RuntimeError(f"Spark daemon exited ({p.returncode}); logs in {self.workdir}")
            try:
                if any(w.get("state") == "ALIVE" for w in self.status().get("workers", [])):
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"no ALIVE worker after {self.ready_timeout_s}s; logs in {self.workdir}")

    def completed_apps(self) -> list[dict]:
        return self.status().get("completedapps", [])

    def __exit__(self, *exc) -> None:
        for p in reversed(self._procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self._procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
