"""The per-request deadline covers the whole exchange (headers included) and never the rate wait."""
from __future__ import annotations

import time

import pytest

from book_assets.covers import download as dl
from book_assets.covers.download import CoverDownloader, DownloadSettings
from tests.support.cover_server import Behaviour

TRICKLE_FOR_S = 20.0


@pytest.mark.timeout(120)  # guard only: without the fix each attempt takes the full 20 s trickle
@pytest.mark.parametrize("retries", [0, 1])
def test_trickled_headers_end_at_the_deadline(server, cache, retries):
    # one header byte every 0.3 s: under the 1 s read timeout, so only the deadline can stop it
    server.set_behaviour(9, Behaviour.trickle_headers(delay_s=0.3, for_s=TRICKLE_FOR_S))
    settings = DownloadSettings(rps=0, timeout_s=1.0, retries=retries, backoff_s=0.01)
    t0 = time.monotonic()
    [o] = CoverDownloader(cache, settings).download_all([(9, server.url_for(9))])
    elapsed = time.monotonic() - t0
    assert (o.status, o.reason, o.attempts) == ("failed", dl.TIMEOUT, retries + 1), o
    assert server.requests_for(9) == retries + 1
    # the deadline fired while waiting for the headers (not the read timeout, not the body deadline)
    assert o.detail.startswith("no response within 1.0s"), o.detail
    assert elapsed >= 1.0 * (retries + 1)  # not before the deadline
    assert elapsed < TRICKLE_FOR_S / 2  # well before the server would have finished its headers
    assert cache.lookup(9) is None  # a timeout is transient


@pytest.mark.timeout(120)
def test_waiting_for_a_rate_slot_does_not_eat_a_redirect_hops_deadline(server, cache):
    # 4 workers share 2 requests/s; each cover is one same-host 302 away from its bytes, so the
    # second hop waits ~2 s for its slot: longer than the 1 s deadline, which must start after it
    ids = [200, 201, 202, 203]
    for i in ids:
        server.set_behaviour(i, Behaviour.redirect_to_cover(i + 1000))
    settings = DownloadSettings(rps=2, max_concurrency=4, timeout_s=1.0, retries=0)
    outcomes = CoverDownloader(cache, settings).download_all([(i, server.url_for(i)) for i in ids])
    assert [(o.status, o.reason, o.attempts) for o in outcomes] == [("ok", None, 1)] * 4, outcomes
    assert [server.requests_for(i) for i in ids] == [1] * 4
    assert [server.requests_for(i + 1000) for i in ids] == [1] * 4
    # the hops really did wait: all 8 requests spread over the rate ceiling
    first_hops = sorted(t for t, path, _ in server.requests if int(path.split("/")[3].split("-")[0]) in ids)
    second_hops = sorted(t for t, path, _ in server.requests if int(path.split("/")[3].split("-")[0]) > 1000)
    assert max(b - a for a, b in zip(first_hops, second_hops)) > settings.timeout_s
