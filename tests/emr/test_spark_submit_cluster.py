"""The ``spark-submit`` launch mode against a real Spark standalone cluster (master + worker on
127.0.0.1, started here with pyspark's ``spark-class``): the ingest (fiction) and embedding job
scripts run on it, with the code shipped as the packaged ``book_assets.zip`` (``--py-files``),
and write the same Parquet as the local launcher."""
import shutil
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest
from dagster import materialize

from book_assets.assets.embeddings import cover_embeddings
from book_assets.assets.ingest import cover_urls, openlibrary_dump, recent_fiction
from book_assets.emr import package
from book_assets.resources.spark import SparkLauncher
from book_assets.warehouse import COVER_EMBEDDINGS, COVER_FAILURES, COVER_URLS, RECENT_FICTION, year_uri
from tests.conftest import make_resources
from tests.support.spark_cluster import SparkStandaloneCluster

pytestmark = pytest.mark.slow
YEAR = 2019
SPARK_CONF = {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4"}


def _rows(home, table, key):
    rows = pq.read_table(year_uri(str(home / "warehouse"), table, YEAR)).to_pylist()
    return sorted(rows, key=lambda r: r[key])


@pytest.fixture(scope="module")
def homes(tmp_path_factory, corpus, cover_server, tiny_clip_dir):
    corpus_dir, _ = corpus
    timings = {}
    local = tmp_path_factory.mktemp("local_home")
    res_local = make_resources(local, corpus_dir, cover_server.url_template, tiny_clip_dir)
    assert materialize([openlibrary_dump], resources=res_local).success
    t = time.monotonic()
    assert materialize([openlibrary_dump, recent_fiction, cover_urls, cover_embeddings],
                       selection=[recent_fiction, cover_urls, cover_embeddings],
                       partition_key=str(YEAR), resources=res_local).success
    timings["local: fiction + cover_urls + embeddings"] = time.monotonic() - t

    cluster_home = tmp_path_factory.mktemp("cluster_home")
    code_zip = package.build_code_zip(tmp_path_factory.mktemp("code"))
    with SparkStandaloneCluster(tmp_path_factory.mktemp("spark_cluster")) as cluster:
        timings["cluster ready"] = cluster.ready_after_s
        # The "cluster" runs on this host, so its executors can run this interpreter; on a real
        # cluster BOOK_ASSETS_SPARK_PYTHON (or the cluster's own PYSPARK_PYTHON) names theirs.
        spark = SparkLauncher(mode="spark-submit", master=cluster.master_url, driver_memory="1g",
                              spark_conf={**SPARK_CONF, "spark.executor.memory": "1g"}, py_files=str(code_zip),
                              python=sys.executable, torch_threads=1)
        res_cluster = {**make_resources(cluster_home, corpus_dir, cover_server.url_template, tiny_clip_dir), "spark": spark}
        assert materialize([openlibrary_dump], resources=res_cluster).success
        t = time.monotonic()
        assert materialize([openlibrary_dump, recent_fiction], selection=[recent_fiction],
                           partition_key=str(YEAR), resources=res_cluster).success
        timings["cluster: fiction"] = time.monotonic() - t
        # cover_urls is not under test here: take the local launcher's as the embedding job's input
        shutil.copytree(year_uri(str(local / "warehouse"), COVER_URLS, YEAR),
                        year_uri(str(cluster_home / "warehouse"), COVER_URLS, YEAR))
        t = time.monotonic()
        assert materialize([cover_urls, cover_embeddings], selection=[cover_embeddings],
                           partition_key=str(YEAR), resources=res_cluster).success
        timings["cluster: embeddings"] = time.monotonic() - t
        apps = {a["name"] for a in cluster.completed_apps()}
    print("timings (s):", {k: round(v, 1) for k, v in timings.items()})
    return local, cluster_home, apps


def test_jobs_ran_on_the_cluster(homes):
    _, _, apps = homes
    assert {"book_assets.recent_fiction", "book_assets.cover_embeddings"} <= apps


def test_fiction_parquet_equals_local(homes):
    local, cluster, _ = homes
    expected = _rows(local, RECENT_FICTION, "edition_key")
    assert expected and _rows(cluster, RECENT_FICTION, "edition_key") == expected
    local_schema = pq.read_table(year_uri(str(local / "warehouse"), RECENT_FICTION, YEAR)).schema
    assert pq.read_table(year_uri(str(cluster / "warehouse"), RECENT_FICTION, YEAR)).schema.equals(local_schema)


def test_embeddings_parquet_equal_local(homes):
    local, cluster, _ = homes
    expected, got = _rows(local, COVER_EMBEDDINGS, "cover_id"), _rows(cluster, COVER_EMBEDDINGS, "cover_id")
    assert expected and [(r["cover_id"], r["edition_key"], r["model_id"]) for r in got] == \
        [(r["cover_id"], r["edition_key"], r["model_id"]) for r in expected]
    for a, b in zip(got, expected):
        np.testing.assert_allclose(np.asarray(a["embedding"]), np.asarray(b["embedding"]), atol=1e-5)
    assert _rows(cluster, COVER_FAILURES, "cover_id") == _rows(local, COVER_FAILURES, "cover_id")
