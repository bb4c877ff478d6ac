"""The ``book-search`` CLI: JSON and table output, more-like-this, exit code 2 on bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest

from book_assets.search import cli
from tests.search.conftest import XSS_TITLE


def run(loaded, capsys, *argv):
    code = cli.main(list(argv), service_factory=lambda: loaded["service"])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_json(loaded, capsys):
    rows = loaded["rows"][2019]
    loaded["encoder"].pin("xss query", np.asarray(rows.column("embedding")[3].as_py()))
    code, out, _ = run(loaded, capsys, "xss query", "--years", "2019-2019", "--top-k", "3", "--json")
    assert code == 0
    data = json.loads(out)
    assert len(data) == 3
    assert data[0]["title"] == XSS_TITLE  # verbatim
    assert {"score", "title", "authors", "year", "edition_key", "cover_url"} <= set(data[0])
    assert all(d["year"] == 2019 for d in data)


def test_cli_table_and_like(loaded, capsys):
    code, out, _ = run(loaded, capsys, "anything at all", "--top-k", "4")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["#", "score", "title"] and len(lines) == 2 + 4
    key = loaded["rows"][2020].column("edition_key")[0].as_py()
    code, out, _ = run(loaded, capsys, "--like", key, "--json", "--top-k", "5")
    assert code == 0
    data = json.loads(out)
    assert len(data) == 5 and key not in {d["edition_key"] for d in data}
    code, _, err = run(loaded, capsys, "--like", "/books/OL424242M")
    assert code == 1 and "not in the search index" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["robots", "--top-k", "0"], "top_k"),
        (["robots", "--top-k", "101"], "top_k"),
        (["robots", "--years", "2020-2018"], "ends before it starts"),
        (["robots", "--years", "abc"], "cannot read"),
        (["x" * 501], "too long"),
        (["--like", "/works/OL1W"], "edition key"),
        ([], "either a query or --like"),
        (["robots", "--like", "/books/OL1M"], "either a query or --like"),
        (["robots", "--bogus"], "unrecognized"),
    ],
)
def test_cli_bad_input_exits_2(loaded, capsys, argv, message):
    code, _, err = run(loaded, capsys, *argv)
    assert code == 2
    assert message in err
