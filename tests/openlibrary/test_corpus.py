"""The generated corpus, parsed with the pure readers, reproduces the generator's manifest."""
from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import pytest

from book_assets.corpus import CorpusManifest, generate_corpus
from book_assets.corpus.__main__ import main as corpus_main
from book_assets.openlibrary.dump_lines import parse_dump_line
from book_assets.openlibrary.records import (
    author_fields,
    author_names,
    edition_fields,
    edition_rejection,
    work_fields,
)

N = 400
YEARS = (2019, 2020)


def _parse(path: Path):
    records, skipped = [], Counter()
    with gzip.open(path, "rb") as fh:
        for line in fh:
            record, reason = parse_dump_line(line)
            if record is None:
                skipped[reason] += 1
            else:
                records.append(record)
    return records, skipped


def reproduce(out: Path, years, current_year: int):
    """What the ingest job does, in plain Python: the kept rows and cover map per year."""
    editions, ed_skipped = _parse(out / "editions.txt.gz")
    works, wk_skipped = _parse(out / "works.txt.gz")
    authors, au_skipped = _parse(out / "authors.txt.gz")
    work_by_key = {w.key: work_fields(w.key, w.data) for w in works}
    names = {}
    for a in authors:
        fields = author_fields(a.key, a.data)
        if fields["name"]:
            names[fields["author_key"]] = fields["name"]
    rows = {y: [] for y in years}
    rejections = Counter()
    for e in editions:
        fields = edition_fields(e.key, e.data, current_year=current_year)
        work = work_by_key.get(fields["work_key"])
        reason = edition_rejection(fields, work["subjects"] if work else [], set(years))
        rejections[reason] += 1
        if reason is not None:
            continue
        rows[fields["year"]].append({
            "edition_key": fields["edition_key"],
            "work_key": fields["work_key"],
            "title": fields["title"],
            "authors": author_names(fields["author_keys"], names, fields["by_statement_authors"]),
            "pages": fields["pages"],
            "cover_id": fields["cover_id"],
            "isbn_13": fields["isbn_13"],
            "languages": fields["languages"],
            "year": fields["year"],
        })
    covers = {y: {} for y in years}
    for y, year_rows in rows.items():
        year_rows.sort(key=lambda r: r["edition_key"])
        for row in year_rows:
            if row["cover_id"] is not None:
                covers[y].setdefault(row["cover_id"], row["edition_key"])
    skipped = {"editions": dict(ed_skipped), "works": dict(wk_skipped), "authors": dict(au_skipped)}
    counts = {"editions": len(editions), "works": len(works), "authors": len(authors)}
    return rows, covers, skipped, counts, rejections


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    manifest = generate_corpus(out, N, seed=7, years=YEARS, current_year=2026)
    return out, manifest


def test_kept_rows_match_manifest_row_by_row(corpus):
    out, manifest = corpus
    rows, covers, _, _, rejections = reproduce(out, YEARS, 2026)
    assert manifest.complete
    for year in YEARS:
        assert len(manifest.expected_fiction[year]) >= 5
        for got, want in zip(rows[year], manifest.expected_fiction[year]):
            assert got == want
        assert len(rows[year]) == len(manifest.expected_fiction[year])
        assert covers[year] == manifest.expected_cover_ids[year]
        assert manifest.expected_fiction_counts[year] == len(rows[year])
        assert manifest.expected_cover_counts[year] == len(covers[year])
    # the corpus exercises every rejection reason
    assert set(rejections) >= {None, "not_english", "no_year", "year_not_selected", "too_few_pages", "not_fiction"}


def test_malformed_and_line_counts_match_manifest(corpus):
    out, manifest = corpus
    _, _, skipped, counts, _ = reproduce(out, YEARS, 2026)
    assert skipped == manifest.malformed
    for name in ("editions", "works", "authors"):
        assert counts[name] == manifest.valid_line_count(name)
        with gzip.open(out / f"{name}.txt.gz", "rb") as fh:
            assert sum(1 for _ in fh) == manifest.line_counts[name]
    assert counts["editions"] == N
    assert set(manifest.malformed["editions"]) == {"wrong_column_count", "bad_json", "json_not_object"}


def test_manifest_json_round_trip(corpus):
    out, manifest = corpus
    assert CorpusManifest.load(out) == manifest
    assert CorpusManifest.from_json(manifest.to_json()) == manifest


def test_corpus_has_the_documented_variety(corpus):
    out, _ = corpus
    editions, _ = _parse(out / "editions.txt.gz")
    works, _ = _parse(out / "works.txt.gz")
    dates = {e.data.get("publish_date", "<missing>") for e in editions}
    assert {"<missing>", "", "[n.d.]", "????"} & dates
    assert any(isinstance(e.data.get("number_of_pages"), str) for e in editions)
    assert any("pagination" in e.data and "number_of_pages" not in e.data for e in editions)
    assert any(e.data.get("covers") == [] for e in editions)
    assert any((e.data.get("covers") or [None])[0] == -1 for e in editions)
    covers = [e.data["covers"][0] for e in editions if e.data.get("covers") and e.data["covers"][0] > 0]
    assert len(covers) > len(set(covers)), "some editions share a cover id"
    assert min(covers) >= 1000 and max(covers) < 10_000_000
    assert any("isbn_10" in e.data and "isbn_13" not in e.data for e in editions)
    assert any(isinstance(w.data.get("authors", [{}])[0].get("type"), str) for w in works if w.data.get("authors"))
    assert any(isinstance(w.data.get("description"), dict) for w in works)
    keys = [e.key for e in editions]
    assert keys != sorted(keys)


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate_corpus(a, 120, seed=3)
    generate_corpus(b, 120, seed=3)
    generate_corpus(c, 120, seed=4)
    for name in ("editions.txt.gz", "works.txt.gz", "authors.txt.gz", "manifest.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
        assert (a / name).read_bytes() != (c / name).read_bytes()


def test_small_corpus_still_has_rows_for_every_year(tmp_path):
    years = (2015, 2016, 2017, 2018, 2019, 2020)
    manifest = generate_corpus(tmp_path, 300, seed=11, years=years)
    rows, covers, _, _, _ = reproduce(tmp_path, years, 2026)
    for year in years:
        assert len(manifest.expected_fiction[year]) >= 3
        assert rows[year] == manifest.expected_fiction[year]
        assert covers[year] == manifest.expected_cover_ids[year]


def test_big_corpus_manifest_keeps_counts_only(tmp_path, monkeypatch):
    from book_assets.corpus import generator

    monkeypatch.setattr(generator, "FULL_MANIFEST_MAX_EDITIONS", 50)
    manifest = generate_corpus(tmp_path, 200, seed=5)
    rows, covers, _, _, _ = reproduce(tmp_path, YEARS, 2026)
    assert not manifest.complete and manifest.expected_fiction == {} and manifest.expected_cover_ids == {}
    for year in YEARS:
        assert manifest.expected_fiction_counts[year] == len(rows[year])
        assert manifest.expected_cover_counts[year] == len(covers[year])


def test_cli_writes_a_corpus(tmp_path):
    assert corpus_main(["--out", str(tmp_path), "--editions", "50", "--seed", "2", "--years", "2019,2020"]) == 0
    manifest = CorpusManifest.load(tmp_path)
    assert manifest.n_editions == 50 and manifest.years == [2019, 2020]
