"""Milvus layer: the ``book_covers`` collection (one partition per year) behind :class:`CoverStore`."""
from book_assets.milvus.store import CoverStore

__all__ = ["CoverStore"]
