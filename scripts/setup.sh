#!/usr/bin/env bash
# Create .venv/ and install qa_service into it, and Debian's poppler-utils (pdftotext reads the PDFs). `--test` adds
# the test tools, the sentence-transformers backend (torch pinned to the CPU wheel on disk) and Debian's Chromium
# for the browser test.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# pip's warnings about local package mirrors that do not hold a package are noise here; real errors still fail.
pip_install() {
    .venv/bin/python -m pip install --quiet "$@" 2>&1 | { grep -v -e "^WARNING: Location" || true; }
}

apt_install() {
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

command -v pdftotext >/dev/null || apt_install poppler-utils
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip_install --upgrade pip
if [ "${1:-}" = "--test" ]; then
    # torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
    pip_install "torch==2.13.0"
    pip_install -e ".[st,test]"
    [ -x /usr/bin/chromium ] || apt_install chromium
else
    pip_install -e .
fi
