"""Validation of user input to the search CLI and web app: query text, years, top_k, edition keys.

Every function returns the cleaned value or raises ``ValueError`` with a message fit to show the
user as-is (the CLI prints it and exits 2; the web app answers 400 with it).
"""
from __future__ import annotations

from typing import Any, Sequence

from book_assets.milvus import schema
from book_assets.milvus.schema import MAX_YEAR, MIN_YEAR
from book_assets.settings import MAX_YEARS, parse_year_spec, year_span

MAX_QUERY_LENGTH = 500
MIN_TOP_K, MAX_TOP_K = 1, 100


def _check_years(years: list[int]) -> list[int]:
    """Every year of a parsed spec within the Milvus id range (the parser checks shape and size)."""
    check_year(years[0], "first year")
    check_year(years[-1], "last year")
    return years


def parse_year_range(spec: str) -> tuple[int, int]:
    """``"2018-2020" -> (2018, 2020)``; ``"2019" -> (2019, 2019)``.

    Parsed by the project's one year parser (:func:`book_assets.settings.parse_year_spec`); a
    spec that names separate ranges (``"2015,2018"``) is refused here because the search takes
    one inclusive range.
    """
    if not isinstance(spec, str):
        raise ValueError("years must be text like 2018-2020")
    years = _check_years(parse_year_spec(spec, "years"))
    if years[-1] - years[0] + 1 != len(years):
        raise ValueError(f"years: give one range like 2018-2020 or one year, got {spec.strip()[:40]!r}")
    return years[0], years[-1]


def check_year(year: Any, what: str = "year") -> int:
    if isinstance(year, bool):
        raise ValueError(f"{what} must be a 4-digit year")
    try:
        value = int(str(year).strip()) if isinstance(year, str) else int(year)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a 4-digit year, got {str(year)[:40]!r}") from None
    if isinstance(year, float) and year != value:
        raise ValueError(f"{what} must be a whole year")
    if not MIN_YEAR <= value <= MAX_YEAR:  # the store's range (schema.check_year), said for this input
        raise ValueError(f"{what} {value} is outside {MIN_YEAR}-{MAX_YEAR}")
    return schema.check_year(value)


def check_year_range(first: Any, last: Any) -> tuple[int, int]:
    years = year_span(check_year(first, "first year"), check_year(last, "last year"), "years")
    return years[0], years[-1]


def normalize_years(years: tuple[int, int] | Sequence[int] | str | None) -> list[int] | None:
    """Turn ``None``, a year spec (``"2018-2020"``, ``"2015,2018-2020"``), a ``(first, last)`` pair
    or a list of years into a sorted year list.

    A 2-tuple is read as an inclusive range; a list (or any other sequence) as explicit years.
    """
    if years is None:
        return None
    if isinstance(years, str):
        if not years.strip():
            return None
        return _check_years(parse_year_spec(years, "years"))
    if isinstance(years, tuple) and len(years) == 2:
        first, last = check_year_range(*years)
        return list(range(first, last + 1))
    values = sorted({check_year(y) for y in years})
    if not values:
        raise ValueError("years: empty list")
    if len(values) > MAX_YEARS:
        raise ValueError(f"years: at most {MAX_YEARS} years at once")
    return values


def check_top_k(top_k: Any) -> int:
    if isinstance(top_k, bool):
        raise ValueError("top_k must be a whole number")
    try:
        value = int(top_k.strip()) if isinstance(top_k, str) else int(top_k)
    except (TypeError, ValueError):
        raise ValueError(f"top_k must be a whole number, got {str(top_k)[:40]!r}") from None
    if isinstance(top_k, float) and top_k != value:
        raise ValueError("top_k must be a whole number")
    if not MIN_TOP_K <= value <= MAX_TOP_K:
        raise ValueError(f"top_k must be between {MIN_TOP_K} and {MAX_TOP_K}, got {value}")
    return value


def check_query(text: Any) -> str:
    if not isinstance(text, str):
        raise ValueError("query must be text")
    cleaned = text.strip()
    if not cleaned:
        raise ValueError("query is empty")
    if len(cleaned) > MAX_QUERY_LENGTH:
        raise ValueError(f"query is too long ({len(cleaned)} characters; at most {MAX_QUERY_LENGTH})")
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in cleaned):
        raise ValueError("query contains control characters")
    return cleaned


def check_edition_key(key: Any) -> str:
    """A user's edition key, spaces trimmed, checked by the store's own rule."""
    try:
        return schema.check_edition_key(key.strip() if isinstance(key, str) else key)
    except ValueError:
        shown = str(key)[:60] if key is not None else ""
        raise ValueError(f"edition key must look like /books/OL123M, got {shown!r}") from None
