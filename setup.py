"""Packaging for book_assets: a Dagster asset graph from the OpenLibrary dump to a CLIP cover search."""
from setuptools import find_packages, setup

DAGSTER = "1.13.27"
DAGSTER_LIBS = "0.29.27"

setup(
    name="book_assets",
    version="0.1.0",
    description="OpenLibrary dump -> recent English fiction -> CLIP cover embeddings -> Milvus search",
    python_requires=">=3.11,<3.12",
    packages=find_packages(exclude=["tests", "tests.*", "benchmarks", "benchmarks.*"]),
    include_package_data=True,
    package_data={"book_assets": ["web/*.html", "web/*.css", "web/*.js", "emr/*.md"]},
    install_requires=[
        f"dagster=={DAGSTER}",
        f"dagster-webserver=={DAGSTER}",
        f"dagster-graphql=={DAGSTER}",
        f"dagster-pipes=={DAGSTER}",
        f"dagster-aws=={DAGSTER_LIBS}",
        f"dagster-pyspark=={DAGSTER_LIBS}",
        "pyspark==4.1.4",
        "torch==2.13.0",
        "transformers>=5.20,<6",
        "tokenizers>=0.22",
        "safetensors>=0.6",
        "pillow>=11",
        "numpy>=2,<3",
        "pandas>=2.2,<3",
        "pyarrow>=18",
        # bulk_writer: Parquet BulkWriter for bulk imports of large years into a Milvus server
        "pymilvus[bulk_writer]>=2.6,<3",
        "milvus-lite==3.2.2",
        "requests>=2.32",
        "urllib3>=2",
        "tenacity>=9",
        "tqdm>=4.66",
        "pydantic>=2.7",
        "boto3>=1.35",
        "isal>=1.6",
        # fast JSON for dump lines (book_assets/openlibrary/dump_lines.py) and the corpus generator
        "orjson>=3.10",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            "moto[server]==5.2.5",
            "playwright>=1.50",
            # a real Milvus 2.3.5 standalone server for the search tests (tests/support/milvus_server.py)
            "milvus==2.3.5",
        ],
    },
    entry_points={
        "console_scripts": [
            "book-search=book_assets.search.cli:main",
            "book-assets=book_assets.cli:main",
        ],
    },
)
