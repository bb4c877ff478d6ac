"""``CoverStore``: the Milvus collection of cover embeddings, one partition per publication year.

Works identically against Milvus Lite (``uri`` is a local ``*.db`` path; one process per file,
or several through ``milvus-lite server``) and a Milvus server / Zilliz Cloud (``http(s)://…``
plus a token). Lite 3.2 and server 2.3 disagree on several operations (see ``docs/milvus.md``);
this layer relies on none of them:

* a year is rebuilt by release (server) → drop partition → create partition → insert (or bulk
  import, server only) → flush (years of ≥ ``flush_min_rows``) → load (server: that partition; Lite: the collection, it has no
  partition-level load/release). Never insert-overwrite, upsert, or
  ``delete(filter, partition_name=…)``: Lite overwrites/moves/deletes everywhere, a server
  keeps duplicates/old rows/deletes in one partition only;
* ids are ``year * 1e10 + cover_id``, so the same cover in two years is two entities, never a
  move between partitions;
* every read that must see the last write (counts, lookups, search by default) asks for
  ``Strong`` consistency explicitly (a server defaults to Bounded);
* counts use ``count(*)`` *with* a ``year == N`` filter (Lite ignores ``partition_names`` for an
  unfiltered ``count(*)``);
* hit ids are read through ``hit.id`` (a server names it ``id``, Lite the primary-key field);
* indexes are FLAT / IVF_FLAT / HNSW only, no scalar indexes, no ``filter_params`` templating
  (a server rejects HNSW_SQ, BRUTE_FORCE, INVERTED on integers and templates);
* year filters in search go through ``partition_names`` (fast, exact), never filter expressions;
* the only user text that reaches a filter expression is an edition key that matched a strict regex.

The token is handed to ``MilvusClient`` and never stored in reprs or logs.
"""
from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pyarrow as pa
from pymilvus import MilvusClient

from book_assets.milvus import bulk, indexes
from book_assets.milvus.schema import (
    SCALAR_FIELDS,
    check_edition_key,
    check_rows,
    check_year,
    build_schema,
    partition_name as _partition_name,
    split_authors,
    table_rows,
)

log = logging.getLogger(__name__)

STRONG = "Strong"
_LITE_GRPC_OPTIONS = {
    # Long index builds on Lite block the server thread; don't let keepalive pings kill the channel.
    "grpc.keepalive_time_ms": 120_000,
    "grpc.keepalive_timeout_ms": 600_000,
}


def is_lite_uri(uri: str) -> bool:
    """A local path (``data/milvus.db``) means Milvus Lite; a ``scheme://`` URI means a server."""
    return not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", uri)


#: How long opening a Milvus Lite file waits for another process to let go of it (Lite serves a
#: ``.db`` to one process at a time; the ``milvus_writes`` pool serialises Dagster steps only when
#: the instance enforces pool limits, so this is the second line of defence).
LITE_OPEN_WAIT_S = 180.0
_LITE_BUSY = ("Open local milvus failed", "Failed to start MilvusLite", "DataDirLockedError", "holds the lock")


def _lite_busy(exc: BaseException | None) -> bool:
    for _ in range(5):  # the lock error is usually the cause of a ConnectionConfigException
        if exc is None:
            return False
        if any(marker in f"{type(exc).__name__}: {exc}" for marker in _LITE_BUSY):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _open_client(uri: str, token: str, lite: bool, wait_s: float | None = None, **kwargs) -> MilvusClient:
    """``MilvusClient(uri, token)``; for Lite, retry (bounded) while another process holds the file."""
    deadline = time.monotonic() + (LITE_OPEN_WAIT_S if wait_s is None else wait_s)
    delay = 0.5
    while True:
        try:
            return MilvusClient(uri=uri, token=token or "", **kwargs)
        except Exception as exc:
            if not lite or not _lite_busy(exc) or time.monotonic() + delay > deadline:
                raise
            log.warning("Milvus Lite file %s is in use by another process; retrying in %.1fs", uri, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _hit_id(hit: Any) -> int:
    # ``hit.id`` on both; a dict hit is keyed ``id`` on a server and by the pk field name on Lite
    # (also ``id`` here), so the entity's own ``id`` field is the last resort.
    for getter in (lambda h: h.id, lambda h: h["id"], lambda h: h["entity"]["id"]):
        try:
            value = getter(hit)
        except (KeyError, AttributeError, TypeError):
            continue
        if value is not None:
            return int(value)
    raise KeyError("search hit without an id")


def _hit_entity(hit: Any) -> dict:
    try:
        entity = hit["entity"]
    except (KeyError, TypeError):
        entity = getattr(hit, "entity", None)
    return dict(entity or {})


def _hit_score(hit: Any) -> float:
    try:
        return float(hit["distance"])
    except (KeyError, TypeError):
        return float(getattr(hit, "distance", getattr(hit, "score", 0.0)))


class DimensionMismatch(RuntimeError):
    """A query vector's width differs from the collection's: the encoder and the index disagree
    (a set-up problem, e.g. another CLIP model than the one the index was built with)."""


class CoverStore:
    """The cover-embedding collection: reload a year, count, search, fetch a stored vector."""

    def __init__(
        self,
        uri: str,
        collection: str = "book_covers",
        token: str = "",
        dim: int | None = None,
        index: str = "auto",
        search_consistency: str = STRONG,
        bulk_dir: str | None = None,
        bulk_min_rows: int = bulk.DEFAULT_BULK_MIN_ROWS,
        flush_min_rows: int = 10_000,
    ) -> None:
        self.uri = uri
        self.bulk_dir = bulk_dir if bulk_dir is not None else bulk.default_bulk_dir()
        self.bulk_min_rows = int(bulk_min_rows)
        # A server's flush waits for the segment to seal (~2.5 s even for 10 rows). Inserted rows
        # are durable (WAL) and visible to Strong reads without it, so small years skip it and
        # the server seals them in the background; large years flush so the index covers them.
        self.flush_min_rows = int(flush_min_rows)
        self.last_load_method: str | None = None
        self.collection = collection
        self.search_consistency = search_consistency
        kwargs: dict[str, Any] = {}
        local_lite = is_lite_uri(uri)
        if local_lite:
            Path(uri).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
            kwargs["grpc_options"] = dict(_LITE_GRPC_OPTIONS)
        self._client = _open_client(uri, token, local_lite, **kwargs)
        # A local path is Lite; so is ``milvus-lite server`` behind an http:// URI (several
        # processes share one Lite that way), which only its version string tells apart.
        self.server_version = self._server_version()
        self.is_lite = local_lite or self.server_version.startswith("milvus_lite")
        self.index_type = indexes.choose_index(index, self.is_lite)
        self._loaded = False
        self.dim: int | None = None
        if self._client.has_collection(collection):
            self.dim = self._collection_dim()
            existing = self._existing_index_type()
            if existing and not indexes.is_auto(index) and existing != self.index_type:
                log.warning("collection %s already has a %s index: the %s asked for applies to new "
                            "collections only (drop the collection to change it)", collection, existing,
                            self.index_type)
            self.index_type = existing or self.index_type
        if dim is not None:
            self.ensure_collection(dim)

    def _server_version(self) -> str:
        try:
            return str(self._client.get_server_version())
        except Exception:  # pragma: no cover - a proxy that hides the version
            log.debug("get_server_version failed", exc_info=True)
            return ""

    def __repr__(self) -> str:  # no token here, ever
        return f"CoverStore(uri={self.uri!r}, collection={self.collection!r}, index={self.index_type!r})"

    # ----------------------------------------------------------------- collection

    @staticmethod
    def partition_name(year: int) -> str:
        return _partition_name(year)

    def _collection_dim(self) -> int:
        desc = self._client.describe_collection(self.collection)
        for field in desc.get("fields", []):
            if field.get("name") == indexes.VECTOR_FIELD:
                return int(field.get("params", {}).get("dim"))
        raise RuntimeError(f"collection {self.collection!r} has no {indexes.VECTOR_FIELD!r} field")

    def _existing_index_type(self) -> str | None:
        info = self.index_info()
        return info.get("index_type") if info else None

    def ensure_collection(self, dim: int) -> None:
        """Create the collection (schema, COSINE index, loaded) unless it exists; idempotent."""
        dim = int(dim)
        if dim <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        if self._client.has_collection(self.collection):
            existing = self._collection_dim()
            if existing != dim:
                raise ValueError(
                    f"collection {self.collection!r} holds {existing}-d vectors, got {dim}-d; "
                    "use another collection name or drop it"
                )
            self.dim = existing
            if not self.has_index():
                self._create_index()
            return
        index_params = self._index_params()
        self._client.create_collection(
            self.collection, schema=build_schema(dim), index_params=index_params
        )
        self.dim = dim
        log.info("created Milvus collection %s (dim %d, %s index)", self.collection, dim, self.index_type)
        self._ensure_loaded(force=True)

    def _index_params(self):
        params = self._client.prepare_index_params()
        params.add_index(
            field_name=indexes.VECTOR_FIELD,
            index_type=self.index_type,
            metric_type=indexes.METRIC,
            params=indexes.INDEX_BUILD_PARAMS[self.index_type],
        )
        return params

    def _create_index(self) -> None:
        self._client.create_index(self.collection, self._index_params())

    def _ensure_loaded(self, force: bool = False) -> None:
        if self._loaded and not force:
            return
        state = str(self._client.get_load_state(self.collection).get("state", ""))
        if "Loaded" not in state or "NotLoad" in state:
            self._client.load_collection(self.collection)
        self._loaded = True

    def _load_partition(self, part: str) -> None:
        """Make ``part`` searchable: a server loads just that partition (and the collection if
        nothing is loaded); Lite has no partition-level load, so it loads the collection."""
        if self.is_lite:
            self._client.load_collection(self.collection)
        else:
            self._client.load_partitions(self.collection, [part])
            self._loaded = False
            self._ensure_loaded()
        self._loaded = True

    def has_collection(self) -> bool:
        return bool(self._client.has_collection(self.collection))

    def has_index(self) -> bool:
        if not self._client.has_collection(self.collection):
            return False
        return bool(self._client.list_indexes(self.collection, field_name=indexes.VECTOR_FIELD))

    def index_info(self) -> dict:
        """``describe_index`` of the vector index (index_type, metric_type, params, rows), or ``{}``."""
        if not self.has_index():
            return {}
        name = self._client.list_indexes(self.collection, field_name=indexes.VECTOR_FIELD)[0]
        return dict(self._client.describe_index(self.collection, name))

    def _existing_partitions(self) -> set[str]:
        if not self._client.has_collection(self.collection):
            return set()
        return set(self._client.list_partitions(self.collection))

    # ----------------------------------------------------------------- writes

    def reload_year(
        self,
        year: int,
        rows: pa.Table,
        batch_size: int = 2000,
        progress: Callable[[int, int], None] | None = None,
        method: str = "auto",
    ) -> int:
        """Replace exactly ``year``'s entities with ``rows``; returns the number stored.

        ``method``: ``"insert"`` (batched inserts), ``"bulk"`` (BulkWriter Parquet + import, a
        server only) or ``"auto"`` (bulk on a server with ``bulk_dir`` for years of at least
        ``bulk_min_rows`` rows, inserts otherwise); the one used is left in ``last_load_method``.

        Other years' partitions are never touched. Every row is checked (columns, year, cover
        id, vector width) before anything is dropped, so a refused table leaves the year as it
        was. A year with no rows and no collection yet (so no vector width known) creates
        nothing and returns 0. If a call dies part-way on Milvus' side (partition dropped, half
        inserted), running it again starts from a fresh partition, so it repairs the year.
        When it returns, counts and searches (Strong) see exactly the new rows.
        """
        year = check_year(year)
        if batch_size <= 0:
            raise ValueError("batch_size must be positive")
        dim = self.dim if self.dim is not None else self._table_dim(rows)
        if dim is None:  # no collection yet, and no vector to give its width
            if rows.num_rows:
                raise ValueError("no row has an embedding and there is no collection to give the width")
            check_rows(year, rows, 0)  # still refuse a table without the row columns
            self.last_load_method = None
            log.info("no rows for %s partition %s and no collection yet: nothing loaded",
                     self.collection, self.partition_name(year))
            return 0
        batches = table_rows(year, rows, dim, batch_size)  # raises here, before any change
        self.ensure_collection(dim)
        chosen = bulk.choose_method(method, is_lite=self.is_lite, n_rows=rows.num_rows,
                                    bulk_dir=self.bulk_dir, min_rows=self.bulk_min_rows)
        part = self.partition_name(year)
        self._drop_partition(part)
        self._client.create_partition(self.collection, part)
        total = rows.num_rows
        if chosen == "bulk":
            inserted = self._bulk_load(part, batches, dim, total, progress)
        else:
            inserted = self._insert_rows(part, batches, total, progress)
        if progress is not None:
            progress(total, total)
        if chosen == "insert" and inserted >= self.flush_min_rows:
            self._client.flush(self.collection)
        self._load_partition(part)
        if chosen == "bulk":
            # imported segments join the query target a few seconds after the import completes
            bulk.wait_visible(lambda: self.count_year(year), inserted)
        self.last_load_method = chosen
        log.info("reloaded %s partition %s: %d entities (%s)", self.collection, part, inserted, chosen)
        return inserted

    def _insert_rows(self, part, batches, total, progress) -> int:
        done = inserted = 0
        for batch in batches:
            result = self._client.insert(self.collection, batch, partition_name=part)
            inserted += int(result.get("insert_count", len(batch)))
            done = min(total, done + len(batch))
            if progress is not None and done < total:
                progress(done, total)
        return inserted

    def _bulk_load(self, part, batches, dim, total, progress) -> int:
        report = None if progress is None else (lambda n: progress(min(n, total), total) if n < total else None)
        staging, files, written = bulk.write_parquet(
            build_schema(dim), batches, self.bulk_dir, report
        )
        try:
            if written == 0:
                return 0
            imported = bulk.import_files(self._client, self.collection, part, files)
        finally:
            bulk.remove_staging(staging)
        if imported != written:
            raise RuntimeError(f"bulk import into {part} stored {imported} of {written} rows")
        return imported

    def _drop_partition(self, part: str) -> None:
        if not self._client.has_partition(self.collection, part):
            return
        # A server refuses to drop a loaded partition; Lite has no partition-level release and
        # drops loaded partitions as they are.
        if not self.is_lite:
            self._client.release_partitions(self.collection, [part])
        self._client.drop_partition(self.collection, part)

    @staticmethod
    def _table_dim(rows: pa.Table) -> int | None:
        if "embedding" not in rows.column_names or rows.num_rows == 0:
            return None
        for value in rows.column("embedding").to_pylist():
            if value:
                return len(value)
        return None

    # ----------------------------------------------------------------- reads

    def count_year(self, year: int) -> int:
        """Exact number of entities stored for ``year`` (Strong consistency)."""
        part = self.partition_name(year)
        if part not in self._existing_partitions():
            return 0
        self._ensure_loaded()
        res = self._client.query(
            self.collection,
            filter=f"year == {check_year(year)}",
            output_fields=["count(*)"],
            partition_names=[part],
            consistency_level=STRONG,
        )
        return int(res[0]["count(*)"]) if res else 0

    def count_total(self) -> int:
        if not self._client.has_collection(self.collection):
            return 0
        self._ensure_loaded()
        # An empty filter lets Milvus answer from its segment row counts: on Lite 3.2 at 300k rows
        # 0.2 s, where ``id >= 0`` took 43 s and +1 GB of memory (and ran a 1M-row Lite out of
        # 24 GB). Not used for count_year: Lite ignores partition_names when the filter is empty.
        res = self._client.query(
            self.collection, filter="", output_fields=["count(*)"], consistency_level=STRONG
        )
        return int(res[0]["count(*)"]) if res else 0

    def years(self) -> list[int]:
        """Years that have a partition, ascending."""
        return sorted(int(p[1:]) for p in self._existing_partitions() if re.fullmatch(r"y\d{4}", p))

    def search(
        self,
        vector: np.ndarray,
        years: Sequence[int] | None = None,
        top_k: int = 10,
        exclude_ids: Sequence[int] = (),
    ) -> list[dict]:
        """Nearest covers to ``vector`` by cosine similarity, best first.

        ``years`` restricts the search to those years' partitions (missing years are skipped; if
        none exists the result is empty). Each result has score, id, edition_key, work_key,
        title, authors (list), year, cover_id, cover_url.
        """
        top_k = int(top_k)
        if not 1 <= top_k <= 16384:
            raise ValueError("top_k must be between 1 and 16384")
        if not self._client.has_collection(self.collection):
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if self.dim is not None and query.shape[0] != self.dim:
            raise DimensionMismatch(f"query vector has {query.shape[0]} dims, collection has {self.dim}")
        if not np.all(np.isfinite(query)) or not np.any(query):
            raise ValueError("query vector must be finite and non-zero")
        partitions: list[str] | None = None
        if years is not None:
            wanted = [self.partition_name(y) for y in years]
            existing = self._existing_partitions()
            partitions = sorted({p for p in wanted if p in existing})
            if not partitions:
                return []
        self._ensure_loaded()
        excluded = {int(i) for i in exclude_ids}
        res = self._client.search(
            self.collection,
            data=[query.tolist()],
            limit=top_k + len(excluded),
            output_fields=SCALAR_FIELDS,
            search_params=indexes.search_params(self.index_type, top_k),
            partition_names=partitions,
            anns_field=indexes.VECTOR_FIELD,
            consistency_level=self.search_consistency,
        )
        out: list[dict] = []
        for hit in res[0] if res else []:
            pk = _hit_id(hit)
            if pk in excluded:
                continue
            entity = _hit_entity(hit)
            out.append(
                {
                    "score": _hit_score(hit),
                    "id": pk,
                    "edition_key": entity.get("edition_key", ""),
                    "work_key": entity.get("work_key", ""),
                    "title": entity.get("title", ""),
                    "authors": split_authors(entity.get("authors")),
                    "year": int(entity.get("year", 0)),
                    "cover_id": int(entity.get("cover_id", 0)),
                    "cover_url": entity.get("cover_url", ""),
                }
            )
            if len(out) >= top_k:
                break
        return out

    def get_vector(self, edition_key: str) -> tuple[np.ndarray, int] | None:
        """The stored vector and year of ``edition_key``, or ``None`` if it is not stored."""
        found = self.get_entity(edition_key)
        if found is None:
            return None
        return found["vector"], found["year"]

    def get_entity(self, edition_key: str) -> dict | None:
        """``{"id", "year", "vector"}`` of ``edition_key`` (validated against ``^/books/OL\\d+M$``)."""
        key = check_edition_key(edition_key)
        if not self._client.has_collection(self.collection):
            return None
        self._ensure_loaded()
        res = self._client.query(
            self.collection,
            filter=f'edition_key == "{key}"',
            output_fields=["id", "year", indexes.VECTOR_FIELD],
            limit=1,
            consistency_level=STRONG,
        )
        if not res:
            return None
        row = res[0]
        return {
            "id": int(row["id"]),
            "year": int(row["year"]),
            "vector": np.asarray(row[indexes.VECTOR_FIELD], dtype=np.float32),
        }

    def close(self) -> None:
        try:
            self._client.close()
        except Exception:  # pragma: no cover - closing twice or after a dead server
            log.debug("closing Milvus client failed", exc_info=True)
