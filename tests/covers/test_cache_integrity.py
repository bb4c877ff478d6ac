"""The cover cache answers for the URL it fetched from, and notices (and repairs) a damaged blob."""
from __future__ import annotations

import hashlib
import json
import os

from book_assets.covers import images
from book_assets.covers.cache import CoverCache
from book_assets.covers.download import CoverDownloader, DownloadSettings
from tests.support.cover_server import Behaviour

SETTINGS = DownloadSettings(rps=0, timeout_s=2.0, retries=0, backoff_s=0.01)


def _url(server, cover_id: int, size: str) -> str:
    return f"{server.base_url}/b/id/{cover_id}-{size}.jpg"


# -- the source URL is part of the key ------------------------------------------------------------
def test_changing_the_url_template_fetches_again(server, cache):
    server.set_behaviour(9, Behaviour.placeholder())  # cover 9 has no -M image ...
    first = CoverDownloader(cache, SETTINGS).download_all([(i, _url(server, i, "M")) for i in (5, 9)])
    assert [(o.status, o.reason) for o in first] == [("ok", None), ("failed", images.PLACEHOLDER)]
    server.clear_behaviour(9)  # ... but it has an -L one
    server.reset_counts()
    second = CoverDownloader(cache, SETTINGS).download_all([(i, _url(server, i, "L")) for i in (5, 9)])
    assert [(o.status, o.from_cache) for o in second] == [("ok", False), ("ok", False)]
    assert server.requests_for(5) == server.requests_for(9) == 1
    assert {p.rsplit("/", 1)[1] for _, p, _ in server.requests} == {"5-L.jpg", "9-L.jpg"}
    # the index now answers for the -L URLs, without a request
    assert cache.lookup(5, _url(server, 5, "L")).url == _url(server, 5, "L")
    assert cache.lookup(5, _url(server, 5, "M")) is None
    server.reset_counts()
    third = CoverDownloader(cache, SETTINGS).download_all([(i, _url(server, i, "L")) for i in (5, 9)])
    assert all(o.from_cache for o in third) and server.request_count == 0


def test_entries_without_a_url_match_any_url(tmp_path):
    cache = CoverCache(str(tmp_path))
    entry = cache.store_image(5, b"x" * 2000, "image/jpeg")  # as written before URLs were recorded
    index = tmp_path / "ids" / "005" / "5.json"
    doc = json.loads(index.read_text())
    doc.pop("url", None)
    index.write_text(json.dumps(doc))
    assert cache.lookup(5, "http://anywhere/b/id/5-L.jpg") == entry
    cache.store_failure(6, "http_404", "HTTP 404", url="http://a/b/id/6-M.jpg")
    assert cache.lookup(6, "http://a/b/id/6-M.jpg").reason == "http_404"
    assert cache.lookup(6, "http://a/b/id/6-L.jpg") is None
    assert cache.lookup(6).reason == "http_404"  # no URL asked: any entry


# -- damaged blobs --------------------------------------------------------------------------------
def test_empty_blob_is_a_miss_and_the_next_download_repairs_it(server, cache):
    [first] = CoverDownloader(cache, SETTINGS).download_all([(5, server.url_for(5))])
    blob = cache.blob_path(first.sha256)
    open(blob, "wb").close()  # what a crash before writeback can leave
    assert cache.lookup(5) is None
    server.reset_counts()
    [second] = CoverDownloader(cache, SETTINGS).download_all([(5, server.url_for(5))])
    assert (second.status, second.from_cache, second.sha256) == ("ok", False, first.sha256)
    assert server.requests_for(5) == 1
    data = open(blob, "rb").read()
    assert hashlib.sha256(data).hexdigest() == first.sha256  # repaired in place
    assert cache.lookup(5).sha256 == first.sha256


def test_store_overwrites_a_blob_of_the_wrong_size_but_keeps_a_good_one(tmp_path):
    cache = CoverCache(str(tmp_path))
    data = os.urandom(3000)
    sha = cache.store_image(1, data, "image/jpeg").sha256
    blob = cache.blob_path(sha)
    with open(blob, "wb") as f:
        f.write(data[:100])  # short
    cache.store_image(2, data, "image/jpeg")
    assert open(blob, "rb").read() == data
    before = os.stat(blob).st_mtime_ns, os.stat(blob).st_ino
    cache.store_image(3, data, "image/jpeg")  # intact: not written again
    assert (os.stat(blob).st_mtime_ns, os.stat(blob).st_ino) == before


def test_kept_bytes_of_a_failure_are_checked_too(tmp_path):
    cache = CoverCache(str(tmp_path))
    entry = cache.store_failure(7, images.TOO_SMALL, "small", data=b"y" * 500)
    open(cache.blob_path(entry.sha256), "wb").close()
    assert cache.lookup(7) is None
    assert cache.lookup(7, check_blob=False) == entry  # the index alone, without looking at blobs


def test_files_are_synced_before_they_are_renamed_into_place(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))),
                                                 real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", os.path.abspath(a))),
                                                     real_replace(a, b))[1])
    CoverCache(str(tmp_path)).store_image(1, b"z" * 2000, "image/jpeg")  # a blob and an index file
    assert [e[0] for e in events] == ["fsync", "replace", "fsync", "replace"]
    # each time, the file synced is the one then renamed into place
    assert events[0][1] == events[1][1] and events[2][1] == events[3][1]


def test_a_failed_write_leaves_neither_the_file_nor_a_tmp_file(tmp_path, monkeypatch):
    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    cache = CoverCache(str(tmp_path))
    try:
        cache.store_image(7, b"q" * 3000, "image/jpeg")
    except OSError as exc:
        assert exc.errno == 28
    else:
        raise AssertionError("the write error was swallowed")
    monkeypatch.undo()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    assert cache.lookup(7) is None
    cache.store_image(7, b"q" * 3000, "image/jpeg")  # and the next try succeeds
    assert cache.lookup(7).size == 3000


def test_threads_writing_the_same_blob_at_once_do_not_collide(tmp_path):
    import threading

    cache = CoverCache(str(tmp_path))
    data = bytes(range(256)) * 40
    errors = []

    def store(cover_id):
        try:
            for _ in range(20):
                cache.store_image(cover_id, data, "image/jpeg")
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=store, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    blob = hashlib.sha256(data).hexdigest()
    assert cache.read_blob(blob) == data
    assert all(cache.lookup(i).sha256 == blob for i in range(8))
    assert not [p for p in tmp_path.rglob("*") if ".tmp-" in p.name]
