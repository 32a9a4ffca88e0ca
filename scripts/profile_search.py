"""Time (and optionally profile) the per-request search work on an index, the query encoding left out.

Loads the index as the server does (`open_searcher`), encodes every question once beforehand, then times each
request in two ways: what the API does (`search_request` and the results payload) and what the web page does
(`search_with_candidates`, facets, payload), each question once after a warm-up on other questions. Prints median
and p95 wall ms and mean CPU ms (`time.process_time`, which a shared machine disturbs less than the wall clock).
`--profile` prints the cProfile top of the API path, `--run FILE` writes `Searcher.run` of the questions (to check
that a change keeps every ranking: run it before and after and compare the files).

    PYTHONPATH=$PWD python scripts/profile_search.py /tmp/index --questions eval/dev/tuning.jsonl --run run.json
"""
from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


class PrecomputedEmbedder:
    """The index's embedder with every query vector computed beforehand, so timing leaves the encoding out."""

    def __init__(self, embedder, questions: list[str]):
        self.model_id, self.dimension = embedder.model_id, embedder.dimension
        self._vectors = dict(zip(questions, embedder.encode_queries(questions)))

    def encode_queries(self, texts):
        return np.stack([self._vectors[t] for t in texts])


def questions_of(path: Path, limit: int) -> dict[str, str]:
    """Return {id: question} of a JSONL file of evaluation questions (the first `limit`, 0 = all)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {row["id"]: row["question"] for row in rows[:limit or None]}


def timed(function, questions: list[str], repeats: int, searcher) -> dict:
    """Return median/p95 wall ms and mean CPU ms of `function(question)` over `repeats` passes of `questions`,
    each pass with the searcher's per-chunk caches empty (as for questions never asked)."""
    wall, cpu = [], []
    for _ in range(repeats):
        for cache in (getattr(searcher, name, None) for name in ("_answer", "_sentences")):
            if cache is not None:  # the code measured may predate a cache
                cache.cache_clear()
        for question in questions:
            start, start_cpu = time.perf_counter(), time.process_time()
            function(question)
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    wall_ms, cpu_ms = np.array(wall) * 1000, np.array(cpu) * 1000
    return {"n": len(wall), "p50_ms": round(float(np.median(wall_ms)), 2),
            "p95_ms": round(float(np.percentile(wall_ms, 95)), 2), "cpu_ms": round(float(cpu_ms.mean()), 2)}


def main(argv=None) -> int:
    """Time the API and web search paths on an index; optionally profile them and write a run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", type=Path, help="index folder")
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "dev" / "tuning.jsonl")
    parser.add_argument("--warmup", type=Path, default=ROOT / "eval" / "dev" / "report.jsonl",
                        help="questions asked before timing (others than the timed ones, so that no per-chunk "
                             "cache of the timed questions' hits is warm)")
    parser.add_argument("--limit", type=int, default=0, help="first N questions only (0 = all)")
    parser.add_argument("--repeats", type=int, default=1, help="timed passes over the questions")
    parser.add_argument("--mode", default="hybrid", choices=("hybrid", "semantic", "keyword"))
    parser.add_argument("--profile", action="store_true", help="print the cProfile top of the API path")
    parser.add_argument("--run", type=Path, help="write Searcher.run of the questions (top 10) to this file")
    args = parser.parse_args(argv)

    from qa_service.config import load_settings
    from qa_service.facets import facets
    from qa_service.payloads import results_payload
    from qa_service.query import parse_ask
    from qa_service.search import open_searcher

    searcher = open_searcher(load_settings(index_dir=args.index))
    queries = questions_of(args.questions, args.limit)
    questions = list(dict.fromkeys(queries.values()))
    timed_set = set(questions)
    warmup = [q for q in dict.fromkeys(questions_of(args.warmup, 0).values()) if q not in timed_set]
    searcher.embedder = PrecomputedEmbedder(searcher.embedder, questions + warmup)
    searcher._query_vector.cache_clear()

    def api(question):
        request = parse_ask({"question": question, "mode": args.mode})
        return json.dumps(results_payload(question, searcher.search_request(request), args.mode))

    def web(question):
        request = parse_ask({"question": question, "mode": args.mode, "top_k": 10})
        hits, documents = searcher.search_with_candidates(request)
        return results_payload(question, hits, args.mode), facets(documents)

    for question in warmup:  # the page cache, numpy's and FAISS's first calls
        api(question)
    out = {"index": str(args.index), "questions": len(questions), "mode": args.mode,
           "api": timed(api, questions, args.repeats, searcher),
           "web": timed(web, questions, args.repeats, searcher)}
    print(json.dumps(out))
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for question in questions:
            api(question)
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stdout).sort_stats(os.environ.get("PROFILE_SORT", "tottime")).print_stats(30)
        if os.environ.get("PROFILE_CALLERS"):
            pstats.Stats(profiler, stream=sys.stdout).print_callers(os.environ["PROFILE_CALLERS"])
    if args.run:
        args.run.write_text(json.dumps(searcher.run(queries, k=10, mode=args.mode), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
