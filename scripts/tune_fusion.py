"""Compare fusion settings by running the shipped ranker (`Searcher.run`) with each `FusionParams` variant.

    .venv/bin/python scripts/tune_fusion.py [--queries eval/questions.jsonl] [--corpus corpus]

Every row but the reciprocal-rank-fusion ones is the real ranker, quotes, floors and unanswerable chunks
included; the RRF rows are an offline formula over the same signals, for comparison only. Uses the embedding cache
of tune_search.py. Prints R@1 / R@5 per group for each setting, then the ten best by R@1 and R@5. Never tune on
the report part of eval/dev or on eval/holdout.
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from tune_search import CachedEmbedder  # noqa: E402

from qa_service.evaluation import evaluate_rankings, load_queries  # noqa: E402
from qa_service.index import assemble  # noqa: E402
from qa_service.parsing import parse_paths  # noqa: E402
from qa_service.query import analyse  # noqa: E402
from qa_service.search import FusionParams, Searcher, top_positions  # noqa: E402

GRID = {"lexical_weight": (0.3, 0.4, 0.5, 0.6, 0.7), "dense_floor_rank": (10, 20), "lexical_floor": (0.0, 0.1),
        "document_weight": (0.0, 0.2)}


def rrf_run(searcher: Searcher, questions: dict[str, str], k: int) -> dict[str, dict[str, float]]:
    """Return the run of reciprocal-rank fusion of the dense and BM25 rankings (an offline formula, not shipped)."""
    chunk_ids = [c.chunk_id for c in searcher.index.chunks]
    allowed = searcher._answerable
    run = {}
    for query_id, question in questions.items():
        query = analyse(question)
        fused = np.zeros(len(chunk_ids))
        for scores in (searcher.dense_scores(query), searcher.lexical_scores(query)):
            if scores.max() <= 0:
                continue
            order = top_positions(scores, allowed, len(chunk_ids))
            fused[order] += 1.0 / (k + np.arange(1, len(order) + 1))
        best = top_positions(fused, allowed, 10)
        run[query_id] = {chunk_ids[i]: float(fused[i]) for i in best}
    return run


def line(name: str, report: dict, groups: list[str]) -> str:
    rows = {**report["groups"], "all": report["overall"]}
    cells = "".join(f"{rows[g]['recall@1']:>7.3f}{rows[g]['recall@5']:>6.3f}" if g in rows else " " * 13
                    for g in groups)
    return f"{name:<62}{cells}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", default=str(ROOT / "eval" / "questions.jsonl"))
    parser.add_argument("--corpus", default=str(ROOT / "corpus"))
    args = parser.parse_args(argv)

    queries = load_queries(Path(args.queries))
    questions = {q.query_id: q.question for q in queries}
    groups = sorted({q.group for q in queries if q.relevant}) + ["all"]
    embedder = CachedEmbedder()
    try:
        index = assemble(parse_paths([Path(args.corpus)]).documents, embedder)
        print(f"{'setting':<62}" + "".join(f"{g[:12]:>13}" for g in groups) + "   (R@1 R@5)")
        results = []
        shipped = FusionParams()
        searcher = Searcher(index, embedder)
        for mode in ("semantic", "keyword"):
            report = evaluate_rankings(queries, searcher.run(questions, k=10, mode=mode))
            print(line(f"{mode} mode", report, groups))
        for k in (10, 60):
            report = evaluate_rankings(queries, rrf_run(searcher, questions, k))
            print(line(f"rrf k={k} (offline formula, not shipped)", report, groups))
        for values in itertools.product(*GRID.values()):
            params = FusionParams(**dict(zip(GRID, values)))
            report = evaluate_rankings(queries, Searcher(index, embedder, params).run(questions, k=10))
            name = " ".join(f"{key}={value}" for key, value in zip(GRID, values)) + \
                (" (shipped)" if params == shipped else "")
            results.append((report["overall"]["recall@1"], report["overall"]["recall@5"], name, report))
            print(line(name, report, groups))
        print("\nbest by R@1 then R@5:")
        for _, _, name, report in sorted(results, key=lambda r: (-r[0], -r[1]))[:10]:
            print(line(name, report, groups))
    finally:
        embedder.save()


if __name__ == "__main__":
    main()
