"""The Dagster ``Definitions`` of the project: assets, checks, resources, jobs and schedules.

Resources are built from ``BOOK_ASSETS_*`` environment variables (``EnvVar`` where set, the
embedded defaults otherwise): local Spark, Milvus Lite in ``$BOOK_ASSETS_HOME/milvus.db``, data
under ``$BOOK_ASSETS_HOME``.
"""
from __future__ import annotations

from dagster import Definitions, load_assets_from_modules

from book_assets import assets as asset_package
from book_assets.resources.factory import build_resources

all_assets = load_assets_from_modules(asset_package.ASSET_MODULES)

defs = Definitions(
    assets=all_assets,
    resources=build_resources(),
    jobs=asset_package.JOBS,
    schedules=asset_package.SCHEDULES,
    sensors=asset_package.SENSORS,
)
