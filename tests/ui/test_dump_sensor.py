"""The dump sensor: one refresh run when a dump is configured anew or its remote version
(ETag / Last-Modified) changes; nothing while it matches the last materialization."""
from __future__ import annotations

import http.server
import threading

import pytest
from dagster import AssetMaterialization, DagsterInstance, RunRequest, SkipReason, build_sensor_context

from book_assets.assets.automation import DUMP_ASSET, openlibrary_dump_sensor, refresh_openlibrary_dump
from book_assets.definitions import defs
from book_assets.dump.fetch import source_version
from book_assets.resources.pipeline import PipelineConfig


class _Dump(http.server.BaseHTTPRequestHandler):
    etag = '"v1"'

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("ETag", type(self).etag)
        self.send_header("Last-Modified", "Sat, 01 Nov 2025 00:00:00 GMT")
        self.send_header("Content-Length", "1234")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture()
def dump_url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Dump)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/ol_dump_editions_latest.txt.gz"
    server.shutdown()
    server.server_close()


def _tick(instance, pipeline):
    with build_sensor_context(instance=instance, resources={"pipeline": pipeline}) as ctx:
        return openlibrary_dump_sensor(ctx)


def _record(instance, pipeline):
    """What a materialization of openlibrary_dump records about its sources."""
    metadata = {}
    for kind, source in (("editions", pipeline.editions_dump), ("works", pipeline.works_dump)):
        metadata[f"{kind}_source"] = source
        metadata[f"{kind}_version"] = source_version(source)
    instance.report_runless_asset_event(AssetMaterialization(asset_key=DUMP_ASSET, metadata=metadata))


def test_sensor_requests_one_refresh_per_change(tmp_path, dump_url):
    works = tmp_path / "works.txt.gz"
    works.write_bytes(b"x" * 10)
    pipeline = PipelineConfig(home=str(tmp_path), editions_dump=dump_url, works_dump=str(works), authors_dump="")
    with DagsterInstance.ephemeral() as instance:
        first = _tick(instance, pipeline)
        assert isinstance(first, RunRequest)  # never materialized
        _record(instance, pipeline)
        assert isinstance(_tick(instance, pipeline), SkipReason)

        _Dump.etag = '"v2"'  # the remote dump changed
        try:
            changed = _tick(instance, pipeline)
        finally:
            _Dump.etag = '"v1"'
        assert isinstance(changed, RunRequest) and changed.run_key != first.run_key
        assert "editions: remote version changed" in changed.tags["book_assets/dump_change"]

        other = tmp_path / "works-2025-12.txt.gz"  # a new dump configured
        other.write_bytes(b"y" * 10)
        moved = _tick(instance, PipelineConfig(home=str(tmp_path), editions_dump=dump_url, works_dump=str(other),
                                              authors_dump=""))
        assert isinstance(moved, RunRequest)
        assert "works: source changed" in moved.tags["book_assets/dump_change"]


def test_definitions_register_job_sensor_and_schedule_stopped():
    job = defs.get_job_def(refresh_openlibrary_dump.name)
    assert [k.to_user_string() for k in job.asset_layer.selected_asset_keys] == ["openlibrary_dump"]
    sensor = defs.get_sensor_def("openlibrary_dump_sensor")
    schedule = defs.get_schedule_def("monthly_openlibrary_dump_schedule")
    assert sensor.default_status.value == "STOPPED" and schedule.default_status.value == "STOPPED"
    # no year asset rebuilds itself unless BOOK_ASSETS_AUTO_REBUILD=1
    graph = defs.resolve_asset_graph()
    assert all(graph.get(k).automation_condition is None for k in graph.get_all_asset_keys())


def test_a_failed_refresh_is_retried_and_a_running_one_waited_for(tmp_path):
    """Dagster never launches a run key twice: a refresh run that failed must not leave the dump
    stale until the next one is published, and a refresh still running gets no second run."""
    from dagster import DagsterRunStatus
    from dagster._core.test_utils import create_run_for_test

    from book_assets.assets.automation import FINGERPRINT_TAG

    editions, works = tmp_path / "editions.txt.gz", tmp_path / "works.txt.gz"
    editions.write_bytes(b"e" * 10)
    works.write_bytes(b"w" * 10)
    pipeline = PipelineConfig(home=str(tmp_path), editions_dump=str(editions), works_dump=str(works), authors_dump="")
    with DagsterInstance.ephemeral() as instance:
        first = _tick(instance, pipeline)
        assert isinstance(first, RunRequest)
        fingerprint = first.tags[FINGERPRINT_TAG]

        def run(status):
            create_run_for_test(instance, job_name=refresh_openlibrary_dump.name, status=status,
                                tags={**first.tags, "dagster/sensor_name": "openlibrary_dump_sensor"})

        run(DagsterRunStatus.STARTED)
        assert "still queued or running" in _tick(instance, pipeline).skip_message
        instance.report_run_failed(instance.get_runs()[0])  # the download broke off
        retry = _tick(instance, pipeline)
        assert isinstance(retry, RunRequest) and retry.run_key != first.run_key
        assert retry.tags[FINGERPRINT_TAG] == fingerprint

        run(DagsterRunStatus.CANCELED)
        again = _tick(instance, pipeline)
        assert again.run_key not in (first.run_key, retry.run_key)


@pytest.mark.parametrize("raw, seconds", [("", 3600), ("  ", 3600), ("600", 600)])
def test_sensor_interval_setting(monkeypatch, raw, seconds):
    from book_assets.assets.automation import _sensor_interval

    monkeypatch.setenv("BOOK_ASSETS_DUMP_SENSOR_INTERVAL", raw)  # empty means unset, as for every variable
    assert _sensor_interval() == seconds


def test_a_sensor_interval_that_is_not_a_number_names_the_variable(monkeypatch):
    from book_assets.assets.automation import _sensor_interval

    monkeypatch.setenv("BOOK_ASSETS_DUMP_SENSOR_INTERVAL", "1h")
    with pytest.raises(ValueError, match="BOOK_ASSETS_DUMP_SENSOR_INTERVAL"):
        _sensor_interval()
