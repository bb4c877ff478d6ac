"""Resuming a dump download never splices two versions of the file (If-Range + ``.part.validator``),
against the loopback :class:`tests.support.dump_server.DumpServer` whose file can change between
requests."""
from __future__ import annotations

import json
import random

import pytest
import requests
from tenacity import stop_after_attempt

import book_assets.dump.fetch as fetch
from book_assets.dump.fetch import DumpChangedError, fetch_dump, resume_validator
from tests.support.dump_server import NAME, DumpServer, leave_part


def _payload(seed: int, size: int = 300_000) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    """Bytes are written in whole chunks (1 MiB in production); 1000 here so a cut body leaves a .part."""
    monkeypatch.setattr(fetch, "CHUNK", 1000)


@pytest.fixture
def no_wait(monkeypatch):
    monkeypatch.setattr(fetch._download_with_resume.retry, "wait", lambda *a, **k: 0)


@pytest.fixture
def one_attempt(monkeypatch):
    """A run that gives up after its first attempt (so an interrupted download leaves its .part)."""
    monkeypatch.setattr(fetch._download_with_resume.retry, "stop", stop_after_attempt(1))


def test_dump_replaced_between_two_runs_is_downloaded_whole(tmp_path, no_wait, one_attempt):
    old, new = _payload(1), _payload(2)  # same size: a splice would pass the size check
    raw = tmp_path / "raw"
    server = DumpServer(old, etag='"old"')
    with server as url:
        server.cut_at = len(old) // 3
        with pytest.raises(requests.RequestException):
            fetch_dump(url, raw)  # run 1 is interrupted
        part = raw / f"{NAME}.part"
        assert part.read_bytes() == old[: len(old) // 3]
        assert (raw / f"{NAME}.part.validator").read_text() == '"old"'

        server.version, server.cut_at = (new, '"new"', None), None  # "latest" moves to a new dump
        fetched = fetch_dump(url, raw)  # run 2

    assert server.gets[-1] == {"range": f"bytes={len(old) // 3}-", "if_range": '"old"', "status": 200}
    assert fetched.path.read_bytes() == new
    assert fetched.downloaded_bytes == len(new)
    assert json.loads(fetched.version)["etag"] == '"new"'
    assert not part.exists() and not (raw / f"{NAME}.part.validator").exists()


def test_dump_replaced_between_two_attempts_of_one_run_is_not_spliced(tmp_path, no_wait, monkeypatch):
    old, new = _payload(3), _payload(4)
    server = DumpServer(old, etag='"old"')
    with server as url:
        server.cut_at = len(old) // 2
        server.next_version = (new, '"new"', None)  # after the (cut) first GET the URL serves `new`
        monkeypatch.setattr(fetch._download_with_resume.retry, "before_sleep",
                            lambda state: setattr(server, "cut_at", None))
        # the retry asks for the rest of "old" (If-Range "old"); the server answers 200 with all of "new"
        fetched = fetch_dump(url, tmp_path / "raw")
    assert [g["status"] for g in server.gets] == [200, 200]
    assert server.gets[1]["if_range"] == '"old"'
    assert fetched.path.read_bytes() == new


def test_unchanged_dump_resumes_with_range_and_if_range(tmp_path):
    payload = _payload(5)
    raw = tmp_path / "raw"
    leave_part(raw, payload[:1000], '"v1"')
    server = DumpServer(payload)
    with server as url:
        fetched = fetch_dump(url, raw)
    assert server.gets == [{"range": "bytes=1000-", "if_range": '"v1"', "status": 206}]
    assert fetched.path.read_bytes() == payload
    assert fetched.downloaded_bytes == len(payload) - 1000


def test_last_modified_is_the_validator_without_a_strong_etag(tmp_path, no_wait, one_attempt):
    payload = _payload(6)
    date = "Wed, 01 Jan 2025 00:00:00 GMT"
    server = DumpServer(payload, etag='W/"weak"', last_modified=date)
    with server as url:
        server.cut_at = 5000
        with pytest.raises(requests.RequestException):
            fetch_dump(url, tmp_path / "raw")
        assert (tmp_path / "raw" / f"{NAME}.part.validator").read_text() == date
        server.cut_at = None
        fetched = fetch_dump(url, tmp_path / "raw")
    assert server.gets[-1] == {"range": "bytes=5000-", "if_range": date, "status": 206}
    assert fetched.path.read_bytes() == payload


def test_part_without_a_validator_is_started_over(tmp_path):
    payload = _payload(7)
    raw = tmp_path / "raw"
    leave_part(raw, b"x" * 1000)  # no validator: e.g. left by an older version of this code
    server = DumpServer(payload)
    with server as url:
        fetched = fetch_dump(url, raw)
    assert server.gets == [{"range": None, "if_range": None, "status": 200}]
    assert fetched.path.read_bytes() == payload


def test_server_ignoring_range_restarts_from_zero(tmp_path):
    payload = _payload(8)
    raw = tmp_path / "raw"
    leave_part(raw, payload[:1000], '"v1"')
    server = DumpServer(payload, ignore_range=True)
    with server as url:
        fetched = fetch_dump(url, raw)
    assert server.gets[0]["status"] == 200
    assert fetched.path.read_bytes() == payload and fetched.downloaded_bytes == len(payload)


def test_complete_part_of_an_older_version_is_not_kept(tmp_path, no_wait):
    old, new = _payload(9), _payload(10)  # same size: the Range request is unsatisfiable (416)
    raw = tmp_path / "raw"
    leave_part(raw, old, '"old"')
    server = DumpServer(new, etag='"new"', range_first=True)
    with server as url:
        fetched = fetch_dump(url, raw)
    assert [g["status"] for g in server.gets] == [416, 200]
    assert fetched.path.read_bytes() == new


def test_size_change_between_head_and_get_fails_at_once(tmp_path, no_wait, monkeypatch):
    old, new = _payload(11), _payload(12, size=200_000)
    server = DumpServer(new, etag='"new"')
    # HEAD still described the old dump when the GET already serves the new one (another size)
    monkeypatch.setattr(fetch, "remote_version",
                        lambda url, timeout=30.0: {"etag": '"old"', "last_modified": "", "size": len(old)})
    with server as url:
        with pytest.raises(DumpChangedError, match="changed"):
            fetch_dump(url, tmp_path / "raw")
    assert len(server.gets) == 1  # not retried: the next run HEADs again


def test_resume_validator_prefers_a_strong_etag():
    assert resume_validator({"ETag": '"abc"', "Last-Modified": "d"}) == '"abc"'
    assert resume_validator({"ETag": 'W/"abc"', "Last-Modified": "d"}) == "d"
    assert resume_validator({}) == ""
