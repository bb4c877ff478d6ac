"""CoverDownloader against the loopback cover server: every behaviour, politeness, caching."""
from __future__ import annotations

import hashlib
import re
import socket
import time

import pytest

from book_assets.covers import download as dl
from book_assets.covers import images
from book_assets.covers.cache import CoverCache
from book_assets.covers.download import CoverDownloader, DownloadSettings
from tests.support.cover_server import Behaviour, CoverServer, http_date


def items(server: CoverServer, ids) -> list[tuple[int, str]]:
    return [(i, server.url_for(i)) for i in ids]


def sha_of(server: CoverServer, cover_id: int) -> str:
    return hashlib.sha256(server.bytes_for(cover_id)).hexdigest()


def by_id(outcomes):
    return {o.cover_id: o for o in outcomes}


def test_plain_covers_download_ok(server, cache, fast_settings):
    downloader = CoverDownloader(cache, fast_settings)
    progress = []
    outcomes = downloader.download_all(items(server, range(30)), progress=lambda *a: progress.append(a))
    assert [o.cover_id for o in outcomes] == list(range(30))
    for o in outcomes:
        assert (o.status, o.reason, o.from_cache, o.attempts) == ("ok", None, False, 1)
        assert o.sha256 == sha_of(server, o.cover_id)
        assert cache.read_blob(o.sha256) == server.bytes_for(o.cover_id)
    assert [p[:2] for p in progress] == [(i, 30) for i in range(1, 31)]
    assert progress[-1][2] > 0
    assert downloader.stats["requests"] == server.request_count == 30
    assert downloader.stats["downloaded"] == 30 and downloader.stats["cache_hits"] == 0
    assert set(server.user_agents) == {DownloadSettings().user_agent}


# cover id -> (behaviour, expected status, expected reason, expected requests or None)
MATRIX = {
    101: (Behaviour.not_found(), "failed", dl.HTTP_404, 1),
    102: (Behaviour.status_code(403), "failed", dl.HTTP_ERROR, 1),
    103: (Behaviour.rate_limited(times=2, retry_after="0.2"), "ok", None, 3),
    104: (Behaviour.server_error(times=2), "ok", None, 3),
    105: (Behaviour.always_500(), "failed", dl.SERVER_ERROR, 3),
    106: (Behaviour.slow(3.0), "failed", dl.TIMEOUT, 3),
    107: (Behaviour.slow(3.0, times=1), "ok", None, 2),
    108: (Behaviour.trickle(delay_s=0.05, chunk=64), "failed", dl.TIMEOUT, 3),
    109: (Behaviour.truncated(), "failed", images.TRUNCATED, 1),
    # a 200 that is an error page or empty says nothing about the cover: retried, never cached
    110: (Behaviour.html(), "failed", images.NOT_AN_IMAGE, 3),
    111: (Behaviour.placeholder(), "failed", images.PLACEHOLDER, 1),
    112: (Behaviour.bomb(), "failed", images.DECOMPRESSION_BOMB, 1),
    113: (Behaviour.reset_mid_body(), "failed", dl.CONNECTION_ERROR, 3),
    114: (Behaviour.reset_mid_body(times=1), "ok", None, 2),
    115: (Behaviour.redirect_to_cover(5), "ok", None, 1),
    116: (Behaviour.redirect_to_url("http://127.0.0.2:{port}/b/id/116-M.jpg"), "failed",
          dl.REDIRECT_NOT_ALLOWED, 1),
    117: (Behaviour.redirect_loop(), "failed", dl.REDIRECT_LOOP, 1),
    118: (Behaviour.redirect_chain(hops=10), "failed", dl.REDIRECT_LOOP, 1),
    119: (Behaviour.redirect_chain(hops=3), "ok", None, 1),
    120: (Behaviour.redirect_to_cover(120, status=301), "failed", dl.REDIRECT_LOOP, 1),
    121: (Behaviour.html(times=1), "ok", None, 2),
    122: (Behaviour.empty(times=1), "ok", None, 2),
    123: (Behaviour.empty(), "failed", images.NOT_AN_IMAGE, 3),
    124: (Behaviour.not_an_image(), "failed", images.NOT_AN_IMAGE, 1),  # real non-image bytes: permanent
}
PERMANENT = {101, 109, 111, 112, 124}
TRANSIENT = {105, 106, 108, 110, 113, 123}


def _set_matrix(server):
    for cover_id, (behaviour, *_) in MATRIX.items():
        if isinstance(behaviour.target, str):
            behaviour = Behaviour.redirect_to_url(behaviour.target.format(port=server.port), behaviour.status)
        server.set_behaviour(cover_id, behaviour)


def test_every_behaviour_ends_in_the_right_outcome(server, cache, fast_settings):
    _set_matrix(server)
    downloader = CoverDownloader(cache, fast_settings)
    outcomes = by_id(downloader.download_all(items(server, [*MATRIX, 1, 2, 3])))
    for cover_id, (_, status, reason, attempts) in MATRIX.items():
        o = outcomes[cover_id]
        assert (o.status, o.reason, o.attempts) == (status, reason, attempts), o
        assert o.from_cache is False
        assert (o.sha256 is not None) == (status == "ok")
    assert outcomes[115].sha256 == sha_of(server, 5)  # followed the redirect to another cover
    assert outcomes[103].sha256 == sha_of(server, 103)
    assert server.requests_for(116) == 1  # the disallowed host was never contacted (it is not listening)
    assert server.requests_for(118) == 6  # first request + 5 redirects, then give up
    assert server.requests_for(105) == 3 and server.requests_for(113) == 3
    assert "HTTP 403" in outcomes[102].detail
    assert all(outcomes[i].status == "ok" for i in (1, 2, 3))
    # timeouts run in parallel, not one after another: the first attempts of the three covers that
    # time out (106, 107 slow, 108 trickling) all reached the server before any of them was retried,
    # and a hung cover does not hold up the queue (1, 2, 3 go last) until its retries are spent
    arrivals = {}
    for t, path, _ in sorted(server.requests):
        arrivals.setdefault(int(path.split("/")[3].split("-")[0]), []).append(t)
    slow = (106, 107, 108)
    assert max(arrivals[c][0] for c in slow) < min(arrivals[c][1] for c in slow)
    assert max(arrivals[c][0] for c in (1, 2, 3)) < arrivals[106][2]
    # which deadline stopped them: the read timeout for a server that never answers, the
    # per-attempt body deadline for one that trickles bytes faster than the read timeout
    assert "ReadTimeoutError" in outcomes[106].detail, outcomes[106].detail
    assert "body not complete within 1.0s" in outcomes[108].detail, outcomes[108].detail


def test_second_run_uses_the_cache_and_retries_only_transient_failures(server, cache, fast_settings):
    _set_matrix(server)
    work = items(server, [*MATRIX, 1, 2, 3])
    first = by_id(CoverDownloader(cache, fast_settings).download_all(work))
    server.reset_counts()
    downloader = CoverDownloader(cache, fast_settings)
    second = by_id(downloader.download_all(work))
    cached = {i for i, o in first.items() if o.status == "ok"} | PERMANENT
    for cover_id in cached:
        assert server.requests_for(cover_id) == 0, cover_id
        o = second[cover_id]
        assert o.from_cache and o.attempts == 0
        assert (o.status, o.reason, o.sha256) == (first[cover_id].status, first[cover_id].reason,
                                                  first[cover_id].sha256)
    for cover_id in TRANSIENT:
        assert server.requests_for(cover_id) > 0, cover_id  # retried on the next run
        assert not second[cover_id].from_cache
    assert downloader.stats["cache_hits"] == len(cached)

    # a run over only cached covers makes no request at all
    server.reset_counts()
    third = CoverDownloader(cache, fast_settings).download_all(items(server, sorted(cached)))
    assert server.request_count == 0
    assert all(o.from_cache for o in third)


def test_transient_failure_recovers_on_next_run(server, cache, fast_settings):
    server.set_behaviour(7, Behaviour.always_500())
    downloader = CoverDownloader(cache, fast_settings)
    [first] = downloader.download_all(items(server, [7]))
    assert first.reason == dl.SERVER_ERROR and cache.lookup(7) is None
    server.clear_behaviour(7)
    [second] = downloader.download_all(items(server, [7]))
    assert second.status == "ok" and not second.from_cache


def test_rate_ceiling_is_never_exceeded(server, cache):
    settings = DownloadSettings(rps=20, max_concurrency=8, timeout_s=5.0)
    downloader = CoverDownloader(cache, settings)
    t0 = time.monotonic()
    outcomes = downloader.download_all(items(server, range(60)))
    elapsed = time.monotonic() - t0
    # throttled by waiting, not by failing: one request per cover, nothing retried or refused
    assert [(o.status, o.attempts) for o in outcomes] == [("ok", 1)] * 60
    assert server.request_count == downloader.stats["requests"] == 60
    assert downloader.stats["retries"] == downloader.stats["rate_limited"] == 0
    assert server.max_requests_in_window(1.0) <= 20
    assert elapsed >= 59 / 20 - 0.05  # never released early


def test_429_retry_after_pauses_every_worker(covers_dir, tmp_path):
    latency = 0.05
    with CoverServer(covers_dir, latency_s=latency) as server:
        server.set_behaviour(3, Behaviour.rate_limited(times=1, retry_after="1"))
        settings = DownloadSettings(rps=0, max_concurrency=4, timeout_s=5.0, backoff_s=0.01)
        outcomes = CoverDownloader(CoverCache(str(tmp_path)), settings).download_all(items(server, range(40)))
        assert all(o.status == "ok" for o in outcomes)
        assert by_id(outcomes)[3].attempts == 2
        requests = sorted(server.requests)
        t429 = next(t for t, path, _ in requests if path.startswith("/b/id/3-"))
        # the 429 reaches the client at ~t429 + latency; requests already in flight then may land
        # just after it; nobody may start again before Retry-After has passed
        during = [t for t, _, _ in requests if t429 + latency + 0.1 < t < t429 + 1.0]
        assert during == []
        retry = [t for t, path, _ in requests if path.startswith("/b/id/3-")][1]
        assert retry - t429 >= 1.0


class _RecordingLimiter(dl.RateLimiter):
    """The downloader's limiter, recording every pause it is asked for (seconds from now)."""

    pauses: list[float] = []

    def pause_until(self, monotonic_time: float) -> None:
        type(self).pauses.append(monotonic_time - time.monotonic())
        super().pause_until(monotonic_time)


@pytest.mark.timeout(120)  # guard only: an uncapped Retry-After of 3600 s would hang here
def test_retry_after_http_date_and_cap(server, cache, monkeypatch):
    monkeypatch.setattr(dl, "RateLimiter", _RecordingLimiter)
    monkeypatch.setattr(_RecordingLimiter, "pauses", [])
    server.set_behaviour(1, Behaviour.rate_limited(times=1, retry_after=http_date(2)))
    server.set_behaviour(2, Behaviour.rate_limited(times=1, retry_after="3600"))
    settings = DownloadSettings(rps=0, max_concurrency=1, timeout_s=2.0, max_retry_after_s=1.5, backoff_s=0.01)
    t0 = time.monotonic()
    outcomes = CoverDownloader(cache, settings).download_all(items(server, [1, 2]))
    elapsed = time.monotonic() - t0
    assert [(o.status, o.attempts) for o in outcomes] == [("ok", 2), ("ok", 2)]
    # one pause per 429, in order: the HTTP date (~1-2 s ahead, read as a date, not the ~0.01 s
    # backoff fallback) and 3600 s, both capped at 1.5 s
    date_pause, long_pause = _RecordingLimiter.pauses
    assert 0.1 < date_pause <= 1.5 and 1.4 < long_pause <= 1.5, _RecordingLimiter.pauses
    # and honoured: each retry reached the server no earlier than its pause allowed
    arrivals = [[t for t, path, _ in sorted(server.requests) if path.startswith(f"/b/id/{c}-")] for c in (1, 2)]
    assert [len(a) for a in arrivals] == [2, 2]
    assert arrivals[0][1] - arrivals[0][0] >= date_pause - 0.01
    assert arrivals[1][1] - arrivals[1][0] >= long_pause - 0.01
    assert elapsed >= 1.0


def test_persistent_429_fails_as_rate_limited_and_is_not_cached(server, cache):
    server.set_behaviour(4, Behaviour.rate_limited(times=None, retry_after="0.1"))
    settings = DownloadSettings(rps=0, timeout_s=1.0, retries=2, backoff_s=0.01)
    [o] = CoverDownloader(cache, settings).download_all(items(server, [4]))
    assert (o.status, o.reason, o.attempts) == ("failed", dl.RATE_LIMITED, 3)
    assert cache.lookup(4) is None


@pytest.mark.timeout(120)  # guard only: without the deadline a trickled cover takes minutes to hours
@pytest.mark.parametrize("behaviour", [Behaviour.trickle(delay_s=0.05, chunk=64),
                                       Behaviour.trickle(delay_s=0.7, chunk=1)])
def test_trickling_server_times_out_within_the_deadline(server, cache, behaviour):
    # delay 0.7 s < read timeout: only the per-attempt deadline can stop it
    server.set_behaviour(9, behaviour)
    settings = DownloadSettings(rps=0, timeout_s=1.0, retries=0)
    t0 = time.monotonic()
    [o] = CoverDownloader(cache, settings).download_all(items(server, [9]))
    elapsed = time.monotonic() - t0
    assert (o.status, o.reason, o.attempts) == ("failed", dl.TIMEOUT, 1)
    assert server.requests_for(9) == 1
    # the per-attempt body deadline fired (not the read timeout), part way through the body
    match = re.fullmatch(r"body not complete within 1\.0s \((\d+) bytes received\)", o.detail)
    assert match, o.detail
    assert int(match.group(1)) < len(server.bytes_for(9))
    assert elapsed >= 1.0  # not before the deadline


def test_identical_images_are_stored_once(server, cache, tmp_path):
    n = len(server.files)
    ids = [1, 1 + n, 1 + 2 * n, 2, 2 + n]
    outcomes = CoverDownloader(cache, DownloadSettings(rps=0)).download_all(items(server, ids))
    assert len({o.sha256 for o in outcomes}) == 2
    blobs = [p for p in (tmp_path / "covers-cache" / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 2


def test_allowed_hosts_lets_a_redirect_through(server, cache):
    target = f"http://127.0.0.2:{server.port}/b/id/8-M.jpg"
    server.set_behaviour(8, Behaviour.redirect_to_url(target))
    settings = DownloadSettings(rps=0, timeout_s=1.0, retries=0, allowed_hosts=("127.0.0.1", "127.0.0.2"))
    [o] = CoverDownloader(cache, settings).download_all(items(server, [8]))
    # followed to 127.0.0.2, where nothing listens (the server is bound to 127.0.0.1 only)
    assert (o.status, o.reason) == ("failed", dl.CONNECTION_ERROR)


@pytest.mark.parametrize("target, allowed, ok", [
    ("https://ia800100.us.archive.org/1/items/x/1-L.jpg", (".archive.org",), True),
    ("https://archive.org/download/olcovers1/olcovers1-L.zip/1-L.jpg", (".archive.org",), True),
    ("https://evilarchive.org/1-L.jpg", (".archive.org",), False),
    ("https://archive.org.evil.example/1-L.jpg", (".archive.org",), False),
    ("https://ia800100.us.archive.org/1-L.jpg", ("archive.org",), False),  # exact names stay exact
    ("https://covers.openlibrary.org/b/id/1-M.jpg", ("covers.openlibrary.org", ".archive.org"), True),
    ("ftp://ia800100.us.archive.org/1-L.jpg", (".archive.org",), False),
    ("https://other.example/1-M.jpg", (".",), False),
])
def test_allowed_hosts_with_a_leading_dot_allow_a_whole_domain(target, allowed, ok):
    assert dl._host_allowed(target, "https://covers.openlibrary.org/b/id/1-L.jpg", allowed) is ok


@pytest.mark.parametrize("allowed", [None, (), (".archive.org",), ("127.0.0.2",)])
def test_the_cover_host_itself_is_always_allowed(allowed):
    """Naming other hosts adds them: an http -> https hop on the cover host is never refused."""
    origin = "http://covers.openlibrary.org/b/id/1-M.jpg"
    assert dl._host_allowed("https://covers.openlibrary.org/b/id/1-M.jpg", origin, allowed)
    assert not dl._host_allowed("https://elsewhere.example/1-M.jpg", origin, allowed)


def test_the_default_follows_openlibrary_redirects_to_archive_org(monkeypatch):
    """With the default settings a redirect from the covers service to archive.org is followed
    (OpenLibrary serves archived covers from there); nothing else is."""
    from book_assets.resources.factory import build_resources

    monkeypatch.delenv("BOOK_ASSETS_COVERS_ALLOWED_HOSTS", raising=False)
    allowed = tuple(h for h in build_resources()["covers"].allowed_hosts.split(",") if h)
    origin = "https://covers.openlibrary.org/b/id/1-L.jpg"
    assert dl._host_allowed("https://ia800100.us.archive.org/1/items/x/1-L.jpg", origin, allowed)
    assert dl._host_allowed("https://archive.org/download/olcovers0/olcovers0-L.zip/1-L.jpg", origin, allowed)
    assert not dl._host_allowed("https://covers.attacker.invalid/b/id/1-M.jpg", origin, allowed)

    monkeypatch.setenv("BOOK_ASSETS_COVERS_ALLOWED_HOSTS", "")  # set but empty: the cover host only
    assert build_resources()["covers"].allowed_hosts == ""


def test_too_large_and_custom_user_agent(server, cache):
    settings = DownloadSettings(rps=0, max_bytes=10_000, user_agent="test-agent/1.0")
    [o] = CoverDownloader(cache, settings).download_all(items(server, [3]))
    assert (o.status, o.reason) == ("failed", dl.TOO_LARGE)
    assert server.user_agents == ["test-agent/1.0"]
    assert cache.lookup(3) is None


def test_duplicates_and_unreachable_host(cache, server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    dead = f"http://127.0.0.1:{dead_port}/b/id/1-M.jpg"
    work = [(5, server.url_for(5)), (1, dead), (5, server.url_for(5)), (2, server.url_for(2))]
    settings = DownloadSettings(rps=0, retries=1, backoff_s=0.01, timeout_s=1.0)
    outcomes = CoverDownloader(cache, settings).download_all(work)
    assert [o.cover_id for o in outcomes] == [5, 1, 2]
    assert outcomes[1].reason == dl.CONNECTION_ERROR and outcomes[1].attempts == 2
    assert server.requests_for(5) == 1


class BrokenCache(CoverCache):
    """A cache whose index cannot be read and whose disk is full. The signatures are open
    (``*args, **kwargs``): a fake that does not accept the real calls raises TypeError instead,
    and the paths for the real errors are never run."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[str] = []

    def lookup(self, *args, **kwargs):
        self.calls.append("lookup")
        raise RuntimeError("index unreadable")

    def store_image(self, *args, **kwargs):
        self.calls.append("store_image")
        raise OSError("disk full")

    def store_failure(self, *args, **kwargs):
        self.calls.append("store_failure")
        raise OSError("disk full")


def test_cache_errors_do_not_raise(server, tmp_path, caplog):
    """An unreadable index still downloads the cover; a cover that cannot be stored fails as
    ``cache_error`` with the store's own error as its detail (no sha256 pointing at nothing)."""
    cache = BrokenCache(str(tmp_path))
    with caplog.at_level("WARNING", logger=dl.__name__):
        [o] = CoverDownloader(cache, DownloadSettings(rps=0)).download_all(items(server, [1]))
    assert cache.calls == ["lookup", "store_image"]
    assert server.requests_for(1) == 1  # the lookup error did not stop the download
    assert (o.status, o.reason, o.sha256, o.from_cache, o.attempts) == ("failed", dl.CACHE_ERROR, None, False, 1)
    assert o.detail == "OSError: disk full"
    assert "index unreadable" in caplog.text and "disk full" in caplog.text
    assert "TypeError" not in caplog.text and "unexpected error" not in caplog.text


def test_a_failure_that_cannot_be_cached_keeps_its_own_reason(server, tmp_path, caplog):
    server.set_behaviour(1, Behaviour.not_found())
    cache = BrokenCache(str(tmp_path))
    with caplog.at_level("WARNING", logger=dl.__name__):
        [o] = CoverDownloader(cache, DownloadSettings(rps=0)).download_all(items(server, [1]))
    assert cache.calls == ["lookup", "store_failure"]
    assert (o.status, o.reason, o.attempts) == ("failed", dl.HTTP_404, 1)
    assert "could not cache failure http_404: disk full" in caplog.text
