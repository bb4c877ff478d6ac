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
    server.set_behaviour(1, Behaviour.slow(30))
    client = threading.Thread(target=lambda: _get_quietly(server.url_for(1)), daemon=True)
    client.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    server.stop()
    assert time.monotonic() - t0 < 2.0
    client.join(5)
    assert not client.is_alive()


def _get_quietly(url: str) -> None:
    try:
        urllib.request.urlopen(url, timeout=10).read()
    except Exception:
        pass
