#!/usr/bin/env bash
# Create .venv/ and install qa_service into it. `--test` adds the test tools, the sentence-transformers backend
# (torch pinned to the CPU wheel on disk) and Debian's Chromium for the browser test.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
if [ "${1:-}" = "--test" ]; then
    # torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
    .venv/bin/python -m pip install --quiet "torch==2.13.0"
    .venv/bin/python -m pip install --quiet -e ".[st,test]"
    if [ ! -x /usr/bin/chromium ]; then
        SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
    fi
else
    .venv/bin/python -m pip install --quiet -e .
fi
