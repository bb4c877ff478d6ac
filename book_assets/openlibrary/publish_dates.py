"""The publication year of an OpenLibrary ``publish_date``.

``publish_date`` is free text: ``"1961"``, ``"2010-03-21"``, ``"2004-09"``,
``"February 5, 2007"``, ``"Jan 09, 2011"``, ``"December 2018"``, ``"12 January 2002"``,
``"2017-09-01T05:14:17"``, ``"[n.d.]"``, ``"????"``, ``""``, ``"2001?"``, ``"c1998"``,
``"3000"``, or missing. Like OpenLibrary itself, :func:`publish_year` takes the first
``\\b(\\d{4})\\b`` and rejects future years.
"""
from __future__ import annotations

import datetime as _dt
import re

_YEAR = re.compile(r"\b(\d{4})\b", re.ASCII)
# "c1998" / "C1998" / "©1998" / "p1998": a copyright/phonogram prefix glued to the year, where
# \b does not fire between the letter and the digit.
_PREFIXED_YEAR = re.compile(r"(?:^|[\s\[(,.;:])[cCpP©℗]\.?\s?(\d{4})\b", re.ASCII)

MIN_YEAR = 1000


def publish_year(value: object, current_year: int | None = None) -> int | None:
    """The year in ``value``, or ``None``.

    The first ``\\b(\\d{4})\\b`` wins (OpenLibrary's rule); when there is none, a year glued to
    a copyright prefix (``"c1998"``) is accepted. Years before 1000 or after ``current_year``
    (default: this calendar year) give ``None``. A bare JSON integer (``2019``) is read as that
    year; any other non-string (``None``, floats, lists, objects, booleans) gives ``None``.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        year = value
    elif isinstance(value, str) and value:
        match = _YEAR.search(value) or _PREFIXED_YEAR.search(value)
        if match is None:
            return None
        year = int(match.group(1))
    else:
        return None
    if current_year is None:
        current_year = _dt.date.today().year
    if year < MIN_YEAR or year > current_year:
        return None
    return year
