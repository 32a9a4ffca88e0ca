#!/usr/bin/env bash
# Set up, build (or update) the index of corpus/ and serve it on http://127.0.0.1:8000 (HOST/PORT to change).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/qa-service build
exec .venv/bin/qa-service serve --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
