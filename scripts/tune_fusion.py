"""Compare fusion formulas quickly: score every question once per signal, then re-rank offline with numpy.

    .venv/bin/python scripts/tune_fusion.py

Uses the embedding cache of tune_search.py (run that first). Prints R@1 / R@5 / MRR@10 per group for each formula.
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from tune_search import CachedEmbedder  # noqa: E402

from qa_service.index import assemble  # noqa: E402
from qa_service.parsing import parse_paths  # noqa: E402
from qa_service.search import FusionParams, Searcher  # noqa: E402


def signals(searcher, queries):
    """Return per question: dense chunk scores, BM25 scores, coverage, quote-matched chunk positions."""
    rows = []
    for q in queries:
        question = q["question"]
        dense = searcher.dense_scores(question)
        lexical = searcher.lexical_scores(question)
        candidates = [int(i) for i in np.argsort(-lexical, kind="stable")[:20] if lexical[i] > 0]
        quotes = searcher.quote_matches(question, candidates)
        rows.append(dict(dense=dense, lexical=lexical, coverage=searcher.index.lexical.coverage(question),
                         quotes=set(quotes), relevant=set(q["relevant"]), group=q["group"]))
    return rows


def evaluate(rows, chunk_ids, fuse):
    per = defaultdict(lambda: defaultdict(list))
    for r in rows:
        scores = fuse(r)
        bonus = np.zeros_like(scores)
        for pos in r["quotes"]:
            bonus[pos] = 1e6
        order = np.argsort(-(scores + bonus), kind="stable")
        ranked = [chunk_ids[i] for i in order[:10]]
        hit1 = float(ranked[0] in r["relevant"])
        hit5 = float(any(c in r["relevant"] for c in ranked[:5]))
        rr = next((1.0 / (i + 1) for i, c in enumerate(ranked) if c in r["relevant"]), 0.0)
        for g in (r["group"], "all"):
            per[g]["R@1"].append(hit1)
            per[g]["R@5"].append(hit5)
            per[g]["MRR"].append(rr)
    return {g: {m: float(np.mean(v)) for m, v in ms.items()} for g, ms in per.items()}


def line(name, table):
    groups = ["english", "journalist", "keyword", "paraphrase", "quote", "all"]
    cells = "".join(f"{table[g]['R@1']:>7.3f}{table[g]['R@5']:>6.3f}" for g in groups)
    return f"{name:<58}{cells}"


def ranks(x):
    order = np.argsort(-x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(1, len(x) + 1)
    return r


def formulas(index, embedder):
    """Return {name: scores(row)}: the single signals, reciprocal-rank fusion and the shipped fusion's variants."""
    f = {"dense only": lambda r: r["dense"], "bm25 only": lambda r: r["lexical"]}
    for k in (10, 60):
        f[f"rrf k={k}"] = lambda r, k=k: 1 / (k + ranks(r["dense"])) + 1 / (k + ranks(r["lexical"])) * (
            r["lexical"].max() > 0)
    shipped = FusionParams()
    for weight in (0.3, 0.4, 0.5, 0.6, 0.7):
        for floor_rank in (10, 20):
            for lexical_floor in (0.0, 0.1):
                for document_weight in (0.0, 0.2):
                    params = FusionParams(lexical_weight=weight, dense_floor_rank=floor_rank,
                                          lexical_floor=lexical_floor, document_weight=document_weight)
                    searcher = Searcher(index, embedder, params)
                    name = (f"w={weight} floor_rank={floor_rank} lex_floor={lexical_floor} doc={document_weight}"
                            + (" (shipped)" if params == shipped else ""))
                    f[name] = lambda r, s=searcher: s.fuse(
                        r["dense"], r["lexical"], s.fusion.lexical_weight * r["coverage"] * (r["lexical"].max() > 0),
                        np.ones(len(r["dense"]), dtype=bool))
    return f


def main():
    queries = [json.loads(x) for x in (ROOT / "eval" / "questions.jsonl").read_text().splitlines() if x.strip()]
    documents = parse_paths([ROOT / "corpus"]).documents
    embedder = CachedEmbedder()
    index = assemble(documents, embedder)
    searcher = Searcher(index, embedder)
    rows = signals(searcher, queries)
    embedder.save()
    chunk_ids = [c.chunk_id for c in index.chunks]
    print(f"{'formula':<58}" + "".join(f"{g[:12]:>13}" for g in
                                       ["english", "journalist", "keyword", "paraphrase", "quote", "all"]))
    results = []
    for name, fuse in formulas(index, embedder).items():
        table = evaluate(rows, chunk_ids, fuse)
        results.append((table["all"]["R@1"], table["all"]["R@5"], name, table))
        print(line(name, table))
    print("\nbest by R@1 then R@5:")
    for r1, r5, name, table in sorted(results, key=lambda t: (-t[0], -t[1]))[:10]:
        print(line(name, table))


if __name__ == "__main__":
    main()
