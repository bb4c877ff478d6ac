"""The web app when the search service fails: 503 JSON with the security headers, details only in
the server log (no traceback, no secret in the response)."""
from __future__ import annotations

import json
import logging

import pytest
from pymilvus.exceptions import MilvusException

from book_assets.search.api import SearchService, UnknownEdition
from book_assets.search.web import SECURITY_HEADERS, BackgroundServer
from tests.search.conftest import FakeEncoder
from tests.search.test_web import get

SECRET = "root:s3cret-token"
LIKE_KEY = "/books/OL20190001M"


class FailingService:
    """Stands in for ``SearchService``: every call raises ``self.error``."""

    def __init__(self) -> None:
        self.error: Exception = RuntimeError("unset")

    def search(self, *args, **kwargs):
        raise self.error

    def more_like_this(self, *args, **kwargs):
        raise self.error


@pytest.fixture(scope="module")
def failing():
    service = FailingService()
    with BackgroundServer(service) as srv:
        yield srv, service


def assert_backend_unavailable(status, headers, body):
    assert status == 503, (status, body[:200])
    assert headers["Content-Type"].startswith("application/json")
    for name, value in SECURITY_HEADERS.items():
        assert headers[name] == value
    assert json.loads(body) == {"error": "search backend unavailable"}


@pytest.mark.parametrize(
    "error",
    [
        MilvusException(message=f"server unavailable at http://{SECRET}@milvus:19530"),
        ConnectionError(f"connection refused ({SECRET})"),
        RuntimeError(f"unexpected failure {SECRET}"),
        KeyError(SECRET),  # a LookupError, but not "no such edition": must not become a 404
    ],
    ids=["milvus", "connection", "runtime", "keyerror"],
)
@pytest.mark.parametrize("path, params", [("/api/search", {"q": "robot"}), ("/api/like", {"edition_key": LIKE_KEY})])
def test_service_errors_are_503_json(failing, caplog, error, path, params):
    server, service = failing
    service.error = error
    with caplog.at_level(logging.ERROR, logger="book_assets.search.web"):
        status, headers, body = get(server, path, **params)
    assert_backend_unavailable(status, headers, body)
    assert SECRET.encode() not in body and b"Traceback" not in body
    # the details are in the server log, for the operator
    assert any(r.exc_info and r.exc_info[1] is error for r in caplog.records)


def test_unknown_edition_is_still_404(failing):
    server, service = failing
    service.error = UnknownEdition(f"edition {LIKE_KEY} is not in the search index")
    status, headers, body = get(server, "/api/like", edition_key=LIKE_KEY)
    assert status == 404 and "not in the search index" in json.loads(body)["error"]


def test_query_vector_width_mismatch_is_503(loaded):
    """A text encoder of another width than the collection's vectors (another CLIP model)."""
    service = SearchService(loaded["store"], FakeEncoder(dim=16))  # the collection holds 32-d vectors
    with BackgroundServer(service) as server:
        assert_backend_unavailable(*get(server, "/api/search", q="robot"))
        assert get(server, "/api/search", q="robot", top_k="0")[0] == 400  # bad input is still a 400
