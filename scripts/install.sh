#!/usr/bin/env bash
# Create .venv in the repo root if missing, then (always) install book_assets with everything it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip setuptools wheel
# torch==2.13.0 is pinned in setup.py. The pin does not choose the CPU build: on this machine pip's
# configured find-links (/opt/wheels; see `pip config list`) holds torch 2.13.0+cpu, and pip takes it.
.venv/bin/python -m pip install -q -e '.[test]'
echo "installed into $(pwd)/.venv"
