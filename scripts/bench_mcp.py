"""Measure an MCP `search_answers` round trip over streamable HTTP: `qa-service mcp --transport http` on 127.0.0.1,
the SDK's own client, distinct questions one after another (the model is loaded by a first, untimed call); then
the same searches in this process, to tell the search from the protocol.

    python scripts/bench_mcp.py --index index --count 20
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio

from bench_common import DEFAULT_QUESTIONS, ROOT, load_questions, summarize_ms
from bench_server import HOST, free_port

START_TIMEOUT = 180


def wait_until_listening(process: subprocess.Popen, port: int) -> None:
    """Return once the server accepts TCP connections on `port`; raise SystemExit if it exits or takes too long."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"error: qa-service mcp exited with {process.returncode}")
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"error: qa-service mcp did not listen on {HOST}:{port} within {START_TIMEOUT} s")


async def measure(url: str, warmup: str, questions: list[str], top_k: int) -> dict:
    """Return the first call's time and the summary of one timed `search_answers` call per question."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with Client(streamable_http_client(url)) as client:
        started = time.perf_counter()
        first = await client.call_tool("search_answers", {"question": warmup, "top_k": top_k})
        first_seconds = time.perf_counter() - started
        if first.is_error:
            raise SystemExit(f"error: {first.content[0].text}")
        seconds, chunk_ids = [], []
        for question in questions:
            started = time.perf_counter()
            result = await client.call_tool("search_answers", {"question": question, "top_k": top_k})
            seconds.append(time.perf_counter() - started)
            if result.is_error or not result.structured_content["results"]:
                raise SystemExit(f"error: no results for {question!r}: {result.content[0].text}")
            chunk_ids.append(result.structured_content["results"][0]["chunk_id"])
        # get_answer encodes nothing: its round trip is what the protocol, transport and JSON cost.
        lookup_seconds = []
        for chunk_id in chunk_ids:
            started = time.perf_counter()
            await client.call_tool("get_answer", {"chunk_id": chunk_id})
            lookup_seconds.append(time.perf_counter() - started)
    return {"first_call_ms": round(first_seconds * 1000, 1), "round_trip": summarize_ms(seconds),
            "get_answer_round_trip": summarize_ms(lookup_seconds)}


def measure_in_process(index_dir: Path, warmup: str, questions: list[str], top_k: int) -> dict:
    """Return the summary of the same searches run in this process: the part of a round trip that is not MCP."""
    from qa_service.config import load_settings
    from qa_service.embedding import limit_encoder_threads
    from qa_service.query import parse_ask
    from qa_service.search import open_searcher

    settings = load_settings(index_dir=index_dir)
    limit_encoder_threads(settings.encoder_threads)  # as the HTTP server does
    searcher = open_searcher(settings)
    searcher.search(warmup, top_k=top_k)
    seconds = []
    for question in questions:
        request = parse_ask({"question": question, "top_k": top_k}, settings)
        started = time.perf_counter()
        searcher.search_request(request)
        seconds.append(time.perf_counter() - started)
    return summarize_ms(seconds)


def main() -> None:
    """Start the MCP server, time the round trips, print the summary as JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=ROOT / "index", help="index folder (default: index/)")
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS, help="questions (JSONL with 'question')")
    parser.add_argument("--count", type=int, default=20, help="distinct questions to time (default 20)")
    parser.add_argument("--top-k", type=int, default=5, help="answers per call (default 5)")
    args = parser.parse_args()

    pool, source = load_questions(args.questions, 10 * (args.count + 1))
    distinct = list(dict.fromkeys(pool))
    if len(distinct) < args.count + 1:
        raise SystemExit(f"error: {source} has only {len(distinct)} distinct questions")
    port = free_port()
    command = [sys.executable, "-m", "qa_service.cli", "mcp", "--transport", "http", "--host", HOST,
               "--port", str(port), "--index", str(args.index)]
    process = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    try:
        wait_until_listening(process, port)
        report = anyio.run(measure, f"http://{HOST}:{port}/mcp", distinct[0], distinct[1:args.count + 1], args.top_k)
    finally:
        process.terminate()
        process.wait(timeout=15)
    report["search_in_process"] = measure_in_process(args.index, distinct[0], distinct[1:args.count + 1], args.top_k)
    report.update({"transport": "streamable-http", "questions": source, "top_k": args.top_k})
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
