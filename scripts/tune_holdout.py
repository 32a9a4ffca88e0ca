"""Check fusion variants on the tuning set and the held-out set at once, without touching the package.

    .venv/bin/qa-service build --corpus corpus --index /tmp/main-index
    .venv/bin/qa-service build --corpus eval/holdout/corpus --index /tmp/holdout-index
    .venv/bin/python scripts/tune_holdout.py [--main-index /tmp/main-index] [--holdout-index /tmp/holdout-index]

Scores every question once per signal with the shipped Searcher (dense, BM25, quote matches), then re-ranks offline
with a re-implementation of `Searcher.fuse` whose knobs can be varied. The row "shipped" must reproduce
`qa-service eval` exactly (checked against Searcher.search); every other row is a proposed change. Prints hybrid
R@1 / R@5 per group and whether the acceptance floors hold (R@1 >= .85, R@5 >= .97, quote R@1 = 1, hybrid >= the
better single mode in every group, both on R@1).
"""
from __future__ import annotations

import argparse
import json
import pickle
import sys
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa_service.config import load_settings  # noqa: E402
from qa_service.evaluation import recall_at  # noqa: E402
from qa_service.lexical import NGRAM_MARK, NGRAM_SIZE, analyze, words  # noqa: E402
from qa_service.search import QUOTE_CANDIDATES, Searcher, open_searcher, top_positions  # noqa: E402

GROUPS = ("paraphrase", "keyword", "english", "quote", "journalist")


@dataclass(frozen=True)
class Variant:
    """The knobs of the fusion; the defaults are what qa_service ships."""

    lexical_weight: float = 0.5
    dense_floor_rank: int = 10
    lexical_floor: float = 0.1
    document_weight: float = 0.2
    # Frage chunks whose answer is empty (the document was cut off after the Frage) are not ranked at all.
    # (A Vorbemerkung of the askers has its text in `frage` and no answer: it stays.)
    skip_empty_answers: bool = False
    # Query words of at least this many letters also look for their 5-grams inside indexed compounds (0 = off).
    query_ngram_min: int = 0


def query_tokens(lexical, question: str, ngram_min: int) -> list[str]:
    """Return the query's indexed tokens, plus 5-grams of shorter query words when `ngram_min` is set."""
    tokens = list(dict.fromkeys(analyze(question)))
    if ngram_min:
        for word in words(question):
            if ngram_min <= len(word) < 8 and word.isalpha():
                tokens.extend(NGRAM_MARK + word[i:i + NGRAM_SIZE] for i in range(len(word) - NGRAM_SIZE + 1))
    vocab = lexical._bm25.vocab_dict
    return [t for t in dict.fromkeys(tokens) if t in vocab]


def signals(searcher: Searcher, queries: list[dict]) -> list[dict]:
    """Return per question the dense and BM25 scores, coverage and quote matches, as the Searcher computes them."""
    n = len(searcher.index.chunks)
    rows = []
    for q in queries:
        question = q["question"].strip()
        lexical = searcher.lexical_scores(question)
        best = top_positions(lexical, np.ones(n, dtype=bool), QUOTE_CANDIDATES)
        candidates = [int(i) for i in best if lexical[i] > 0]
        ngram_lex = {}
        for m in (5, 6):
            tokens = query_tokens(searcher.index.lexical, question, m)
            ngram_lex[m] = (np.asarray(searcher.index.lexical._bm25.get_scores(tokens), dtype=np.float32)
                            if tokens else np.zeros(n, dtype=np.float32))
        rows.append(dict(q=q, dense=searcher.dense_scores(question), lexical=lexical, ngram_lexical=ngram_lex,
                         coverage=searcher.index.lexical.coverage(question),
                         quotes=searcher.quote_matches(question, candidates, None, lexical)))
    return rows


def fuse(searcher: Searcher, row: dict, v: Variant, allowed: np.ndarray) -> np.ndarray:
    """Return hybrid scores: Searcher.fuse with the knobs of `v`."""
    dense = row["dense"]
    lexical = row["ngram_lexical"][v.query_ngram_min] if v.query_ngram_min else row["lexical"]
    weight = v.lexical_weight * row["coverage"] if np.any(lexical > 0) else 0.0
    d = dense[allowed]
    rank = min(v.dense_floor_rank, len(d)) - 1
    floor = float(-np.partition(-d, rank)[rank])
    top = float(d.max())
    spread = top - floor if top > floor else 1.0
    dense_norm = np.clip((dense - floor) / spread, 0.0, 1.0)
    lex_max = float(lexical[allowed].max())
    lex_norm = lexical / lex_max if lex_max > 0 else np.zeros_like(lexical)
    fused = (1.0 - weight) * dense_norm + weight * lex_norm
    fused = np.where(lex_norm >= v.lexical_floor, fused, fused * (1.0 - weight) ** 2)
    doc = searcher._document_of_chunk
    best_of_document = np.zeros(len(searcher._document_ids))
    np.maximum.at(best_of_document, doc[allowed], fused[allowed])
    return (fused + v.document_weight * best_of_document[doc]) / (1.0 + v.document_weight)


def rank(searcher: Searcher, row: dict, mode: str, v: Variant, k: int = 10) -> list[str]:
    """Return the top-k chunk ids as Searcher.search orders them (quotes first) under variant `v`."""
    chunks = searcher.index.chunks
    allowed = np.ones(len(chunks), dtype=bool)
    if v.skip_empty_answers:
        allowed &= np.array([c.kind != "qa" or bool(c.antwort.strip()) for c in chunks])
    quotes = row["quotes"] if mode != "semantic" else {}
    if mode == "semantic":
        scores = row["dense"]
    elif mode == "keyword":
        scores = row["lexical"]
        allowed = allowed & (scores > 0)
        allowed[list(quotes)] = True  # a quote is found in an answer, so its chunk has one
    else:
        scores = fuse(searcher, row, v, allowed)
    quoted = sorted((p for p in quotes if allowed[p]), key=lambda p: (-quotes[p][1], -scores[p], p))
    rest = allowed.copy()
    rest[quoted] = False
    order = (quoted + top_positions(scores, rest, k).tolist())[:k]
    return [chunks[p].chunk_id for p in order]


def table(searcher: Searcher, rows: list[dict], v: Variant) -> dict:
    """Return {mode: {group: (R@1, R@5)}} with group "all" for every question."""
    out = {}
    for mode in ("hybrid", "semantic", "keyword"):
        per = defaultdict(lambda: ([], []))
        for row in rows:
            ranked = rank(searcher, row, mode, v)
            for g in (row["q"]["group"], "all"):
                per[g][0].append(recall_at(ranked, row["q"]["relevant"], 1))
                per[g][1].append(recall_at(ranked, row["q"]["relevant"], 5))
        out[mode] = {g: (float(np.mean(a)), float(np.mean(b))) for g, (a, b) in per.items()}
    return out


def verdict(t: dict) -> str:
    """Return the acceptance floors that fail, or "ok"."""
    h = t["hybrid"]
    fails = []
    if h["all"][0] < 0.85:
        fails.append("R@1")
    if h["all"][1] < 0.97:
        fails.append("R@5")
    if h["quote"][0] < 1.0:
        fails.append("quote")
    for g in GROUPS:
        if h[g][0] + 1e-9 < max(t["semantic"][g][0], t["keyword"][g][0]):
            fails.append(f"<single:{g}")
    return "ok" if not fails else "FAIL " + ",".join(fails)


def line(name: str, t: dict) -> str:
    h = t["hybrid"]
    cells = " ".join(f"{h[g][0]:.3f}/{h[g][1]:.3f}" for g in (*GROUPS, "all"))
    return f"{name:<40} {cells}  {verdict(t)}"


VARIANTS = {
    "shipped": Variant(),
    "A skip empty Frage chunks": Variant(skip_empty_answers=True),
    "B query 5-grams of words >= 5": Variant(query_ngram_min=5),
    "B' query 5-grams of words >= 6": Variant(query_ngram_min=6),
    "C lexical floor off": Variant(lexical_floor=0.0),
    "A+B": Variant(skip_empty_answers=True, query_ngram_min=5),
    "A+C": Variant(skip_empty_answers=True, lexical_floor=0.0),
    "A+B+C": Variant(skip_empty_answers=True, query_ngram_min=5, lexical_floor=0.0),
    "A+B lexical weight 0.4": Variant(skip_empty_answers=True, query_ngram_min=5, lexical_weight=0.4),
    "dense floor rank 20": Variant(dense_floor_rank=20),
    "dense floor rank 5": Variant(dense_floor_rank=5),
    "lexical weight 0.4": Variant(lexical_weight=0.4),
    "lexical weight 0.6": Variant(lexical_weight=0.6),
    "document weight 0.1": Variant(document_weight=0.1),
    "document weight 0.3": Variant(document_weight=0.3),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--main-index", type=Path, default=Path("/tmp/main-index"))
    parser.add_argument("--holdout-index", type=Path, default=Path("/tmp/holdout-index"))
    parser.add_argument("--fresh", action="store_true", help="recompute the signals cached in /tmp")
    parser.add_argument("--only", nargs="*", help="variant names to run (default: all)")
    args = parser.parse_args()
    sets = [("main", args.main_index, ROOT / "eval/questions.jsonl"),
            ("main on superset index", args.holdout_index, ROOT / "eval/questions.jsonl"),
            ("holdout", args.holdout_index, ROOT / "eval/holdout/questions.jsonl")]
    variants = {k: v for k, v in VARIANTS.items() if not args.only or k in args.only}
    for name, index_dir, path in sets:
        searcher = open_searcher(load_settings(index_dir=index_dir))
        queries = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
        cache = Path(f"/tmp/tune_holdout-{name.replace(' ', '_')}.pkl")
        if cache.is_file() and not args.fresh:
            rows = pickle.loads(cache.read_bytes())
        else:
            rows = signals(searcher, queries)
            cache.write_bytes(pickle.dumps(rows))
        # The re-implementation must rank exactly as the package does.
        for row in rows[:: max(1, len(rows) // 40)]:
            for mode in ("hybrid", "semantic", "keyword"):
                got = [h.chunk.chunk_id for h in searcher.search(row["q"]["question"], top_k=10, mode=mode)]
                assert got == rank(searcher, row, mode, Variant()), (row["q"]["id"], mode)
        print(f"\n{name} ({len(rows)} questions): hybrid R@1/R@5 per group " + " ".join((*GROUPS, "all")))
        for vname, v in variants.items():
            t = table(searcher, rows, v)
            print(line(vname, t))
            if vname == "shipped":
                for mode in ("semantic", "keyword"):
                    cells = " ".join(f"{t[mode][g][0]:.3f}/{t[mode][g][1]:.3f}" for g in (*GROUPS, "all"))
                    print(f"{'  (' + mode + ' alone)':<40} {cells}")


if __name__ == "__main__":
    main()
