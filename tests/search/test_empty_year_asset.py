"""``milvus_collection`` for a year without covers, before any year made the collection: the year
loads as nothing and its checks pass (an empty year passes the embeddings checks, so it gets here)."""
from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq
from dagster import materialize

from book_assets.assets.search_index import milvus_collection
from book_assets.resources.milvus import MilvusResource
from book_assets.resources.pipeline import PipelineConfig
from book_assets.storage import replace_parquet_dirs
from book_assets.warehouse import (
    COVER_EMBEDDINGS, COVER_EMBEDDINGS_SCHEMA, COVER_FAILURES, COVER_FAILURES_SCHEMA, COVER_URLS, COVER_URLS_SCHEMA,
    RECENT_FICTION, RECENT_FICTION_SCHEMA, year_uri,
)


def test_an_empty_first_year_loads_as_nothing(tmp_path):
    home = tmp_path / "home"
    warehouse = str(home / "warehouse")
    for table, schema in ((RECENT_FICTION, RECENT_FICTION_SCHEMA), (COVER_URLS, COVER_URLS_SCHEMA)):
        os.makedirs(year_uri(warehouse, table, 2019))
        pq.write_table(schema.empty_table(), f"{year_uri(warehouse, table, 2019)}/part-0.parquet")
    replace_parquet_dirs({year_uri(warehouse, COVER_EMBEDDINGS, 2019): COVER_EMBEDDINGS_SCHEMA.empty_table(),
                          year_uri(warehouse, COVER_FAILURES, 2019): COVER_FAILURES_SCHEMA.empty_table()})

    result = materialize([milvus_collection], partition_key="2019", raise_on_error=False, resources={
        "pipeline": PipelineConfig(home=str(home)), "milvus": MilvusResource(uri=str(home / "milvus.db"))})

    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert evaluations and all(e.passed for e in evaluations), [(e.check_name, e.metadata) for e in evaluations]
    [mat] = result.get_asset_materialization_events()
    assert mat.materialization.metadata["dagster/row_count"].value == 0
