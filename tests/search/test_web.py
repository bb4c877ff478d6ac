"""The web app over a real loopback HTTP server: JSON endpoints, 400s, escaping, page assets."""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest

from book_assets.search.web import BackgroundServer
from tests.conftest import REPO
from tests.search.conftest import XSS_TITLE


@pytest.fixture(scope="module")
def server(loaded):
    with BackgroundServer(loaded["service"]) as srv:
        assert srv.host == "127.0.0.1"
        yield srv


def get(server, path, **params):
    url = server.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def test_search_endpoint(server, loaded):
    rows = loaded["rows"][2019]
    loaded["encoder"].pin("web xss", np.asarray(rows.column("embedding")[3].as_py()))
    status, headers, body = get(server, "/api/search", q="web xss", years="2019-2020", top_k="5")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    data = json.loads(body)
    assert data["count"] == 5 and data["years"] == [2019, 2020]
    first = data["results"][0]
    assert first["title"] == XSS_TITLE  # verbatim in JSON; the page renders it as text
    assert first["score"] == pytest.approx(1.0, abs=1e-3)
    status, _, body = get(server, "/api/search", q="web xss", years="2020", top_k="50")
    assert status == 200 and {r["year"] for r in json.loads(body)["results"]} == {2020}


def test_like_endpoint(server, loaded):
    key = loaded["rows"][2019].column("edition_key")[5].as_py()
    status, _, body = get(server, "/api/like", edition_key=key, top_k="3")
    data = json.loads(body)
    assert status == 200 and len(data["results"]) == 3
    assert key not in {r["edition_key"] for r in data["results"]}
    status, _, body = get(server, "/api/like", edition_key="/books/OL424242M")
    assert status == 404 and "error" in json.loads(body)


@pytest.mark.parametrize(
    "path, params, message",
    [
        ("/api/search", {"q": "robots", "top_k": "0"}, "top_k"),
        ("/api/search", {"q": "robots", "top_k": "1000"}, "top_k"),
        ("/api/search", {"q": "robots", "top_k": "many"}, "top_k"),
        ("/api/search", {"q": "robots", "years": "2020-2018"}, "ends before it starts"),
        ("/api/search", {"q": "robots", "years": "abc"}, "cannot read"),
        ("/api/search", {"q": "x" * 501}, "too long"),
        ("/api/search", {}, "empty"),
        ("/api/like", {"edition_key": "/books/OL1M\" or true or \""}, "edition key"),
        ("/api/like", {"edition_key": "<script>"}, "edition key"),
    ],
)
def test_bad_parameters_are_400_json(server, path, params, message):
    status, headers, body = get(server, path, **params)
    assert status == 400 and headers["Content-Type"].startswith("application/json")
    assert message in json.loads(body)["error"]


def test_page_and_assets(server):
    status, headers, body = get(server, "/")
    assert status == 200 and b'id="search-form"' in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert b"<script>" not in body.replace(b'<script src="/static/app.js" defer></script>', b"")
    status, headers, body = get(server, "/static/app.js")
    # the real script is served as is (what it may contain is checked in tests/faults/test_security.py)
    assert status == 200 and body == (REPO / "book_assets" / "web" / "app.js").read_bytes()
    assert get(server, "/static/../settings.py")[0] == 404
