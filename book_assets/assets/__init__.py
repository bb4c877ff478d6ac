"""Assets by domain: ingest (dump → fiction → cover URLs), embeddings, Milvus; jobs and schedules."""
from book_assets.assets import embeddings, ingest, search_index

ASSET_MODULES = [ingest, embeddings, search_index]
JOBS: list = []
SCHEDULES: list = []
SENSORS: list = []
