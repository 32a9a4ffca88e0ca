"""Fixtures for the app's tests: an app over the tiny index (fake embedder), its test client, a real server process.

Imported by name into the test files that use them (conftest.py belongs to the index fixtures).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from qa_service import create_app
from qa_service.index import build_index, load_index
from qa_service.search import Searcher

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Starting the server loads the e5 model and the index; far below this on 2 cores.
SERVER_START_TIMEOUT = 120


@pytest.fixture(scope="module")
def searcher(tmp_path_factory):
    """Return a Searcher over a tiny index (real corpus, fake embedder), built once per test module.

    The same recipe as conftest's function-scoped `tiny_index`; built once here because the app tests only read it.
    """
    from conftest import CORPUS_DIR, FakeEmbedder, make_settings

    base = tmp_path_factory.mktemp("tiny")
    shutil.copytree(CORPUS_DIR, base / "corpus")
    embedder = FakeEmbedder()
    build_index(make_settings(base / "corpus", base / "index"), progress=False, embedder=embedder)
    return Searcher(load_index(base / "index"), embedder)


@pytest.fixture
def app(searcher):
    """Return an app in testing mode that uses the tiny index's searcher."""
    from conftest import make_settings

    return create_app(make_settings(PROJECT_ROOT / "corpus", PROJECT_ROOT / "index"), searcher=searcher,
                      flask_config={"TESTING": True})


@pytest.fixture
def client(app):
    """Return the Flask test client of `app`."""
    return app.test_client()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(index_dir: Path, log_path: Path, extra_env=None):
    """Start `qa-service serve` in a subprocess on a free port; return (process, base URL) once /healthz is 200."""
    port = free_port()
    env = dict(os.environ, **(extra_env or {}))
    log = open(log_path, "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "qa_service.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--index", str(index_dir)],
        cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.close()
            raise RuntimeError(f"qa-service serve exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if requests.get(base_url + "/healthz", timeout=2).status_code == 200:
                log.close()
                return process, base_url
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    stop_server(process)
    log.close()
    raise RuntimeError(f"qa-service serve did not become ready in {SERVER_START_TIMEOUT} s:\n{log_path.read_text()}")


def stop_server(process) -> None:
    """Terminate the server process and wait for it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def live_server(real_index, tmp_path_factory):
    """Run the real server (waitress, e5 model, real index) for one test module; yield its base URL."""
    log_path = tmp_path_factory.mktemp("server") / "serve.log"
    process, base_url = start_server(real_index, log_path)
    try:
        yield base_url
    finally:
        stop_server(process)
