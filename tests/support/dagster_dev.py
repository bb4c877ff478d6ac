"""Start ``dagster dev -w workspace.yaml`` on a free loopback port, wait until the code location
is loaded and the daemon is healthy, talk GraphQL to it, and stop it (with every child it
started: webserver, daemon, code server, run workers)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DAGSTER_YAML_TEMPLATE = REPO / "dagster_home" / "dagster.yaml"

# The daemons a backfill needs: the backfill daemon submits runs, the run queue launches them.
REQUIRED_DAEMONS = ("BACKFILL", "QUEUED_RUN_COORDINATOR")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_dagster_home(path: Path) -> Path:
    """A fresh DAGSTER_HOME holding the project's dagster.yaml template (as the README does)."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(DAGSTER_YAML_TEMPLATE, path / "dagster.yaml")
    return path


class GraphQLError(RuntimeError):
    pass


class DagsterDev:
    """``dagster dev`` as a subprocess in its own process group; use as a context manager."""

    def __init__(self, dagster_home: Path, env: dict[str, str], workspace: Path = REPO / "workspace.yaml",
                 port: int | None = None, log_path: Path | None = None):
        self.dagster_home = Path(dagster_home)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workspace = workspace
        self.log_path = log_path or self.dagster_home / "dagster-dev.log"
        self.env = {**os.environ, **env, "DAGSTER_HOME": str(self.dagster_home),
                    "DAGSTER_TELEMETRY_DISABLED": "1", "PYTHONUNBUFFERED": "1"}
        self.proc: subprocess.Popen | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 240.0) -> "DagsterDev":
        dagster = Path(sys.executable).parent / "dagster"
        cmd = [str(dagster), "dev", "-w", str(self.workspace), "-h", "127.0.0.1", "-p", str(self.port)]
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float) -> None:
        """Until the webserver answers, the code location is loaded and the daemons are healthy."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"dagster dev exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                last = self.graphql(READY_QUERY, timeout=10)
                entries = last["workspaceOrError"]["locationEntries"]
                loaded = entries and all(
                    e["loadStatus"] == "LOADED" and e["locationOrLoadError"]["__typename"] == "RepositoryLocation"
                    for e in entries
                )
                errors = [e["locationOrLoadError"] for e in entries
                          if e["locationOrLoadError"] and e["locationOrLoadError"]["__typename"] == "PythonError"]
                if errors:
                    raise RuntimeError(f"code location failed to load: {errors[0].get('message')}")
                daemons = {d["daemonType"]: d["healthy"]
                           for d in last["instance"]["daemonHealth"]["allDaemonStatuses"]}
                if loaded and all(daemons.get(d) for d in REQUIRED_DAEMONS):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError, GraphQLError, KeyError, TypeError) as exc:
                last = exc
            time.sleep(1.0)
        raise TimeoutError(f"dagster dev not ready after {timeout}s (last: {last}):\n{self.log_tail()}")

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc is None:
            return
        pgid = self.proc.pid  # start_new_session: the group id is our child's pid
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGINT)  # dagster dev shuts its children down on SIGINT
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(pgid, signal.SIGKILL)  # anything of ours still left in that group
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None
        self._log.close()

    def __enter__(self) -> "DagsterDev":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    # -- GraphQL -----------------------------------------------------------------------------
    def graphql(self, query: str, variables: dict | None = None, timeout: float = 60.0) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        req = urllib.request.Request(f"{self.url}/graphql", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            payload = json.loads(resp.read())
        if payload.get("errors"):
            raise GraphQLError(json.dumps(payload["errors"])[:2000])
        return payload["data"]

    def launch_backfill(self, assets: list[str], partitions: list[str], title: str = "") -> str:
        data = self.graphql(LAUNCH_BACKFILL, {"params": {
            "assetSelection": [{"path": [a]} for a in assets],
            "partitionNames": partitions,
            "title": title or None,
        }})["launchPartitionBackfill"]
        if data["__typename"] != "LaunchBackfillSuccess":
            raise GraphQLError(f"backfill not launched: {data}")
        return data["backfillId"]

    def backfill(self, backfill_id: str) -> dict:
        data = self.graphql(BACKFILL_QUERY, {"id": backfill_id})["partitionBackfillOrError"]
        if data["__typename"] != "PartitionBackfill":
            raise GraphQLError(f"no backfill {backfill_id}: {data}")
        return data

    def wait_backfill(self, backfill_id: str, timeout: float = 600.0, poll: float = 3.0) -> dict:
        """Poll until the backfill is done and none of its runs is still going."""
        deadline = time.monotonic() + timeout
        data: dict = {}
        while time.monotonic() < deadline:
            data = self.backfill(backfill_id)
            unfinished = [r for r in data["runs"] if r["status"] not in FINISHED_RUN_STATUSES]
            if data["status"] not in ("REQUESTED", "CANCELING", "FAILING") and not unfinished:
                return data
            time.sleep(poll)
        raise TimeoutError(f"backfill {backfill_id} not done after {timeout}s: {json.dumps(data)[:2000]}\n"
                           f"{self.log_tail()}")

    def materializations(self, asset: str, partitions: list[str] | None = None) -> list[dict]:
        data = self.graphql(MATERIALIZATIONS_QUERY, {"key": {"path": [asset]}, "partitions": partitions})
        return data["assetOrError"]["assetMaterializations"]

    def check_executions(self, asset: str, check: str, partition: str | None = None, limit: int = 20) -> list[dict]:
        return self.graphql(CHECK_EXECUTIONS_QUERY, {"key": {"path": [asset]}, "check": check,
                                                     "partition": partition, "limit": limit})["assetCheckExecutions"]

    def asset_node(self, asset: str) -> dict:
        return self.graphql(ASSET_NODE_QUERY, {"key": {"path": [asset]}})["assetNodeOrError"]

    def run_logs(self, run_id: str) -> list[str]:
        data = self.graphql(RUN_LOGS_QUERY, {"runId": run_id})["logsForRun"]
        return [e.get("message") or "" for e in data.get("events", [])]


FINISHED_RUN_STATUSES = {"SUCCESS", "FAILURE", "CANCELED"}

READY_QUERY = """
query Ready {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
  }
  instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } }
}
"""

LAUNCH_BACKFILL = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on InvalidSubsetError { message }
  }
}
"""

BACKFILL_QUERY = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      id status numPartitions
      error { message }
      assetSelection { path }
      runs { runId status tags { key value } assetSelection { path } }
    }
    ... on PythonError { message }
  }
}
"""

MATERIALIZATIONS_QUERY = """
query Mats($key: AssetKeyInput!, $partitions: [String!]) {
  assetOrError(assetKey: $key) {
    __typename
    ... on Asset {
      assetMaterializations(partitions: $partitions, limit: 100) {
        partition runId timestamp
        metadataEntries {
          label __typename
          ... on IntMetadataEntry { intValue }
          ... on MarkdownMetadataEntry { mdStr }
          ... on TableSchemaMetadataEntry { schema { columns { name type } } }
        }
      }
    }
  }
}
"""

CHECK_EXECUTIONS_QUERY = """
query Checks($key: AssetKeyInput!, $check: String!, $partition: String, $limit: Int!) {
  assetCheckExecutions(assetKey: $key, checkName: $check, partition: $partition, limit: $limit) {
    runId status partition
    evaluation { success partition severity description }
  }
}
"""

ASSET_NODE_QUERY = """
query Node($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    __typename
    ... on AssetNode {
      groupName description opVersion
      kinds
      owners { __typename ... on TeamAssetOwner { team } ... on UserAssetOwner { email } }
      tags { key value }
      partitionStats { numMaterialized numPartitions numFailed numMaterializing }
      assetChecksOrError {
        __typename
        ... on AssetChecks {
          checks {
            name blocking
            partitionStatuses {
              __typename
              ... on AssetCheckDefaultPartitionStatuses {
                succeededPartitions failedPartitions inProgressPartitions skippedPartitions executionFailedPartitions
              }
            }
          }
        }
      }
    }
  }
}
"""

RUN_LOGS_QUERY = """
query Logs($runId: ID!) {
  logsForRun(runId: $runId, limit: 2000) {
    __typename
    ... on EventConnection { events { __typename ... on MessageEvent { message } } }
  }
}
"""
