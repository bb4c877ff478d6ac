"""Which vector index the cover collection gets, per deployment, and the matching search params.

Measured on Milvus Lite 3.2.2, 100k x 512 COSINE vectors in ten partitions, sequential runs:

=========  ======================  ==============  ===================
index      insert+flush+load       whole collection  one 10k partition
=========  ======================  ==============  ===================
FLAT       28 s                    336 ms          61 ms
IVF_FLAT   33 s (nlist 128)        193 ms          13 ms
HNSW M16   29 s (+ slow async build, gRPC keepalive trouble on long builds)  654 ms  66 ms
=========  ======================  ==============  ===================

Recall@10 of IVF_FLAT (nlist 128) on 50k clustered vectors, one partition: nprobe 8 → 0.85,
16 → 0.91, 32 → 0.94, 64 → 1.00 at ~34 ms (no slower than 32), so search uses nprobe 64.

So Lite gets IVF_FLAT (cheap to build, fastest where we serve: year partitions); a Milvus server
gets HNSW (the server rejects HNSW_SQ/BRUTE_FORCE; HNSW is its best recall/latency default).
``FLAT`` stays available for tiny collections and exact tests.
"""
from __future__ import annotations

from typing import Any

METRIC = "COSINE"
VECTOR_FIELD = "vector"

INDEX_BUILD_PARAMS: dict[str, dict[str, Any]] = {
    "FLAT": {},
    "IVF_FLAT": {"nlist": 128},
    "HNSW": {"M": 16, "efConstruction": 200},
}


def is_auto(requested: str | None) -> bool:
    """Whether ``requested`` leaves the index to the deployment (``"auto"``, any case, or unset)."""
    return (requested or "auto").upper() == "AUTO"


def choose_index(requested: str, is_lite: bool) -> str:
    """Resolve ``"auto"`` (IVF_FLAT on Lite, HNSW on a server) and validate explicit choices."""
    if is_auto(requested):
        return "IVF_FLAT" if is_lite else "HNSW"
    name = requested.upper()
    if name not in INDEX_BUILD_PARAMS:
        raise ValueError(f"unsupported index {requested!r}; use one of auto, {', '.join(INDEX_BUILD_PARAMS)}")
    return name


def search_params(index_type: str, top_k: int) -> dict[str, Any]:
    """Query-time parameters for ``index_type`` that keep recall high for ``top_k`` results."""
    index_type = (index_type or "").upper()
    if index_type == "IVF_FLAT":
        params: dict[str, Any] = {"nprobe": 64}
    elif index_type == "HNSW":
        params = {"ef": max(64, 2 * int(top_k))}
    else:
        params = {}
    return {"metric_type": METRIC, "params": params}
