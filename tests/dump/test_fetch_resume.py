"""Resuming a dump download never splices two versions of the file (If-Range + ``.part.validator``).

A loopback server serves one "latest" URL whose content and ETag can change between requests,
and implements ``Range`` / ``If-Range`` as RFC 9110 says: a Range request whose If-Range
validator is not the current one gets 200 and the whole current file. (The helper in
``test_fetch_and_stage.py`` has no versions and ignores If-Range, hence this one.)
"""
from __future__ import annotations

import http.server
import json
import random
import threading

import pytest
import requests
from tenacity import stop_after_attempt

import book_assets.dump.fetch as fetch
from book_assets.dump.fetch import DumpChangedError, fetch_dump, resume_validator

NAME = "ol_dump_editions_latest.txt.gz"


class _VersionedServer:
    """One file at ``/<NAME>``; its version can change; every GET's headers and status are recorded."""

    def __init__(self, payload: bytes, etag: str | None = '"v1"', last_modified: str | None = None,
                 ignore_range: bool = False, range_first: bool = False):
        self.version = (payload, etag, last_modified)
        self.ignore_range = ignore_range
        self.range_first = range_first  # answer 416 to an unsatisfiable range before looking at If-Range
        self.cut_at: int | None = None  # cut every GET body after this many bytes
        self.next_version: tuple | None = None  # the URL moves to this version after the next GET
        self.gets: list[dict] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _head(self, status: int, length: int, etag, last_modified, extra: dict | None = None):
                self.send_response(status)
                self.send_header("Content-Length", str(length))
                if etag is not None:
                    self.send_header("ETag", etag)
                if last_modified is not None:
                    self.send_header("Last-Modified", last_modified)
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()

            def do_HEAD(self):
                payload, etag, last_modified = outer.version
                self._head(200, len(payload), etag, last_modified)

            def do_GET(self):
                payload, etag, last_modified = outer.version
                if outer.next_version is not None:
                    outer.version, outer.next_version = outer.next_version, None
                rng, if_range = self.headers.get("Range"), self.headers.get("If-Range")
                strong = etag if etag is not None and not etag.startswith("W/") else None
                matches = if_range is None or if_range in (strong, last_modified)
                honour = rng is not None and not outer.ignore_range and matches
                asked = int(rng.split("=")[1].split("-")[0]) if rng else 0
                start = asked if honour else 0
                status = 206 if honour else 200
                if (honour or (outer.range_first and rng)) and asked >= len(payload):
                    status = 416
                outer.gets.append({"range": rng, "if_range": if_range, "status": status})
                if status == 416:
                    self._head(416, 0, etag, last_modified, {"Content-Range": f"bytes */{len(payload)}"})
                    return
                body = payload[start:]
                extra = {"Content-Range": f"bytes {start}-{len(payload) - 1}/{len(payload)}"} if status == 206 else {}
                self._head(status, len(body), etag, last_modified, extra)
                if outer.cut_at is not None:
                    self.wfile.write(body[: outer.cut_at])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_port}/{NAME}"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


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
    server = _VersionedServer(old, etag='"old"')
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
    server = _VersionedServer(old, etag='"old"')
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
    raw.mkdir()
    (raw / f"{NAME}.part").write_bytes(payload[:1000])
    (raw / f"{NAME}.part.validator").write_text('"v1"')
    server = _VersionedServer(payload)
    with server as url:
        fetched = fetch_dump(url, raw)
    assert server.gets == [{"range": "bytes=1000-", "if_range": '"v1"', "status": 206}]
    assert fetched.path.read_bytes() == payload
    assert fetched.downloaded_bytes == len(payload) - 1000


def test_last_modified_is_the_validator_without_a_strong_etag(tmp_path, no_wait, one_attempt):
    payload = _payload(6)
    date = "Wed, 01 Jan 2025 00:00:00 GMT"
    server = _VersionedServer(payload, etag='W/"weak"', last_modified=date)
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
    raw.mkdir()
    (raw / f"{NAME}.part").write_bytes(b"x" * 1000)  # e.g. left by an older version of this code
    server = _VersionedServer(payload)
    with server as url:
        fetched = fetch_dump(url, raw)
    assert server.gets == [{"range": None, "if_range": None, "status": 200}]
    assert fetched.path.read_bytes() == payload


def test_server_ignoring_range_restarts_from_zero(tmp_path):
    payload = _payload(8)
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / f"{NAME}.part").write_bytes(payload[:1000])
    (raw / f"{NAME}.part.validator").write_text('"v1"')
    server = _VersionedServer(payload, ignore_range=True)
    with server as url:
        fetched = fetch_dump(url, raw)
    assert server.gets[0]["status"] == 200
    assert fetched.path.read_bytes() == payload and fetched.downloaded_bytes == len(payload)


def test_complete_part_of_an_older_version_is_not_kept(tmp_path, no_wait):
    old, new = _payload(9), _payload(10)  # same size: the Range request is unsatisfiable (416)
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / f"{NAME}.part").write_bytes(old)
    (raw / f"{NAME}.part.validator").write_text('"old"')
    server = _VersionedServer(new, etag='"new"', range_first=True)
    with server as url:
        fetched = fetch_dump(url, raw)
    assert [g["status"] for g in server.gets] == [416, 200]
    assert fetched.path.read_bytes() == new


def test_size_change_between_head_and_get_fails_at_once(tmp_path, no_wait, monkeypatch):
    old, new = _payload(11), _payload(12, size=200_000)
    server = _VersionedServer(new, etag='"new"')
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
