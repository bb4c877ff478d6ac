"""SearchService and validation: text search, year ranges, more-like-this, bad input."""
from __future__ import annotations

import numpy as np
import pytest

from book_assets.search import validation
from book_assets.search.api import SearchResult, UnknownEdition


def test_validation_messages():
    assert validation.parse_year_range("2018-2020") == (2018, 2020)
    assert validation.parse_year_range(" 2019 ") == (2019, 2019)
    with pytest.raises(ValueError, match="ends before it starts"):
        validation.parse_year_range("2020-2018")
    with pytest.raises(ValueError, match="cannot read"):
        validation.parse_year_range("abc")
    with pytest.raises(ValueError, match="between 1 and 100"):
        validation.check_top_k("0")
    with pytest.raises(ValueError, match="between 1 and 100"):
        validation.check_top_k(101)
    with pytest.raises(ValueError, match="whole number"):
        validation.check_top_k("ten")
    with pytest.raises(ValueError, match="too long"):
        validation.check_query("x" * 501)
    assert validation.check_query("  robots ") == "robots"
    with pytest.raises(ValueError, match="empty"):
        validation.check_query("   ")
    with pytest.raises(ValueError, match="OL123M"):
        validation.check_edition_key("/books/OL1M\" || true")
    assert validation.normalize_years((2018, 2020)) == [2018, 2019, 2020]
    assert validation.normalize_years([2020, 2018]) == [2018, 2020]
    assert validation.normalize_years(None) is None


def test_text_search_finds_pinned_vector(loaded_any):
    loaded = loaded_any
    service, encoder, rows = loaded["service"], loaded["encoder"], loaded["rows"][2019]
    target = np.asarray(rows.column("embedding")[7].as_py())
    encoder.pin("a lonely robot on a red planet", target)
    results = service.search("a lonely robot on a red planet", top_k=5)
    assert isinstance(results[0], SearchResult)
    assert results[0].edition_key == rows.column("edition_key")[7].as_py()
    assert results[0].score == pytest.approx(1.0, abs=1e-3)
    assert results[0].to_dict()["authors"] == ["Author 7", "Co Author"]
    assert set(results[0].to_dict()) == {"score", "title", "authors", "year", "edition_key", "cover_url", "cover_id", "work_key"}
    only2020 = service.search("a lonely robot on a red planet", years=(2020, 2020), top_k=50)
    assert len(only2020) == 15 and {r.year for r in only2020} == {2020}
    assert service.search("a lonely robot on a red planet", years=[2015], top_k=5) == []


def test_more_like_this_excludes_itself(loaded_any):
    loaded = loaded_any
    service, rows = loaded["service"], loaded["rows"][2020]
    key = rows.column("edition_key")[2].as_py()
    results = service.more_like_this(key, top_k=10)
    assert len(results) == 10
    assert key not in {r.edition_key for r in results}
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True)
    in2019 = service.more_like_this(key, years=(2019, 2019), top_k=100)
    assert len(in2019) == 20 and {r.year for r in in2019} == {2019}
    with pytest.raises(UnknownEdition):
        service.more_like_this("/books/OL424242M")
    with pytest.raises(ValueError):
        service.more_like_this("OL1M")
