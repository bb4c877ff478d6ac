"""Project defaults, the one parser of year specs, and the settings the search front end reads.

* ``DEFAULT_*``: the defaults of some ``BOOK_ASSETS_*`` variables: the home folder, the dump
  URLs, the cover URL template and allowed redirect hosts, the covers rate, the CLIP model and the
  collection name. The Dagster resources (``book_assets/resources/``) and the search CLI/web app
  import them from here so they agree. Other defaults are literals where the variable is read:
  most in ``book_assets/resources/factory.py`` (numbers such as part sizes, thresholds and batch
  sizes; the Spark and EMR settings), a few in other modules (e.g. ``assets/automation.py``).
* :func:`parse_year_spec`: the single implementation of the year syntax (``2019``,
  ``2015-2024``, ``2015,2018-2020``) used by ``BOOK_ASSETS_YEARS``, the Spark jobs' ``--years``,
  the EMR launcher, the quickstart and the search input checks. Stdlib only, so the Spark job
  scripts can import it on a cluster.
* :class:`Settings`: the variables the search front end (``SearchService.from_settings``) needs.
"""
from __future__ import annotations

import datetime as _dt
import os
import re
from dataclasses import dataclass
from pathlib import Path

OPENLIBRARY_DUMP_BASE = "https://openlibrary.org/data"
DEFAULT_EDITIONS_DUMP = f"{OPENLIBRARY_DUMP_BASE}/ol_dump_editions_latest.txt.gz"
DEFAULT_WORKS_DUMP = f"{OPENLIBRARY_DUMP_BASE}/ol_dump_works_latest.txt.gz"
DEFAULT_AUTHORS_DUMP = f"{OPENLIBRARY_DUMP_BASE}/ol_dump_authors_latest.txt.gz"
DEFAULT_COVER_URL_TEMPLATE = "https://covers.openlibrary.org/b/id/{cover_id}-M.jpg"
DEFAULT_CLIP_MODEL = "openai/clip-vit-base-patch32"
DEFAULT_COLLECTION = "book_covers"
DEFAULT_COVERS_RPS = 6.0
DEFAULT_COVERS_ALLOWED_HOSTS = ".archive.org"
"""Redirect targets allowed besides the cover URL's own host: OpenLibrary serves archived covers
from archive.org (``archive.org`` and ``ia*.us.archive.org``)."""
DEFAULT_HOME = "./data"

MAX_YEARS = 200  # most years one spec may name

_YEAR_PART = re.compile(r"^\s*(\d{4})\s*(?:-\s*(\d{4})\s*)?$")


def default_years(today: _dt.date | None = None) -> list[int]:
    """The last ten complete calendar years before ``today``."""
    today = today or _dt.date.today()
    last = today.year - 1
    return list(range(last - 9, last + 1))


def year_span(first: int, last: int, label: str = "years") -> list[int]:
    """``first..last`` inclusive; ``ValueError`` if it ends before it starts or is over :data:`MAX_YEARS`."""
    if last < first:
        raise ValueError(f"{label}: range {first}-{last} ends before it starts")
    if last - first + 1 > MAX_YEARS:
        raise ValueError(f"{label}: at most {MAX_YEARS} years at once")
    return list(range(first, last + 1))


def parse_year_spec(spec: str, label: str = "years") -> list[int]:
    """Parse ``"2019"``, ``"2015-2024"`` or ``"2015,2018-2020"`` into a sorted list of distinct years.

    The one implementation of the project's year syntax: comma-separated parts, each a 4-digit
    year or an inclusive ``first-last`` range (spaces allowed, empty parts ignored). Raises
    ``ValueError`` whose message starts with ``label``: an empty spec, a part that is not a year
    or range, a range that ends before it starts, more than :data:`MAX_YEARS` years in all.
    """
    if not isinstance(spec, str):
        raise ValueError(f"{label}: expected text like 2015-2024 or 2019,2021, got {type(spec).__name__}")
    years: set[int] = set()
    parts = [part for part in spec.split(",") if part.strip()]
    if not parts:
        raise ValueError(f"{label}: no years given; use e.g. 2015-2024, 2019 or 2019,2021-2023")
    for part in parts:
        match = _YEAR_PART.match(part)
        if not match:
            raise ValueError(f"{label}: cannot read {part.strip()[:40]!r}; use e.g. 2015-2024, 2019 or 2019,2021-2023")
        first = int(match.group(1))
        years.update(year_span(first, int(match.group(2) or first), label))
        if len(years) > MAX_YEARS:
            raise ValueError(f"{label}: at most {MAX_YEARS} years at once")
    return sorted(years)


def parse_years(spec: str | None, today: _dt.date | None = None) -> list[int]:
    """``BOOK_ASSETS_YEARS``: :func:`parse_year_spec`, or :func:`default_years` when unset or blank."""
    if spec is None or not spec.strip():
        return default_years(today)
    return parse_year_spec(spec, "BOOK_ASSETS_YEARS")


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


@dataclass(frozen=True)
class Settings:
    """What the search front end reads from the environment (``BOOK_ASSETS_HOME``, the CLIP model
    and the Milvus connection), with the project's defaults filled in.

    The pipeline's own knobs are Dagster resources (``book_assets/resources/factory.py``).
    """

    home: str
    clip_model: str
    milvus_uri: str
    milvus_token: str
    milvus_collection: str

    @classmethod
    def from_env(cls) -> "Settings":
        home = _env("BOOK_ASSETS_HOME", DEFAULT_HOME)
        return cls(
            home=home,
            clip_model=_env("BOOK_ASSETS_CLIP_MODEL", DEFAULT_CLIP_MODEL),
            milvus_uri=_env("BOOK_ASSETS_MILVUS_URI", str(Path(home) / "milvus.db")),
            milvus_token=os.environ.get("BOOK_ASSETS_MILVUS_TOKEN", ""),
            milvus_collection=_env("BOOK_ASSETS_MILVUS_COLLECTION", DEFAULT_COLLECTION),
        )
