"""parse_dump_line: good lines and every kind of malformed line."""
from __future__ import annotations

import pytest

from book_assets.openlibrary.dump_lines import (
    BAD_JSON,
    LINE_TOO_LONG,
    MAX_LINE_BYTES,
    NOT_AN_OBJECT,
    NOT_UTF8,
    WRONG_COLUMN_COUNT,
    DumpLine,
    parse_dump_line,
)

GOOD = '/type/edition\t/books/OL10003949M\t7\t2019-11-11T06:22:33.558146\t{"title": "A\\tB\\nC", "n": 1}\n'


@pytest.mark.parametrize("line", [GOOD, GOOD.encode(), GOOD.replace("\n", "\r\n"), GOOD.rstrip("\n")])
def test_good_line_str_and_bytes(line):
    record, reason = parse_dump_line(line)
    assert reason is None
    assert record == DumpLine(
        record_type="/type/edition", key="/books/OL10003949M", revision=7,
        last_modified="2019-11-11T06:22:33.558146", data={"title": "A\tB\nC", "n": 1},
    )


def test_revision_not_a_number_is_none():
    record, _ = parse_dump_line("/type/work\t/works/OL1W\tx\t2020\t{}")
    assert record.revision is None and record.data == {}


@pytest.mark.parametrize(
    "line, reason",
    [
        ("/type/edition\t/books/OL1M\t3\n", WRONG_COLUMN_COUNT),
        ("", WRONG_COLUMN_COUNT),
        ("\n", WRONG_COLUMN_COUNT),
        ("just some text", WRONG_COLUMN_COUNT),
        ('/type/edition\t/books/OL1M\t3\t2020\t{"a": 1}\textra\tmore', WRONG_COLUMN_COUNT),
        ('/type/edition\t/books/OL1M\t3\t2020\t{"a": "unterminated', BAD_JSON),
        ("/type/edition\t/books/OL1M\t3\t2020\t", BAD_JSON),
        ("/type/edition\t/books/OL1M\t3\t2020\tnot json", BAD_JSON),
        ('/type/edition\t/books/OL1M\t3\t2020\t["a", 1]', NOT_AN_OBJECT),
        ('/type/edition\t/books/OL1M\t3\t2020\t"a string"', NOT_AN_OBJECT),
        ("/type/edition\t/books/OL1M\t3\t2020\t42", NOT_AN_OBJECT),
        ("/type/edition\t/books/OL1M\t3\t2020\tnull", NOT_AN_OBJECT),
    ],
)
def test_malformed_lines(line, reason):
    assert parse_dump_line(line) == (None, reason)
    assert parse_dump_line(line.encode()) == (None, reason)


@pytest.mark.parametrize("payload", ['{"a":\t1}', '{"a": 1}\t'])
def test_raw_tab_as_json_whitespace_is_still_five_columns(payload):
    # Split on the first four tabs only: a tab that leaves the JSON valid loses nothing.
    record, reason = parse_dump_line("/type/edition\t/books/OL1M\t3\t2020\t" + payload)
    assert reason is None and record.data == {"a": 1}


@pytest.mark.parametrize("raw", [b"\xff\xfe", b"caf\xe9", b"\xc3", b"\xed\xa0\x80"])
def test_not_utf8_bytes(raw):
    line = b'/type/edition\t/books/OL1M\t3\t2020\t{"title": "' + raw + b'"}\n'
    assert parse_dump_line(line) == (None, NOT_UTF8)


def test_utf8_text_is_kept():
    line = '/type/author\t/authors/OL1A\t1\t2020\t{"name": "Zoë Núñez 東京"}\n'.encode()
    record, _ = parse_dump_line(line)
    assert record.data["name"] == "Zoë Núñez 東京"


def test_five_megabyte_line_is_too_long():
    payload = '{"description": "' + "x" * (5 * 1024 * 1024) + '"}'
    line = f"/type/edition\t/books/OL1M\t1\t2020\t{payload}\n"
    assert parse_dump_line(line) == (None, LINE_TOO_LONG)
    assert parse_dump_line(line.encode()) == (None, LINE_TOO_LONG)
    # A larger limit accepts it.
    record, reason = parse_dump_line(line, max_line_bytes=6 * 1024 * 1024)
    assert reason is None and len(record.data["description"]) == 5 * 1024 * 1024


def test_line_length_is_counted_in_utf8_bytes():
    head = "/type/edition\t/books/OL1M\t1\t2020\t"
    body = '{"d": "' + "é" * 600 + '"}'  # 600 characters, 1200 bytes
    line = head + body
    limit = len(line.encode()) - 1
    assert parse_dump_line(line, max_line_bytes=limit) == (None, LINE_TOO_LONG)
    assert parse_dump_line(line.encode(), max_line_bytes=limit) == (None, LINE_TOO_LONG)
    assert parse_dump_line(line + "\n", max_line_bytes=limit + 1)[1] is None
    assert MAX_LINE_BYTES == 4 * 1024 * 1024


def test_non_string_input_does_not_raise():
    assert parse_dump_line(None)[0] is None  # type: ignore[arg-type]


def test_lone_surrogate_escape_is_repaired():
    record, reason = parse_dump_line('/type/edition\t/books/OL1M\t3\t2020\t{"title": "a\\ud800b", "x": ["\\udc00"]}')
    assert reason is None
    assert record.data == {"title": "a\ufffdb", "x": ["\ufffd"]}
    record.data["title"].encode("utf-8")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_constants_are_bad_json(constant):
    assert parse_dump_line(f'/type/edition\t/books/OL1M\t3\t2020\t{{"n": {constant}}}') == (None, BAD_JSON)
