"""The real server: `qa-service serve` (waitress) in its own process, the real e5 model and index, over HTTP."""
from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from qa_service.cli import EXIT_NO_INDEX

from web_fixtures import free_port, live_server  # noqa: F401  (fixture)


@pytest.mark.slow
def test_real_server_answers_a_question_over_http(live_server):
    health = requests.get(live_server + "/healthz", timeout=10)
    assert health.status_code == 200
    stats = health.json()
    assert stats["documents"] >= 6 and stats["chunks"] > stats["documents"]
    assert "e5" in stats["model"]

    response = requests.post(live_server + "/api/ask", timeout=30, json={
        "question": "Wie viele Straftaten hat die Ermittlungsgruppe Quer an die Staatsanwaltschaft abgegeben?",
        "top_k": 3})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["results"][0]["document_id"] == "S19-10041"
    assert body["took_ms"] > 0

    # A paraphrase in other words, via GET, as curl would send it.
    response = requests.get(live_server + "/api/ask", timeout=30, params={
        "q": "Photovoltaik auf Dächern von Schulen und Rathäusern im Bezirk Pankow", "top_k": 1})
    assert response.json()["results"][0]["document_id"] == "S19-10006"


@pytest.mark.slow
def test_real_server_renders_the_page_and_answers_errors_in_json(live_server):
    page = requests.get(live_server + "/", params={"q": "Neubau einer Sporthalle an der Grundschule an der Wuhle"},
                        timeout=30)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Drucksache 19/10048" in page.text
    assert page.headers["Server"] == "qa-service"  # waitress, named, not Werkzeug's development server

    bad = requests.post(live_server + "/api/ask", data="question=x", timeout=10,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert bad.status_code == 415
    assert bad.json()["error"]["code"] == "unsupported_media_type"
    missing = requests.get(live_server + "/api/nothing-here", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_serve_without_index_exits_with_the_no_index_code_and_one_line_saying_to_build(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "qa_service.cli", "serve", "--port", str(free_port()), "--index",
         str(tmp_path / "missing")], capture_output=True, text=True, timeout=120)
    assert result.returncode == EXIT_NO_INDEX
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "qa-service build" in lines[0]


@pytest.mark.parametrize("flag,value", [("--port", "70000"), ("--threads", "0"), ("--workers", "0")])
def test_serve_rejects_impossible_port_or_threads(tmp_path, flag, value):
    result = subprocess.run([sys.executable, "-m", "qa_service.cli", "serve", flag, value, "--index",
                             str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and flag in result.stderr


def test_serve_with_workers_without_index_exits_with_the_no_index_code_and_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "qa_service.cli", "serve", "--workers", "2", "--port", str(free_port()), "--index",
         str(tmp_path / "missing")], capture_output=True, text=True, timeout=120)
    assert result.returncode == EXIT_NO_INDEX
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no index") and "qa-service build" in lines[0]


def _children(pid: int) -> set[int]:
    with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
        return {int(child) for child in handle.read().split()}


def test_workers_share_one_port_a_killed_worker_is_replaced_and_all_stop_together(corpus_copy, tmp_path):
    import os
    import signal
    import time

    from conftest import make_settings
    from qa_service.embedding import HashEmbedder
    from qa_service.index import build_index
    from web_fixtures import start_server, stop_server

    index = tmp_path / "index"
    build_index(make_settings(corpus_copy, index, model="hash"), progress=False, embedder=HashEmbedder())
    log_path = tmp_path / "serve.log"
    process, base_url = start_server(index, log_path, extra_env={"QA_SERVER_WORKERS": "2"})
    try:
        deadline = time.monotonic() + 60
        while "(2 worker processes)" not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = _children(process.pid)
        assert len(workers) == 2
        os.kill(min(workers), signal.SIGKILL)
        while len(_children(process.pid) - workers) < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        replaced = _children(process.pid)
        assert len(replaced) == 2 and min(workers) not in replaced
        for _ in range(6):  # whichever worker takes the connection answers
            answer = requests.get(base_url + "/api/ask", params={"q": "Solaranlagen Pankow", "top_k": 1}, timeout=30)
            assert answer.status_code == 200 and answer.json()["results"][0]["document_id"] == "S19-10006"
        assert "worker 1" in log_path.read_text() and "starting a new one" in log_path.read_text()
    finally:
        stop_server(process)
    assert process.returncode == 0
    for pid in replaced:  # no worker outlives the parent
        assert not os.path.exists(f"/proc/{pid}") or "zombie" in open(f"/proc/{pid}/status").read().lower()


def test_idle_connections_do_not_lock_others_out(live_server):
    # waitress's defaults (100 connections, 120 s channel timeout) let 110 idle sockets block every client for
    # two minutes; the service sets its limits on purpose (qa_service/server.py).
    import socket
    from urllib.parse import urlparse

    address = urlparse(live_server)
    idle = []
    try:
        for _ in range(150):
            idle.append(socket.create_connection((address.hostname, address.port), timeout=5))
        response = requests.get(f"{live_server}/healthz", timeout=10)
        assert response.status_code == 200
    finally:
        for sock in idle:
            sock.close()


@pytest.mark.slow
def test_running_server_serves_a_rebuilt_index_without_a_restart(real_index, tmp_path):
    import shutil
    import time

    from conftest import PROJECT_DIR, make_settings
    from qa_service.index import build_index
    from web_fixtures import start_server, stop_server

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(real_index.parent / "corpus", corpus)
    shutil.copytree(real_index, index)
    process, base_url = start_server(index, tmp_path / "serve.log")
    try:
        before = requests.get(f"{base_url}/healthz", timeout=10).json()
        shutil.copy(PROJECT_DIR / "tests" / "data" / "variants" / "s18-12345.txt", corpus / "s18-12345.txt")
        build_index(make_settings(corpus, index), progress=False)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            after = requests.get(f"{base_url}/healthz", timeout=10).json()
            if after["documents"] == before["documents"] + 1:
                break
            time.sleep(0.5)
        assert after["documents"] == before["documents"] + 1 and after["built_at"] >= before["built_at"]
        found = requests.get(f"{base_url}/api/documents/s18-12345", timeout=10)
        assert found.status_code == 200
        assert process.poll() is None  # the same process, never restarted
    finally:
        stop_server(process)
