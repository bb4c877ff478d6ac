"""Subprocess entry for the concurrency test: materialize one year partition, all the way to
Milvus Lite, against the Dagster instance in ``$DAGSTER_HOME`` (whose dagster.yaml limits the
``milvus_writes`` pool); write what happened as JSON.

    python -m tests.faults.run_year HOME CORPUS_DIR URL_TEMPLATE CLIP_DIR YEAR OUT_JSON
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def _plain(value):
    """A JSON-safe copy of a metadata value (tables, schemas and odd keys become text)."""
    try:
        return json.loads(json.dumps(value))
    except Exception:  # noqa: BLE001 - e.g. table records, schemas, recursion in odd values
        try:
            return str(value)
        except Exception:  # noqa: BLE001
            return type(value).__name__


def main(argv: list[str]) -> int:
    home, corpus_dir, template, clip_dir, year, out = argv
    from dagster import DagsterInstance, EnvVar, materialize

    from book_assets.assets.embeddings import cover_embeddings
    from book_assets.assets.ingest import cover_urls, openlibrary_dump, recent_fiction
    from book_assets.assets.search_index import milvus_collection
    from book_assets.resources.milvus import MilvusResource
    from tests.conftest import make_resources

    resources = make_resources(
        Path(home), Path(corpus_dir), template, clip_dir, timeout_s=1.5, max_failure_rate=0.5,
        milvus=MilvusResource(uri=str(Path(home) / "milvus.db"), token=EnvVar("BOOK_ASSETS_MILVUS_TOKEN")),
    )
    assets = [openlibrary_dump, recent_fiction, cover_urls, cover_embeddings, milvus_collection]
    with DagsterInstance.get() as instance:
        result = materialize(assets, selection=assets[1:], partition_key=str(year), resources=resources,
                             instance=instance, raise_on_error=False)
        payload = {
            "success": result.success,
            "run_id": result.run_id,
            "metadata": {
                m.asset_key.to_user_string(): {k: _plain(v.value) for k, v in m.materialization.metadata.items()}
                for m in result.get_asset_materialization_events()
            },
            "checks": [[e.asset_key.to_user_string(), e.check_name, e.passed]
                       for e in result.get_asset_check_evaluations()],
            "failures": [str(e.event_specific_data.error) for e in result.get_step_failure_events()],
        }
    Path(out).write_text(json.dumps(payload, default=str))
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
