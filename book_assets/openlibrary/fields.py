"""Shape-tolerant readers for single fields of OpenLibrary JSON records.

Real records hold lists where strings are expected, numbers as strings, descriptions as
``{"type": "/type/text", "value": ...}`` objects, ``-1`` cover ids and hyphenated ISBNs. Every
function here accepts ANY JSON value (or a whole record ``dict``) and never raises: an unusable
value gives ``None`` or ``[]``.
"""
from __future__ import annotations

import re
from typing import Any

MAX_PAGES = 100_000
MAX_ID = 2**63 - 1
"""Ids above this do not fit the 64-bit columns they are written to; such a value is unusable."""

# An arabic number; "1,024" (thousands grouped with commas, as catalogue paginations write long
# books) is ONE number, but "[8],320" and "viii, 306" are not.
_NUMBER = re.compile(r"(?<![\d,\[])\d{1,3}(?:,\d{3})+(?!\d|,\d)|\d+", re.ASCII)
_ISBN_JUNK = re.compile(r"[\s\-‐‑‒–—.]")


# --- generic shapes -----------------------------------------------------------------------

def text_value(v: Any) -> str | None:
    """A non-empty, stripped string from a string or a ``{"value": ...}`` text object.

    A list gives its first usable element. Anything else gives ``None``.
    """
    if isinstance(v, str):
        v = v.strip()
        return v or None
    if isinstance(v, dict):
        return text_value(v.get("value")) if isinstance(v.get("value"), str) else None
    if isinstance(v, list):
        for item in v:
            if isinstance(item, (str, dict)):
                text = text_value(item)
                if text:
                    return text
    return None


def string_list(v: Any) -> list[str]:
    """The non-empty stripped strings of a list (others dropped); a lone string gives ``[s]``."""
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list):
        return []
    out = []
    for item in v:
        if isinstance(item, str):
            item = item.strip()
            if item:
                out.append(item)
    return out


def _key_of(item: Any) -> str | None:
    if isinstance(item, str):
        return item.strip() or None
    if isinstance(item, dict):
        key = item.get("key")
        if isinstance(key, str):
            return key.strip() or None
    return None


def key_list(v: Any) -> list[str]:
    """Keys from a list of ``{"key": ...}`` objects or bare strings; order kept, no duplicates.

    A lone object or string is treated as a one-element list.
    """
    if isinstance(v, (str, dict)):
        v = [v]
    if not isinstance(v, list):
        return []
    seen: dict[str, None] = {}
    for item in v:
        key = _key_of(item)
        if key is not None:
            seen.setdefault(key, None)
    return list(seen)


def _record(data: Any) -> dict:
    return data if isinstance(data, dict) else {}


# --- specific fields ----------------------------------------------------------------------

def language_codes(data: Any) -> list[str]:
    """MARC language codes of a record: ``[{"key": "/languages/eng"}]`` → ``["eng"]``.

    Codes are lower-cased, in order, without duplicates; absent languages give ``[]``.
    """
    codes: dict[str, None] = {}
    for key in key_list(_record(data).get("languages")):
        code = key.rstrip("/").rsplit("/", 1)[-1].strip().lower()
        if code:
            codes.setdefault(code, None)
    return list(codes)


def _plausible_pages(n: int) -> int | None:
    return n if 0 < n <= MAX_PAGES else None


def _numbers(match: str) -> list[int]:
    """``"1,024"`` → [1024]; a grouped reading above MAX_PAGES (``"656,704"``: two volumes) → its parts."""
    whole = int(match.replace(",", ""))
    return [whole] if whole <= MAX_PAGES or "," not in match else [int(p) for p in match.split(",")]


def _pages_from_text(text: str) -> int | None:
    numbers = [n for m in _NUMBER.findall(text) for n in _numbers(m) if 0 < n <= MAX_PAGES]
    return max(numbers) if numbers else None


def page_count(data: Any) -> int | None:
    """The page count of an edition.

    ``number_of_pages`` as an int, an integral float or a string (``"300"``, ``"300 p."``: the
    largest arabic number in it); when that is missing or unusable, the largest arabic number in
    ``pagination`` (``"viii, 306 p."`` → 306; ``"xii, 1,024 p."`` → 1024). Values <= 0 or
    > 100000 are ignored.
    """
    data = _record(data)
    raw = data.get("number_of_pages")
    pages = None
    if isinstance(raw, bool):
        pages = None
    elif isinstance(raw, int):
        pages = _plausible_pages(raw)
    elif isinstance(raw, float) and raw.is_integer():
        pages = _plausible_pages(int(raw))
    elif isinstance(raw, str):
        pages = _pages_from_text(raw)
    if pages is not None:
        return pages
    pagination = text_value(data.get("pagination"))
    return _pages_from_text(pagination) if pagination else None


def _positive_int(v: Any) -> int | None:
    """A whole number in 1..MAX_ID from an int, an integral float or a digit string, else ``None``."""
    if isinstance(v, bool):
        return None
    n = None
    if isinstance(v, int):
        n = v
    elif isinstance(v, float) and v.is_integer():
        n = int(v)
    elif isinstance(v, str) and v.strip().isascii() and v.strip().isdigit():
        n = int(v.strip())
    return n if n is not None and 0 < n <= MAX_ID else None


def first_cover_id(covers: Any) -> int | None:
    """The first cover id > 0 of a ``covers`` list (``-1`` marks a deleted cover).

    Numeric strings are accepted; a lone number is treated as a one-element list. An id too
    large for a 64-bit integer is skipped like any other unusable item.
    """
    if not isinstance(covers, list):
        covers = [covers]
    for item in covers:
        cover = _positive_int(item)
        if cover is not None:
            return cover
    return None


# --- ISBNs --------------------------------------------------------------------------------

def _isbn_strings(v: Any) -> list[str]:
    if isinstance(v, (str, int)) and not isinstance(v, bool):
        v = [v]
    if not isinstance(v, list):
        return []
    out = []
    for item in v:
        if isinstance(item, int) and not isinstance(item, bool):
            item = str(item)
        if isinstance(item, str):
            out.append(_ISBN_JUNK.sub("", item).upper())
    return out


def _isbn13_check_digit(first12: str) -> str:
    total = sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(first12))
    return str((10 - total % 10) % 10)


def valid_isbn_13(s: str) -> bool:
    """Whether ``s`` (already stripped of hyphens) is a checksum-valid ISBN-13."""
    return (
        len(s) == 13 and s.isascii() and s.isdigit() and s[:3] in ("978", "979")
        and _isbn13_check_digit(s[:12]) == s[12]
    )


def valid_isbn_10(s: str) -> bool:
    """Whether ``s`` (already stripped of hyphens, upper-cased) is a checksum-valid ISBN-10."""
    if len(s) != 10 or not s.isascii() or not s[:9].isdigit() or not (s[9].isdigit() or s[9] == "X"):
        return False
    total = sum((10 - i) * int(c) for i, c in enumerate(s[:9]))
    total += 10 if s[9] == "X" else int(s[9])
    return total % 11 == 0


def isbn_10_to_13(s: str) -> str:
    """Convert a valid ISBN-10 to its ISBN-13 (``978`` prefix, new check digit)."""
    first12 = "978" + s[:9]
    return first12 + _isbn13_check_digit(first12)


def isbn_13(data: Any) -> str | None:
    """The first valid ISBN-13 of an edition, else its first valid ISBN-10 converted.

    Hyphens and spaces are stripped and checksums verified; invalid entries are skipped.
    """
    data = _record(data)
    for s in _isbn_strings(data.get("isbn_13")):
        if valid_isbn_13(s):
            return s
    for s in _isbn_strings(data.get("isbn_10")):
        if valid_isbn_10(s):
            return isbn_10_to_13(s)
    return None


# --- keys ---------------------------------------------------------------------------------

def work_key(data: Any) -> str | None:
    """The first key of an edition's ``works`` list."""
    keys = key_list(_record(data).get("works"))
    return keys[0] if keys else None


def _author_keys(v: Any) -> list[str]:
    if isinstance(v, (str, dict)):
        v = [v]
    if not isinstance(v, list):
        return []
    seen: dict[str, None] = {}
    for item in v:
        key = None
        if isinstance(item, dict) and "author" in item:
            key = _key_of(item.get("author"))  # role format: {"type": ..., "author": {"key"}}
        else:
            key = _key_of(item)  # {"key": ...} or a bare string
        if key is not None:
            seen.setdefault(key, None)
    return list(seen)


def edition_author_keys(data: Any) -> list[str]:
    """Author keys of an edition (``[{"key": ...}]``; the work role format is accepted too)."""
    return _author_keys(_record(data).get("authors"))


def work_author_keys(data: Any) -> list[str]:
    """Author keys of a work.

    Handles ``{"type": {"key": "/type/author_role"}, "author": {"key": ...}}``, the older
    ``"type": "/type/author_role"`` bare string, a bare ``{"key": ...}`` and bare strings.
    """
    return _author_keys(_record(data).get("authors"))


# --- by statements ------------------------------------------------------------------------

_BY = re.compile(r"\bby\b", re.IGNORECASE)
_ROLE = re.compile(
    r"\b(illustrat\w*|translat\w*|edit(?:ed|or|ors)|foreword|introduction|preface|"
    r"afterword|photograph\w*|compiled|adapted|narrated|read by)\b",
    re.IGNORECASE,
)
_SEPARATORS = re.compile(r"\s*(?:,|&|\band\b|\bet\b(?!\s+al))\s*", re.IGNORECASE)
_SUFFIX = re.compile(r"^(jr|sr|ii|iii|iv|phd|ph\.\s?d|md|m\.\s?d|esq)\.?$", re.IGNORECASE)
_EDGE = " \t\r\n.,;:/[](){}\"'!?-–—*"


def _clean_name(piece: str) -> str:
    piece = piece.strip(_EDGE)
    piece = re.sub(r"^by\s+", "", piece, flags=re.IGNORECASE)
    piece = re.sub(r"\bet\s+al\b\.?", "", piece, flags=re.IGNORECASE)
    piece = re.sub(r"\s+", " ", piece)
    return piece.strip(_EDGE)


def clean_by_statement(s: Any) -> list[str]:
    """Author names from a ``by_statement``: ``"by Martha Meade."`` → ``["Martha Meade"]``.

    Text before the first "by" is dropped (``"a novel by X"``); later ``;``/``/`` segments that
    name other roles (illustrated, translated, edited...) are dropped; names are split on
    ``,``, ``&`` and ``and``; ``Jr.``-style suffixes stay with their name; surrounding
    punctuation, brackets and ``et al.`` are stripped. ``[]`` when nothing is left.
    A list of strings is read as one statement per element.
    """
    if isinstance(s, list):
        names: list[str] = []
        for item in string_list(s):
            for name in clean_by_statement(item):
                if name not in names:
                    names.append(name)
        return names
    if not isinstance(s, str):
        return []
    text = s.strip()
    match = _BY.search(text)
    if match and not _ROLE.search(text[: match.start()]):
        text = text[match.end():]
    segments = re.split(r"[;/]", text)
    kept = [segments[0]] + [seg for seg in segments[1:] if not _ROLE.search(seg)]
    if _ROLE.search(kept[0]) and _BY.search(kept[0]):
        kept[0] = _BY.split(kept[0], 1)[1]
    names = []
    for segment in kept:
        for piece in _SEPARATORS.split(segment):
            name = _clean_name(piece)
            if not name:
                continue
            if _SUFFIX.match(name) and names:
                names[-1] = f"{names[-1]}, {name}."
                continue
            if any(ch.isalpha() for ch in name) and name not in names:
                names.append(name)
    return names
