"""Issue 7, item 5 (the parts that need no pipeline run): no secret in code, the Milvus token only
through the environment (``EnvVar``) and never in reprs, search filters never built from user
text, the web app bound to loopback by default. Web escaping and 400s are covered by
``tests/search/test_web.py`` and ``tests/search/test_browser.py``; the end-to-end script-title and
secrets-in-logs checks are in ``test_pipeline_faults.py``."""
from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SECRET_PATTERNS = [
    re.compile(rb"AKIA[0-9A-Z]{16}"),  # AWS access key id
    re.compile(rb"(?i)aws_secret_access_key\s*[=:]\s*[\"'][^\"'$<{]{16,}[\"']"),
    re.compile(rb"(?i)(token|password|secret)\s*[=:]\s*[\"'][A-Za-z0-9_\-/+]{24,}[\"']"),
]


def test_no_secrets_in_code_or_config():
    roots = [REPO / "book_assets", REPO / "scripts", REPO / "docs"]
    files = [p for r in roots if r.exists() for p in r.rglob("*") if p.is_file() and p.suffix in
             (".py", ".sh", ".md", ".yaml", ".yml", ".toml", ".json", ".js", ".html", ".cfg", ".env")]
    files += [p for p in REPO.glob("*") if p.is_file() and p.suffix in (".toml", ".md", ".yaml", ".yml", ".cfg")]
    hits = [(str(p.relative_to(REPO)), m.group(0)[:40]) for p in files for pat in SECRET_PATTERNS
            for m in pat.finditer(p.read_bytes())]
    assert not hits, hits


def test_milvus_token_comes_from_the_environment_only(monkeypatch):
    from dagster import EnvVar

    from book_assets.resources.factory import build_resources
    from book_assets.resources.milvus import MilvusResource

    assert MilvusResource.model_fields["token"].default == ""
    monkeypatch.setenv("BOOK_ASSETS_MILVUS_TOKEN", "tok-from-env-123456")
    milvus = build_resources()["milvus"]
    assert isinstance(milvus.token, EnvVar) and milvus.token.env_var_name == "BOOK_ASSETS_MILVUS_TOKEN"
    assert "tok-from-env-123456" not in repr(milvus)


class _RecordingClient:
    """Stands in for MilvusClient: records every filter and partition list it is given."""

    calls: list = []

    def __init__(self, uri, token="", **kwargs):
        self.token = token

    def has_collection(self, name):
        return True

    def describe_collection(self, name):
        return {"fields": [{"name": "vector", "params": {"dim": 4}}]}

    def list_indexes(self, name, field_name=None):
        return ["vector"]

    def describe_index(self, name, index):
        return {"index_type": "FLAT"}

    def list_partitions(self, name):
        return ["y2019", "y2020"]

    def get_load_state(self, name):
        return {"state": "<LoadState: Loaded>"}

    def query(self, name, filter="", **kw):
        self.calls.append(("query", filter, kw.get("partition_names")))
        return []

    def search(self, name, data, filter="", partition_names=None, **kw):
        self.calls.append(("search", filter, partition_names))
        return [[]]

    def close(self):
        pass


def test_user_text_never_reaches_a_filter_expression(monkeypatch, tmp_path):
    from book_assets.milvus import store as store_mod

    monkeypatch.setattr(store_mod, "MilvusClient", _RecordingClient)
    _RecordingClient.calls = []
    store = store_mod.CoverStore(str(tmp_path / "x.db"), token="tok-secret-abcdef")
    assert "tok-secret-abcdef" not in repr(store)
    for payload in ['/books/OL1M" or id >= 0 or "', "/books/OL1M' || 1==1", "x) or (1"]:
        with pytest.raises(ValueError):
            store.get_entity(payload)
    with pytest.raises((ValueError, TypeError)):
        store.count_year("2019 or 1==1")
    assert _RecordingClient.calls == []  # rejected before any request
    store.search(np.ones(4, dtype=np.float32), years=[2019], top_k=3)
    store.count_year(2019)
    store.get_entity("/books/OL42M")
    assert _RecordingClient.calls == [
        ("search", "", ["y2019"]),  # years go through partitions, not a filter
        ("query", "year == 2019", ["y2019"]),
        ("query", 'edition_key == "/books/OL42M"', None),
    ]


def test_web_app_binds_to_loopback_by_default():
    from book_assets.search import web

    assert inspect.signature(web.serve).parameters["host"].default == "127.0.0.1"
    assert inspect.signature(web.BackgroundServer).parameters["host"].default == "127.0.0.1"
    src = inspect.getsource(web.main)
    assert 'default="127.0.0.1"' in src and "0.0.0.0" not in inspect.getsource(web)


def test_page_script_never_writes_html():
    js = (REPO / "book_assets" / "web" / "app.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in js, sink
    assert "textContent" in js


def test_edition_keys_are_matched_whole():
    from book_assets.search import validation

    from book_assets.milvus.schema import check_edition_key as store_check

    for bad in ["/books/OL1M or id > 0", " /books/OL1M x", "/books/OL1Mx", '/books/OL1M" or "1']:
        with pytest.raises(ValueError):
            validation.check_edition_key(bad)
    # surrounding whitespace is trimmed, and only the trimmed key ever reaches a filter
    assert validation.check_edition_key(" /books/OL1M\n") == "/books/OL1M"
    with pytest.raises(ValueError):
        store_check("/books/OL1M\n")
