"""Pipeline settings as Dagster resources: where data lives, the dump sources, covers and CLIP.

Each field but one is fed from one ``BOOK_ASSETS_*`` environment variable (see README), via
:func:`book_assets.resources.env.env_value`. Where the variable is set, the launchpad shows it as
an ``EnvVar``. Two exceptions:

* ``ClipConfig.chunk_size`` has no environment variable: set it in the launchpad.
* The float settings (``max_malformed_rate``, ``CoversConfig.rps``, ``timeout_s`` and
  ``max_failure_rate``) are plain values read when the definitions load. Dagster has no float
  ``EnvVar``, so the launchpad shows the number, not the variable's name.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from book_assets import settings as defaults
from book_assets.warehouse import join_uri


class PipelineConfig(ConfigurableResource):
    """Data locations and dump sources."""

    home: str = Field(
        default=defaults.DEFAULT_HOME,
        description="BOOK_ASSETS_HOME: local root of all data (dump downloads and staging always happen here)",
    )
    warehouse_uri: str = Field(
        default="", description="BOOK_ASSETS_WAREHOUSE: warehouse root URI (default $HOME/warehouse; s3://… on EMR)"
    )
    staged_uri: str = Field(
        default="",
        description="BOOK_ASSETS_STAGED: where the Spark jobs read the staged dumps (default $HOME/staged; "
        "s3://… on EMR: the parts are copied there after staging)",
    )
    covers_cache_uri: str = Field(
        default="", description="BOOK_ASSETS_COVERS_CACHE: cover cache root URI (default $HOME/covers; s3://… on EMR)"
    )
    editions_dump: str = Field(default=defaults.DEFAULT_EDITIONS_DUMP, description="BOOK_ASSETS_EDITIONS_DUMP")
    works_dump: str = Field(default=defaults.DEFAULT_WORKS_DUMP, description="BOOK_ASSETS_WORKS_DUMP")
    authors_dump: str = Field(
        default=defaults.DEFAULT_AUTHORS_DUMP, description="BOOK_ASSETS_AUTHORS_DUMP ('' = use by_statement only)"
    )
    cover_url_template: str = Field(
        default=defaults.DEFAULT_COVER_URL_TEMPLATE, description="BOOK_ASSETS_COVER_URL_TEMPLATE"
    )
    sample_lines: int = Field(default=0, description="BOOK_ASSETS_SAMPLE_LINES: read only the first N lines of each dump (0 = all)")
    part_lines: int = Field(default=500_000, description="BOOK_ASSETS_PART_LINES: lines per staged part file")
    max_malformed_rate: float = Field(default=0.01, description="BOOK_ASSETS_MAX_MALFORMED_RATE: dump check threshold")
    current_year: int = Field(default=0, description="BOOK_ASSETS_CURRENT_YEAR: latest valid year (0 = this year)")

    def warehouse(self) -> str:
        return self.warehouse_uri or join_uri(self.home, "warehouse")

    def local_staged(self, kind: str) -> Path:
        """The folder on this host that staging splits the ``kind`` dump into."""
        return Path(self.home) / "staged" / kind

    def staged(self, kind: str) -> str:
        """Where the Spark jobs read the staged ``kind`` dump (the local folder by default)."""
        return join_uri(self.staged_uri, kind) if self.staged_uri else str(self.local_staged(kind))

    def covers_cache(self) -> str:
        return self.covers_cache_uri or join_uri(self.home, "covers")

    def effective_current_year(self) -> int:
        return self.current_year or dt.date.today().year


class CoversConfig(ConfigurableResource):
    """How covers are downloaded: politeness, retries, and what counts as a failed year."""

    rps: float = Field(default=defaults.DEFAULT_COVERS_RPS, description="BOOK_ASSETS_COVERS_RPS: requests/s ceiling for the whole job")
    max_concurrency: int = Field(default=8, description="BOOK_ASSETS_COVERS_CONCURRENCY")
    timeout_s: float = Field(default=10.0, description="BOOK_ASSETS_COVERS_TIMEOUT: seconds per request")
    retries: int = Field(default=4, description="BOOK_ASSETS_COVERS_RETRIES")
    allowed_hosts: str = Field(default=defaults.DEFAULT_COVERS_ALLOWED_HOSTS, description=(
        "BOOK_ASSETS_COVERS_ALLOWED_HOSTS: comma-separated hosts redirects may go to besides the cover URL's own "
        "host; a leading dot allows a whole domain; empty = the own host only"))
    min_bytes: int = Field(default=1000, description="BOOK_ASSETS_COVERS_MIN_BYTES: smaller images count as 'no cover'")
    max_failure_rate: float = Field(default=0.2, description="BOOK_ASSETS_MAX_COVER_FAILURE_RATE: embeddings check threshold")


class ClipConfig(ConfigurableResource):
    """Which CLIP model embeds covers and queries."""

    model: str = Field(default=defaults.DEFAULT_CLIP_MODEL, description="BOOK_ASSETS_CLIP_MODEL: hub name or local directory")
    batch_size: int = Field(default=32, description="BOOK_ASSETS_CLIP_BATCH_SIZE")
    chunk_size: int = Field(default=2000, description="covers embedded per Spark stage (resume granularity)")
