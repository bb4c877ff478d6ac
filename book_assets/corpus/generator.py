"""A deterministic, seeded synthetic OpenLibrary dump with its own ground truth.

:func:`generate_corpus` writes ``editions.txt.gz``, ``works.txt.gz`` and ``authors.txt.gz`` in
the real five-column dump format (unsorted, with every oddity listed in
``docs/openlibrary-format.md``) plus ``manifest.json``, a :class:`CorpusManifest` saying what
the pipeline must find: the adult English fiction editions of each selected year, their cover
ids, and the malformed lines planted per file and reason.

The manifest is computed from the generator's PLAN (what each record was meant to be:
English? fiction? how many pages? which year?), never by running the parsers in
:mod:`book_assets.openlibrary` -- tests compare the two.

Planning conventions the manifest follows (so that a pipeline built on
:mod:`book_assets.openlibrary.records` reproduces it):

* An edition is kept when it is English (``eng`` among its languages; no languages = not
  English), its year is selected, it has more than 100 pages and it is adult fiction judged on
  its own plus its work's subjects.
* ``authors`` are the names of the edition's author keys found (with a name) in the authors
  dump, in order, without duplicates; when none resolves, the names in its ``by_statement``.
  A work's authors are always the edition's authors or absent, so falling back to work
  authors changes nothing.
* ``expected_cover_ids[year][cover_id]`` is the smallest edition key among the KEPT editions
  of that year whose first valid cover id is ``cover_id``.
* Editions share cover ids only inside one work's group of editions.

Malformed lines (3 columns, 7 columns, bad JSON, a JSON list) are planted at known counts per
file; every file also gets valid lines only for the records counted in ``line_counts``.
"""
from __future__ import annotations

import dataclasses
import gzip
import json
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

EDITIONS_FILE = "editions.txt.gz"
WORKS_FILE = "works.txt.gz"
AUTHORS_FILE = "authors.txt.gz"
MANIFEST_FILE = "manifest.json"
FILES = {"editions": EDITIONS_FILE, "works": WORKS_FILE, "authors": AUTHORS_FILE}

FULL_MANIFEST_MAX_EDITIONS = 200_000
"""Above this many editions the manifest keeps counts only (no rows, no cover map)."""

FIRST_COVER_ID = 1000

# Malformed-line kinds: the kind and the parser's skip reason it must produce.
MALFORMED_KINDS = {
    "three_columns": "wrong_column_count",
    "seven_columns": "wrong_column_count",
    "bad_json": "bad_json",
    "json_list": "json_not_object",
}

_MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
]
_FIRST = [
    "Martha", "John", "Zoë", "José", "Amélie", "Hiroshi", "Ngozi", "Björn", "Ada", "Ravi",
    "Chloe", "Samuel", "Ingrid", "Mateo", "Fatima", "Oliver", "Yuki", "Liam", "Sofia", "Kwame",
]
_LAST = [
    "Meade", "Smith", "Okafor", "Núñez", "Larsen", "Tanaka", "O'Brien", "Dubois", "Kowalski",
    "Müller", "Patel", "Hughes", "Fernández", "Novak", "Andersen", "Ibrahim", "Walsh", "Costa",
    "Lindqvist", "Moreau", "Brennan", "Haddad", "Ferreira", "Quinn",
]
_TITLE_A = [
    "The", "A", "Midnight", "Silent", "Broken", "Hidden", "Last", "Burning", "Glass", "Winter",
    "Crimson", "Distant", "Lost", "Golden", "Quiet",
]
_TITLE_B = [
    "Harbor", "Garden", "Letters", "Kingdom", "River", "Orchard", "Signal", "Lighthouse",
    "Cartographer", "Daughters", "Machine", "Tide", "Empire", "Wolves", "Archive", "Café",
]

_FICTION_SUBJECTS = [
    "Fiction", "Science fiction", "Detective and mystery stories", "Fiction, general",
    "Romance fiction", "Fantasy fiction", "American fiction", "Novels", "FICTION / General",
    "Fiction / Thrillers / Suspense", "Love stories", "Short stories", "Historical fiction",
]
_NEUTRAL_SUBJECTS = [
    "History", "Families", "London (England)", "Cooking", "Biography", "Travel",
    "Friendship", "Psychology", "World War, 1939-1945", "Art",
]
_JUVENILE_SUBJECTS = [
    "Juvenile fiction", "Children's fiction", "Juvenile literature", "Young adult fiction",
    "Children's stories",
]
_NONFICTION_SUBJECTS = ["Nonfiction", "Non-fiction", "Juvenile nonfiction"]

# Subject categories of the plan. Adult fiction = some FICTION, no JUVENILE, no NONFICTION.
NONE, FICTION, NEUTRAL, JUVENILE, NONFICTION = "none", "fiction", "neutral", "juvenile", "nonfiction"

_PHYSICAL = ["Paperback", "Hardcover", "E-book", "Audio CD", "Mass Market Paperback"]
_PUBLISHERS = ["Penguin", "Tor", "Vintage", "HarperCollins", "Gallimard", "Suhrkamp", "Orbit"]


@dataclass
class CorpusManifest:
    """What the generator planted. JSON keys are strings; :meth:`from_json` restores ints.

    * ``expected_fiction[year]``: kept editions of that year sorted by ``edition_key``, each
      ``{edition_key, work_key, title, authors, pages, cover_id, isbn_13, year}``.
    * ``expected_cover_ids[year][cover_id]``: smallest kept edition key with that cover id.
    * ``malformed[file][reason]``: planted malformed lines (file in editions/works/authors,
      reason a :mod:`book_assets.openlibrary.dump_lines` skip reason).
    * ``line_counts[file]``: lines written, malformed included.
    * ``expected_fiction_counts`` / ``expected_cover_counts``: per-year sizes of the two maps;
      always present. When ``complete`` is false (``n_editions`` > 200,000) the two maps are
      left empty and only the counts are known.
    """

    seed: int
    n_editions: int
    years: list[int]
    current_year: int
    expected_fiction: dict[int, list[dict]] = field(default_factory=dict)
    expected_cover_ids: dict[int, dict[int, str]] = field(default_factory=dict)
    malformed: dict[str, dict[str, int]] = field(default_factory=dict)
    line_counts: dict[str, int] = field(default_factory=dict)
    expected_fiction_counts: dict[int, int] = field(default_factory=dict)
    expected_cover_counts: dict[int, int] = field(default_factory=dict)
    complete: bool = True

    def malformed_total(self, file: str) -> int:
        """All malformed lines planted in one file (``editions``, ``works`` or ``authors``)."""
        return sum(self.malformed.get(file, {}).values())

    def valid_line_count(self, file: str) -> int:
        """Lines of one file that parse into records."""
        return self.line_counts.get(file, 0) - self.malformed_total(file)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> "CorpusManifest":
        raw = json.loads(text)
        return cls(
            seed=raw["seed"],
            n_editions=raw["n_editions"],
            years=[int(y) for y in raw["years"]],
            current_year=raw["current_year"],
            expected_fiction={int(y): rows for y, rows in raw["expected_fiction"].items()},
            expected_cover_ids={
                int(y): {int(c): k for c, k in covers.items()}
                for y, covers in raw["expected_cover_ids"].items()
            },
            malformed={f: dict(r) for f, r in raw["malformed"].items()},
            line_counts=dict(raw["line_counts"]),
            expected_fiction_counts={int(y): n for y, n in raw["expected_fiction_counts"].items()},
            expected_cover_counts={int(y): n for y, n in raw["expected_cover_counts"].items()},
            complete=raw["complete"],
        )

    @classmethod
    def load(cls, out_dir: str | os.PathLike) -> "CorpusManifest":
        return cls.from_json(Path(out_dir, MANIFEST_FILE).read_text(encoding="utf-8"))


# --- keys, names and ISBNs derived from indices (no memory needed) --------------------------

def _scramble(i: int, salt: int) -> int:
    """A bijection of [0, 2**32) so keys look unsorted; +1 keeps OL numbers positive."""
    return ((i + salt) * 2654435761) % (1 << 32) + 1


def _isbn13_check(first12: str) -> str:
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(first12))
    return str((10 - total % 10) % 10)


def _isbn10_check(first9: str) -> str:
    rest = (11 - sum((10 - i) * int(c) for i, c in enumerate(first9)) % 11) % 11
    return "X" if rest == 10 else str(rest)


def _author_name(idx: int) -> str:
    first = _FIRST[idx % len(_FIRST)]
    last = _LAST[(idx // len(_FIRST)) % len(_LAST)]
    initial = chr(ord("A") + (idx // (len(_FIRST) * len(_LAST))) % 26)
    return f"{first} {initial}. {last}"


class _Plan:
    """The generator's bookkeeping: keys, author records, and the random source."""

    def __init__(self, n_editions: int, seed: int, years: Sequence[int], current_year: int):
        self.rng = random.Random(seed)
        self.seed = seed
        self.years = list(years)
        self.current_year = current_year
        self.n_authors = max(12, n_editions // 3)
        salt = self.rng.randrange(1 << 20)
        self.salt_e, self.salt_w, self.salt_a = salt, salt + 7_777_777, salt + 3_333_333
        self.other_years = [y for y in range(1950, 2025) if y not in set(self.years)]
        self.next_cover = FIRST_COVER_ID

    def edition_key(self, i: int) -> str:
        return f"/books/OL{_scramble(i, self.salt_e)}M"

    def work_key(self, j: int) -> str:
        return f"/works/OL{_scramble(j, self.salt_w)}W"

    def author_key(self, a: int) -> str:
        return f"/authors/OL{_scramble(a, self.salt_a)}A"

    # Author idx a: written to the dump unless a % 17 == 5; name unless a % 29 == 11
    # (no name at all); personal_name only when a % 13 == 7.
    @staticmethod
    def author_in_dump(a: int) -> bool:
        return a % 17 != 5

    @staticmethod
    def author_has_name(a: int) -> bool:
        return a % 29 != 11

    def resolved_name(self, a: int) -> str | None:
        if self.author_in_dump(a) and self.author_has_name(a):
            return _author_name(a)
        return None

    def new_cover(self) -> int:
        cover = self.next_cover
        self.next_cover += 1
        return cover

    def timestamp(self) -> str:
        """A ``last_modified``-style timestamp, from one draw (this is on the hot path)."""
        x = self.rng.getrandbits(52)
        x, micro = divmod(x, 1_000_000)
        x, sec = divmod(x, 60)
        x, minute = divmod(x, 60)
        x, hour = divmod(x, 24)
        x, day = divmod(x, 28)
        x, month = divmod(x, 12)
        return f"{2008 + x % 17}-{month + 1:02d}-{day + 1:02d}T{hour:02d}:{minute:02d}:{sec:02d}.{micro:06d}"

    def revision(self, most: int) -> int:
        return 1 + int(self.rng.random() * most)


# --- pieces of one edition ----------------------------------------------------------------

def _publish_date(plan: _Plan, year: int | None) -> str | None:
    """A publish_date string for ``year`` in one of the real forms (``None`` = omit field)."""
    r = plan.rng
    if year is None:
        return r.choice(["[n.d.]", "????", "", None, "3000", "2999", "n.d.", "[19--?]"])
    m, d = r.randint(1, 12), r.randint(1, 28)
    month = _MONTHS[m - 1]
    forms = [
        f"{year}", f"{year}", f"{year}-{m:02d}-{d:02d}", f"{year}-{m:02d}", f"{month} {d}, {year}",
        f"{month[:3]} {d:02d}, {year}", f"{month} {year}", f"{d} {month} {year}",
        f"{year}-{m:02d}-{d:02d}T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:05",
        f"{year}?", f"c{year}", f"[{year}]", f"© {year}",
    ]
    return r.choice(forms)


def _pages(plan: _Plan, ok: bool) -> tuple[dict, int | None]:
    """Page fields of an edition and the page count the plan intends (None = unknown)."""
    r = plan.rng
    if ok:
        n = r.randint(101, 900)
        form = r.random()
        if form < 0.55:
            return {"number_of_pages": n}, n
        if form < 0.7:
            return {"number_of_pages": f"{n} p."}, n
        if form < 0.8:
            return {"number_of_pages": str(n), "pagination": f"{n} p."}, n
        return {"pagination": r.choice([f"viii, {n} p.", f"xii, {n} p. :", f"{n}p"])}, n
    form = r.random()
    if form < 0.4:
        n = r.randint(8, 100)
        return {"number_of_pages": n, "pagination": f"{n} p."}, n
    if form < 0.5:
        return {"number_of_pages": 100}, 100
    if form < 0.75:
        return {}, None
    if form < 0.85:
        return {"pagination": "xii p."}, None
    if form < 0.93:
        return {"number_of_pages": 0}, None
    return {"number_of_pages": 999_999}, None


def _languages(plan: _Plan, english: bool) -> dict:
    r = plan.rng
    if english:
        if r.random() < 0.9:
            return {"languages": [{"key": "/languages/eng"}]}
        return {"languages": [{"key": "/languages/fre"}, {"key": "/languages/eng"}]}
    form = r.random()
    if form < 0.35:
        return {"languages": [{"key": "/languages/fre"}]}
    if form < 0.6:
        return {"languages": [{"key": "/languages/ger"}]}
    if form < 0.7:
        return {"languages": []}
    return {}


def _subjects(plan: _Plan, category: str) -> list[str]:
    r = plan.rng
    if category == NONE:
        return []
    neutral = r.sample(_NEUTRAL_SUBJECTS, r.randint(0, 2))
    if category == FICTION:
        picked = r.sample(_FICTION_SUBJECTS, r.randint(1, 2))
    elif category == NEUTRAL:
        return r.sample(_NEUTRAL_SUBJECTS, r.randint(1, 3))
    elif category == JUVENILE:
        picked = [r.choice(_JUVENILE_SUBJECTS)] + ([r.choice(_FICTION_SUBJECTS)] if r.random() < 0.6 else [])
    else:
        picked = [r.choice(_NONFICTION_SUBJECTS)]
    subjects = picked + neutral
    r.shuffle(subjects)
    return subjects


def _category(plan: _Plan, weights: Sequence[tuple[str, float]]) -> str:
    x = plan.rng.random()
    for name, w in weights:
        if x < w:
            return name
        x -= w
    return weights[-1][0]


def _isbns(plan: _Plan) -> tuple[dict, str | None]:
    r = plan.rng
    body = f"{r.randrange(10**9):09d}"
    isbn10 = body + _isbn10_check(body)
    isbn13 = "978" + body + _isbn13_check("978" + body)
    hyphenated = f"{isbn13[:3]}-{isbn13[3]}-{isbn13[4:8]}-{isbn13[8:12]}-{isbn13[12]}"
    form = r.random()
    if form < 0.3:
        return {"isbn_10": [isbn10]}, isbn13
    if form < 0.5:
        return {"isbn_13": [hyphenated]}, isbn13
    if form < 0.65:
        return {"isbn_10": [f"{isbn10[:1]}-{isbn10[1:4]}-{isbn10[4:9]}-{isbn10[9]}"], "isbn_13": [isbn13]}, isbn13
    if form < 0.72:  # an invalid ISBN-13 first: the valid ISBN-10 is converted instead
        bad = isbn13[:12] + str((int(isbn13[12]) + 1) % 10)
        return {"isbn_13": [bad], "isbn_10": [isbn10]}, isbn13
    return {}, None


def _covers(plan: _Plan, shared: list[int]) -> tuple[dict, int | None]:
    """Cover fields and the planned first valid id; ``shared`` = ids used in this work group."""
    r = plan.rng
    form = r.random()
    if shared and form < 0.2:
        cover = r.choice(shared)
        return {"covers": [cover]}, cover
    form = r.random()
    if form < 0.12:
        return {}, None
    if form < 0.2:
        return {"covers": []}, None
    if form < 0.25:
        return {"covers": [-1]}, None
    cover = plan.new_cover()
    shared.append(cover)
    if form < 0.4:
        return {"covers": [-1, cover]}, cover
    if form < 0.5:
        extra = plan.new_cover()
        return {"covers": [cover, extra]}, cover
    return {"covers": [cover]}, cover


def _title(plan: _Plan, i: int) -> str:
    r = plan.rng
    title = f"{r.choice(_TITLE_A)} {r.choice(_TITLE_B)}"
    if i % 97 == 3:
        title += "\twith a tab"  # escaped as \t in JSON
    if i % 89 == 5:
        title += " \u2014 \u00e9t\u00e9 \u6771\u4eac"
    return title


def _authors(plan: _Plan, i: int) -> tuple[dict, list[int], list[str]]:
    """Author-related edition fields, the author indices, and the planned names."""
    r = plan.rng
    idxs = [r.randrange(plan.n_authors) for _ in range(1 if r.random() < 0.8 else 2)]
    by_names = list(dict.fromkeys(_author_name(a) for a in idxs))
    if len(by_names) == 1:
        by = r.choice([f"by {by_names[0]}.", by_names[0], f"by {by_names[0]}"])
    else:
        by = r.choice([f"by {by_names[0]} and {by_names[1]}.", f"{by_names[0]}, {by_names[1]}"])
    form = r.random()
    fields: dict = {}
    if form < 0.6:  # keys on the edition (maybe repeated), by_statement sometimes
        keys = [plan.author_key(a) for a in idxs]
        if r.random() < 0.1:
            keys = keys + keys[:1]
        fields["authors"] = [{"key": k} for k in keys]
        if r.random() < 0.5:
            fields["by_statement"] = by
    elif form < 0.9:  # only a by_statement
        idxs = []
        fields["by_statement"] = by
    else:  # nothing at all
        idxs = []
        by_names = []
    resolved = [n for n in dict.fromkeys(plan.resolved_name(a) for a in idxs) if n]
    if resolved:
        names = resolved
    elif "by_statement" in fields:
        names = by_names
    else:
        names = []
    return fields, idxs, names


# --- writers -------------------------------------------------------------------------------

def _line(record_type: str, key: str, revision: int, last_modified: str, data: dict) -> bytes:
    return b"\t".join(
        [record_type.encode(), key.encode(), str(revision).encode(), last_modified.encode(), orjson.dumps(data)]
    ) + b"\n"


class _Writer:
    """Buffered gzip writer that shuffles lines inside each buffer (dumps are unsorted)."""

    def __init__(self, path: Path, rng: random.Random, buffer_lines: int = 2048):
        # The gzip header holds an mtime and a file name: pin both for byte-identical output.
        self.raw = open(path, "wb")
        self.file = gzip.GzipFile(filename="", mode="wb", fileobj=self.raw, compresslevel=1, mtime=0)
        self.rng = rng
        self.buffer: list[bytes] = []
        self.buffer_lines = buffer_lines
        self.count = 0

    def write(self, line: bytes) -> None:
        self.buffer.append(line)
        self.count += 1
        if len(self.buffer) >= self.buffer_lines:
            self.flush()

    def flush(self) -> None:
        self.rng.shuffle(self.buffer)
        self.file.write(b"".join(self.buffer))
        self.buffer.clear()

    def close(self) -> None:
        self.flush()
        self.file.close()
        self.raw.close()


def _malformed_lines(record_type: str, key: str, count: int) -> list[tuple[str, bytes]]:
    """``count`` lines of each malformed kind, as (kind, line)."""
    out = []
    ts = "2020-01-01T00:00:00.000000"
    for n in range(count):
        k = f"{key}{n}"
        out.append(("three_columns", f"{record_type}\t{k}\t1\n".encode()))
        out.append(("seven_columns", f'{record_type}\t{k}\t1\t{ts}\t{{"key": "{k}"}}\textra\tmore\n'.encode()))
        out.append(("bad_json", f'{record_type}\t{k}\t1\t{ts}\t{{"key": "{k}", "title": "unterminated\n'.encode()))
        out.append(("json_list", f'{record_type}\t{k}\t1\t{ts}\t["{k}", 1, 2]\n'.encode()))
    return out


def _count_malformed(lines: list[tuple[str, bytes]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for kind, _ in lines:
        reason = MALFORMED_KINDS[kind]
        counts[reason] = counts.get(reason, 0) + 1
    return counts


def _author_records(plan: _Plan, writer: _Writer) -> None:
    r = plan.rng
    for a in range(plan.n_authors):
        if not plan.author_in_dump(a):
            continue
        key = plan.author_key(a)
        data: dict = {"key": key, "type": {"key": "/type/author"}}
        name = _author_name(a)
        if not plan.author_has_name(a):
            data["alternate_names"] = [name]
        elif a % 13 == 7:
            data["personal_name"] = name
        else:
            data["name"] = name
            if r.random() < 0.3:
                data["personal_name"] = name
        if r.random() < 0.3:
            data["birth_date"] = str(r.randint(1900, 1990))
        if r.random() < 0.1:
            data["bio"] = {"type": "/type/text", "value": f"{name} writes novels."}
        writer.write(_line("/type/author", key, plan.revision(9), plan.timestamp(), data))


def _work_record(plan: _Plan, key: str, title: str, subjects: list[str], author_idxs: list[int]) -> dict:
    r = plan.rng
    data: dict = {"key": key, "type": {"key": "/type/work"}, "title": title}
    if author_idxs:
        entries = []
        for a in dict.fromkeys(author_idxs):
            form = r.random()
            if form < 0.6:
                entries.append({"type": {"key": "/type/author_role"}, "author": {"key": plan.author_key(a)}})
            elif form < 0.9:
                entries.append({"type": "/type/author_role", "author": {"key": plan.author_key(a)}})
            else:
                entries.append({"key": plan.author_key(a)})
        data["authors"] = entries
    if subjects:
        data["subjects"] = subjects if len(subjects) > 1 or r.random() < 0.9 else subjects[0]
    if r.random() < 0.3:
        data["subject_places"] = [r.choice(["London (England)", "Paris (France)", "Mars"])]
    if r.random() < 0.2:
        data["subject_times"] = ["20th century"]
    if r.random() < 0.1:
        data["subject_people"] = ["Sherlock Holmes (Fictitious character)"]
    form = r.random()
    if form < 0.2:
        data["description"] = "A story."
    elif form < 0.3:
        data["description"] = {"type": "/type/text", "value": "A story\nin two lines."}
    if r.random() < 0.3:
        data["first_publish_date"] = str(r.randint(1900, 2020))
    return data


# --- the plan for one edition ---------------------------------------------------------------

_WORK_CATEGORIES = [(FICTION, 0.45), (NEUTRAL, 0.15), (NONE, 0.25), (JUVENILE, 0.08), (NONFICTION, 0.07)]
_EDITION_CATEGORIES = [(NONE, 0.5), (FICTION, 0.25), (NEUTRAL, 0.15), (JUVENILE, 0.05), (NONFICTION, 0.05)]


def _adult_fiction(categories: Sequence[str]) -> bool:
    return FICTION in categories and JUVENILE not in categories and NONFICTION not in categories


def _edition(plan: _Plan, i: int, work: dict | None, work_category: str, shared_covers: list[int],
             force_year: int | None, work_takes_authors: bool) -> tuple[dict, dict | None]:
    """One edition record and, when the plan keeps it, its expected manifest row.

    ``force_year`` plants a kept edition of that year (the work category must then be
    fiction/none). ``work_takes_authors``: the (single-edition) work may name the same authors.
    """
    r = plan.rng
    key = plan.edition_key(i)
    forced = force_year is not None
    english = forced or r.random() < 0.73
    if forced:
        year = force_year
    else:
        form = r.random()
        if form < 0.6:
            year = r.choice(plan.years)
        elif form < 0.88:
            year = r.choice(plan.other_years)
        else:
            year = None
    pages_ok = forced or r.random() < 0.72
    ed_category = _category(plan, _EDITION_CATEGORIES)
    if forced:
        ed_category = FICTION

    data: dict = {"key": key, "type": {"key": "/type/edition"}}
    title = _title(plan, i)
    form = r.random()
    if form < 0.85:
        data["title"] = title
        if r.random() < 0.3:
            data["subtitle"] = "a novel"
            data["full_title"] = f"{title}: a novel"
    elif form < 0.93:
        data["full_title"] = title
    else:
        data["title"] = [title]  # wrong shape: a list
    if work is not None:
        data["works"] = [{"key": work["key"]}]
    author_fields, author_idxs, names = _authors(plan, i)
    data.update(author_fields)
    publish_date = _publish_date(plan, year)
    if publish_date is not None:
        data["publish_date"] = publish_date
    data.update(_languages(plan, english))
    page_fields, pages = _pages(plan, pages_ok)
    data.update(page_fields)
    subjects = _subjects(plan, ed_category)
    if subjects:
        data["subjects"] = subjects
    cover_fields, cover_id = _covers(plan, shared_covers)
    data.update(cover_fields)
    isbn_fields, isbn = _isbns(plan)
    data.update(isbn_fields)
    if r.random() < 0.5:
        data["publishers"] = [r.choice(_PUBLISHERS)]
    if r.random() < 0.5:
        data["physical_format"] = r.choice(_PHYSICAL)
    form = r.random()
    if form < 0.1:
        data["description"] = "An edition."
    elif form < 0.15:
        data["description"] = {"type": "/type/text", "value": "An edition."}
    if r.random() < 0.2:
        data["notes"] = {"type": "/type/text", "value": "Includes index."}
    if r.random() < 0.3:
        data["identifiers"] = {"goodreads": [str(r.randrange(10**7))]}
    if r.random() < 0.2:
        data["created"] = {"type": "/type/datetime", "value": plan.timestamp()}
    if i % 251 == 17 and not forced:  # a record missing every optional field
        data = {"key": key, "type": {"key": "/type/edition"}}
        english, year, pages_ok, ed_category, names, cover_id, isbn = False, None, False, NONE, [], None, None
        if work is not None:
            data["works"] = [{"key": work["key"]}]
    if work is not None and work_takes_authors and author_idxs and r.random() < 0.7:
        work["authors_from"] = author_idxs  # the work names the same authors (see module doc)

    categories = [ed_category] + ([work_category] if work is not None and work.get("in_dump") else [])
    kept = (
        english and year is not None and year in plan.years and pages_ok
        and _adult_fiction(categories)
    )
    row = None
    if kept:
        row = {
            "edition_key": key,
            "work_key": work["key"] if work is not None else None,
            "title": title,
            "authors": names,
            "pages": pages,
            "cover_id": cover_id,
            "isbn_13": isbn,
            "languages": [lang["key"].rsplit("/", 1)[-1] for lang in data["languages"]],
            "year": year,
        }
    return data, row


def generate_corpus(
    out_dir: str | os.PathLike,
    n_editions: int,
    seed: int = 0,
    years: Sequence[int] = (2019, 2020),
    current_year: int = 2026,
) -> CorpusManifest:
    """Write a synthetic dump of ``n_editions`` valid editions (+ works, authors, malformed
    lines) under ``out_dir`` and return (and write) its :class:`CorpusManifest`.

    Same arguments → byte-identical files. Memory stays flat for millions of editions: records
    are streamed, and above 200,000 editions the manifest keeps counts only.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    years = sorted(int(y) for y in years)
    plan = _Plan(n_editions, seed, years, current_year)
    complete = n_editions <= FULL_MANIFEST_MAX_EDITIONS
    manifest = CorpusManifest(seed=seed, n_editions=n_editions, years=years, current_year=current_year,
                              complete=complete)
    fiction_rows: dict[int, list[dict]] = {y: [] for y in years}
    fiction_counts = {y: 0 for y in years}
    cover_counts = {y: 0 for y in years}
    cover_map: dict[int, dict[int, str]] = {y: {} for y in years}

    editions = _Writer(out / EDITIONS_FILE, random.Random(seed * 31 + 1))
    works = _Writer(out / WORKS_FILE, random.Random(seed * 31 + 2))
    authors = _Writer(out / AUTHORS_FILE, random.Random(seed * 31 + 3))

    n_malformed_ed = 2 + n_editions // 5000
    n_malformed_other = 1 + n_editions // 10000
    planted = {
        "editions": _malformed_lines("/type/edition", "/books/OLBAD", n_malformed_ed),
        "works": _malformed_lines("/type/work", "/works/OLBAD", n_malformed_other),
        "authors": _malformed_lines("/type/author", "/authors/OLBAD", n_malformed_other),
    }
    manifest.malformed = {name: _count_malformed(lines) for name, lines in planted.items()}
    # Spread malformed lines over the stream: insert one after every `stride` valid editions.
    malformed_ed = [line for _, line in planted["editions"]]
    stride = max(1, n_editions // (len(malformed_ed) + 1))

    forced_years = [y for y in years for _ in range(3)]
    i = 0
    j = 0
    while i < n_editions:
        group = min(n_editions - i, 1 if plan.rng.random() < 0.6 else plan.rng.randint(2, 3))
        wkey = plan.work_key(j)
        j += 1
        work_form = plan.rng.random()
        if work_form < 0.05:
            work = None  # edition without a `works` field
            work_category = NONE
        else:
            work = {"key": wkey, "in_dump": work_form >= 0.09}  # 4%: work missing from the dump
            work_category = _category(plan, _WORK_CATEGORIES)
        if i < len(forced_years):
            work_category = FICTION if work is not None else NONE
        shared_covers: list[int] = []
        group_covers: dict[int, set[int]] = {}
        for _ in range(group):
            force = forced_years[i] if i < len(forced_years) else None
            data, row = _edition(plan, i, work, work_category, shared_covers, force, group == 1)
            editions.write(_line("/type/edition", data["key"], plan.revision(20), plan.timestamp(), data))
            if i % stride == stride - 1 and malformed_ed:
                editions.write(malformed_ed.pop())
            i += 1
            if row is not None:
                y = row["year"]
                fiction_counts[y] += 1
                if row["cover_id"] is not None:
                    group_covers.setdefault(y, set()).add(row["cover_id"])
                if complete:
                    fiction_rows[y].append(row)
                    if row["cover_id"] is not None:
                        known = cover_map[y].get(row["cover_id"])
                        if known is None or row["edition_key"] < known:
                            cover_map[y][row["cover_id"]] = row["edition_key"]
        for y, covers in group_covers.items():
            cover_counts[y] += len(covers)
        if work is not None and work["in_dump"]:
            title = plan.rng.choice(_TITLE_A) + " " + plan.rng.choice(_TITLE_B)
            record = _work_record(plan, wkey, title, _subjects(plan, work_category), work.get("authors_from", []))
            works.write(_line("/type/work", wkey, plan.revision(9), plan.timestamp(), record))
    for line in malformed_ed:
        editions.write(line)
    for _, line in planted["works"]:
        works.write(line)
    _author_records(plan, authors)
    for _, line in planted["authors"]:
        authors.write(line)
    for name, writer in (("editions", editions), ("works", works), ("authors", authors)):
        writer.close()
        manifest.line_counts[name] = writer.count

    manifest.expected_fiction_counts = fiction_counts
    manifest.expected_cover_counts = cover_counts
    if complete:
        manifest.expected_fiction = {y: sorted(rows, key=lambda row: row["edition_key"])
                                     for y, rows in fiction_rows.items()}
        manifest.expected_cover_ids = {y: dict(sorted(m.items())) for y, m in cover_map.items()}
    (out / MANIFEST_FILE).write_text(manifest.to_json(), encoding="utf-8")
    return manifest
