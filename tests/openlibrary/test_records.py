"""records: edition/work/author fields, edition_rejection and author_names."""
from __future__ import annotations

import pytest

from book_assets.openlibrary.records import (
    REJECT_NO_YEAR,
    REJECT_NOT_ENGLISH,
    REJECT_NOT_FICTION,
    REJECT_REASONS,
    REJECT_TOO_FEW_PAGES,
    REJECT_YEAR_NOT_SELECTED,
    author_fields,
    author_names,
    edition_fields,
    edition_rejection,
    work_fields,
)

FULL = {
    "key": "/books/OL10003949M",
    "title": "The Glass Harbor",
    "subtitle": "a novel",
    "full_title": "The Glass Harbor: a novel",
    "by_statement": "by Martha Meade.",
    "authors": [{"key": "/authors/OL1A"}],
    "works": [{"key": "/works/OL9W"}],
    "publish_date": "February 5, 2019",
    "languages": [{"key": "/languages/eng"}],
    "number_of_pages": 320,
    "subjects": ["Fiction"],
    "covers": [-1, 1234],
    "isbn_10": ["0-306-40615-2"],
    "description": {"type": "/type/text", "value": "A story."},
}


def test_edition_fields_full():
    fields = edition_fields("/books/OL10003949M", FULL, current_year=2026)
    assert fields == {
        "edition_key": "/books/OL10003949M",
        "work_key": "/works/OL9W",
        "title": "The Glass Harbor",
        "by_statement_authors": ["Martha Meade"],
        "author_keys": ["/authors/OL1A"],
        "year": 2019,
        "publish_date": "February 5, 2019",
        "pages": 320,
        "subjects": ["Fiction"],
        "cover_id": 1234,
        "isbn_13": "9780306406157",
        "languages": ["eng"],
    }
    assert edition_rejection(fields, [], {2019}) is None


def test_genres_count_as_edition_subjects():
    """``genres`` (rare) holds headings like subjects do: they decide fiction and juvenile too."""
    base = {**FULL, "subjects": ["Fiction"]}
    fields = edition_fields("/books/OL1M", {**base, "genres": ["Juvenile fiction.", "Fiction", "Juvenile fiction."]})
    assert fields["subjects"] == ["Fiction", "Juvenile fiction."]
    assert edition_rejection(fields, [], {2019}) == REJECT_NOT_FICTION
    only_genres = edition_fields("/books/OL2M", {**FULL, "subjects": [], "genres": ["Fiction."]}, current_year=2026)
    assert only_genres["subjects"] == ["Fiction."]
    assert edition_rejection(only_genres, [], {2019}) is None


def test_edition_missing_every_optional_field():
    fields = edition_fields("/books/OL1M", {"key": "/books/OL1M", "type": {"key": "/type/edition"}})
    assert fields == {
        "edition_key": "/books/OL1M", "work_key": None, "title": None, "by_statement_authors": [],
        "author_keys": [], "year": None, "publish_date": None, "pages": None, "subjects": [],
        "cover_id": None, "isbn_13": None, "languages": [],
    }
    assert edition_rejection(fields, [], None) == REJECT_NOT_ENGLISH


def test_edition_wrong_shapes():
    data = {
        "title": ["Listed Title"],
        "by_statement": 7,
        "authors": "/authors/OL5A",
        "works": {"key": "/works/OL2W"},
        "publish_date": ["2019"],
        "languages": {"key": "/languages/eng"},
        "number_of_pages": "300 p.",
        "subjects": "Fiction",
        "covers": "77",
        "isbn_13": 9780306406157,
        "description": {"type": "/type/text", "value": "x"},
    }
    fields = edition_fields("/books/OL2M", data, current_year=2026)
    assert fields["title"] == "Listed Title"
    assert fields["by_statement_authors"] == []
    assert fields["author_keys"] == ["/authors/OL5A"]
    assert fields["work_key"] == "/works/OL2W"
    assert fields["year"] is None and fields["publish_date"] is None
    assert fields["languages"] == ["eng"]
    assert fields["pages"] == 300
    assert fields["subjects"] == ["Fiction"]
    assert fields["cover_id"] == 77
    assert fields["isbn_13"] == "9780306406157"
    assert edition_fields("/books/OL3M", None)["title"] is None  # type: ignore[arg-type]


def test_title_falls_back_to_full_title():
    assert edition_fields("/books/OL1M", {"full_title": "Only Full"})["title"] == "Only Full"


def test_future_year_is_no_year():
    fields = edition_fields("/books/OL1M", {**FULL, "publish_date": "3000"}, current_year=2026)
    assert fields["year"] is None and fields["publish_date"] == "3000"
    assert edition_rejection(fields, [], {2019}) == REJECT_NO_YEAR


def _fields(**changes):
    fields = edition_fields("/books/OL1M", FULL, current_year=2026)
    fields.update(changes)
    return fields


REJECTION_CASES = [
    ({}, [], {2019, 2020}, None),
    ({}, [], None, None),
    ({"languages": []}, [], None, REJECT_NOT_ENGLISH),
    ({"languages": ["fre"]}, [], None, REJECT_NOT_ENGLISH),
    ({"languages": ["ger"]}, [], None, REJECT_NOT_ENGLISH),
    ({"languages": ["fre", "eng"]}, [], None, None),
    ({"year": None}, [], None, REJECT_NO_YEAR),
    ({}, [], {2020}, REJECT_YEAR_NOT_SELECTED),
    ({"pages": None}, [], None, REJECT_TOO_FEW_PAGES),
    ({"pages": 100}, [], None, REJECT_TOO_FEW_PAGES),
    ({"pages": 101}, [], None, None),
    ({"subjects": []}, [], None, REJECT_NOT_FICTION),
    ({"subjects": []}, ["Detective and mystery stories"], None, None),
    ({"subjects": ["Fiction"]}, ["Juvenile fiction"], None, REJECT_NOT_FICTION),
    ({"subjects": ["Nonfiction"]}, [], None, REJECT_NOT_FICTION),
    ({"subjects": ["History"]}, ["Children's stories"], None, REJECT_NOT_FICTION),
]


@pytest.mark.parametrize("changes, work_subjects, years, reason", REJECTION_CASES)
def test_edition_rejection(changes, work_subjects, years, reason):
    assert edition_rejection(_fields(**changes), work_subjects, years) == reason


def test_rejection_cases_cover_every_listed_reason():
    """REJECT_REASONS (which the fiction job counts) is exactly the set of reasons the cases produce."""
    assert {case[-1] for case in REJECTION_CASES} - {None} == set(REJECT_REASONS)


def test_work_fields_subjects_only():
    data = {
        "title": "A Work",
        "subjects": ["Fiction", 3],
        "subject_places": ["Novel, Idaho"],
        "subject_people": ["Fiction Man"],
        "subject_times": ["20th century"],
        "description": "A story.",
        "authors": [{"type": "/type/author_role", "author": {"key": "/authors/OL1A"}}],
    }
    assert work_fields("/works/OL1W", data) == {
        "work_key": "/works/OL1W", "title": "A Work", "subjects": ["Fiction"], "author_keys": ["/authors/OL1A"],
    }
    assert work_fields("/works/OL2W", {}) == {"work_key": "/works/OL2W", "title": None, "subjects": [],
                                              "author_keys": []}


def test_author_fields():
    assert author_fields("/authors/OL1A", {"name": "Ann Lee", "personal_name": "Lee, Ann"})["name"] == "Ann Lee"
    assert author_fields("/authors/OL1A", {"personal_name": "Ann Lee"}) == {"author_key": "/authors/OL1A",
                                                                           "name": "Ann Lee"}
    assert author_fields("/authors/OL1A", {"alternate_names": ["X"]})["name"] is None
    assert author_fields("/authors/OL1A", {"name": ["Listed"]})["name"] == "Listed"


def test_author_names():
    names = {"/authors/OL1A": "Ann Lee", "/authors/OL2A": "Bo Diddley", "/authors/OL3A": ""}
    assert author_names(["/authors/OL2A", "/authors/OL1A"], names, ["X"]) == ["Bo Diddley", "Ann Lee"]
    assert author_names(["/authors/OL9A", "/authors/OL1A"], names, ["X"]) == ["Ann Lee"]
    assert author_names(["/authors/OL9A", "/authors/OL3A"], names, ["X", "Y"]) == ["X", "Y"]
    assert author_names([], names, []) == []


def test_precheck_gives_edition_rejections_verdict_before_fiction(tmp_path):
    """Over a generated dump (every oddity the generator plants): the one-field checks give
    exactly what edition_rejection says before its fiction check."""
    import gzip
    import json

    from book_assets.corpus.generator import FILES, generate_corpus
    from book_assets.openlibrary.records import edition_precheck

    generate_corpus(tmp_path, n_editions=3000, seed=5, years=(2019, 2020))
    seen = set()
    with gzip.open(tmp_path / FILES["editions"], "rt", encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t", 4)
            try:
                data = json.loads(parts[4])
            except (IndexError, ValueError):
                continue
            full = edition_rejection(edition_fields(parts[1], data, 2026), [], {2019, 2020})
            expected = None if full == REJECT_NOT_FICTION else full
            assert edition_precheck(data, {2019, 2020}, 2026) == expected, line[:200]
            seen.add(expected)
    assert seen >= {None, "not_english", "no_year", "year_not_selected", "too_few_pages"}
