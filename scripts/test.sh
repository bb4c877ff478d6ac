#!/usr/bin/env bash
# Install or refresh .venv, then run the whole test suite, slow end-to-end tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
# The browser tests drive Debian's chromium; install it when we can (root, apt available).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "WARNING: could not install chromium; browser tests will fail"
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DAGSTER_TELEMETRY_DISABLED=1
.venv/bin/dagster definitions validate -w workspace.yaml
exec .venv/bin/python -m pytest "$@"
