"""Per-record logic the ingest job maps over dump lines: field extraction and edition filtering.

:func:`edition_fields`, :func:`work_fields` and :func:`author_fields` turn one record's JSON
into a flat dict of plain values (what the Spark job writes to Parquet). After editions are
joined to their works by ``work_key``, :func:`edition_rejection` decides whether an edition is
kept (adult English fiction of a selected year with more than 100 pages) and why not, and
:func:`author_names` resolves display names.
"""
from __future__ import annotations

from typing import Any

from book_assets.openlibrary.fiction import is_fiction
from book_assets.openlibrary.fields import (
    clean_by_statement,
    edition_author_keys,
    first_cover_id,
    isbn_13,
    language_codes,
    page_count,
    string_list,
    text_value,
    work_author_keys,
    work_key,
)
from book_assets.openlibrary.publish_dates import publish_year

ENGLISH = "eng"
MIN_PAGES_EXCLUSIVE = 100
"""Editions need MORE than this many pages."""

REJECT_NOT_ENGLISH = "not_english"
REJECT_NO_YEAR = "no_year"
REJECT_YEAR_NOT_SELECTED = "year_not_selected"
REJECT_TOO_FEW_PAGES = "too_few_pages"
REJECT_NOT_FICTION = "not_fiction"
REJECT_REASONS = (
    REJECT_NOT_ENGLISH,
    REJECT_NO_YEAR,
    REJECT_YEAR_NOT_SELECTED,
    REJECT_TOO_FEW_PAGES,
    REJECT_NOT_FICTION,
)
"""In the order :func:`edition_rejection` checks them: the first failing check is reported."""


def _record(data: Any) -> dict:
    return data if isinstance(data, dict) else {}


def _raw_publish_date(v: Any) -> str | None:
    if isinstance(v, str):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return None


def _edition_subjects(data: dict) -> list[str]:
    subjects = string_list(data.get("subjects"))
    genres = [g for g in string_list(data.get("genres")) if g not in subjects]
    return subjects + list(dict.fromkeys(genres)) if genres else subjects


def edition_fields(key: str, data: dict, current_year: int | None = None) -> dict:
    """The fields of one edition record (``key`` is the dump's key column, ``/books/OL…M``).

    Keys: ``edition_key``, ``work_key``, ``title`` (``title``, else ``full_title``; the
    subtitle is not appended), ``by_statement_authors``, ``author_keys``, ``year`` (see
    :func:`~book_assets.openlibrary.publish_dates.publish_year`; future years are ``None``),
    ``publish_date`` (the raw string), ``pages``, ``subjects`` (the edition's ``subjects``, then
    those of its rare ``genres`` not already there; not the work's),
    ``cover_id`` (first id > 0), ``isbn_13`` and ``languages`` (MARC codes).
    """
    data = _record(data)
    return {
        "edition_key": key,
        "work_key": work_key(data),
        "title": text_value(data.get("title")) or text_value(data.get("full_title")),
        "by_statement_authors": clean_by_statement(data.get("by_statement")),
        "author_keys": edition_author_keys(data),
        "year": publish_year(data.get("publish_date"), current_year),
        "publish_date": _raw_publish_date(data.get("publish_date")),
        "pages": page_count(data),
        "subjects": _edition_subjects(data),
        "cover_id": first_cover_id(data.get("covers")),
        "isbn_13": isbn_13(data),
        "languages": language_codes(data),
    }


def work_fields(key: str, data: dict) -> dict:
    """``work_key``, ``title``, ``subjects`` (``subjects`` only, not places/people/times) and
    ``author_keys`` of one work record."""
    data = _record(data)
    return {
        "work_key": key,
        "title": text_value(data.get("title")),
        "subjects": string_list(data.get("subjects")),
        "author_keys": work_author_keys(data),
    }


def author_fields(key: str, data: dict) -> dict:
    """``author_key`` and ``name`` (``name``, else ``personal_name``, else ``None``)."""
    data = _record(data)
    return {
        "author_key": key,
        "name": text_value(data.get("name")) or text_value(data.get("personal_name")),
    }


def edition_precheck(data: Any, years: set[int] | None, current_year: int | None = None) -> str | None:
    """The first ``REJECT_*`` reason :func:`edition_rejection` would give before its fiction check,
    read straight from the record (language, publish date, pages: the same readers as
    :func:`edition_fields`), or ``None`` for a candidate. Most editions fail here, so callers
    extract the full :func:`edition_fields` only for the candidates."""
    data = _record(data)
    if ENGLISH not in language_codes(data):
        return REJECT_NOT_ENGLISH
    year = publish_year(data.get("publish_date"), current_year)
    if year is None:
        return REJECT_NO_YEAR
    if years is not None and year not in years:
        return REJECT_YEAR_NOT_SELECTED
    pages = page_count(data)
    if pages is None or pages <= MIN_PAGES_EXCLUSIVE:
        return REJECT_TOO_FEW_PAGES
    return None


def edition_rejection(
    fields: dict, work_subjects: list[str], years: set[int] | None
) -> str | None:
    """``None`` when the edition is kept, else the first failing ``REJECT_*`` reason.

    Checks, in order: English (``"eng"`` among its language codes -- an edition WITHOUT any
    ``languages`` is rejected as ``not_english``: the language is unknown and an unknown
    language cannot be vouched for, at the price of losing some English editions that never
    recorded it); a publication year; the year among ``years`` (``None`` = every year);
    more than 100 pages (a missing count is rejected); adult fiction judged on the union of
    the edition's and the work's subjects (:func:`~book_assets.openlibrary.fiction.is_fiction`).
    """
    if ENGLISH not in (fields.get("languages") or ()):
        return REJECT_NOT_ENGLISH
    year = fields.get("year")
    if year is None:
        return REJECT_NO_YEAR
    if years is not None and year not in years:
        return REJECT_YEAR_NOT_SELECTED
    pages = fields.get("pages")
    if pages is None or pages <= MIN_PAGES_EXCLUSIVE:
        return REJECT_TOO_FEW_PAGES
    subjects = list(fields.get("subjects") or ()) + list(work_subjects or ())
    if not is_fiction(subjects):
        return REJECT_NOT_FICTION
    return None


def author_names(
    author_keys: list[str], names_by_key: dict[str, str], by_statement_authors: list[str]
) -> list[str]:
    """Author names resolved through the authors dump, in ``author_keys`` order.

    Keys without a (non-empty) name are skipped; duplicates are dropped. When no key resolves,
    the names parsed from the edition's ``by_statement`` are returned instead.
    """
    names: list[str] = []
    for key in author_keys or ():
        name = names_by_key.get(key)
        if name and name not in names:
            names.append(name)
    return names if names else list(by_statement_authors or ())
