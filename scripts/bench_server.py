"""The benchmark's server side: start `qa-service serve` on 127.0.0.1, ask it questions over HTTP, load it.

Only 127.0.0.1 is ever contacted; every load is bounded by a request count and a time limit.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench_common import ROOT, memory_of, run_threads, summarize_ms

HOST = "127.0.0.1"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Server:
    """A `qa-service serve` subprocess on 127.0.0.1 and a free port; stopped on exit from the `with` block."""

    def __init__(self, index_dir: Path, threads: int | None = None, env: dict | None = None, timeout: float = 180.0,
                 workers: int | None = None):
        self.index_dir = Path(index_dir)
        self.threads = threads
        self.workers = workers
        self.port = free_port()
        self.timeout = timeout
        self.env = dict(os.environ, **(env or {}))
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0
        self.log_path = ROOT / "bench-results" / f"server-{self.port}.log"

    def command(self) -> list[str]:
        """Return the command line that starts the server."""
        command = [sys.executable, "-m", "qa_service.cli", "serve", "--host", HOST, "--port", str(self.port),
                   "--index", str(self.index_dir)]
        if self.threads:
            command += ["--threads", str(self.threads)]
        if self.workers:
            command += ["--workers", str(self.workers)]
        return command

    def start(self) -> "Server":
        """Start the process (the clock for start-up time starts here)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")
        self.started_at = time.perf_counter()
        self.process = subprocess.Popen(self.command(), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return self

    def _poll(self, attempt, interval: float, failure: str) -> float:
        """Call `attempt()` until it returns HTTP 200; return seconds since start (RuntimeError on exit or timeout)."""
        deadline = self.started_at + self.timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with code {self.process.returncode}: {self.log_tail()}")
            try:
                status, _ = attempt()
                if status == 200:
                    return time.perf_counter() - self.started_at
            except OSError:
                pass
            time.sleep(interval)
        raise RuntimeError(f"{failure} within {self.timeout:.0f} s: {self.log_tail()}")

    def wait_ready(self) -> float:
        """Wait until /healthz answers 200; return seconds since start (raises RuntimeError on failure)."""
        return self._poll(lambda: request(self.port, "GET", "/healthz", timeout=5), 0.02,
                          "the server did not become ready")

    def first_answer(self, question: str) -> float:
        """Post questions until one is answered with 200; return seconds since start."""
        return self._poll(lambda: ask(self.port, question, timeout=30), 0.01, "no answer")

    def memory(self) -> dict:
        """Return the server process's resident memory (MiB)."""
        return memory_of(self.process.pid) if self.process else {}

    def worker_memory(self) -> list[dict]:
        """Return the resident memory (MiB) of each worker process (the server itself when it has none)."""
        if not self.process:
            return []
        pid = self.process.pid
        try:
            with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
                children = [int(child) for child in handle.read().split()]
        except OSError:
            children = []
        return [memory_of(child) for child in children] or [self.memory()]

    def wait_workers(self, count: int) -> None:
        """Wait until the server says it is ready with `count` worker processes (RuntimeError on timeout)."""
        if count <= 1:
            return
        deadline = self.started_at + self.timeout
        while f"({count} worker processes)" not in self.log_tail(50):
            if time.perf_counter() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"the server did not start {count} workers: {self.log_tail()}")
            time.sleep(0.05)

    def log_tail(self, lines: int = 5) -> str:
        """Return the last lines of the server's output, on one line."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server: SIGINT, then SIGKILL after 10 s."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        try:
            self.log_path.unlink()
        except OSError:
            pass

    def __enter__(self) -> "Server":
        self.start()
        self.wait_ready()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def request(port: int, method: str, path: str, body: bytes | None = None, timeout: float = 30,
            connection: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
    """Send one request to 127.0.0.1:port (on `connection` if given, kept alive) and return (status, body)."""
    conn = connection or http.client.HTTPConnection(HOST, port, timeout=timeout)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        if connection is None:
            conn.close()


def ask_body(question: str, mode: str = "hybrid", top_k: int = 5) -> bytes:
    """Return the JSON body of POST /api/ask."""
    return json.dumps({"question": question, "mode": mode, "top_k": top_k}).encode("utf-8")


def ask(port: int, question: str, mode: str = "hybrid", top_k: int = 5, timeout: float = 30,
        connection: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
    """POST one question to /api/ask and return (status, body)."""
    return request(port, "POST", "/api/ask", ask_body(question, mode, top_k), timeout, connection)


def timed_asks(port: int, questions: list[str], mode: str = "hybrid") -> tuple[list[float], int]:
    """Ask each question in turn on one keep-alive connection; return (seconds per answered request, errors)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    times, errors = [], 0
    try:
        for question in questions:
            start = time.perf_counter()
            try:
                status, body = ask(port, question, mode, connection=conn)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=60)
                errors += 1
                continue
            elapsed = time.perf_counter() - start
            if status == 200 and b'"results"' in body:
                times.append(elapsed)
            else:
                errors += 1
    finally:
        conn.close()
    return times, errors


def load_level(port: int, questions: list[str], clients: int, requests_total: int, time_limit: float,
               mode: str = "hybrid") -> dict:
    """Run `clients` threads with one keep-alive connection each until `requests_total` are sent or time is up."""
    lock = threading.Lock()
    counter = {"next": 0}
    times: list[float] = []
    errors: list[str] = []
    deadline = time.perf_counter() + time_limit

    def take() -> int | None:
        with lock:
            if counter["next"] >= requests_total or time.perf_counter() > deadline:
                return None
            counter["next"] += 1
            return counter["next"] - 1

    def client():
        conn = http.client.HTTPConnection(HOST, port, timeout=120)
        try:
            while (i := take()) is not None:
                start = time.perf_counter()
                try:
                    status, body = ask(port, questions[i % len(questions)], mode, connection=conn)
                    ok = status == 200
                    if not ok:
                        with lock:
                            errors.append(f"HTTP {status}: {body[:120]!r}")
                except (OSError, http.client.HTTPException) as exc:
                    ok = False
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                    conn.close()
                    conn = http.client.HTTPConnection(HOST, port, timeout=120)
                elapsed = time.perf_counter() - start
                if ok:
                    with lock:
                        times.append(elapsed)
        finally:
            conn.close()

    wall = run_threads(client, clients)
    summary = summarize_ms(times)
    return {
        "clients": clients, "requests": len(times) + len(errors), "ok": len(times), "errors": len(errors),
        "error_examples": errors[:3], "seconds": round(wall, 2),
        "req_per_s": round(len(times) / wall, 2) if wall > 0 else 0.0,
        "p50_ms": summary["median_ms"], "p95_ms": summary["p95_ms"], "max_ms": summary["max_ms"],
    }
