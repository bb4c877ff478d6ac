"""The optimised mapInArrow bodies of the fiction job give exactly the rows of the plain
per-line implementation (``parse_dump_line`` + the record readers + ``from_pylist``), malformed
lines and their reasons included."""
from __future__ import annotations

import gzip
import json
from collections import Counter

import pyarrow as pa
import pytest

from book_assets.emr import fiction_job
from book_assets.openlibrary.dump_lines import MAX_LINE_BYTES, parse_dump_line
from book_assets.openlibrary.fiction import fiction_signals
from book_assets.openlibrary.records import author_fields, edition_fields, edition_rejection, work_fields

YEARS = {2019, 2020}
CURRENT = 2026


def _reference(lines, record_type, other, fields_of):
    out = []
    for line in lines:
        record, reason = parse_dump_line(line)
        if record is None:
            out.append({"reject_reason": f"malformed:{reason}"})
        elif record.record_type != record_type:
            out.append({"reject_reason": other})
        else:
            row = fields_of(record)
            out.append(row)
    return out


def _edition_ref(record):
    fields = edition_fields(record.key, record.data, CURRENT)
    rejection = edition_rejection(fields, [], YEARS)
    if rejection is not None and rejection != "not_fiction":
        return {"reject_reason": rejection}
    blocked, fiction = fiction_signals(fields["subjects"])
    return {**fields, "reject_reason": None, "fiction_blocked": blocked, "fiction_signal": fiction}


def _work_ref(record):
    fields = work_fields(record.key, record.data)
    blocked, fiction = fiction_signals(fields["subjects"])
    return {"reject_reason": None, **fields, "fiction_blocked": blocked, "fiction_signal": fiction}


def _normalise(rows, schema):
    return pa.Table.from_pylist(rows, schema=schema).to_pylist()


def _odd_lines(record_type: str, key: str) -> list:
    ts = "2020-01-01T00:00:00"
    good = {"key": key, "languages": [{"key": "/languages/eng"}], "publish_date": "2019",
            "number_of_pages": 300, "subjects": ["Fiction"], "title": "T", "name": "N",
            "works": [{"key": "/works/OL1W"}]}
    js = json.dumps(good)
    # a cover id beyond int64 (skipped, not an overflow of the Arrow column), pages in
    # "1,024" form, and rare genres
    huge_cover = json.dumps({**good, "covers": [2**64, 12], "genres": ["Fiction."]})
    long_book = json.dumps({**good, "number_of_pages": None, "pagination": "xii, 1,024 p."})
    return [
        f"{record_type}\t{key}\t1\t{ts}\t{huge_cover}",
        f"{record_type}\t{key}\t1\t{ts}\t{long_book}",
        f"{record_type}\t{key}\t1\t{ts}\t{js}",
        f"{record_type}\t{key}\t1\t{ts}\t{js}\r\n",
        f"  {record_type} \t {key} \tx\t{ts}\t{js}",  # padded columns, bad revision
        f"{record_type}\t{key}\t1\t{ts}\t" + js.replace('"T"', '"T\\ud800x"'),  # lone surrogate
        f"{record_type}\t{key}\t1\t{ts}\t" + js.replace(", ", ",\t"),  # raw tabs as JSON whitespace
        f"{record_type}\t{key}\t1\t{ts}\t{{\"a\": NaN}}",
        f"{record_type}\t{key}\t1\t{ts}\t[1, 2]",
        f"{record_type}\t{key}\t1\t{ts}\t\"text\"",
        f"{record_type}\t{key}\t1\t{ts}\t{{\"key\": \"x\"}}\textra\tmore",
        f"{record_type}\t{key}\t1",
        f"{record_type}\t{key}\t1\t{ts}\t{{\"unterminated",
        "",
        f"/type/other\t{key}\t1\t{ts}\t{js}",
        f"{record_type}\t{key}\t1\t{ts}\t{{\"title\": \"" + "x" * (MAX_LINE_BYTES // 4 + 10) + "\"}",
        f"{record_type}\t{key}\t1\t{ts}\t{{\"title\": \"" + "é" * (MAX_LINE_BYTES // 2) + "\"}",
        None,
    ]


@pytest.fixture(scope="module")
def dump_lines(tmp_path_factory):
    from book_assets.corpus.generator import FILES, generate_corpus

    out = tmp_path_factory.mktemp("hot_path_corpus")
    generate_corpus(out, n_editions=1500, seed=3, years=sorted(YEARS))
    lines = {}
    for kind, name in FILES.items():
        with gzip.open(out / name, "rt", encoding="utf-8") as fh:
            lines[kind] = [line.rstrip("\n") for line in fh]
    lines["editions"] += _odd_lines("/type/edition", "/books/OL9M")
    lines["works"] += _odd_lines("/type/work", "/works/OL9W")
    lines["authors"] += _odd_lines("/type/author", "/authors/OL9A")
    return lines


def _batches(lines, size=257):
    for i in range(0, len(lines), size):
        yield pa.RecordBatch.from_arrays([pa.array(lines[i:i + size], pa.string())], names=["value"])


def _run(fn, lines, *args):
    return pa.Table.from_batches(list(fn(_batches(lines), *args))).to_pylist()


def test_edition_batches_match_reference(dump_lines):
    """Candidates come out as rows, in line order; every other line is counted by its reason."""
    schema = fiction_job._arrow_schemas()[0]
    got = _run(fiction_job._edition_batches, dump_lines["editions"], YEARS, CURRENT)
    reference = _reference(dump_lines["editions"], "/type/edition", "not_an_edition", _edition_ref)
    expected_rows = _normalise([{**r, "lines": 1} for r in reference if r["reject_reason"] is None], schema)
    assert [r for r in got if r["reject_reason"] is None] == expected_rows
    counts = Counter()
    for r in got:
        if r["reject_reason"] is not None:
            assert r["edition_key"] is None and r["lines"] >= 1
            counts[r["reject_reason"]] += r["lines"]
    assert counts == Counter(r["reject_reason"] for r in reference if r["reject_reason"] is not None)
    assert sum(counts.values()) + len(expected_rows) == len(dump_lines["editions"])
    assert {"not_english", "no_year", "year_not_selected", "too_few_pages", "not_an_edition",
            "malformed:bad_json", "malformed:wrong_column_count", "malformed:json_not_object",
            "malformed:line_too_long"} <= set(counts)
    assert expected_rows


def test_work_batches_match_reference(dump_lines):
    schema = fiction_job._arrow_schemas()[1]
    got = _run(fiction_job._work_batches, dump_lines["works"])
    ref = _reference(dump_lines["works"], "/type/work", "not_a_work", _work_ref)
    assert got == _normalise([{k: v for k, v in row.items() if k != "title"} for row in ref], schema)


def test_author_batches_match_reference(dump_lines):
    schema = fiction_job._arrow_schemas()[2]
    got = _run(fiction_job._author_batches, dump_lines["authors"])
    ref = _reference(dump_lines["authors"], "/type/author", "not_an_author",
                     lambda r: {"reject_reason": None, **author_fields(r.key, r.data)})
    assert got == _normalise(ref, schema)


# --- staging: block copying gives the parts and figures of the plain line-by-line loop ------------

def _reference_stage(source, part_lines: int, sample_lines: int):
    """The line-by-line staging loop (stdlib gzip), kept here as the reference."""
    parts: list[list[bytes]] = []
    read = lines = 0
    skipped, examples = 0, []
    with gzip.open(source, "rb") as stream:
        for line in stream:
            read += 1
            if not line.isascii():
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError:
                    skipped += 1
                    if len(examples) < 10:
                        examples.append(read)
                    continue
            if not parts or len(parts[-1]) >= part_lines:
                parts.append([])
            parts[-1].append(line if line.endswith(b"\n") else line + b"\n")
            lines += 1
            if sample_lines and lines >= sample_lines:
                break
    return [b"".join(p) for p in parts] or [b""], lines, read, skipped, examples


@pytest.mark.parametrize("part_lines,sample_lines,chunk", [
    (1000, 0, 4 << 20), (7, 0, 64), (333, 0, 1000), (50, 123, 333), (100_000, 0, 100), (1, 5, 10),
])
def test_staging_matches_line_by_line(tmp_path, monkeypatch, dump_lines, part_lines, sample_lines, chunk):
    from book_assets.dump import staging

    body = "\n".join(line for line in dump_lines["works"][:1500] if line and "\ud800" not in line).encode()
    bad = [b"/type/work\t/works/OLX\t1\t2020\t{\"title\": \"caf\xe9\"}\n", b"\xff\xfe\n", b"\xc3\n"]
    lines = body.split(b"\n")
    for i, b in zip((3, 400, 1200), bad):
        lines.insert(i, b.rstrip(b"\n"))
    data = b"\n".join(lines) + b"\n" + b"last line without newline \xc3\xa9"
    source = tmp_path / "dump.txt.gz"
    with gzip.open(source, "wb") as fh:
        fh.write(data)
    monkeypatch.setattr(staging, "CHUNK_BYTES", chunk)
    staged = staging.stage_dump("works", source, str(source), "v1", tmp_path / "out",
                                part_lines=part_lines, sample_lines=sample_lines)
    parts, n_lines, read, skipped, examples = _reference_stage(source, part_lines, sample_lines)
    got = [gzip.decompress(p.read_bytes()) for p in sorted((tmp_path / "out").glob("part-*.txt.gz"))]
    assert got == parts
    assert (staged.lines, staged.parts, staged.lines_read) == (n_lines, len(parts), read)
    assert staged.skipped == ({"not_utf8": skipped} if skipped else {})
    assert staged.skipped_examples == ({"not_utf8": examples} if skipped else {})
