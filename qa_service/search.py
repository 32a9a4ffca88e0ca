"""Searcher: a question -> ranked answers, by vectors (semantic), BM25 (keyword) or both fused (hybrid).

No Flask here. The Searcher holds the loaded index and embedder; one instance serves many threads.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import numpy as np

from .citation import chunk_heading, citation
from .documents import Chunk, Document
from .errors import IndexInvalidError, InvalidQueryError
from .lexical import NGRAM_MARK, analyze, words
from .passages import is_boilerplate
from .quotes import find_exact, find_near, looks_like_quote, normalize, normalized_text, sentence_spans

MODES = ("hybrid", "semantic", "keyword")

# In an exact (Flat) index of up to this many vector rows, dense scores are computed for every row (a matrix
# product of a few ms); above it, or in an approximate index (HNSW, IVF), FAISS is asked for candidates.
EXACT_DENSE_ROWS = 200_000
DENSE_CANDIDATES = 1000
# A shared n-gram counts this much of a shared word when choosing sentences to highlight.
NGRAM_WEIGHT = 0.2
# Near-verbatim quotes are looked for (with difflib, slow) in this many of the best BM25 candidates.
QUOTE_CANDIDATES = 20
# Verbatim quotes are looked for in every answer of an index up to this many chunks; in a larger one only in the
# best BM25 candidates: an answer holding a quote of five or more words holds all of its terms, so it ranks high.
QUOTE_SCAN_ALL_CHUNKS = 5000
QUOTE_EXACT_CANDIDATES = 500
# Query vectors of recent questions are kept: the evaluation asks each question once per mode, and people repeat
# questions (an entry is 1.5 KiB).
QUERY_CACHE_SIZE = 1024
# Normalised answers (for quote matching) of recent candidates are kept; normalising all of a large index at start
# would cost minutes and gigabytes.
ANSWER_CACHE_SIZE = 4096


@dataclass(frozen=True)
class FusionParams:
    """How hybrid mode mixes the two sides; chosen by measurement (scripts/tune_fusion.py)."""

    # Weight of the lexical side when every query word stem is in the index vocabulary; it shrinks with coverage,
    # so an English question (no German stems) is ranked by the vectors alone.
    lexical_weight: float = 0.5
    # Dense scores are min-max normalised between the best chunk and the chunk at this rank (clipped at 0).
    dense_floor_rank: int = 10
    # Chunks below this share of the best BM25 score count as sharing no term with the question and are held back,
    # but only for short questions (at most floor_max_words words: names, numbers, Drucksachen, chat-bot keywords),
    # where every word is deliberate. In sentence-long questions it demoted right answers whenever the best BM25
    # score came from words common to one document (held-out set, eval/holdout).
    lexical_floor: float = 0.1
    floor_max_words: int = 4
    # Share of the best hybrid score of a chunk's document added to the chunk's own score.
    document_weight: float = 0.2


@dataclass(frozen=True)
class SearchFilters:
    """Restrict results to documents with these metadata values (None = no restriction)."""

    drucksache: str | None = None
    authority: str | None = None
    wahlperiode: int | None = None
    answered_from: str | None = None
    answered_to: str | None = None

    def __post_init__(self):
        for name in ("answered_from", "answered_to"):
            value = getattr(self, name)
            if value is not None:
                try:
                    date.fromisoformat(value)
                except (TypeError, ValueError):
                    raise InvalidQueryError(f"{name} must be a date like 2021-11-22, got {value!r}") from None
        if self.wahlperiode is not None and (isinstance(self.wahlperiode, bool)
                                             or not isinstance(self.wahlperiode, int)):
            raise InvalidQueryError(f"wahlperiode must be a whole number, got {self.wahlperiode!r}")

    def is_empty(self) -> bool:
        """Return True when no filter is set."""
        return all(getattr(self, name) is None for name in
                   ("drucksache", "authority", "wahlperiode", "answered_from", "answered_to"))

    def matches(self, document: Document) -> bool:
        """Return True when `document` passes every filter that is set."""
        if self.drucksache is not None and _compact(document.drucksache) != _compact(self.drucksache):
            return False
        if self.authority is not None and self.authority.casefold().strip() not in (document.authority or "").casefold():
            return False
        if self.wahlperiode is not None and document.wahlperiode != self.wahlperiode:
            return False
        if self.answered_from is not None or self.answered_to is not None:
            if not document.answered_on:
                return False
            if self.answered_from is not None and document.answered_on < self.answered_from:
                return False
            if self.answered_to is not None and document.answered_on > self.answered_to:
                return False
        return True


def _compact(value: str | None) -> str:
    return re.sub(r"\s+", "", value or "")


@dataclass
class Hit:
    """One ranked answer: the chunk, its document, how it matched and which spans of `antwort` to highlight."""

    rank: int
    score: float
    document: Document
    chunk: Chunk
    match: str | None = None
    quote_span: tuple[int, int] | None = None
    highlight: list[tuple[int, int]] = field(default_factory=list)


def hit_to_dict(hit: Hit) -> dict:
    """Return the JSON shape of one hit (shared by `ask --json` and the HTTP API)."""
    document = hit.document.metadata()
    document.pop("warnings", None)
    document.pop("source_file", None)
    return {
        "rank": hit.rank,
        "score": round(float(hit.score), 4),
        "chunk_id": hit.chunk.chunk_id,
        "document_id": hit.chunk.document_id,
        "numbers": list(hit.chunk.numbers),
        "kind": hit.chunk.kind,
        "frage": hit.chunk.frage,
        "antwort": hit.chunk.antwort,
        "pages": list(hit.chunk.pages),
        "match": hit.match,
        "quote_span": list(hit.quote_span) if hit.quote_span else None,
        "highlight": [list(span) for span in hit.highlight],
        "document": document,
        "citation": citation(hit.document, hit.chunk),
    }


def results_payload(question: str, hits: list[Hit], mode: str) -> dict:
    """Return `{"question", "mode", "results"}`: the JSON shape of `qa-service ask --json` and of the API."""
    return {"question": question, "mode": mode, "results": [hit_to_dict(hit) for hit in hits]}


class Searcher:
    """Rank the chunks of one index for a question; thread-safe (embedders may be called from several threads)."""

    def __init__(self, index, embedder, fusion: FusionParams | None = None):
        self.index = index
        self.embedder = embedder
        self.fusion = fusion or FusionParams()
        self._documents = [index.documents[c.document_id] for c in index.chunks]
        self._document_ids = list(dict.fromkeys(c.document_id for c in index.chunks))
        number = {doc_id: i for i, doc_id in enumerate(self._document_ids)}
        self._document_of_chunk = np.array([number[c.document_id] for c in index.chunks], dtype=np.int64)
        self._row_chunk = np.asarray(index.row_chunk, dtype=np.int64)
        self._exact_dense = len(index.vectors) <= EXACT_DENSE_ROWS and index.ann.is_exact
        index.ann.set_search_effort()
        self._boilerplate = _repeated_sentences(index.chunks)
        # A Frage whose answer is missing (a cut-off document) answers nothing: it is kept in the index and can be
        # looked up, but never ranked. Vorbemerkungen and text chunks always count.
        self._answerable = np.array([c.kind != "qa" or bool(c.antwort.strip()) for c in index.chunks], dtype=bool)
        # Per instance (not a module-level cache), so that a searcher's caches go away with it.
        self._query_vector = lru_cache(maxsize=QUERY_CACHE_SIZE)(self._encode_query)
        self._answer = lru_cache(maxsize=ANSWER_CACHE_SIZE)(self._normalized_answer)

    def _encode_query(self, question: str) -> np.ndarray:
        query = np.asarray(self.embedder.encode_queries([question]), dtype=np.float32)
        query.flags.writeable = False  # shared by every search of this question
        return query

    def _normalized_answer(self, pos: int):
        return normalize(self.index.chunks[pos].antwort)

    # --- the three signals ----------------------------------------------------------------------------------

    def dense_scores(self, question: str) -> np.ndarray:
        """Return the similarity of every chunk to `question`: the mean of its best vector's and its vectors' mean cosine.

        The best view finds the chunk whose Frage or Antwort matches; the mean rewards chunks where every view
        agrees, which separates sibling Fragen of one document better than the best view alone.
        """
        n_chunks = len(self.index.chunks)
        query = self._query_vector(question)
        scores = np.full(n_chunks, -1.0, dtype=np.float32)
        if not n_chunks:
            return scores
        vectors = self.index.vectors
        # Vectors are L2-normalised, so the inner product is the cosine similarity.
        if self._exact_dense:
            row_scores = vectors @ query[0]
            rows = np.arange(len(row_scores))
        else:
            k = min(len(vectors), DENSE_CANDIDATES)
            found_scores, found_rows = self.index.ann.search(query, k)
            keep = found_rows[0] >= 0
            row_scores, rows = found_scores[0][keep], found_rows[0][keep]
        chunk_of_row = self._row_chunk[rows]
        row_scores = row_scores.astype(np.float32)
        np.maximum.at(scores, chunk_of_row, row_scores)
        sums = np.zeros(n_chunks, dtype=np.float32)
        np.add.at(sums, chunk_of_row, row_scores)
        counts = np.bincount(chunk_of_row, minlength=n_chunks)
        seen = counts > 0
        scores[seen] = 0.5 * (scores[seen] + sums[seen] / counts[seen])
        return scores

    def lexical_scores(self, question: str) -> np.ndarray:
        """Return the BM25 score of every chunk for `question`."""
        return self.index.lexical.scores(question)

    def quote_matches(self, question: str, candidates, allowed: np.ndarray | None = None,
                      lexical: np.ndarray | None = None) -> dict[int, tuple[tuple[int, int], float]]:
        """Return {chunk position: (span in antwort, coverage)} of the answers that hold `question` as a quote.

        Verbatim occurrences are looked for in every allowed answer (in a large index with `lexical` scores given,
        in the QUOTE_EXACT_CANDIDATES best of them); only when there is none, the `candidates` (the best BM25 hits)
        are checked for a near-verbatim one.
        """
        if not looks_like_quote(question):
            return {}
        q = normalize(question)
        n_chunks = len(self.index.chunks)
        mask = np.ones(n_chunks, dtype=bool) if allowed is None else allowed
        if lexical is not None and n_chunks > QUOTE_SCAN_ALL_CHUNKS:
            pool = top_positions(lexical, mask & (lexical > 0), QUOTE_EXACT_CANDIDATES)
        else:
            pool = np.flatnonzero(mask)
        found = {}
        for pos in pool.tolist():
            # A plain substring test first: normalising an answer (with its offset map) costs more.
            if q.text and q.text in normalized_text(self.index.chunks[pos].antwort):
                span = find_exact(q, self._answer(pos))
                if span:
                    found[pos] = (span, 1.0)
        if found:
            return dict(sorted(found.items()))
        for pos in candidates:
            near = find_near(q, self._answer(pos))
            if near:
                found[pos] = near
        return found

    # --- ranking --------------------------------------------------------------------------------------------

    def lexical_weight(self, question: str, lexical: np.ndarray) -> float:
        """Return the weight of the lexical side for this question: the configured weight times query-stem coverage."""
        if not np.any(lexical > 0):
            return 0.0
        return self.fusion.lexical_weight * self.index.lexical.coverage(question)

    def fuse(self, dense: np.ndarray, lexical: np.ndarray, weight: float, allowed: np.ndarray,
             hold_back: bool = True) -> np.ndarray:
        """Return hybrid scores in [0, 1]: normalised dense and lexical scores mixed by `weight`; `hold_back`
        applies the lexical floor."""
        if not allowed.any():
            return np.zeros_like(dense)
        d = dense[allowed]
        top = float(d.max())
        if len(d) > 1:
            # The dense_floor_rank-th best score; a partition instead of a full sort keeps this linear.
            rank = min(self.fusion.dense_floor_rank, len(d)) - 1
            floor = float(-np.partition(-d, rank)[rank])
        else:
            floor = top - 1.0
        spread = top - floor if top > floor else 1.0
        dense_norm = np.clip((dense - floor) / spread, 0.0, 1.0)
        lex_max = float(lexical[allowed].max()) if lexical.size else 0.0
        lex_norm = lexical / lex_max if lex_max > 0 else np.zeros_like(lexical)
        fused = (1.0 - weight) * dense_norm + weight * lex_norm
        # A chunk that shares nothing informative (under a tenth of the best BM25 score) with a question whose
        # terms the index knows (a Drucksache number, a name) is held back as much as the lexical side is
        # trusted, so vector noise cannot lift it; for an English question the weight is ~0: no effect.
        if hold_back:
            fused = np.where(lex_norm >= self.fusion.lexical_floor, fused, fused * (1.0 - weight) ** 2)
        # The best chunk of a document lends its siblings a little: the right document is usually found even when
        # the right Frage is not, and its siblings are then better candidates than stray chunks of other documents.
        best_of_document = np.zeros(len(self._document_ids), dtype=np.float64)
        np.maximum.at(best_of_document, self._document_of_chunk[allowed], fused[allowed])
        beta = self.fusion.document_weight
        return (fused + beta * best_of_document[self._document_of_chunk]) / (1.0 + beta)

    def search(self, question: str, top_k: int = 5, mode: str = "hybrid",
               filters: SearchFilters | None = None) -> list[Hit]:
        """Return the `top_k` best chunks for `question`, best first, ranked by `mode` among chunks passing `filters`."""
        if not isinstance(question, str) or not question.strip():
            raise InvalidQueryError("the question is empty")
        if mode not in MODES:
            raise InvalidQueryError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise InvalidQueryError(f"top_k must be a whole number of at least 1, got {top_k!r}")
        question = question.strip()
        n_chunks = len(self.index.chunks)
        allowed = self._answerable.copy()
        if filters is not None and not filters.is_empty():
            # Filters look at document metadata only: test each document once, not each of its chunks.
            passes = np.array([filters.matches(self.index.documents[d]) for d in self._document_ids], dtype=bool)
            allowed &= passes[self._document_of_chunk]
        if not allowed.any():
            return []

        quotes: dict = {}
        if mode == "semantic":
            scores = self.dense_scores(question)
        else:
            lexical = self.lexical_scores(question)
            best_lexical = top_positions(lexical, np.ones(n_chunks, dtype=bool), QUOTE_CANDIDATES)
            candidates = [int(i) for i in best_lexical if lexical[i] > 0 and allowed[i]]
            quotes = self.quote_matches(question, candidates, allowed, lexical)
            if mode == "keyword":
                scores = lexical
                allowed = allowed & (lexical > 0)
                allowed[list(quotes)] = True
            else:
                dense = self.dense_scores(question)
                short = len(words(question)) <= self.fusion.floor_max_words
                scores = self.fuse(dense, lexical, self.lexical_weight(question, lexical), allowed, hold_back=short)

        # Exact quotes first (by how much of the quote they hold), then the rest by score, ties by chunk position.
        quoted = sorted((pos for pos in quotes if allowed[pos]),
                        key=lambda pos: (-quotes[pos][1], -scores[pos], pos))
        rest = allowed.copy()
        rest[quoted] = False
        order = (quoted + top_positions(scores, rest, top_k).tolist())[:top_k]

        # A quote outranks everything, so its score is at least the best score: scores stay in rank order.
        best = float(scores[allowed].max()) if allowed.any() else 0.0
        hits = []
        for rank, pos in enumerate(order, start=1):
            chunk = self.index.chunks[pos]
            span = quotes[pos][0] if pos in quotes else None
            hits.append(Hit(
                rank=rank,
                score=max(float(scores[pos]), best) if pos in quotes else float(scores[pos]),
                document=self._documents[pos],
                chunk=chunk,
                match="exact" if span else None,
                quote_span=span,
                highlight=[span] if span else self.highlight(question, chunk),
            ))
        return hits

    # --- highlight ------------------------------------------------------------------------------------------

    def highlight(self, question: str, chunk: Chunk, max_sentences: int = 2) -> list[tuple[int, int]]:
        """Return the spans of the antwort sentences sharing the most query terms (boilerplate excluded).

        A shared word stem counts 1, a shared n-gram (part of a compound) a little, so "Gefährderansprachen" still
        finds "Gefährder*innen-Ansprachen"; sentences within 75% of the best are kept, at most `max_sentences`.
        """
        query = set(analyze(question))
        if not query or not chunk.antwort:
            return []
        scored = []
        for start, end in sentence_spans(chunk.antwort):
            sentence = chunk.antwort[start:end]
            if " ".join(sentence.split()).casefold() in self._boilerplate or is_boilerplate(sentence):
                continue
            shared = query & set(analyze(sentence))
            ngrams = sum(1 for t in shared if t.startswith(NGRAM_MARK))
            # Counted, then weighted: a float sum in set order would depend on the hash seed, and a sentence
            # at exactly 75% of the best would be highlighted in one process and not in the next.
            weight = (len(shared) - ngrams) + NGRAM_WEIGHT * ngrams
            if weight >= 1.0:
                scored.append((weight, start, end))
        if not scored:
            return []
        best = max(w for w, _, _ in scored)
        chosen = sorted((item for item in scored if item[0] >= 0.75 * best), key=lambda item: (-item[0], item[1]))
        return sorted((start, end) for _, start, end in chosen[:max_sentences])


def top_positions(scores: np.ndarray, allowed: np.ndarray, k: int) -> np.ndarray:
    """Return the positions of the `k` highest `scores` among `allowed`, best first, ties by position.

    Selects with a partition (linear) and sorts only the selected: ranking must not cost a sort of every chunk.
    """
    positions = np.flatnonzero(allowed)
    if len(positions) > k > 0:
        values = scores[positions]
        kth = np.partition(values, len(values) - k)[len(values) - k]
        # Everything tied with the k-th best stays in, so the tie-break by position below is the same as a full sort.
        positions = positions[values >= kth]
    order = np.lexsort((positions, -scores[positions]))
    return positions[order][:max(k, 0)]


def _repeated_sentences(chunks) -> frozenset[str]:
    """Return the (whitespace-collapsed, casefolded) sentences that occur in the answers of two or more documents."""
    seen: dict[str, set[str]] = {}
    for chunk in chunks:
        for start, end in sentence_spans(chunk.antwort):
            sentence = " ".join(chunk.antwort[start:end].split()).casefold()
            if len(sentence) >= 40:
                seen.setdefault(sentence, set()).add(chunk.document_id)
    return frozenset(s for s, docs in seen.items() if len(docs) >= 2)


# --- opening and printing --------------------------------------------------------------------------------------

def open_searcher(settings) -> Searcher:
    """Load the index in `settings.index_dir` and the model it was built with; refuse a different model."""
    from .config import DEFAULT_MODEL
    from .embedding import load_embedder, model_id_for
    from .index import VectorIndex, load_index

    # The default model counts as "not chosen": the index's own model is used. A model chosen on purpose
    # (flag or QA_MODEL) must be the index's model.
    wanted = model_id_for(settings.model) if settings.model and settings.model != DEFAULT_MODEL else None
    index = load_index(settings.index_dir, model_id=wanted)
    spec, prompts = _spec_of(index.model_id)
    embedder = load_embedder(spec, **prompts)
    if embedder.model_id != index.model_id:
        raise IndexInvalidError(f"the index in {settings.index_dir} was built with {index.model_id!r} but the "
                                f"model found is {embedder.model_id!r}: run `qa-service build --rebuild`")
    # One query is searched at a time: waking FAISS's OpenMP threads costs more than they save (about 16 ms
    # instead of 0.4 ms for 10k rows on 2 cores, bench/RESULTS.md); concurrent requests use the cores instead.
    VectorIndex.use_threads(1)
    return Searcher(index, embedder)


def _spec_of(model_id: str) -> tuple[str, dict]:
    """Return the `load_embedder` spec and prompt arguments that give `model_id`."""
    from .embedding import E5_SPEC, ST_PREFIX

    if model_id.startswith(E5_SPEC + ":"):
        return E5_SPEC, {}
    if not model_id.startswith(ST_PREFIX):
        raise IndexInvalidError(f"the index was built with an unknown model {model_id!r}: run `qa-service build "
                                "--rebuild`")
    # st_model_id appends explicit prompts as |query='…'|passage='…'.
    name, _, rest = model_id.partition("|query=")
    if not rest:
        return name, {}
    query, _, passage = rest.partition("|passage=")
    try:
        return name, {"query_prompt": ast.literal_eval(query), "passage_prompt": ast.literal_eval(passage)}
    except (ValueError, SyntaxError):
        raise IndexInvalidError(f"cannot read the prompts of model {model_id!r}: run `qa-service build --rebuild`")


def format_results_text(question: str, hits: list[Hit]) -> str:
    """Return the hits as plain text for the terminal: rank, score, Frage, verbatim answer, citation."""
    if not hits:
        return f"No answer found for: {question}"
    blocks = []
    for hit in hits:
        chunk = hit.chunk
        label = chunk_heading(chunk)
        header = f"{hit.rank}. [{hit.score:.3f}] {chunk.document_id} {label}"
        if hit.match == "exact":
            header += "  (exact quote)"
        lines = [header]
        if chunk.frage:
            lines.append("   Frage: " + " ".join(chunk.frage.split()))
        lines.append("   Antwort:")
        lines.extend("     " + line for line in chunk.antwort.splitlines() if line.strip())
        cite = citation(hit.document, chunk)
        document = hit.document
        if document.authority:
            by = document.authority + (f" ({document.signatory})" if document.signatory else "")
            lines.append("   Beantwortet von: " + by)
        lines.append("   Quelle: " + cite["text"])
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
