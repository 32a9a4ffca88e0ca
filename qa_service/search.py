"""Searcher: a question -> ranked answers, by vectors (semantic), BM25 (keyword) or both fused (hybrid).

Ranking only: no Flask, no JSON shapes (payloads.py), no terminal output (cli.py), no input checks (query.py: every
caller's input becomes an `AskRequest` through `parse_ask`). The Searcher holds the loaded index and embedder; one
instance serves many threads.
"""
from __future__ import annotations

import ast
import os
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .config import Settings
from .districts import districts_missing, districts_named
from .document_filters import FilterIndex
from .documents import Chunk, Document
from .errors import IndexInvalidError
from .lexical import NGRAM_MARK, analyze
from .parsing.markers import label_within
from .passages import is_boilerplate
from .query import CANDIDATE_POOL, AskRequest, Query, SearchFilters, analyse, parse_ask
from .quotes import exact_span, find_near, may_be_near, normalize, sentence_spans

# In an exact (Flat) index of up to this many vector rows, dense scores are computed for every row (a matrix
# product of a few ms); above it, or in an approximate index (HNSW, IVF), FAISS is asked for candidates.
EXACT_DENSE_ROWS = 200_000
DENSE_CANDIDATES = 1000
# With filters, an approximate index is not asked at all when the allowed rows are this few: their scores are
# computed exactly (a gather and a matrix product of a few ms); with more, FAISS searches only the allowed rows.
EXACT_FILTERED_ROWS = 20_000
# From this many vector rows on, a search's dense side (FAISS's graph search, which releases the GIL, and the scoring
# of the chunks it finds: ~6 ms at 1.45M rows) runs in a worker thread while the searching thread computes BM25 and
# looks for quotes (~3-5 ms); below it the dense side costs less than handing it over.
OVERLAP_DENSE_ROWS = 50_000
# As many as a server has request threads (config.server_threads' default): no search waits for a free worker.
DENSE_WORKERS = Settings.server_threads
# A shared n-gram counts this much of a shared word when choosing sentences to highlight.
NGRAM_WEIGHT = 0.2
# Near-verbatim quotes are looked for (with difflib, slow) in this many of the answers that share the most of the
# quote's fingerprints (QuoteIndex.ranked), and in as many of the best BM25 hits: where many answers are nearly alike
# (boilerplate), the fingerprints tie and only a rare word, which BM25 weighs, tells the quoted one.
QUOTE_CANDIDATES = 20
# A quote held by more answers than this (a boilerplate sentence) gives the first this many (chunk order): as many as a
# search ranks for its page and facets, at a bounded cost (a span costs ~0.1 ms).
QUOTE_MAX_MATCHES = CANDIDATE_POOL
# Query vectors of recent questions are kept: the evaluation asks each question once per mode, and people repeat
# questions (an entry is 1.5 KiB).
QUERY_CACHE_SIZE = 1024
# Normalised answers (for quote matching) of recent candidates are kept; normalising all of a large index at start
# would cost minutes and gigabytes.
ANSWER_CACHE_SIZE = 4096
# The analysed sentences (for highlighting) of recent hits are kept: a hit's answer is analysed sentence by sentence
# once, not for every question it answers (an entry is 15-40 KiB: at most ~40 MiB).
HIGHLIGHT_CACHE_SIZE = 1024
# Document masks of recent filters are kept: people page through results and facets with the same filters (an entry
# is one byte per document).
FILTER_CACHE_SIZE = 64
# Documents whose Berlin districts are remembered (a frozenset each; read only for questions naming a place).
DISTRICT_CACHE_SIZE = 4096
SIMILAR_CHUNKS = 5
# kth_largest bounds the k-th largest of many values by a strided sample of about SAMPLE_SIZE times k of them, at
# the sample's value that about SAMPLE_SURVIVORS times k values reach.
SAMPLE_SIZE, SAMPLE_SURVIVORS = 4, 4


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


MATCH_KINDS = ("exact", "lexical", "semantic")
# "No answer": the best hit is neither a quote nor close enough, where closeness is its dense similarity plus this
# share of the question's word stems that its text holds. A question naming a thing (a noun or name) that the best
# hit's document never mentions must be closer: the corpus may well not cover it. Both thresholds calibrated on the
# tuning part of eval/dev (at most 5% of answerable questions flagged; README "Evaluation" gives every set's rates).
NO_ANSWER_OVERLAP_WEIGHT = 0.08
NO_ANSWER_THRESHOLD = 0.830
NO_ANSWER_THRESHOLD_NOUN_MISSING = 0.886


def match_kind(quote_span, lexical_score: float) -> str:
    """Return how a hit matched: "exact" (the question quotes it), "lexical" (it shares informative words with the
    question: a positive BM25 score), or "semantic" (only the vectors found it)."""
    if quote_span:
        return "exact"
    return "lexical" if lexical_score > 0 else "semantic"


def no_answer(hits: list) -> bool:
    """Return True when none of `hits` answers their question well (their list is still worth showing as similar)."""
    if not hits:
        return True
    best = hits[0]
    if best.match == "exact" or best.cited:
        return False
    # An answer about another district does not answer a question about this one, however alike the two read.
    if best.districts_missing:
        return True
    threshold = NO_ANSWER_THRESHOLD_NOUN_MISSING if best.nouns_missing else NO_ANSWER_THRESHOLD
    return best.similarity + NO_ANSWER_OVERLAP_WEIGHT * best.stems_held < threshold


@dataclass
class Hit:
    """One ranked answer: the chunk, its document, how it matched and which spans of `antwort` to highlight."""

    rank: int
    score: float
    document: Document
    chunk: Chunk
    match: str = "semantic"  # one of MATCH_KINDS
    # The dense score (cosine scale: mean of the best view's and all views' similarity): how close in meaning,
    # comparable across questions, unlike `score`, which is normalised per question.
    similarity: float = -1.0
    quote_span: tuple[int, int] | None = None
    highlight: list[tuple[int, int]] = field(default_factory=list)
    # The share of the question's word stems that the chunk's text (title, Frage, Antwort) holds, 0.0 to 1.0.
    stems_held: float = 0.0
    # The question cites this chunk's Frage by Drucksache and number (`Drs. 19/10048 Frage 2`).
    cited: bool = False
    # The Berlin districts the question names that the hit's document names nowhere (districts.districts_missing).
    districts_missing: tuple[str, ...] = ()
    # The nouns and names the question names (lexical.named_nouns) that no chunk of the hit's document holds; filled
    # in for the first hit only (what `no_answer` reads).
    nouns_missing: tuple[str, ...] = ()


class Searcher:
    """Rank the chunks of one index for a question; thread-safe (embedders may be called from several threads)."""

    def __init__(self, index, embedder, fusion: FusionParams | None = None):
        self.index = index
        self.embedder = embedder
        self.fusion = fusion or FusionParams()
        # Every per-chunk array was computed by the build (`index.columns`): nothing here walks the chunks.
        columns = index.columns
        self._n_documents = len(index.documents)
        self._document_of_chunk = columns.document
        # The runs of consecutive chunks of one document (one run per document, as the build writes them).
        self._run_starts = np.flatnonzero(np.r_[len(self._document_of_chunk) > 0,
                                                self._document_of_chunk[1:] != self._document_of_chunk[:-1]])
        self._run_lengths = np.diff(np.r_[self._run_starts, len(self._document_of_chunk)])
        self._run_document = np.asarray(self._document_of_chunk)[self._run_starts]
        self._one_run_per_document = len(np.unique(self._run_document)) == len(self._run_document)
        self._row_chunk = np.asarray(index.row_chunk, dtype=np.int64)
        # The first vector row of each chunk (and one past the last row at the end): rows are stored chunk by chunk.
        self._first_row = columns.first_row
        self._exact_dense = len(index.vectors) <= EXACT_DENSE_ROWS and index.ann.is_exact
        index.ann.set_search_effort()
        self._is_repeated = columns.is_repeated
        self._answerable = np.asarray(columns.answerable, dtype=bool)
        # Built at the first filtered search or ahead of it (`filter_index`): it reads every document's metadata.
        self._filter_index: FilterIndex | None = None
        self._filter_index_lock = threading.Lock()
        self._passing = lru_cache(maxsize=FILTER_CACHE_SIZE)(self._documents_passing)
        # Per instance (not a module-level cache), so that a searcher's caches go away with it.
        self._query_vector = lru_cache(maxsize=QUERY_CACHE_SIZE)(self._encode_query)
        self._answer = lru_cache(maxsize=ANSWER_CACHE_SIZE)(self._normalized_answer)
        self._sentences = lru_cache(maxsize=HIGHLIGHT_CACHE_SIZE)(self._analysed_sentences)
        self._districts = lru_cache(maxsize=DISTRICT_CACHE_SIZE)(self._districts_of_document)

    def _encode_query(self, question: str) -> np.ndarray:
        query = np.asarray(self.embedder.encode_queries([question]), dtype=np.float32)
        query.flags.writeable = False  # shared by every search of this question
        return query

    def prepare(self) -> None:
        """Do now what the first searches would otherwise wait for (a server calls it in a thread of its own): map in
        the pages of the index's files (`populate_mappings`) and build the filter index."""
        from .index.memory import populate_mappings

        if self.index.path is not None:
            populate_mappings(self.index.path)
        self.filter_index()

    def filter_index(self) -> FilterIndex:
        """Return the FilterIndex of the index's documents, built on first use (a server builds it ahead) from the
        filter values the build stored, or from every document's metadata for an index built before (about a second
        at 60,000 documents)."""
        with self._filter_index_lock:
            if self._filter_index is None:
                documents = self.index.documents
                stored = documents.filter_values()
                self._filter_index = (FilterIndex(documents.values()) if stored is None
                                      else FilterIndex.of_stored(stored, len(documents)))
        return self._filter_index

    def _documents_passing(self, filters: SearchFilters) -> np.ndarray:
        """Return the mask of the documents (by ordinal) that `filters` allow."""
        # Filters look at document metadata only: each distinct value is tested, not each document or chunk.
        passes = self.filter_index().passing(filters)
        passes.flags.writeable = False  # shared by every search with these filters
        return passes

    def _documents_of(self, positions: list[int]) -> dict[int, Document]:
        """Return {chunk position: its document} for `positions`, read with one query for those not cached."""
        found = self.index.documents.at_many(self._document_of_chunk[np.asarray(positions, dtype=np.int64)])
        return dict(zip(positions, found))

    def _districts_of_document(self, ordinal: int) -> frozenset[str]:
        """Return the Bezirke the document named by `ordinal` names anywhere: title, subjects, every Frage and Antwort
        (standard sentences included: "das Bezirksamt Marzahn-Hellersdorf um Stellungnahme gebeten" says where)."""
        document = self.index.documents.at_many(np.asarray([ordinal], dtype=np.int64))[0]
        texts = [document.title or "", *document.subjects]
        for position in self._positions_in_runs(np.flatnonzero(self._run_document == ordinal)):
            chunk = self.index.chunks[position]
            texts += [chunk.frage, chunk.antwort]
        return districts_named("\n".join(texts))

    def _positions_in_runs(self, runs: np.ndarray) -> list[int]:
        """Return the chunk positions of the document runs `runs`, in order: a document's chunks are its runs of
        consecutive positions, so no pass over every chunk is needed."""
        return [position for start, length in zip(self._run_starts[runs].tolist(), self._run_lengths[runs].tolist())
                for position in range(start, start + length)]

    def districts_missing(self, query: Query, pos: int) -> tuple[str, ...]:
        """Return the districts `query` names that the document of the chunk at `pos` does not (see Hit)."""
        if not query.places:
            return ()
        return districts_missing(list(query.places), self._districts(int(self._document_of_chunk[pos])))

    def nouns_missing(self, query: Query, pos: int) -> tuple[str, ...]:
        """Return the nouns `query` names of which no chunk of the document of the chunk at `pos` holds a stem (in
        its title, Frage or Antwort, as BM25 analysed them)."""
        if not query.nouns:
            return ()
        run = int(np.searchsorted(self._run_starts, pos, side="right")) - 1
        runs = (np.array([run]) if self._one_run_per_document
                else np.flatnonzero(self._run_document == self._run_document[run]))
        positions = np.asarray(self._positions_in_runs(runs), dtype=np.int64)
        return tuple(word for word, stems in query.nouns
                     if not self.index.lexical.holders(list(stems), positions).any())

    def _normalized_answer(self, pos: int):
        return normalize(self.index.chunks[pos].antwort)

    def _analysed_sentences(self, pos: int) -> tuple[tuple[int, int, frozenset[str]], ...]:
        """Return (start, end, BM25 tokens) of the antwort sentences of the chunk at `pos` that may be highlighted."""
        antwort = self.index.chunks[pos].antwort
        sentences = []
        for start, end in sentence_spans(antwort):
            sentence = antwort[start:end]
            if not (self._is_repeated(sentence) or is_boilerplate(sentence)):
                sentences.append((start, end, frozenset(analyze(sentence))))
        return tuple(sentences)

    # --- the three signals ----------------------------------------------------------------------------------

    def dense_scores(self, query: Query, allowed: np.ndarray | None = None) -> np.ndarray:
        """Return the similarity of every chunk to `query`: the mean of its best vector's and its vectors' mean cosine.

        The best view finds the chunk whose Frage or Antwort matches; the mean rewards chunks where every view
        agrees, which separates sibling Fragen of one document better than the best view alone. With `allowed` (a
        chunk mask from filters), an approximate index searches only the allowed chunks, so the filtered result is
        the one an exact search would give (up to the index's recall); chunks outside it score -1.
        """
        if not self.index.chunks:
            return np.zeros(0, dtype=np.float32)
        vector = self._query_vector(query.text)
        vectors = self.index.vectors
        # Vectors are L2-normalised, so the inner product is the cosine similarity.
        allowed_rows = None if allowed is None or self._exact_dense else allowed[self._row_chunk]
        if self._exact_dense:
            row_scores = vectors @ vector[0]
            rows = np.arange(len(row_scores))
        elif allowed_rows is not None and np.count_nonzero(allowed_rows) <= EXACT_FILTERED_ROWS:
            rows = np.flatnonzero(allowed_rows)
            row_scores = np.asarray(vectors[rows]) @ vector[0]
        else:
            k = min(len(vectors), DENSE_CANDIDATES)
            _, found_rows = self.index.ann.search(vector, k, allowed_rows)
            # The index finds the candidate chunks; each is then scored on all of its views, exactly as an exact
            # search would, not only on the views the index happened to return.
            rows = self._rows_of(np.unique(self._row_chunk[found_rows[0][found_rows[0] >= 0]]))
            row_scores = np.asarray(vectors[rows]) @ vector[0]
        return self._chunk_scores(rows, row_scores)

    def _start_dense(self, query: Query, allowed: np.ndarray | None, rescale_within: np.ndarray | None
                     ) -> Future:
        """Return the future (`dense_scores(query, allowed)`, with `rescale_within` their `rescaled_dense` among
        those chunks, else None): computed by a worker thread at archive scale, so that BM25 and the quote lookup
        run meanwhile, else here and now."""
        self._query_vector(query.text)  # encoded here: the encoder uses every core and must not wait behind a search
        if len(self.index.vectors) >= OVERLAP_DENSE_ROWS:
            return _dense_workers().submit(self._dense_side, query, allowed, rescale_within)
        job: Future = Future()
        job.set_result(self._dense_side(query, allowed, rescale_within))
        return job

    def _dense_side(self, query: Query, allowed: np.ndarray | None, rescale_within: np.ndarray | None
                    ) -> tuple[np.ndarray, np.ndarray | None]:
        dense = self.dense_scores(query, allowed)
        return dense, None if rescale_within is None else self.rescaled_dense(dense, rescale_within)

    def _chunk_scores(self, rows: np.ndarray, row_scores: np.ndarray) -> np.ndarray:
        """Return per chunk the mean of its best and its average view score over `rows` (each chunk's rows one run,
        as `_rows_of` gives them); -1 for chunks not there."""
        scores = np.full(len(self.index.chunks), -1.0, dtype=np.float32)
        if not len(rows):
            return scores
        chunk_of_row = self._row_chunk[rows]
        row_scores = row_scores.astype(np.float32)
        # Per run of rows instead of over all chunks: only the chunks found are touched.
        new_run = np.r_[True, chunk_of_row[1:] != chunk_of_row[:-1]]
        starts, run_of_row = np.flatnonzero(new_run), np.cumsum(new_run) - 1
        counts = np.diff(np.r_[starts, len(rows)])
        # add.at sums a run's rows one after the other, as before; add.reduceat may pair them otherwise (last bit).
        sums = np.zeros(len(starts), dtype=np.float32)
        np.add.at(sums, run_of_row, row_scores)
        scores[chunk_of_row[starts]] = 0.5 * (np.maximum.reduceat(row_scores, starts) + sums / counts)
        return scores

    def _similarity(self, query: Query, positions: list[int]) -> np.ndarray:
        """Return dense scores (as `dense_scores` gives them) of the chunks at `positions`, -1 for every other."""
        rows = self._rows_of(np.asarray(positions, dtype=np.int64))
        return self._chunk_scores(rows, np.asarray(self.index.vectors[rows]) @ self._query_vector(query.text)[0])

    def _rows_of(self, chunks: np.ndarray) -> np.ndarray:
        """Return the vector rows of `chunks` (ascending positions): a chunk's rows are one run, in chunk order."""
        starts, ends = self._first_row[chunks], self._first_row[chunks + 1]
        lengths = ends - starts
        # One arange per run without a Python loop: offsets within each run added to the run's start.
        within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return np.repeat(starts, lengths) + within

    def lexical_scores(self, query: Query) -> np.ndarray:
        """Return the BM25 score of every chunk for `query`."""
        return self.index.lexical.scores(query)

    def quote_matches(self, query: Query, allowed: np.ndarray, lexical: np.ndarray | None = None
                      ) -> dict[int, tuple[tuple[int, int], float]]:
        """Return {chunk position: (span in antwort, coverage)} of the allowed answers that hold `query` as a quote.

        The quote index names the allowed answers that hold it verbatim (all of them, see QuoteIndex; at most
        QUOTE_MAX_MATCHES), and the exact matcher finds its span in each. Only when none holds it, near-verbatim
        occurrences are looked for in the answers sharing most of its fingerprints and, with `lexical` scores, in
        the best BM25 hits (see QUOTE_CANDIDATES).
        """
        if not query.is_quote:
            return {}
        q = query.normalized
        found = {}
        for pos in self.index.quotes.holding(q.text, allowed)[:QUOTE_MAX_MATCHES].tolist():
            span = exact_span(q, self.index.chunks[pos].antwort)
            if span:
                found[pos] = (span, 1.0)
        if found:
            return found
        # Candidates among the allowed chunks only: a filter must not take the near quotes away.
        near_candidates = self.index.quotes.ranked(q.text, allowed, QUOTE_CANDIDATES).tolist()
        if lexical is not None:
            near_candidates += top_positions(lexical, allowed & (lexical > 0), QUOTE_CANDIDATES).tolist()
        for pos in dict.fromkeys(near_candidates):
            # The bound first, on the answer the quote index stores normalised: most candidates fail it, and only
            # those that pass need their offset map (`normalize`, ~0.5 ms an answer).
            if not may_be_near(q.text, self.index.quotes.normalized_answer(pos)):
                continue
            near = find_near(q, self._answer(pos))
            if near:
                found[pos] = near
        return found

    def cited_chunks(self, query: Query, allowed: np.ndarray) -> list[int]:
        """Return the positions of the allowed chunks that answer the Frage `query` cites by Drucksache and number
        (`Drs. 19/10048 Frage 2`, a pasted citation), in document order; a Frage answered only through its
        sub-questions (`2` with chunks `2a`, `2b`) gives their chunks."""
        reference = query.reference
        if reference is None:
            return []
        documents = self._passing(SearchFilters(drucksache=reference.drucksache))
        positions = [position for position in self._positions_in_runs(np.flatnonzero(documents[self._run_document]))
                     if allowed[position]]
        numbers = {position: self.index.chunks[position].numbers for position in positions}
        wanted = set(reference.labels)
        cited = [p for p in positions if wanted & set(numbers[p])]
        unanswered = wanted.difference(*(numbers[p] for p in cited))
        return sorted(cited + [p for p in positions if p not in cited
                               and any(label_within(n, label) for n in numbers[p] for label in unanswered)])

    # --- ranking --------------------------------------------------------------------------------------------

    def lexical_weight(self, query: Query, lexical: np.ndarray) -> float:
        """Return the weight of the lexical side for this question: the configured weight times query-stem coverage."""
        if not np.any(lexical > 0):
            return 0.0
        return self.fusion.lexical_weight * self.index.lexical.coverage(query)

    def fuse(self, dense: np.ndarray, lexical: np.ndarray, weight: float, allowed: np.ndarray,
             hold_back: bool = True) -> np.ndarray:
        """Return hybrid scores in [0, 1]: normalised dense and lexical scores mixed by `weight`; `hold_back`
        applies the lexical floor."""
        if not allowed.any():
            return np.zeros_like(dense)
        return self.mix(self.rescaled_dense(dense, allowed), self.lexical_share(lexical, weight, allowed, hold_back),
                        weight, allowed)

    def rescaled_dense(self, dense: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        """Return `dense` as a new array rescaled to [0, 1]: 1 at the best allowed score, 0 at the dense_floor_rank-th
        best and below (`allowed` holds at least one chunk)."""
        d = dense[allowed]
        top = float(d.max())
        if len(d) > 1:
            # The dense_floor_rank-th best score; a partition instead of a full sort keeps this linear.
            floor = float(kth_largest(d, min(self.fusion.dense_floor_rank, len(d))))
        else:
            floor = top - 1.0
        spread = top - floor if top > floor else 1.0
        # In place, in the dtypes of the whole-array expressions they stand for (float32, the document sum in
        # float64): the same values to the last bit without a new array per step (at 490,000 chunks 6.5 instead of
        # 13-17 ms where freed memory is not kept, see index/memory.keep_freed_heap; the same where it is).
        rescaled = np.subtract(dense, floor)
        rescaled /= spread
        np.clip(rescaled, 0.0, 1.0, out=rescaled)
        return rescaled

    def lexical_share(self, lexical: np.ndarray, weight: float, allowed: np.ndarray, hold_back: bool = True
                      ) -> tuple[np.ndarray, np.ndarray | None]:
        """Return `fuse`'s lexical side: (BM25 scores normalised to the best allowed one, times `weight`; with
        `hold_back`, the mask of chunks the lexical floor holds back, else None)."""
        lex_max = float(lexical[allowed].max()) if lexical.size else 0.0
        lex_norm = lexical / lex_max if lex_max > 0 else np.zeros_like(lexical)
        # A chunk that shares nothing informative (under a tenth of the best BM25 score) with a question whose
        # terms the index knows (a Drucksache number, a name) is held back as much as the lexical side is
        # trusted, so vector noise cannot lift it; for an English question the weight is ~0: no effect.
        held_back = np.less(lex_norm, self.fusion.lexical_floor) if hold_back else None
        lex_norm *= float(weight)
        return lex_norm, held_back

    def mix(self, rescaled: np.ndarray, lexical_share: tuple[np.ndarray, np.ndarray | None], weight: float,
            allowed: np.ndarray) -> np.ndarray:
        """Return `fuse`'s scores from `rescaled_dense`'s array (changed in place) and `lexical_share`'s."""
        weight = float(weight)
        lexical_part, held_back = lexical_share
        fused = rescaled
        fused *= 1.0 - weight
        fused += lexical_part
        if held_back is not None:
            np.multiply(fused, (1.0 - weight) ** 2, out=fused, where=held_back)
        # The best chunk of a document lends its siblings a little: the right document is usually found even when
        # the right Frage is not, and its siblings are then better candidates than stray chunks of other documents.
        lent = self._best_of_document(fused, allowed, np.float64)
        beta = self.fusion.document_weight
        lent *= beta
        lent += fused
        lent /= 1.0 + beta
        return lent

    def _best_of_document(self, fused: np.ndarray, allowed: np.ndarray, dtype=None) -> np.ndarray:
        """Return per chunk the best `fused` score among the allowed chunks of its document, at least 0 (in `dtype`,
        converted per document before it is spread over the chunks: one pass less)."""
        # A document's chunks are runs of positions: a maximum per run (reduceat) instead of a scattered
        # maximum.at over every chunk (2.7 ms against 1.8 at 490,000 chunks), exact in any dtype.
        best_of_run = np.maximum.reduceat(np.where(allowed, fused, fused.dtype.type(0)), self._run_starts)
        if not self._one_run_per_document:  # a document's chunks in several runs: the best of its runs
            best_of_document = np.zeros(self._n_documents, dtype=fused.dtype)
            np.maximum.at(best_of_document, self._run_document, best_of_run)
            best_of_run = best_of_document[self._run_document]
        return np.repeat(best_of_run.astype(dtype or fused.dtype, copy=False), self._run_lengths)

    def search(self, question: str, top_k: int = 5, mode: str = "hybrid",
               filters: SearchFilters | Mapping | None = None) -> list[Hit]:
        """Return the `top_k` best chunks for `question`, best first (input checked by `parse_ask`, as everywhere)."""
        return self.search_request(parse_ask({"question": question, "top_k": top_k, "mode": mode,
                                              "filters": filters}))

    def search_request(self, request: AskRequest) -> list[Hit]:
        """Return the best chunks for a validated request, in its order, among the chunks its filters allow."""
        return self._search(request, with_candidates=False)[0]

    def search_with_candidates(self, request: AskRequest) -> tuple[list[Hit], list[Document]]:
        """Return the hits of `request` and the documents of its CANDIDATE_POOL best chunks by relevance, best
        first (a document once per chunk): what sort="date" reorders and what facets count."""
        return self._search(request, with_candidates=True)

    def _search(self, request: AskRequest, with_candidates: bool) -> tuple[list[Hit], list[Document]]:
        """Return the hits of `request` and, `with_candidates`, its candidates' documents (else an empty list)."""
        query = analyse(request.question)
        mode, top_k, filters = request.mode, request.top_k, request.filters
        allowed = self._answerable.copy()
        if not filters.is_empty():
            allowed &= self._passing(filters)[self._document_of_chunk]
        if not allowed.any():
            return [], []

        quotes: dict = {}
        # Pre-filtering matters only for an approximate index; without filters nothing is held back worth it.
        dense_allowed = None if filters.is_empty() else allowed
        dense_job = (self._start_dense(query, dense_allowed, allowed if mode == "hybrid" else None)
                     if mode != "keyword" else None)
        # BM25 runs in every mode: in semantic mode it only says which hits share words with the question (`match`).
        lexical = self.lexical_scores(query)
        dense = None
        cited: list[int] = []
        if mode == "semantic":
            scores = dense = dense_job.result()[0]
        else:
            quotes = self.quote_matches(query, allowed, lexical)
            cited = [pos for pos in self.cited_chunks(query, allowed) if pos not in quotes]
            if mode == "keyword":
                scores = lexical
                allowed = allowed & (lexical > 0)
                allowed[list(quotes)] = True
            else:
                weight = self.lexical_weight(query, lexical)
                short = query.word_count <= self.fusion.floor_max_words
                # The lexical side first: the dense side may still be running (`_start_dense`).
                lexical_share = self.lexical_share(lexical, weight, allowed, hold_back=short)
                dense, rescaled = dense_job.result()
                scores = self.mix(rescaled, lexical_share, weight, allowed)

        # Exact quotes first (by how much of the quote they hold), then the Frage the question cites by number, then
        # the rest by score, ties by chunk position.
        placed = sorted((pos for pos in quotes if allowed[pos]),
                        key=lambda pos: (-quotes[pos][1], -scores[pos], pos)) + cited
        rest = allowed.copy()
        rest[placed] = False
        pool = max(top_k, CANDIDATE_POOL)
        ranked = top_positions(scores, rest, pool).tolist()
        candidates = (placed + ranked)[:pool]
        order = candidates[:top_k]
        # The candidates' documents are read only when needed: by date, or for the caller's facets.
        documents = self._documents_of(candidates if with_candidates or request.sort == "date" else order)
        if request.sort == "date":
            # A stable sort: answers of one day stay in relevance order; undated ones go last.
            order = sorted(candidates, key=lambda pos: documents[pos].answered_on or "", reverse=True)[:top_k]

        # A quote or cited Frage outranks everything, so its score is at least the best score: scores stay in rank
        # order. The best allowed score is a placed one's or the best of the rest (ranked first): no pass over every
        # chunk.
        best = float(scores[placed + ranked[:1]].max()) if placed or ranked else 0.0
        query_tokens = set(query.tokens)
        # Keyword mode computed no vectors: the hits' similarity comes from their own rows.
        similarity = dense if dense is not None else self._similarity(query, order)
        # Which stems a chunk's text holds, its BM25 row says (the text analysed the same way): no text is read.
        stems = sorted(set(query.stems))
        stems_held = (self.index.lexical.holders(stems, np.asarray(order, dtype=np.int64)) / len(stems) if stems
                      else np.zeros(len(order)))
        hits = []
        for rank, pos in enumerate(order, start=1):
            chunk = self.index.chunks[pos]
            span = quotes[pos][0] if pos in quotes else None
            hits.append(Hit(
                rank=rank,
                score=max(float(scores[pos]), best) if pos in quotes or pos in cited else float(scores[pos]),
                document=documents[pos],
                chunk=chunk,
                match=match_kind(span, float(lexical[pos])),
                similarity=float(similarity[pos]),
                quote_span=span,
                highlight=[span] if span else self.highlight(query_tokens, pos),
                stems_held=float(stems_held[rank - 1]),
                cited=pos in cited,
                districts_missing=self.districts_missing(query, pos),
                # The first hit's only, which `no_answer` reads: 0.4 ms for five hits at 490,000 chunks, 0.08 for one.
                nouns_missing=self.nouns_missing(query, pos) if rank == 1 else (),
            ))
        return hits, [documents[pos] for pos in candidates] if with_candidates else []

    def similar_chunks(self, chunk_id: str, k: int = SIMILAR_CHUNKS) -> list[tuple[Chunk, float]]:
        """Return the `k` answerable chunks of other documents nearest to `chunk_id` by its own vectors, best first.

        A chunk's score is its best vector's inner product (cosine) with any vector of the given chunk.
        """
        pos = self.index.position(chunk_id)
        own_rows = self._rows_of(np.array([pos]))
        n_chunks = len(self.index.chunks)
        scores = np.full(n_chunks, -np.inf, dtype=np.float32)
        if not len(own_rows):
            return []
        vectors = self.index.vectors
        if self._exact_dense:
            row_scores = (vectors @ vectors[own_rows].T).max(axis=1)
            rows = np.arange(len(row_scores))
        else:
            found_scores, found_rows = self.index.ann.search(
                np.ascontiguousarray(vectors[own_rows], dtype=np.float32), min(len(vectors), DENSE_CANDIDATES))
            keep = found_rows >= 0
            row_scores, rows = found_scores[keep], found_rows[keep]
        np.maximum.at(scores, self._row_chunk[rows], row_scores.astype(np.float32))
        allowed = self._answerable & (self._document_of_chunk != self._document_of_chunk[pos]) & np.isfinite(scores)
        return [(self.index.chunks[p], float(scores[p])) for p in top_positions(scores, allowed, k).tolist()]

    def run(self, queries: Mapping[str, str], k: int = 10, mode: str = "hybrid",
            filters: SearchFilters | None = None) -> dict[str, dict[str, float]]:
        """Return the run `{query_id: {chunk_id: score}}` (BEIR's shape) of the shipped ranker for `queries`.

        Scores are the hits' scores, lowered by a hair where two are equal, so that sorting a run by score (as the
        evaluation does) gives exactly the order `search` returned.
        """
        run: dict[str, dict[str, float]] = {}
        for query_id, question in queries.items():
            ranked: dict[str, float] = {}
            previous = None
            for hit in self.search(question, top_k=k, mode=mode, filters=filters):
                score = float(hit.score)
                if previous is not None and score >= previous:
                    score = float(np.nextafter(previous, -np.inf))
                ranked[hit.chunk.chunk_id] = previous = score
            run[str(query_id)] = ranked
        return run

    # --- highlight ------------------------------------------------------------------------------------------

    def highlight(self, query_tokens: set[str], pos: int, max_sentences: int = 2) -> list[tuple[int, int]]:
        """Return the spans of the antwort sentences of the chunk at `pos` sharing the most query tokens
        (boilerplate excluded).

        A shared word stem counts 1, a shared n-gram (part of a compound) a little, so "Gefährderansprachen" still
        finds "Gefährder*innen-Ansprachen"; sentences within 75% of the best are kept, at most `max_sentences`.
        """
        if not query_tokens:
            return []
        scored = []
        for start, end, tokens in self._sentences(pos):
            shared = query_tokens & tokens
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
        # Everything tied with the k-th best stays in, so the tie-break by position below is the same as a full sort.
        positions = positions[values >= kth_largest(values, k)]
    order = np.lexsort((positions, -scores[positions]))
    return positions[order][:max(k, 0)]


def kth_largest(values: np.ndarray, k: int):
    """Return the `k`-th largest of `values` (1 <= k <= len(values)), as a partition of all of them would.

    A partition of 120,000 scores costs 1.5 ms; here the k-th largest of a strided sample is a lower bound when at
    least k values reach it (checked, else all are partitioned), and only those few are partitioned.
    """
    step = len(values) // (SAMPLE_SIZE * k)
    if step >= 2:
        sample = values[::step]
        j = min(len(sample), -(-SAMPLE_SURVIVORS * k // step))
        bound = -np.partition(-sample, j - 1)[j - 1]
        # Strictly above first: where most values tie with the bound (the -1 of every chunk the ANN did not
        # return), nearly all of them reach it.
        for reaches in (np.greater, np.greater_equal):
            above = values[reaches(values, bound)]
            if len(above) >= k:
                values = above
                break
    # Negated, the k-th largest is the k-th smallest: numpy's introselect is slow (10 ms at 120,000 values) when
    # most values tie at the bottom (every chunk the ANN did not return has dense score -1) and k counts from the top.
    return -np.partition(-values, k - 1)[k - 1]


_DENSE_WORKERS: ThreadPoolExecutor | None = None
_DENSE_WORKERS_LOCK = threading.Lock()


def _forget_dense_workers() -> None:
    """In a forked child: the parent's worker threads do not exist there, so the next search makes its own."""
    global _DENSE_WORKERS, _DENSE_WORKERS_LOCK
    _DENSE_WORKERS, _DENSE_WORKERS_LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_dense_workers)


def _dense_workers() -> ThreadPoolExecutor:
    """Return the process's threads for the dense side of searches (`Searcher._start_dense`), made at first use."""
    global _DENSE_WORKERS
    with _DENSE_WORKERS_LOCK:
        if _DENSE_WORKERS is None:
            _DENSE_WORKERS = ThreadPoolExecutor(DENSE_WORKERS, thread_name_prefix="qa-dense")
        return _DENSE_WORKERS


# --- opening and printing --------------------------------------------------------------------------------------

def open_searcher(settings, embedder=None, batch_queries: bool = False) -> Searcher:
    """Load the index in `settings.index_dir` and the model it was built with; refuse a different model.

    `embedder`, if given and of the index's model, is used instead of loading the model again (a reload).
    `batch_queries` (servers) encodes concurrent searches' questions together (qa_service.batching).
    """
    from threadpoolctl import threadpool_limits

    from .batching import BatchingEncoder
    from .config import DEFAULT_MODEL
    from .embedding import load_embedder, model_id_for
    from .index import VectorIndex, load_index
    from .index.memory import keep_freed_heap

    # The default model counts as "not chosen": the index's own model is used. A model chosen on purpose
    # (flag or QA_MODEL) must be the index's model.
    wanted = model_id_for(settings.model) if settings.model and settings.model != DEFAULT_MODEL else None
    index = load_index(settings.index_dir, model_id=wanted)
    if embedder is None or embedder.model_id != index.model_id:
        spec, prompts = _spec_of(index.model_id)
        embedder = load_embedder(spec, max_query_tokens=settings.max_query_tokens, **prompts)
    if embedder.model_id != index.model_id:
        raise IndexInvalidError(f"the index in {settings.index_dir} was built with {index.model_id!r} but the "
                                f"model found is {embedder.model_id!r}: run `qa-service build --rebuild`")
    # One query is searched at a time: waking FAISS's OpenMP threads costs more than they save (about 16 ms
    # instead of 0.4 ms for 10k rows on 2 cores, bench/RESULTS.md); concurrent requests use the cores instead.
    VectorIndex.use_threads(1)
    # The same for numpy's BLAS: scoring a search's few thousand candidate rows (one matrix-vector product) on
    # every core took 7 ms of CPU (its threads spin after each call) instead of 0.07 ms on one, and the spinning
    # held the cores the query encoder (its own OpenMP, not BLAS) needs.
    threadpool_limits(1, user_api="blas")
    keep_freed_heap()
    if batch_queries and not isinstance(embedder, BatchingEncoder):
        embedder = BatchingEncoder(embedder, settings.encoder_max_batch, settings.encoder_max_wait_ms)
    return Searcher(index, embedder)


def _spec_of(model_id: str) -> tuple[str, dict]:
    """Return the `load_embedder` spec and prompt arguments that give `model_id`."""
    from .embedding import E5_SPEC, HASH_MODEL_ID, HASH_SPEC, ST_PREFIX

    if model_id.startswith(E5_SPEC + ":"):
        return E5_SPEC, {}
    if model_id == HASH_MODEL_ID:
        return HASH_SPEC, {}
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
