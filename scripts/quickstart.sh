#!/usr/bin/env bash
# Install into .venv, then materialize the whole graph on the embedded defaults
# (local Spark, Milvus Lite in $BOOK_ASSETS_HOME/milvus.db, data under $BOOK_ASSETS_HOME).
# Pass --offline to run on a generated dump, local covers and a tiny CLIP (no internet needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/python -m book_assets.quickstart "$@"
