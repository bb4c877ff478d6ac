"""Assets by domain: ingest (dump → fiction → cover URLs), embeddings, Milvus; jobs and schedules."""
from book_assets.assets import ingest

ASSET_MODULES = [ingest]
JOBS: list = []
SCHEDULES: list = []
SENSORS: list = []
