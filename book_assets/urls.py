"""Cover URLs: built from a configurable template by cover id, and validated."""
from __future__ import annotations

from urllib.parse import urlsplit


def cover_url(template: str, cover_id: int) -> str:
    """URL of one cover: ``template`` with ``{cover_id}`` filled in (cover-id lookups, not ISBN)."""
    if "{cover_id}" not in template:
        raise ValueError(f"cover URL template must contain '{{cover_id}}': {template!r}")
    if int(cover_id) <= 0:
        raise ValueError(f"cover ids are positive; got {cover_id}")
    return template.replace("{cover_id}", str(int(cover_id)))


def is_well_formed_cover_url(url: object) -> bool:
    """An absolute http(s) URL with a host and a path."""
    if not isinstance(url, str) or not url:
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and bool(parts.path.strip("/"))
