"""Assets by domain: ingest (dump → fiction → cover URLs), embeddings, Milvus; jobs and schedules."""
from book_assets.assets import automation, embeddings, ingest, search_index

ASSET_MODULES = [ingest, embeddings, search_index]
JOBS: list = [automation.refresh_openlibrary_dump]
SCHEDULES: list = [automation.monthly_openlibrary_dump_schedule]
SENSORS: list = [automation.openlibrary_dump_sensor]
