"""The one publication-year partitioning shared by every year-partitioned asset."""
from __future__ import annotations

import os

from dagster import StaticPartitionsDefinition

from book_assets.settings import parse_years

year_partitions = StaticPartitionsDefinition(
    [str(y) for y in parse_years(os.environ.get("BOOK_ASSETS_YEARS"))]
)
