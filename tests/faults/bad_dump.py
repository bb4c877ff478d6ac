"""A copy of the generated corpus with hostile lines planted in the editions dump.

The generator already plants 3- and 7-column lines, invalid JSON and JSON lists (see its
manifest). This adds: a line that is not valid UTF-8, a 10 MB line, a record of the wrong shape
that must still be KEPT (title as a list, ``number_of_pages`` "300 p.", ``description`` as an
object, cover ids and years as strings/numbers, a lone language object, subjects as a string),
and a record whose title is an HTML/script payload (kept verbatim, year 2020).
"""
from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

TS = "2024-01-01T00:00:00.000000"
SHAPE_KEY, SHAPE_WORK, SHAPE_COVER = "/books/OL990001M", "/works/OL990001W", 987654
XSS_KEY, XSS_WORK, XSS_COVER = "/books/OL990002M", "/works/OL990002W", 987655
XSS_TITLE = '<script>alert("pwned")</script><img src=x onerror="alert(1)"> & \'q\''
LONG_LINE_BYTES = 10 * 1024 * 1024


def _line(kind: str, key: str, data: dict) -> bytes:
    return f"{kind}\t{key}\t3\t{TS}\t{json.dumps(data)}\n".encode()


def planted_edition_lines() -> list[bytes]:
    shape = {
        "key": SHAPE_KEY, "title": ["Shape Shifted Title", "ignored"], "number_of_pages": "300 p.",
        "description": {"type": "/type/text", "value": "an object, not a string"},
        "covers": [str(SHAPE_COVER)], "languages": {"key": "/languages/eng"}, "subjects": "Fiction",
        "publish_date": 2019, "works": [{"key": SHAPE_WORK}], "by_statement": "by Shape Author.",
    }
    xss = {
        "key": XSS_KEY, "title": XSS_TITLE, "number_of_pages": 250, "covers": [XSS_COVER],
        "languages": [{"key": "/languages/eng"}], "subjects": ["Fiction"], "publish_date": "2020",
        "works": [{"key": XSS_WORK}], "by_statement": "by Mallory",
    }
    long_record = {"key": "/books/OL990003M", "title": "Long", "description": "x" * LONG_LINE_BYTES}
    not_utf8 = (b"/type/edition\t/books/OL990004M\t1\t" + TS.encode()
                + b'\t{"key": "/books/OL990004M", "title": "caf\xe9 \xff\xfe"}\n')
    return [_line("/type/edition", SHAPE_KEY, shape), _line("/type/edition", XSS_KEY, xss),
            _line("/type/edition", "/books/OL990003M", long_record), not_utf8]


def planted_work_lines() -> list[bytes]:
    return [_line("/type/work", key, {"key": key, "title": "W", "subjects": ["Fiction", "Science fiction"]})
            for key in (SHAPE_WORK, XSS_WORK)]


def build_bad_corpus(corpus_dir: Path, out_dir: Path) -> Path:
    """Copy ``corpus_dir`` to ``out_dir`` with the planted lines spread through the files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, extra in (("editions.txt.gz", planted_edition_lines()), ("works.txt.gz", planted_work_lines())):
        lines = gzip.open(corpus_dir / name, "rb").read().splitlines(keepends=True)
        step = max(1, len(lines) // (len(extra) + 1))
        for i, line in enumerate(extra):  # good records before and after every bad one
            lines.insert((i + 1) * step + i, line)
        with gzip.open(out_dir / name, "wb", compresslevel=1) as f:
            f.writelines(lines)
    shutil.copy(corpus_dir / "authors.txt.gz", out_dir / "authors.txt.gz")
    return out_dir
