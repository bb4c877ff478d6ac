"""``BOOK_ASSETS_AUTO_REBUILD=1``: years are rebuilt when the dump's data changes, not each time
``openlibrary_dump`` is materialized (the monthly schedule refreshes an unchanged dump too).
Evaluated with Dagster's own automation evaluator over a real ``openlibrary_dump`` run."""
from __future__ import annotations

from dagster import AssetMaterialization, DagsterInstance, Definitions, evaluate_automation_conditions, materialize

from book_assets.assets.automation import downstream_automation_condition
from book_assets.assets.embeddings import cover_embeddings
from book_assets.assets.ingest import cover_urls, openlibrary_dump, recent_fiction
from book_assets.assets.search_index import milvus_collection
from book_assets.partitions import year_partitions
from book_assets.resources.factory import build_resources
from book_assets.resources.pipeline import PipelineConfig

YEAR_ASSETS = [recent_fiction, cover_urls, cover_embeddings, milvus_collection]


def _auto(asset):
    """The asset as the code location defines it with BOOK_ASSETS_AUTO_REBUILD=1."""
    condition = downstream_automation_condition(after_dump=asset is recent_fiction, enabled=True)
    return asset.map_asset_specs(lambda spec: spec.replace_attributes(automation_condition=condition))


def _write_dumps(folder, revision: int) -> None:
    for kind, key in (("editions", "/books/OL1M"), ("works", "/works/OL1W")):
        (folder / f"{kind}.txt").write_text(f"/type/{kind[:-1]}\t{key}\t{revision}\t2020-01-01T00:00:00\t{{}}\n")


def test_only_a_changed_dump_rebuilds_the_years(tmp_path):
    _write_dumps(tmp_path, 1)
    resources = {"pipeline": PipelineConfig(home=str(tmp_path / "home"), editions_dump=str(tmp_path / "editions.txt"),
                                            works_dump=str(tmp_path / "works.txt"), authors_dump="")}
    defs = Definitions(assets=[openlibrary_dump, *map(_auto, YEAR_ASSETS)], resources={**build_resources(), **resources})
    years = set(year_partitions.get_partition_keys())
    with DagsterInstance.ephemeral() as instance:
        def refresh_dump() -> None:
            assert materialize([openlibrary_dump], instance=instance, resources=resources).success

        def requested(cursor):
            result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
            by_asset = {a.key.to_user_string(): set(result.get_requested_partitions(a.key)) for a in YEAR_ASSETS}
            return result, {name: keys for name, keys in by_asset.items() if keys}

        refresh_dump()
        for asset in YEAR_ASSETS:  # every year built after that dump
            for year in years:
                instance.report_runless_asset_event(AssetMaterialization(asset.key, partition=year))
        result, first = requested(None)
        assert first == {}

        refresh_dump()  # the monthly refresh: same files, staged parts reused
        result, again = requested(result.cursor)
        assert again == {}

        _write_dumps(tmp_path, 22)  # a new dump (another size: the version is size and whole seconds)
        refresh_dump()
        result, changed = requested(result.cursor)
        assert changed == {asset.key.to_user_string(): years for asset in YEAR_ASSETS}

        result, after = requested(result.cursor)  # requested once, not on every tick
        assert after == {}


def test_the_code_location_wires_the_conditions_when_enabled():
    """The test above builds the conditions itself; this checks that the definitions, loaded
    with BOOK_ASSETS_AUTO_REBUILD=1, give exactly those (and none without it)."""
    import os
    import subprocess
    import sys

    script = ("from book_assets.definitions import defs\n"
              "for name in ('recent_fiction', 'cover_urls', 'cover_embeddings', 'milvus_collection'):\n"
              "    c = defs.get_assets_def(name).specs_by_key[defs.get_assets_def(name).key].automation_condition\n"
              "    print(name, c.get_label() if c is not None else None)\n")
    labels = {}
    for value in ("1", ""):
        out = subprocess.run([sys.executable, "-c", script], env={**os.environ, "BOOK_ASSETS_AUTO_REBUILD": value},
                             capture_output=True, text=True, check=True).stdout
        labels[value] = dict(line.split(" ", 1) for line in out.strip().splitlines())
    assert labels["1"] == {"recent_fiction": "eager_on_dump_change", "cover_urls": "eager",
                           "cover_embeddings": "eager", "milvus_collection": "eager"}
    assert set(labels[""].values()) == {"None"}
