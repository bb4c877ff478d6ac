"""fields: every reader on good values and on wrong shapes (never raises)."""
from __future__ import annotations

import pytest

from book_assets.openlibrary.fields import (
    clean_by_statement,
    edition_author_keys,
    first_cover_id,
    isbn_10_to_13,
    isbn_13,
    key_list,
    language_codes,
    page_count,
    string_list,
    text_value,
    work_author_keys,
    work_key,
)

WRONG_SHAPES = [None, True, False, 0, -1, 3.5, "", "x", [], [None], [[1]], {}, {"key": 3}, {"value": None},
                [{"key": None}], {"type": "/type/text"}, ["", "  "], float("nan")]


@pytest.mark.parametrize("value", WRONG_SHAPES)
def test_no_reader_raises_on_any_json_value(value):
    for reader in (text_value, string_list, key_list, first_cover_id, clean_by_statement):
        reader(value)
    for reader in (language_codes, page_count, isbn_13, work_key, edition_author_keys, work_author_keys):
        reader(value)
        for field in ("languages", "number_of_pages", "pagination", "isbn_13", "isbn_10", "works", "authors"):
            reader({field: value})


def test_text_value():
    assert text_value("  A title ") == "A title"
    assert text_value({"type": "/type/text", "value": "A story."}) == "A story."
    assert text_value(["", "First"]) == "First"
    assert text_value({"type": "/type/text", "value": 3}) is None
    assert text_value("   ") is None
    assert text_value(12) is None


def test_string_list():
    assert string_list(["Fiction", 3, None, "", " Novels "]) == ["Fiction", "Novels"]
    assert string_list("Fiction") == ["Fiction"]
    assert string_list(None) == [] and string_list({"a": 1}) == []


def test_key_list():
    assert key_list([{"key": "/a/1"}, "/a/2", {"key": "/a/1"}, {"nokey": 1}, 5]) == ["/a/1", "/a/2"]
    assert key_list({"key": "/works/OL1W"}) == ["/works/OL1W"]
    assert key_list(None) == []


def test_language_codes():
    assert language_codes({"languages": [{"key": "/languages/eng"}]}) == ["eng"]
    assert language_codes({"languages": [{"key": "/languages/fre"}, {"key": "/languages/ENG"}]}) == ["fre", "eng"]
    assert language_codes({"languages": ["/languages/ger"]}) == ["ger"]
    assert language_codes({"languages": []}) == []
    # other key forms seen in records: an old-style path, a bare code, a trailing slash
    assert language_codes({"languages": [{"key": "/l/eng"}, "fre", {"key": "/languages/ger/"}]}) == ["eng", "fre", "ger"]
    assert language_codes({}) == []


@pytest.mark.parametrize(
    "data, pages",
    [
        ({"number_of_pages": 300}, 300),
        ({"number_of_pages": "300"}, 300),
        ({"number_of_pages": "300 p."}, 300),
        ({"number_of_pages": 300.0}, 300),
        ({"pagination": "viii, 306 p."}, 306),
        ({"pagination": "xii, 200 p. :"}, 200),
        ({"pagination": "306p"}, 306),
        ({"pagination": "1 v. (unpaged)"}, 1),
        ({"number_of_pages": 0, "pagination": "viii, 306 p."}, 306),
        ({"number_of_pages": -5}, None),
        ({"number_of_pages": 999_999}, None),
        ({"number_of_pages": "many"}, None),
        ({"number_of_pages": True}, None),
        ({"number_of_pages": [300]}, None),
        ({"pagination": "xii p."}, None),
        ({"pagination": ["306 p."]}, 306),
        # thousands grouped with commas are one number; a comma between numbers is not
        ({"pagination": "xii, 1,024 p."}, 1024),
        ({"number_of_pages": "1,079"}, 1079),
        ({"pagination": "xv, 1,386 p."}, 1386),
        ({"pagination": "2 v. (xii, 850 p.)"}, 850),
        ({"pagination": "[8], 320 p., [16] p. of plates"}, 320),
        ({"pagination": "[8],320 p."}, 320),
        ({"pagination": "1,0245 p."}, 245),
        ({"pagination": "1,024, 16 p."}, 1024),
        ({"pagination": "2 v. (656,704 p.)"}, 704),  # two volumes' counts, not 656704 pages
        ({"pagination": "xvi, 1,234,567 p."}, 567),
        ({}, None),
    ],
)
def test_page_count(data, pages):
    assert page_count(data) == pages


@pytest.mark.parametrize(
    "covers, cover",
    [
        ([-1, 123], 123),
        ([123, 456], 123),
        ([], None),
        (None, None),
        ([-1], None),
        ([0, "77"], 77),
        (["-1", "x", 5], 5),
        (42, 42),
        ([True, 9], 9),
        ([-1, None, 7], 7),
        # too large for the 64-bit cover_id column: skipped, never an overflow in the job
        ([2**63, 8], 8),
        ([1.2345678901234568e29], None),
        (["99999999999999999999"], None),
        ([2**63 - 1], 2**63 - 1),
    ],
)
def test_first_cover_id(covers, cover):
    assert first_cover_id(covers) == cover


def test_isbn_13_and_conversion():
    assert isbn_13({"isbn_13": ["978-0-306-40615-7"]}) == "9780306406157"
    assert isbn_13({"isbn_13": ["978 0 306 40615 7"]}) == "9780306406157"
    assert isbn_13({"isbn_10": ["0-306-40615-2"]}) == "9780306406157"
    assert isbn_13({"isbn_10": ["080442957x"]}) == "9780804429573"
    assert isbn_10_to_13("080442957X") == "9780804429573"
    # invalid ISBN-13 (bad checksum) skipped, valid ISBN-10 converted
    assert isbn_13({"isbn_13": ["9780306406158"], "isbn_10": ["0306406152"]}) == "9780306406157"
    assert isbn_13({"isbn_13": ["bogus", "9780306406157"]}) == "9780306406157"
    assert isbn_13({"isbn_10": ["0306406153"]}) is None  # bad ISBN-10 checksum
    assert isbn_13({"isbn_13": "978-0-306-40615-7"}) == "9780306406157"  # lone string
    assert isbn_13({"isbn_13": [9780306406157]}) == "9780306406157"  # a number
    assert isbn_13({}) is None


def test_work_key():
    assert work_key({"works": [{"key": "/works/OL1W"}, {"key": "/works/OL2W"}]}) == "/works/OL1W"
    assert work_key({"works": []}) is None and work_key({}) is None


def test_author_keys_all_formats():
    assert edition_author_keys({"authors": [{"key": "/authors/OL1A"}, {"key": "/authors/OL1A"},
                                            {"key": "/authors/OL2A"}]}) == ["/authors/OL1A", "/authors/OL2A"]
    work = {"authors": [
        {"type": {"key": "/type/author_role"}, "author": {"key": "/authors/OL1A"}},
        {"type": "/type/author_role", "author": {"key": "/authors/OL2A"}},
        {"key": "/authors/OL3A"},
        {"type": {"key": "/type/author_role"}},
        {"author": "/authors/OL4A"},
    ]}
    assert work_author_keys(work) == ["/authors/OL1A", "/authors/OL2A", "/authors/OL3A", "/authors/OL4A"]
    assert edition_author_keys(work) == ["/authors/OL1A", "/authors/OL2A", "/authors/OL3A", "/authors/OL4A"]
    assert work_author_keys({}) == []


@pytest.mark.parametrize(
    "statement, names",
    [
        ("by Martha Meade.", ["Martha Meade"]),
        ("Martha Meade", ["Martha Meade"]),
        ("by Martha Meade and John Smith.", ["Martha Meade", "John Smith"]),
        ("Martha Meade, John Smith", ["Martha Meade", "John Smith"]),
        ("by A. B. Cole & D. Eve", ["A. B. Cole", "D. Eve"]),
        ("[by] Ann Lee.", ["Ann Lee"]),
        ("a novel by Jane Doe ; illustrated by Bob Ross.", ["Jane Doe"]),
        ("written and illustrated by Jane Doe", ["Jane Doe"]),
        ("by John Smith, Jr.", ["John Smith, Jr."]),
        ("by Smith et al.", ["Smith"]),
        ("by Zoë Núñez.", ["Zoë Núñez"]),
        ("", []),
        ("by", []),
        ("...", []),
        (None, []),
        (["by Ann Lee.", "Bo Diddley"], ["Ann Lee", "Bo Diddley"]),
    ],
)
def test_clean_by_statement(statement, names):
    assert clean_by_statement(statement) == names
