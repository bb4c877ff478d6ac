"""Environment-driven settings shared by the Dagster resources, the Spark jobs and the CLIs.

Every knob the project has is read here, from one ``BOOK_ASSETS_*`` environment variable each,
so that the Dagster resources (which wrap these values in ``EnvVar``s), the search CLI/web app
and the standalone Spark job scripts agree on defaults.
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
DEFAULT_HOME = "./data"

_YEAR_RANGE = re.compile(r"^\s*(\d{4})\s*(?:-\s*(\d{4})\s*)?$")


def default_years(today: _dt.date | None = None) -> list[int]:
    """The last ten complete calendar years before ``today``."""
    today = today or _dt.date.today()
    last = today.year - 1
    return list(range(last - 9, last + 1))


def parse_years(spec: str | None, today: _dt.date | None = None) -> list[int]:
    """Parse ``"2015-2024"``, ``"2019"`` or ``"2015,2018-2020"`` into a sorted list of years.

    An empty spec gives :func:`default_years`. Raises ``ValueError`` with a clear message on
    anything else (reversed ranges, non-years, more than 200 years).
    """
    if spec is None or not spec.strip():
        return default_years(today)
    years: set[int] = set()
    for part in spec.split(","):
        match = _YEAR_RANGE.match(part)
        if not match:
            raise ValueError(f"BOOK_ASSETS_YEARS: cannot read {part!r}; use e.g. '2015-2024' or '2019,2021'")
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if last < first:
            raise ValueError(f"BOOK_ASSETS_YEARS: range {part!r} ends before it starts")
        years.update(range(first, last + 1))
    if len(years) > 200:
        raise ValueError("BOOK_ASSETS_YEARS: more than 200 years requested")
    return sorted(years)


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


@dataclass(frozen=True)
class Settings:
    """A snapshot of the ``BOOK_ASSETS_*`` environment, with the project's defaults filled in."""

    home: str
    editions_dump: str
    works_dump: str
    authors_dump: str
    years: tuple[int, ...]
    cover_url_template: str
    clip_model: str
    covers_rps: float
    milvus_uri: str
    milvus_token: str
    milvus_collection: str
    sample_lines: int

    @classmethod
    def from_env(cls) -> "Settings":
        home = _env("BOOK_ASSETS_HOME", DEFAULT_HOME)
        return cls(
            home=home,
            editions_dump=_env("BOOK_ASSETS_EDITIONS_DUMP", DEFAULT_EDITIONS_DUMP),
            works_dump=_env("BOOK_ASSETS_WORKS_DUMP", DEFAULT_WORKS_DUMP),
            authors_dump=os.environ.get("BOOK_ASSETS_AUTHORS_DUMP", DEFAULT_AUTHORS_DUMP),
            years=tuple(parse_years(os.environ.get("BOOK_ASSETS_YEARS"))),
            cover_url_template=_env("BOOK_ASSETS_COVER_URL_TEMPLATE", DEFAULT_COVER_URL_TEMPLATE),
            clip_model=_env("BOOK_ASSETS_CLIP_MODEL", DEFAULT_CLIP_MODEL),
            covers_rps=float(_env("BOOK_ASSETS_COVERS_RPS", str(DEFAULT_COVERS_RPS))),
            milvus_uri=_env("BOOK_ASSETS_MILVUS_URI", str(Path(home) / "milvus.db")),
            milvus_token=os.environ.get("BOOK_ASSETS_MILVUS_TOKEN", ""),
            milvus_collection=_env("BOOK_ASSETS_MILVUS_COLLECTION", DEFAULT_COLLECTION),
            sample_lines=int(_env("BOOK_ASSETS_SAMPLE_LINES", "0")),
        )
