"""``book-search`` when the set-up is wrong: no collection, Milvus unreachable, CLIP model missing,
an index of another width; each is one line on stderr and exit status 1, never a traceback. And
the table never passes terminal control sequences from the dump through."""
from __future__ import annotations

import unicodedata

import pytest
from pymilvus.exceptions import MilvusException

from book_assets.milvus.store import CoverStore
from book_assets.search import cli
from book_assets.search.api import SearchResult, SearchService
from tests.search.conftest import FakeEncoder

TOKEN = "sekrit-token-123"


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A clean environment in an empty working directory (BOOK_ASSETS_HOME defaults to ./data)."""
    for name in ("BOOK_ASSETS_HOME", "BOOK_ASSETS_MILVUS_URI", "BOOK_ASSETS_MILVUS_COLLECTION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BOOK_ASSETS_MILVUS_TOKEN", "")
    monkeypatch.setenv("BOOK_ASSETS_CLIP_MODEL", "/nonexistent/model")
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def run(capsys, *argv, factory=None):
    code = cli.main(list(argv), service_factory=factory)
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_one_line(err: str) -> None:
    assert err.count("\n") == 1 and err.startswith("book-search: "), err
    assert "Traceback" not in err and TOKEN not in err


def test_no_collection_is_said_and_no_stray_db_is_created(env, capsys, tmp_path):
    code, out, err = run(capsys, "robot")
    assert code == 1 and out == ""
    assert_one_line(err)
    assert "no collection 'book_covers' at data/milvus.db (run the pipeline first)" in err
    assert not (tmp_path / "data").exists()


def test_no_such_collection_in_an_existing_index(env, capsys, loaded):
    env.setenv("BOOK_ASSETS_MILVUS_URI", loaded["uri"])
    env.setenv("BOOK_ASSETS_MILVUS_COLLECTION", "not_there")
    code, _, err = run(capsys, "robot")
    assert code == 1 and f"no collection 'not_there' at {loaded['uri']}" in err
    assert_one_line(err)

    empty = CoverStore(loaded["uri"], collection="also_not_there")  # an injected service too
    try:
        code, _, err = run(capsys, "robot", factory=lambda: SearchService(empty, FakeEncoder()))
    finally:
        empty.close()
    assert code == 1 and "no collection 'also_not_there'" in err


def test_unreachable_milvus(env, capsys):
    env.setenv("BOOK_ASSETS_MILVUS_URI", "http://127.0.0.1:1")
    env.setenv("BOOK_ASSETS_MILVUS_TOKEN", TOKEN)
    code, out, err = run(capsys, "robot")
    assert code == 1 and out == ""
    assert_one_line(err)
    assert "cannot start the search: MilvusException: Fail connecting to server on 127.0.0.1:1" in err


def test_missing_clip_model(env, capsys, loaded):
    env.setenv("BOOK_ASSETS_MILVUS_URI", loaded["uri"])
    env.setenv("BOOK_ASSETS_MILVUS_COLLECTION", "test_covers")
    code, _, err = run(capsys, "robot")
    assert code == 1
    assert_one_line(err)
    assert "cannot start the search: OSError:" in err and "/nonexistent/model" in err


def test_milvus_errors_are_one_line_and_never_show_the_token(env, capsys, loaded):
    env.setenv("BOOK_ASSETS_MILVUS_TOKEN", TOKEN)

    def refused():
        raise MilvusException(code=1, message=f"bad token {TOKEN}\nsecond line")

    code, _, err = run(capsys, "robot", factory=refused)
    assert code == 1 and "bad token *** second line" in err
    assert_one_line(err)

    class Broken(SearchService):
        def search(self, *args, **kwargs):
            raise MilvusException(code=2, message=f"server went away ({TOKEN})")

    code, _, err = run(capsys, "robot", factory=lambda: Broken(loaded["store"], FakeEncoder()))
    assert code == 1 and "search failed: MilvusException: server went away (***)" in err
    assert_one_line(err)


def test_query_width_mismatch_is_a_setup_error(capsys, loaded):
    service = SearchService(loaded["store"], FakeEncoder(dim=16))  # a model of another width
    code, out, err = run(capsys, "robot", factory=lambda: service)
    assert code == 1 and out == ""
    assert "query vector has 16 dims, collection has 32" in err
    assert_one_line(err)


def test_table_strips_control_characters():
    hostile = SearchResult(
        score=0.9, title="Nice book\x1b]0;owned-title\x07\x1b[2J\x1b[31mRED\u202e\r\nnext",
        authors=["A\x1b[8m", "Émile Zola — 東京\u200b"], year=2019, edition_key="/books/OL1M",
    )
    table = cli.format_table([hostile])
    row = table.splitlines()[2]
    assert not [ch for ch in table if ch != "\n" and unicodedata.category(ch).startswith("C")]
    assert "Nice book]0;owned-title[2J[31mRED next" in row
    assert "A[8m; Émile Zola — 東京" in row
    assert cli.printable("Ünïcode ß 東京 café") == "Ünïcode ß 東京 café"


def test_a_cli_query_from_settings_checks_the_collection_once(env, capsys, loaded):
    """``from_settings(require_collection=True)`` has checked it; the CLI does not ask again."""
    import book_assets.search.api as api

    env.setenv("BOOK_ASSETS_MILVUS_URI", loaded["uri"])
    env.setenv("BOOK_ASSETS_MILVUS_COLLECTION", "test_covers")
    env.setattr(api, "clip_text_encoder", lambda model: FakeEncoder())
    calls = []
    real = CoverStore.has_collection
    env.setattr(CoverStore, "has_collection", lambda self: calls.append(self.collection) or real(self))
    code, out, err = run(capsys, "robot")
    assert (code, err) == (0, "") and out.strip()
    assert calls == ["test_covers"]
