"""Issue 7, item 2: many network faults AT ONCE in one download run, with a rate ceiling.

Each behaviour alone is unit-tested in ``tests/covers/test_download.py`` (outcome per behaviour,
Retry-After pause, trickle deadline, allowed hosts, cache reuse). Here they are mixed in one run
of 60 covers: connection resets mid-body, servers that never answer, a redirect loop, a redirect
to a foreign host, and a 429 storm; the run must respect its rate ceiling as measured at the
server, spend exactly the attempts its retry policy allows on each cover (a hung cover costs its
retries + 1 timeouts, nothing more), and give every cover an outcome with a reason. A second run
repeats only what was transient.
"""
from __future__ import annotations

import pytest

from book_assets.covers import download as dl
from book_assets.covers.cache import CoverCache
from book_assets.covers.download import CoverDownloader, DownloadSettings
from tests.support.cover_server import Behaviour

RPS = 15
IDS = list(range(700, 760))
RESET, RESET_ONCE = [700, 701], 702
HANG = [703, 704]
LOOP, FOREIGN, FOREIGN_OK = 705, 706, 707
STORM = list(range(710, 730))  # 20 covers answer 429 once (Retry-After 1 s)
STORM_FOREVER = 730  # 429 every time


def _settings(**kw) -> DownloadSettings:
    base = dict(rps=RPS, max_concurrency=8, timeout_s=1.0, retries=2, backoff_s=0.05, max_retry_after_s=2.0,
                allowed_hosts=("127.0.0.1", "localhost"))
    return DownloadSettings(**{**base, **kw})


@pytest.mark.timeout(300)  # guard only; the assertions below are on counts, not on wall-clock time
def test_mixed_faults_respect_ceiling_timeouts_and_account_for_every_cover(fault_server, tmp_path):
    s = fault_server
    s.reset_counts()
    for c in RESET:
        s.set_behaviour(c, Behaviour.reset_mid_body())
    s.set_behaviour(RESET_ONCE, Behaviour.reset_mid_body(times=1))
    for c in HANG:
        s.set_behaviour(c, Behaviour.slow(delay_s=30))  # never answers within any timeout
    s.set_behaviour(LOOP, Behaviour.redirect_loop())
    s.set_behaviour(FOREIGN, Behaviour.redirect_to_url("http://covers.attacker.invalid/b/id/1-M.jpg"))
    s.set_behaviour(FOREIGN_OK, Behaviour.redirect_to_url(f"http://localhost:{s.port}/b/id/3-M.jpg"))
    for c in STORM:
        s.set_behaviour(c, Behaviour.rate_limited(times=1, retry_after="1"))
    s.set_behaviour(STORM_FOREVER, Behaviour.rate_limited(times=None, retry_after="1"))

    cache = CoverCache(str(tmp_path / "cache"))
    downloader = CoverDownloader(cache, _settings())
    outcomes = {o.cover_id: o for o in downloader.download_all([(c, s.url_for(c)) for c in IDS])}

    # every cover has exactly one outcome, failures with a reason and a detail
    assert sorted(outcomes) == IDS
    for o in outcomes.values():
        assert o.status in ("ok", "failed")
        assert (o.status == "ok") == (o.reason is None), o
        if o.status == "failed":
            assert o.detail, o
    reasons = {c: o.reason for c, o in outcomes.items() if o.status == "failed"}
    assert reasons == {700: dl.CONNECTION_ERROR, 701: dl.CONNECTION_ERROR, 703: dl.TIMEOUT, 704: dl.TIMEOUT,
                       LOOP: dl.REDIRECT_LOOP, FOREIGN: dl.REDIRECT_NOT_ALLOWED, STORM_FOREVER: dl.RATE_LIMITED}
    assert outcomes[RESET_ONCE].status == "ok" and outcomes[FOREIGN_OK].status == "ok"
    assert all(outcomes[c].status == "ok" for c in STORM)

    # the ceiling holds at the server through retries, redirects and 429 pauses
    assert s.max_requests_in_window(1.0) <= RPS
    # nothing hangs and nothing is asked more than the policy allows: transient failures take
    # retries + 1 attempts, permanent answers one; a hung cover's attempts each end at the timeout
    attempts = {c: o.attempts for c, o in outcomes.items()}
    expected = {c: 1 for c in IDS}
    expected.update({c: 3 for c in (*RESET, *HANG, STORM_FOREVER)})
    expected.update({RESET_ONCE: 2, **{c: 2 for c in STORM}})
    assert attempts == expected
    for c in HANG:
        assert "ReadTimeoutError" in outcomes[c].detail, outcomes[c].detail
        hung = sorted(t for t, path, _ in s.requests if path.startswith(f"/b/id/{c}-"))
        assert len(hung) == 3 and all(b - a >= 1.0 for a, b in zip(hung, hung[1:])), hung
    # requests at the server: one per attempt, plus the redirect hops (the loop's second request;
    # FOREIGN_OK's hop to cover 3 on localhost; the foreign host is never contacted), and the
    # client counted exactly the requests the server saw
    assert {c: s.requests_for(c) for c in IDS} == {**expected, LOOP: 2}
    assert s.requests_for(3) == 1
    assert s.request_count == downloader.stats["requests"] == sum(expected.values()) + 2
    # one global pause per 429 answer
    assert downloader.stats["rate_limited"] == len(STORM) + 3

    # next run: permanent answers are not asked again; transient failures are retried
    s.reset_counts()
    for c in (*RESET, *HANG, STORM_FOREVER):
        s.clear_behaviour(c)
    again = {o.cover_id: o for o in CoverDownloader(cache, _settings()).download_all([(c, s.url_for(c)) for c in IDS])}
    asked = {c for c in IDS if s.requests_for(c)}
    assert asked == {*RESET, *HANG, STORM_FOREVER, LOOP, FOREIGN}  # loops/foreign hosts are not cached
    assert all(again[c].status == "ok" for c in (*RESET, *HANG, STORM_FOREVER))
    s.clear_behaviour(LOOP)
    s.clear_behaviour(FOREIGN)
