"""The loopback cover server fixture itself: mapping, counters, clean stop."""
from __future__ import annotations

import threading
import time
import urllib.request

from tests.support.cover_server import CoverServer, Behaviour, real_cover_files


def test_mapping_excludes_placeholders_and_is_deterministic(covers_dir):
    files = real_cover_files(covers_dir)
    assert len(files) == 598 and all(f.stat().st_size > 43 for f in files)
    with CoverServer(covers_dir) as server:
        n = len(server.files)
        assert server.file_for(7) == server.file_for(7 + n) == files[7]
        assert server.cover_id_for_file(files[9]) == 9
        with urllib.request.urlopen(server.url_for(7 + n), timeout=5) as resp:
            assert resp.read() == files[7].read_bytes()
        assert server.url_template.startswith("http://127.0.0.1:")
        assert server.request_count == 1 and server.requests_for(7 + n) == 1


def test_stops_promptly_with_a_slow_request_in_flight(covers_dir):
    server = CoverServer(covers_dir).start()
    server.set_behaviour(1, Behaviour.slow(3600))
    outcome: dict = {}
    client = threading.Thread(target=_get, args=(server.url_for(1), outcome), daemon=True)
    client.start()
    for _ in range(500):  # wait (up to 10 s) until the slow request is in the handler
        if server.requests_for(1):
            break
        time.sleep(0.02)
    assert server.requests_for(1) == 1
    stopper = threading.Thread(target=server.stop, daemon=True)
    stopper.start()
    # guards, not the assertion of interest: the handler sleeps for an hour unless stop() wakes it
    stopper.join(60)
    client.join(60)
    assert not stopper.is_alive() and not client.is_alive()
    # stop() woke the sleeping handler, which hung up without answering: the client saw the
    # connection close (not its own 120 s read timeout, not a response)
    assert "body" not in outcome, outcome
    assert isinstance(outcome.get("error"), ConnectionError), outcome


def _get(url: str, outcome: dict) -> None:
    try:
        outcome["body"] = urllib.request.urlopen(url, timeout=120).read()
    except Exception as exc:
        outcome["error"] = exc
