"""Measure ranking choices on a judged question file: what to embed, what BM25 indexes, how to fuse.

Builds an in-memory index of the corpus for each choice (embeddings cached on disk by text, so a choice costs
only its new texts), ranks every question in every mode and prints Recall@1, Recall@5 and MRR@10 per group.

    .venv/bin/python scripts/tune_search.py                       # the shipped choices, all modes
    .venv/bin/python scripts/tune_search.py --grid                # the comparisons behind the shipped choices
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa_service import lexical as lexical_module  # noqa: E402
from qa_service import passages  # noqa: E402
from qa_service.evaluation import evaluate_rankings, load_queries  # noqa: E402
from qa_service.index import assemble  # noqa: E402
from qa_service.lexical import LexicalIndex  # noqa: E402
from qa_service.parsing import parse_paths  # noqa: E402
from qa_service.query import MODES  # noqa: E402
from qa_service.search import Searcher  # noqa: E402

CACHE = Path("/tmp/qa_tune_embeddings.npz")


class CachedEmbedder:
    """The real e5 model behind a text -> vector cache kept on disk between runs."""

    def __init__(self):
        from qa_service.embedding import load_embedder

        self._model = load_embedder("e5")
        self.model_id = self._model.model_id
        self.dimension = self._model.dimension
        self._cache: dict[str, np.ndarray] = {}
        if CACHE.exists():
            data = np.load(CACHE)
            self._cache = {k: data[k] for k in data.files}
        self._dirty = False

    def _encode(self, texts, kind):
        keys = [kind + hashlib.sha1(t.encode()).hexdigest() for t in texts]
        missing = [(k, t) for k, t in zip(keys, texts) if k not in self._cache]
        if missing:
            encode = {"q": self._model.encode_queries, "Q": self._model.encode_questions,
                      "p": self._model.encode_passages}[kind]
            rows = encode([t for _, t in missing])
            for (k, _), row in zip(missing, rows):
                self._cache[k] = row
            self._dirty = True
        return np.stack([self._cache[k] for k in keys]).astype(np.float32)

    def encode_queries(self, texts):
        return self._encode(list(texts), "q")

    def encode_passages(self, texts):
        return self._encode(list(texts), "p")

    def encode_questions(self, texts):
        return self._encode(list(texts), "Q")

    def save(self):
        if self._dirty:
            np.savez(CACHE, **self._cache)


def with_lexical_text(index, documents, lexical_fn):
    """Return `index` with its BM25 index built over `lexical_fn(doc, chunk)` instead of the shipped text."""
    texts = [lexical_fn(doc, chunk) for doc in documents for chunk in doc.chunks]
    return dataclasses.replace(index, lexical=LexicalIndex.build(texts))


def score(searcher, queries, modes):
    """Return {mode: {group: {metric: value}}} plus the rank-1 misses, measured on the shipped ranker's run."""
    questions = {q.query_id: q.question for q in queries}
    table = {}
    misses = {}
    for mode in modes:
        report = evaluate_rankings(queries, searcher.run(questions, k=10, mode=mode))
        rows = {**report["groups"], "all": report["overall"]}
        table[mode] = {group: {"R@1": row["recall@1"], "R@5": row["recall@5"], "MRR": row["mrr@10"]}
                       for group, row in rows.items()}
        misses[mode] = [(m["id"], m["group"], m["top"], m["relevant"]) for m in report["misses_at_1"]]
    return table, misses


def print_table(title, table):
    groups = sorted({g for t in table.values() for g in t if g != "all"}) + ["all"]
    print(f"\n## {title}")
    print("mode      " + "".join(f"{g[:10]:>22}" for g in groups))
    for mode, t in table.items():
        cells = "".join(f"{t[g]['R@1']:>8.3f}{t[g]['R@5']:>7.3f}{t[g]['MRR']:>7.3f}" for g in groups)
        print(f"{mode:<10}{cells}")
    print("(each group: R@1 R@5 MRR@10)")


# --- choices compared -----------------------------------------------------------------------------------------

def plain_lexical(doc, chunk):
    return "\n".join(p for p in (chunk.frage, chunk.antwort) if p)


LEXICAL_CHOICES = {"plain": plain_lexical, "shipped": passages.lexical_text}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", default=str(ROOT / "eval" / "questions.jsonl"))
    parser.add_argument("--corpus", default=str(ROOT / "corpus"))
    parser.add_argument("--grid", action="store_true", help="compare the alternatives, not just the shipped set-up")
    parser.add_argument("--misses", action="store_true", help="list rank-1 misses of hybrid mode")
    args = parser.parse_args(argv)

    queries = load_queries(Path(args.queries))
    report = parse_paths([Path(args.corpus)])
    documents = report.documents
    print(f"{len(documents)} documents, {sum(len(d.chunks) for d in documents)} chunks, {len(queries)} questions")
    embedder = CachedEmbedder()
    try:
        index = assemble(documents, embedder)
        table, misses = score(Searcher(index, embedder), queries, MODES)
        print_table("shipped", table)
        if args.misses:
            for mode in MODES:
                print(f"\nmisses {mode}:")
                for miss in misses[mode]:
                    print("  ", miss)
        if args.grid:
            grid(documents, embedder, queries)
    finally:
        embedder.save()


def grid(documents, embedder, queries):
    """Print the lexical comparisons (analysis and what BM25 indexes) behind the shipped choices.

    What to embed is compared by scripts/tune_views.py, fusion formulas by scripts/tune_fusion.py.
    """
    shipped_index = assemble(documents, embedder)
    for l_name, l_fn in LEXICAL_CHOICES.items():
        index = with_lexical_text(shipped_index, documents, l_fn)
        table, _ = score(Searcher(index, embedder), queries, ["keyword", "hybrid"])
        print_table(f"lexical text={l_name}", table)
    shipped = (lexical_module.NGRAM_SIZE, lexical_module.NGRAM_MIN_WORD)
    try:
        for size, min_word in [(4, 7), (5, 6), (5, 10), (6, 8), (99, 999)]:
            lexical_module.NGRAM_SIZE, lexical_module.NGRAM_MIN_WORD = size, min_word
            index = assemble(documents, embedder)
            table, _ = score(Searcher(index, embedder), queries, ["keyword", "hybrid"])
            label = "no n-grams" if size == 99 else f"{size}-grams in words of >= {min_word} letters"
            print_table(f"lexical analysis: {label}", table)
    finally:
        lexical_module.NGRAM_SIZE, lexical_module.NGRAM_MIN_WORD = shipped


if __name__ == "__main__":
    main()
