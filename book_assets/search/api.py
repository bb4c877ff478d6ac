"""``SearchService``: text → CLIP text embedding → nearest covers in Milvus, and "more like this".

The text encoder is injected (``encode(texts) -> (N, dim) float32``, L2-normalised) so tests can
use a fake one; :meth:`SearchService.from_settings` wires the real CLIP text tower, loaded once
per process.
"""
from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from book_assets.milvus.store import CoverStore, is_lite_uri
from book_assets.search import validation
from book_assets.settings import Settings

Encoder = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class SearchResult:
    """One hit: cosine score plus the cover's metadata."""

    score: float
    title: str
    authors: list[str] = field(default_factory=list)
    year: int = 0
    edition_key: str = ""
    cover_url: str = ""
    cover_id: int = 0
    work_key: str = ""

    def to_dict(self) -> dict:
        out = asdict(self)
        out["authors"] = list(self.authors)
        return out

    @classmethod
    def from_hit(cls, hit: dict) -> "SearchResult":
        return cls(
            score=round(float(hit["score"]), 6),
            title=hit.get("title", ""),
            authors=list(hit.get("authors", [])),
            year=int(hit.get("year", 0)),
            edition_key=hit.get("edition_key", ""),
            cover_url=hit.get("cover_url", ""),
            cover_id=int(hit.get("cover_id", 0)),
            work_key=hit.get("work_key", ""),
        )


class UnknownEdition(LookupError):
    """``more_like_this`` was given an edition key that is not in the collection."""


class MissingCollection(LookupError):
    """The configured collection does not exist (yet): no year has been loaded into it."""

    def __init__(self, collection: str, uri: str) -> None:
        super().__init__(f"no collection {collection!r} at {uri} (run the pipeline first)")


_ENCODERS: dict[str, Encoder] = {}
_ENCODERS_LOCK = threading.Lock()


def clip_text_encoder(model_id: str) -> Encoder:
    """The CLIP text tower for ``model_id`` as an ``encode(texts)`` callable; one load per process."""
    with _ENCODERS_LOCK:
        encoder = _ENCODERS.get(model_id)
        if encoder is None:
            from book_assets.clip.embed import embed_texts
            from book_assets.clip.model import get_clip

            bundle = get_clip(model_id)

            def encoder(texts: list[str], _bundle=bundle) -> np.ndarray:
                return np.asarray(embed_texts(_bundle, list(texts)), dtype=np.float32)

            _ENCODERS[model_id] = encoder
        return encoder


class SearchService:
    """Semantic cover search over a :class:`CoverStore` with an injected text encoder."""

    def __init__(self, store: CoverStore, encode: Encoder) -> None:
        self.store = store
        self.encode = encode

    @classmethod
    def from_settings(cls, settings: Settings | None = None, require_collection: bool = False) -> "SearchService":
        """The service on the configured Milvus and CLIP model.

        ``require_collection``: raise :class:`MissingCollection` (before loading the model) when
        the collection does not exist; a Lite file that does not exist is not opened, since
        opening it would create an empty one.
        """
        settings = settings or Settings.from_env()
        uri, name = settings.milvus_uri, settings.milvus_collection
        if require_collection and is_lite_uri(uri) and not Path(uri).expanduser().exists():
            raise MissingCollection(name, uri)
        # The search front end does not need read-your-writes: Bounded skips a server's wait for
        # its time tick (Strong costs up to ~200 ms a query on Milvus 2.3); Lite is always current.
        # Counts and edition lookups stay Strong inside CoverStore.
        store = CoverStore(uri, collection=name, token=settings.milvus_token, search_consistency="Bounded")
        try:
            if require_collection and not store.has_collection():
                raise MissingCollection(name, uri)
            return cls(store, clip_text_encoder(settings.clip_model))
        except BaseException:
            store.close()
            raise

    def embed_query(self, text: str) -> np.ndarray:
        vectors = np.asarray(self.encode([text]), dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != 1:
            raise RuntimeError(f"encoder returned shape {vectors.shape} for one text")
        vector = vectors[0]
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector

    def search(
        self,
        text: str,
        years: tuple[int, int] | Sequence[int] | str | None = None,
        top_k: int = 10,
    ) -> list[SearchResult]:
        """Covers whose CLIP embedding is closest to ``text``, optionally within ``years``.

        ``years``: ``(first, last)`` inclusive, an explicit list of years, ``"2018-2020"`` or None.
        """
        query = validation.check_query(text)
        year_list = validation.normalize_years(years)
        top_k = validation.check_top_k(top_k)
        hits = self.store.search(self.embed_query(query), years=year_list, top_k=top_k)
        return [SearchResult.from_hit(h) for h in hits]

    def more_like_this(
        self,
        edition_key: str,
        years: tuple[int, int] | Sequence[int] | str | None = None,
        top_k: int = 10,
    ) -> list[SearchResult]:
        """Nearest neighbours of ``edition_key``'s stored cover vector, excluding that edition.

        Raises :class:`UnknownEdition` (a ``LookupError``) if the edition is not in the collection.
        """
        key = validation.check_edition_key(edition_key)
        year_list = validation.normalize_years(years)
        top_k = validation.check_top_k(top_k)
        entity = self.store.get_entity(key)
        if entity is None:
            raise UnknownEdition(f"edition {key} is not in the search index")
        hits = self.store.search(
            entity["vector"], years=year_list, top_k=top_k + 1, exclude_ids=[entity["id"]]
        )
        return [SearchResult.from_hit(h) for h in hits if h["edition_key"] != key][:top_k]

    def close(self) -> None:
        self.store.close()
