"""The Milvus resource: Milvus Lite (a file) by default, any Milvus server/cluster by URI."""
from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field


class MilvusResource(ConfigurableResource):
    """Where the ``book_covers`` collection lives. The token comes from an env var, never code."""

    uri: str = Field(description="BOOK_ASSETS_MILVUS_URI: a .db path (Milvus Lite) or http(s)://host:19530")
    token: str = Field(default="", description="BOOK_ASSETS_MILVUS_TOKEN (secret; set via env)")
    collection: str = Field(default="book_covers", description="BOOK_ASSETS_MILVUS_COLLECTION")
    index: str = Field(
        default="auto",
        description="BOOK_ASSETS_MILVUS_INDEX: the vector index a new collection gets: auto (IVF_FLAT on "
                    "Lite, HNSW on a server), FLAT (exact), IVF_FLAT or HNSW; an existing collection keeps its own",
    )

    def store(self):
        from book_assets.milvus.store import CoverStore

        return CoverStore(uri=self.uri, collection=self.collection, token=self.token, index=self.index)
