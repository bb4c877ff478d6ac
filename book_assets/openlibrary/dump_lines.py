"""Split and decode one line of an OpenLibrary dump file.

A dump line has five tab-separated columns and no header::

    type \\t key \\t revision \\t last_modified \\t json

:func:`parse_dump_line` never raises: it returns ``(DumpLine, None)`` for a usable line and
``(None, reason)`` otherwise, ``reason`` being one of the ``*`` constants below so that the
callers can count skipped lines per reason.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

try:  # orjson is much faster; the stdlib is the fallback.
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is installed in the project venv
    _orjson = None

WRONG_COLUMN_COUNT = "wrong_column_count"
BAD_JSON = "bad_json"
NOT_AN_OBJECT = "json_not_object"
NOT_UTF8 = "not_utf8"
LINE_TOO_LONG = "line_too_long"

SKIP_REASONS = (WRONG_COLUMN_COUNT, BAD_JSON, NOT_AN_OBJECT, NOT_UTF8, LINE_TOO_LONG)

MAX_LINE_BYTES = 4 * 1024 * 1024
"""Lines longer than this (in bytes, UTF-8) are skipped as :data:`LINE_TOO_LONG`."""

COLUMNS = 5


@dataclass(frozen=True)
class DumpLine:
    """One decoded dump line; ``data`` is the record's JSON object."""

    record_type: str
    key: str
    revision: int | None
    last_modified: str
    data: dict


def _revision(text: str) -> int | None:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _reject_constant(name: str):
    raise ValueError(f"not JSON: {name}")


def _repair_surrogates(value):
    """Replace lone UTF-16 surrogates (from ``\\ud800``-style escapes) with U+FFFD so every
    string can be encoded as UTF-8 downstream (Parquet, Arrow, the JVM)."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if _has_surrogate(value) else value
    if isinstance(value, list):
        return [_repair_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_repair_surrogates(k): _repair_surrogates(v) for k, v in value.items()}
    return value


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _loads(text: str):
    """Strict JSON: orjson, else the stdlib (NaN/Infinity rejected, lone surrogates repaired)."""
    if _orjson is not None:
        try:
            return _orjson.loads(text)
        except (_orjson.JSONDecodeError, TypeError, ValueError):
            pass  # orjson rejects lone surrogate escapes, which the stdlib accepts
    return _repair_surrogates(json.loads(text, parse_constant=_reject_constant))


def _too_long(text: str, max_line_bytes: int) -> bool:
    """Whether ``text`` encodes to more than ``max_line_bytes`` UTF-8 bytes (cheaply)."""
    if len(text) > max_line_bytes:  # every character is at least one byte
        return True
    if len(text) * 4 <= max_line_bytes:  # and at most four
        return False
    return len(text.encode("utf-8", "surrogatepass")) > max_line_bytes


def parse_dump_line(
    line: str | bytes, max_line_bytes: int = MAX_LINE_BYTES
) -> tuple[DumpLine | None, str | None]:
    """Parse one dump line into ``(DumpLine, None)`` or ``(None, skip_reason)``.

    * The trailing newline (``\\n`` or ``\\r\\n``) is stripped first.
    * Over ``max_line_bytes`` UTF-8 bytes (newline excluded): :data:`LINE_TOO_LONG`.
    * ``bytes`` that are not valid UTF-8: :data:`NOT_UTF8`.
    * The line is split on its first four tabs. Fewer than five columns, or more (the JSON
      column fails to parse and holds a raw tab, i.e. extra columns were appended):
      :data:`WRONG_COLUMN_COUNT`. A raw tab that is mere whitespace inside valid JSON is fine.
    * JSON that does not parse: :data:`BAD_JSON`; JSON that is not an object:
      :data:`NOT_AN_OBJECT`.

    ``revision`` is ``None`` when the third column is not an integer. Never raises.
    """
    if isinstance(line, (bytes, bytearray, memoryview)):
        raw = bytes(line).rstrip(b"\r\n")
        if len(raw) > max_line_bytes:
            return None, LINE_TOO_LONG
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None, NOT_UTF8
    elif isinstance(line, str):
        text = line.rstrip("\r\n")
        if _too_long(text, max_line_bytes):
            return None, LINE_TOO_LONG
    else:
        return None, WRONG_COLUMN_COUNT

    parts = text.split("\t", COLUMNS - 1)
    if len(parts) != COLUMNS:
        return None, WRONG_COLUMN_COUNT
    record_type, key, revision, last_modified, payload = parts
    try:
        data = _loads(payload)
    except (ValueError, TypeError, RecursionError):
        return None, WRONG_COLUMN_COUNT if "\t" in payload else BAD_JSON
    if not isinstance(data, dict):
        return None, NOT_AN_OBJECT
    return (
        DumpLine(
            record_type=record_type.strip(),
            key=key.strip(),
            revision=_revision(revision),
            last_modified=last_modified.strip(),
            data=data,
        ),
        None,
    )
