"""A 200 that is not the cover (the service's HTML error page, an empty body) is a one-off answer:
retried, and never cached as a permanent verdict; real non-image bytes stay permanent."""
from __future__ import annotations

import pytest

from book_assets.covers import images
from book_assets.covers.download import CoverDownloader, DownloadSettings
from tests.support.cover_server import Behaviour

SETTINGS = DownloadSettings(rps=0, timeout_s=2.0, retries=0, backoff_s=0.01)


@pytest.mark.parametrize("behaviour", [Behaviour.html(times=1), Behaviour.empty(times=1)],
                         ids=["html-error-page", "empty-body"])
def test_one_off_error_answer_is_not_cached_and_the_next_run_gets_the_cover(server, cache, behaviour):
    server.set_behaviour(7, behaviour)
    [first] = CoverDownloader(cache, SETTINGS).download_all([(7, server.url_for(7))])
    assert (first.status, first.reason, first.attempts) == ("failed", images.NOT_AN_IMAGE, 1)
    assert cache.lookup(7) is None  # not remembered as a property of the cover
    [second] = CoverDownloader(cache, SETTINGS).download_all([(7, server.url_for(7))])
    assert (second.status, second.from_cache, second.attempts) == ("ok", False, 1)
    assert server.requests_for(7) == 2
    assert cache.read_blob(second.sha256) == server.bytes_for(7)


def test_error_answer_is_retried_within_the_run(server, cache):
    server.set_behaviour(8, Behaviour.html(times=1))
    settings = DownloadSettings(rps=0, timeout_s=2.0, retries=1, backoff_s=0.01)
    [o] = CoverDownloader(cache, settings).download_all([(8, server.url_for(8))])
    assert (o.status, o.attempts) == ("ok", 2)
    assert server.requests_for(8) == 2


def test_non_image_bytes_served_as_an_image_stay_a_permanent_verdict(server, cache):
    server.set_behaviour(9, Behaviour.not_an_image())
    [first] = CoverDownloader(cache, SETTINGS).download_all([(9, server.url_for(9))])
    assert (first.status, first.reason) == ("failed", images.NOT_AN_IMAGE)
    assert cache.lookup(9).reason == images.NOT_AN_IMAGE
    [second] = CoverDownloader(cache, SETTINGS).download_all([(9, server.url_for(9))])
    assert (second.reason, second.from_cache) == (images.NOT_AN_IMAGE, True)
    assert server.requests_for(9) == 1
