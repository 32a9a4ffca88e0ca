"""Part "scale" of scripts/bench.py: the archive on one machine, with the stand-in model `--model hash`.

For each size (documents of `scripts/make_scale_corpus.py`, e.g. 15,000 ≈ WP 19 and 60,000 ≈ all periods):
- a full build (`qa-service build --model hash --rebuild` in a child process): wall and CPU seconds, the time
  spent outside embedding, peak resident memory (the child's own rusage), size on disk;
- an update: 20 new documents added, `qa-service build` again: wall seconds, passages embedded;
- serving: `qa-service serve` started on the index: seconds until /healthz answers, resident memory after
  answering questions;
- searching in a fresh child process (this file with `--measure-search`), the query vectors computed before the
  clock starts (the encoding is not what is measured): hybrid search without filters, with each kind of filter, and
  verbatim quotes cut from the index's answers (with how many were found at rank 1).

Nothing here asserts a time. The child processes are this project's CLI, so what is measured is what ships.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_common import ROOT, memory_of, summarize_ms  # noqa: E402

UPDATE_DOCUMENTS = 20
SEARCH_QUESTIONS = 200
QUOTES = 100
QUOTE_WORDS = 10
QUESTION_FILES = (ROOT / "eval" / "dev" / "tuning.jsonl", ROOT / "eval" / "questions.jsonl")


def run_measured(command: list[str], log_path: Path) -> dict:
    """Run `command` to its end and return wall and CPU seconds, peak RSS (its own rusage) and its exit code."""
    with open(log_path, "wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   env=dict(os.environ, HF_HUB_OFFLINE="1"))
        # wait4 gives the rusage of this child alone (RUSAGE_CHILDREN would be the max over every child so far).
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return {"wall_s": round(wall, 1), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_gib": round(usage.ru_maxrss / 2**20, 2), "exit_code": process.returncode,
            "output_tail": log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]}


def folder_bytes(folder: Path) -> int:
    """Return the total size of the files under `folder`."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def make_corpus(n: int, cache: Path, log) -> tuple[Path, list[Path]]:
    """Return a corpus folder of `n` synthetic documents and the UPDATE_DOCUMENTS files that follow them.

    Document i of make_scale_corpus depends only on i, so the update's documents are those of a corpus of n + 20.
    """
    folder = cache / f"scale-corpus-{n}"
    extra = cache / f"scale-corpus-{n}-update"
    if not (folder / ".complete").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(extra, ignore_errors=True)
        log(f"scale: writing {n + UPDATE_DOCUMENTS} synthetic documents into {folder}")
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_scale_corpus.py"), str(n + UPDATE_DOCUMENTS),
                        str(folder)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        extra.mkdir(parents=True)
        numbers = sorted({int(re.search(r"(\d+)$", p.stem).group(1)) for p in folder.iterdir()
                          if p.suffix in (".txt", ".json")})
        for number in numbers[n:]:
            for path in folder.glob(f"*{number}.*"):
                path.rename(extra / path.name)
        (folder / ".complete").write_text("")
    return folder, sorted(extra.iterdir())


def run_size(n: int, cache: Path, workdir: Path, log) -> dict:
    """Build, update, serve and search an index of `n` synthetic documents; return the measurements."""
    from bench_server import Server, timed_asks

    corpus, update_files = make_corpus(n, cache, log)
    work_corpus = workdir / "corpus"
    shutil.rmtree(work_corpus, ignore_errors=True)
    # Hard links: the update adds files to this folder, the cached corpus stays as it is.
    shutil.copytree(corpus, work_corpus, copy_function=os.link, ignore=shutil.ignore_patterns(".complete"))
    index = workdir / "index"
    shutil.rmtree(index, ignore_errors=True)
    cli = [sys.executable, "-m", "qa_service.cli", "build", "--model", "hash", "--corpus", str(work_corpus),
           "--index", str(index), "--quiet"]
    row: dict = {"documents": n}
    log(f"scale {n}: full build")
    row["build"] = run_measured(cli + ["--rebuild"], workdir / "build.log")
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    row.update(chunks=manifest["chunks"], vector_rows=manifest["vectors"], factory=manifest["factory"],
               index_gb=round(folder_bytes(index) / 1e9, 2))
    log(f"scale {n}: {row['build']}")

    log(f"scale {n}: serving")
    questions = search_questions()
    server = Server(index).start()
    try:
        row["ready_s"] = round(server.wait_ready(), 2)
        row["first_answer_s"] = round(server.first_answer(questions[0]), 2)
        http_times, errors = timed_asks(server.port, questions[:50])
        row["http_hybrid"] = {**summarize_ms(http_times), "errors": errors}
        row["server_memory"] = server.memory()
    finally:
        server.stop()
    log(f"scale {n}: ready {row['ready_s']} s, {row['server_memory']}")

    log(f"scale {n}: searching in a fresh process")
    row["search"] = search_in_child(index)
    log(f"scale {n}: search {json.dumps(row['search'])[:300]}")

    for path in update_files:
        os.link(path, work_corpus / path.name)
    log(f"scale {n}: update with {len(update_files)} files")
    row["update"] = run_measured(cli, workdir / "update.log")
    row["update"]["documents_added"] = UPDATE_DOCUMENTS
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    row["update"]["segments"] = len(manifest.get("segments", ["."]))
    log(f"scale {n}: {row['update']}; searching the updated index")
    # What the extra segment costs a search.
    row["search_after_update"] = search_in_child(index)
    shutil.rmtree(index, ignore_errors=True)
    shutil.rmtree(work_corpus, ignore_errors=True)
    return row


def search_in_child(index: Path) -> dict:
    """Return the measurements of `measure_search` on `index`, made in a fresh process (or the error)."""
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--measure-search", str(index)],
                          cwd=ROOT, capture_output=True, text=True, timeout=3600,
                          env=dict(os.environ, HF_HUB_OFFLINE="1"))
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-500:]}
    return json.loads(done.stdout)


def search_questions() -> list[str]:
    """Return distinct real questions from the evaluation sets (the hash model makes their answers meaningless, not
    their cost)."""
    seen: dict[str, None] = {}
    for path in QUESTION_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                seen.setdefault(json.loads(line)["question"], None)
    questions = list(seen)
    random.Random(5).shuffle(questions)
    return questions[:SEARCH_QUESTIONS]


class PrecomputedEmbedder:
    """The index's embedder with every query vector computed beforehand, so timing leaves the encoding out."""

    def __init__(self, embedder, questions: list[str]):
        self.model_id, self.dimension = embedder.model_id, embedder.dimension
        self._vectors = {q: row for q, row in zip(questions, embedder.encode_queries(questions))}

    def encode_queries(self, texts):
        import numpy as np

        return np.stack([self._vectors[t] for t in texts])


def measure_search(index_dir: Path) -> dict:
    """Load the index as the server does and time searches (run in a fresh process: `--measure-search`)."""
    from qa_service.config import load_settings
    from qa_service.query import parse_ask
    from qa_service.search import Searcher, open_searcher

    started = time.perf_counter()
    searcher = open_searcher(load_settings(index_dir=index_dir))
    load_s = time.perf_counter() - started
    memory_after_load = memory_of()
    # What a server does in the background once it is ready (searcher_slot.prepare_in_background).
    started = time.perf_counter()
    searcher.prepare()
    prepare_s = time.perf_counter() - started
    index = searcher.index
    rng = random.Random(7)
    questions = search_questions()
    documents = list(index.documents.values())
    sample_docs = [documents[rng.randrange(len(documents))] for _ in range(len(questions))]
    authorities = sorted({d.authority for d in documents[:2000] if d.authority})
    quotes = quote_sample(index, rng)
    searcher.embedder = PrecomputedEmbedder(searcher.embedder, questions + [q for q, _ in quotes])
    searcher._query_vector.cache_clear()

    def timed(requests) -> tuple[dict, list]:
        times, results = [], []
        for request in requests:
            start = time.perf_counter()
            hits = searcher.search_request(parse_ask(request))
            times.append(time.perf_counter() - start)
            results.append(hits)
        return summarize_ms(times), results

    out = {"load_s": round(load_s, 2), "memory_after_load": memory_after_load, "prepare_s": round(prepare_s, 2),
           "memory_after_prepare": memory_of()}
    out["hybrid"], _ = timed({"question": q} for q in questions)
    out["filter_drucksache"], results = timed(
        {"question": q, "filters": {"drucksache": d.drucksache}} for q, d in zip(questions, sample_docs))
    out["filter_drucksache"]["hits_all_of_that_document"] = all(
        h.document.drucksache == d.drucksache for hits, d in zip(results, sample_docs) for h in hits)
    out["filter_authority"], _ = timed(
        {"question": q, "filters": {"authority": authorities[i % len(authorities)]}}
        for i, q in enumerate(questions)) if authorities else ({}, [])
    out["filter_wahlperiode_dates"], _ = timed(
        {"question": q, "filters": {"wahlperiode": 19, "answered_from": "2022-01-01", "answered_to": "2022-12-31"}}
        for q in questions)
    out["quote"], results = timed({"question": q} for q, _ in quotes)
    # Found: the quoted chunk is among the hits marked exact (two documents may share a sentence).
    out["quote"]["found"] = sum(
        1 for hits, (_, chunk_id) in zip(results, quotes) if chunk_id in {h.chunk.chunk_id for h in hits
                                                                          if h.match == "exact"})
    out["quote"]["quotes"] = len(quotes)
    out["memory_after_searches"] = memory_of()
    return out


def quote_sample(index, rng: random.Random) -> list[tuple[str, str]]:
    """Return (quote, chunk id) pairs: QUOTE_WORDS words of an answer around a word no other copy has.

    The synthetic documents are copies of six real ones with one made-up word per paragraph; a quote without it
    would occur in thousands of copies, which is not what people paste.
    """
    from qa_service.quotes import normalized_text

    # Letters only, joined: a word split by a line-break hyphen in the source is still found in it.
    source = "".join(normalized_text(path.read_text(encoding="utf-8")) for path in (ROOT / "corpus").glob("*.txt"))
    quotes = []
    for _ in range(QUOTES * 20):
        if len(quotes) >= QUOTES:
            break
        chunk = index.chunks[rng.randrange(len(index.chunks))]
        words = chunk.antwort.split()
        bare = [w.strip(".,;:!?()\"„“”»«'") for w in words]
        new = [i for i, w in enumerate(bare) if w.isalpha() and w.casefold() not in source]
        if not new or len(words) < QUOTE_WORDS:
            continue
        start = max(0, min(new[0] - 3, len(words) - QUOTE_WORDS))
        quotes.append((" ".join(words[start:start + QUOTE_WORDS]), chunk.chunk_id))
    return quotes


def run_archive(sizes: list[int], cache: Path, workdir: Path, log=print) -> dict:
    """Measure every size in turn (one at a time: each build uses every core) and return the results."""
    results = {"model": "hash (stand-in; no real embedding)", "update_documents": UPDATE_DOCUMENTS, "sizes": []}
    for n in sizes:
        folder = workdir / str(n)
        folder.mkdir(parents=True, exist_ok=True)
        results["sizes"].append(run_size(n, cache, folder, log))
        shutil.rmtree(folder, ignore_errors=True)
    return results


TARGETS = {"ready_s": 3.0, "rss_gib": 1.5, "hybrid_p50_ms": 15.0, "hybrid_p95_ms": 40.0, "build_min": 30.0,
           "build_peak_gib": 6.0, "update_s": 60.0}


def table(results: dict) -> list[str]:
    """Return the Markdown lines of the archive table, each figure beside the issue's target."""
    out = ["| documents | chunks | vector rows | FAISS | build wall s (CPU s) | build peak GiB | index GB | "
           "update +20 docs s | ready s | server RSS MiB (own: not file pages) | hybrid p50 / p95 ms | "
           "filtered p50 ms (Drucksache / "
           "authority / WP+dates) | quote p50 / p95 ms (found) | HTTP p50 ms | after the update: segments, hybrid "
           "p50 / p95 ms |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["sizes"]:
        s = r.get("search", {})
        if "error" in s:
            searched = ("error", "error", "error")
        else:
            q = s["quote"]
            searched = (f"{s['hybrid']['median_ms']} / {s['hybrid']['p95_ms']}",
                        f"{s['filter_drucksache']['median_ms']} / {s['filter_authority'].get('median_ms', '-')} / "
                        f"{s['filter_wahlperiode_dates']['median_ms']}",
                        f"{q['median_ms']} / {q['p95_ms']} ({q['found']}/{q['quotes']})")
        b, u, memory = r["build"], r["update"], r["server_memory"]
        later = r.get("search_after_update", {})
        after = (f"{u.get('segments', '-')}, {later['hybrid']['median_ms']} / {later['hybrid']['p95_ms']}"
                 if "hybrid" in later else "-")
        out.append(f"| {r['documents']:,} | {r['chunks']:,} | {r['vector_rows']:,} | {r['factory']} | "
                   f"{b['wall_s']} ({b['cpu_s']}) | {b['peak_rss_gib']} | {r['index_gb']} | {u['wall_s']} | "
                   f"{r['ready_s']} | {memory.get('rss_mib')} ({memory.get('rss_anon_mib', '-')}) | {searched[0]} | "
                   f"{searched[1]} | "
                   f"{searched[2]} | {r['http_hybrid']['median_ms']} | {after} |")
    out += ["", f"Targets (issue 11): ready ≤ {TARGETS['ready_s']} s, ≤ {TARGETS['rss_gib']} GiB per worker, hybrid "
                f"p50 ≤ {TARGETS['hybrid_p50_ms']} ms and p95 ≤ {TARGETS['hybrid_p95_ms']} ms without the encoding, "
                f"a full build ≤ {TARGETS['build_min']} min with peak ≤ {TARGETS['build_peak_gib']} GiB at 600,000 "
                f"chunks, an update of 20 documents ≤ {TARGETS['update_s']} s plus their embedding."]
    return out


def main(argv=None) -> int:
    """Run the `--measure-search` child, or the part alone."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--measure-search", dest="index", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="15000,60000", help="documents per corpus (default 15000,60000)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/qa-bench-archive"),
                        help="where the synthetic corpora are kept between runs (default /tmp/qa-bench-archive)")
    args = parser.parse_args(argv)
    if args.index:
        print(json.dumps(measure_search(args.index)))
        return 0
    work = args.cache / "work"
    results = run_archive([int(s) for s in args.sizes.split(",")], args.cache, work,
                          log=lambda line: print(line, file=sys.stderr, flush=True))
    print(json.dumps(results, indent=1))
    print("\n".join(table(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
