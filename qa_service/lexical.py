"""The lexical side of the index: BM25 over the chunks with German analysis (bm25s + PyStemmer).

Analysis of a text: undo line-break hyphenation, NFKC-normalise and casefold, split into words and numbers, drop German and English
stopwords, Snowball-stem what remains (German), and add character n-grams from inside long words so that a part of a
German compound ("Sporthalle" in "Sporthallenneubau") still matches. Row i of the index is chunk position i.
"""
from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.scoring import _build_idf_array, _select_idf_scorer, _select_tfc_scorer
from bm25s.stopwords import STOPWORDS_EN_PLUS, STOPWORDS_GERMAN
from bm25s.tokenization import Tokenized

from .errors import IndexInvalidError, IndexMissingError

# Bump when the analysis changes: an index built with another analysis would score queries wrongly.
ANALYZER_VERSION = "de-nfkc-snowball-stop-ngram5-v2"
META_FILE = "lexical.json"

NGRAM_SIZE = 5
# Only words at least this long get n-grams: short words are no compounds, and their n-grams would be the word.
NGRAM_MIN_WORD = 8
NGRAM_MARK = "#"

# Hyphenation at a line end followed by a lower-case letter is a PDF artefact ("Sport-\nhallenbetrieb"); a capital
# letter means a real hyphen ("Marzahn-\nHellersdorf") and the hyphen splits the words anyway.
_SOFT_HYPHEN_BREAK = re.compile(r"(?<=\w)-[ \t]*\n[ \t]*(?=[a-zäöüß])")
# Numbers keep their inner dots and slashes ("19/10041", "1.364", "2.1"); words are runs of letters and digits.
_TOKEN = re.compile(r"\d+(?:[./]\d+)*|[^\W_]+")
_STOPWORDS = frozenset(STOPWORDS_GERMAN) | frozenset(STOPWORDS_EN_PLUS)
# Chunks analysed into one block of postings: bounds the Python list of token ids alive at a time.
_BLOCK_CHUNKS = 4096


@lru_cache(maxsize=1)
def _stemmer():
    # One stemmer per process; PyStemmer objects are cheap but not free to create.
    return Stemmer.Stemmer("german")


def words(text: str) -> list[str]:
    """Return the casefolded words and numbers of `text`, line-break hyphenation undone, stopwords kept."""
    # NFKC: fullwidth letters, ligatures (ﬁ) and superscript digits of a PDF or a phone keyboard read as plain ones.
    text = unicodedata.normalize("NFKC", _SOFT_HYPHEN_BREAK.sub("", text)).casefold()
    return _TOKEN.findall(text)


def analyze_words(text_words) -> list[str]:
    """Return the BM25 tokens of already split `words`: stems of the non-stopwords plus n-grams from inside long words."""
    stemmer = _stemmer()
    tokens: list[str] = []
    for word in text_words:
        if word in _STOPWORDS or (len(word) < 2 and not word.isdigit()):
            continue
        tokens.append(stemmer.stemWord(word))
        if len(word) >= NGRAM_MIN_WORD and word.isalpha():
            tokens.extend(NGRAM_MARK + word[i:i + NGRAM_SIZE] for i in range(len(word) - NGRAM_SIZE + 1))
    return tokens


def analyze(text: str) -> list[str]:
    """Return the BM25 tokens of `text` (see analyze_words)."""
    return analyze_words(words(text))


# Function words of one language only: which of them a question uses says whether it is English (`named_nouns`).
_ONLY_ENGLISH = frozenset(STOPWORDS_EN_PLUS) - frozenset(STOPWORDS_GERMAN)
_ONLY_GERMAN = frozenset(STOPWORDS_GERMAN) - frozenset(STOPWORDS_EN_PLUS)
# A capitalised word after one of these (or first) may be capitalised only because a sentence or quote starts there.
_SENTENCE_START = ".!?:;\"'„“”»«("
# Words that name the kind of document, not its subject: a question may say "in Drs. 19/10300", no answer text does.
_DOCUMENT_WORDS = frozenset({"drs", "drucksache", "drucksachen", "anfrage", "frage", "antwort"})
_CAPITALISED_WORD = re.compile(r"[^\W\d_]+")


def named_nouns(text: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Return (word, its stems) of each distinct noun or name a German question names: a capitalised word that does
    not start a sentence and has a stem (no stopword). German capitalises nouns only, so these are the things asked
    about; an English question (more English than German function words) gives none, since there capitals mark
    names and sentence starts alone."""
    text = unicodedata.normalize("NFKC", text)
    question_words = words(text)
    if sum(w in _ONLY_ENGLISH for w in question_words) > sum(w in _ONLY_GERMAN for w in question_words):
        return ()
    nouns: dict[str, tuple[str, ...]] = {}
    for match in _CAPITALISED_WORD.finditer(text):
        word = match.group()
        before = text[:match.start()].rstrip()
        if not word[0].isupper() or not before or before[-1] in _SENTENCE_START:
            continue
        if word.casefold() in _DOCUMENT_WORDS:
            continue
        stems = tuple(t for t in analyze_words([word.casefold()]) if not t.startswith(NGRAM_MARK))
        if stems:
            nouns.setdefault(word, stems)
    return tuple(nouns.items())


class LexicalIndex:
    """BM25 scores of every chunk for any query, over the analysed chunk texts."""

    def __init__(self, bm25: bm25s.BM25, n_rows: int):
        self._bm25 = bm25
        self.n_rows = n_rows

    @classmethod
    def build(cls, texts) -> "LexicalIndex":
        """Index `texts` (any iterable of strings, read once); row i is chunk position i."""
        postings = _Postings.of(texts)
        bm25 = _PostingsBM25()
        if postings.n_docs:
            bm25.index(Tokenized(ids=postings, vocab=postings.vocab), show_progress=False)
        return cls(bm25, postings.n_docs)

    def save(self, folder: Path) -> None:
        """Write the index into `folder` (created if missing) with bm25s's own format plus a small metadata file."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self.n_rows:
            self._bm25.save(str(folder), show_progress=False)
        meta = {"analyzer": ANALYZER_VERSION, "rows": self.n_rows}
        (folder / META_FILE).write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "LexicalIndex":
        """Read an index written by `save`; raise IndexMissingError/IndexInvalidError when it cannot be used."""
        folder = Path(folder)
        meta_path = folder / META_FILE
        if not meta_path.is_file():
            raise IndexMissingError(f"no lexical index in {folder}: run `qa-service build`")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            rows = int(meta["rows"])
            analyzer = meta["analyzer"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexInvalidError(f"lexical index in {folder} is unreadable ({exc}): run `qa-service build --rebuild`")
        if analyzer != ANALYZER_VERSION:
            raise IndexInvalidError(f"lexical index in {folder} uses analysis {analyzer!r}, this version needs "
                                    f"{ANALYZER_VERSION!r}: run `qa-service build --rebuild`")
        if rows == 0:
            return cls(bm25s.BM25(), 0)
        try:
            # Memory-mapped: the score matrix stays in the page cache, shared by every process that loads it.
            bm25 = bm25s.BM25.load(str(folder), mmap=True, show_progress=False)
        except Exception as exc:  # bm25s raises whatever numpy/json raise on a damaged file
            raise IndexInvalidError(f"lexical index in {folder} is unreadable ({exc}): run `qa-service build --rebuild`")
        # Plain arrays over the same mapped pages: every slice of an np.memmap is a memmap too, and bm25s slices
        # the matrix once per query token (about a tenth of a search on the bundled index went to that bookkeeping).
        bm25.scores = {key: np.asarray(value) if isinstance(value, np.ndarray) else value
                       for key, value in bm25.scores.items()}
        if int(bm25.scores["num_docs"]) != rows:
            raise IndexInvalidError(f"lexical index in {folder} has {bm25.scores['num_docs']} rows, expected {rows}: "
                                    "run `qa-service build --rebuild`")
        return cls(bm25, rows)

    def query_tokens(self, query) -> list[str]:
        """Return the distinct analysed tokens of `query` (a `qa_service.query.Query`) that occur in the index."""
        if not self.n_rows:
            return []
        vocab = self._bm25.vocab_dict
        return [t for t in _lookup_tokens(query) if t in vocab]

    def has_token(self, token: str) -> bool:
        """Return True when `token` occurs in the index."""
        return bool(self.n_rows) and token in self._bm25.vocab_dict

    def columns(self, tokens) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Return {token: (rows, stored scores)} of each of `tokens` in the index: its column of the score matrix."""
        if not self.n_rows:
            return {}
        vocab, matrix = self._bm25.vocab_dict, self._bm25.scores
        indptr = matrix["indptr"]
        found = {}
        for token in tokens:
            column = vocab.get(token)
            if column is not None:
                start, stop = int(indptr[column]), int(indptr[column + 1])
                found[token] = (matrix["indices"][start:stop], matrix["data"][start:stop])
        return found

    def holders(self, tokens, positions: np.ndarray) -> np.ndarray:
        """Return for each row in `positions` how many of the distinct `tokens` it holds."""
        counts = np.zeros(len(positions), dtype=np.int64)
        for rows, _ in self.columns(tokens).values():
            # A column lists its rows in ascending order (`_PostingsBM25`).
            at = np.minimum(np.searchsorted(rows, positions), len(rows) - 1)
            counts += np.asarray(rows[at] == positions)
        return counts

    def idf(self, document_frequency: int, n_rows: int) -> float:
        """Return the idf this index's BM25 variant gives a term in `document_frequency` of `n_rows` rows."""
        return _select_idf_scorer(self._bm25.idf_method)(document_frequency, n_rows)

    def coverage(self, query) -> float:
        """Return the share of the query's word stems (not n-grams) that occur in the index, 0.0 to 1.0."""
        stems = query.stems
        if not stems or not self.n_rows:
            return 0.0
        vocab = self._bm25.vocab_dict
        return sum(1 for t in stems if t in vocab) / len(stems)

    def scores(self, query) -> np.ndarray:
        """Return the BM25 score of every row for `query` (zeros when no query token is in the index)."""
        tokens = self.query_tokens(query)
        if not tokens:
            return np.zeros(self.n_rows, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)


class SegmentedLexical:
    """The BM25 indexes of several segments scored as one index of all their rows (segment after segment).

    Each segment's stored scores hold its own idf; at query time a term's scores are rescaled to the idf of its
    document frequency summed over all segments, so a chunk scores as in one index of them all, except for the
    length normalisation, which stays each segment's own (its mean chunk length) until a full build merges them.
    """

    def __init__(self, parts: list[LexicalIndex]):
        self._parts = parts
        self.n_rows = sum(p.n_rows for p in parts)

    def query_tokens(self, query) -> list[str]:
        """Return the distinct analysed tokens of `query` that occur in any segment."""
        return [t for t in _lookup_tokens(query) if any(p.has_token(t) for p in self._parts)]

    def coverage(self, query) -> float:
        """Return the share of the query's word stems that occur in any segment, 0.0 to 1.0."""
        stems = query.stems
        if not stems or not self.n_rows:
            return 0.0
        return sum(1 for t in stems if any(p.has_token(t) for p in self._parts)) / len(stems)

    def holders(self, tokens, positions: np.ndarray) -> np.ndarray:
        """Return for each row in `positions` (of all segments) how many of the distinct `tokens` it holds."""
        counts = np.zeros(len(positions), dtype=np.int64)
        start = 0
        for part in self._parts:
            inside = (positions >= start) & (positions < start + part.n_rows)
            if inside.any():
                counts[inside] = part.holders(tokens, positions[inside] - start)
            start += part.n_rows
        return counts

    def scores(self, query) -> np.ndarray:
        """Return the BM25 score of every row of every segment for `query`, with the idf of all segments."""
        scores = np.zeros(self.n_rows, dtype=np.float32)
        tokens = self.query_tokens(query)
        if not tokens:
            return scores
        columns = [part.columns(tokens) for part in self._parts]
        frequency = {t: sum(len(c[t][0]) for c in columns if t in c) for t in tokens}
        start = 0
        for part, part_columns in zip(self._parts, columns):
            for token, (rows, stored) in part_columns.items():
                own = part.idf(len(rows), part.n_rows)
                factor = part.idf(frequency[token], self.n_rows) / own if own else 0.0
                # As bm25s sums a term's column (np.add.at: 3x faster than a fancy-index add of 300,000 rows).
                np.add.at(scores, start + np.asarray(rows, dtype=np.int64),
                          np.asarray(stored, dtype=np.float32) * factor)
            start += part.n_rows
        return scores


def _lookup_tokens(query) -> list[str]:
    """Return the distinct tokens to look up for `query`: its analysed tokens, and n-grams of shorter words."""
    tokens = list(query.tokens)
    # A shorter query word ("Abfall") is often part of indexed compounds ("Abfallbeseitigung"), whose n-grams
    # are indexed: look its n-grams up too (query side only, the index is unchanged).
    for word in query.words:
        if NGRAM_SIZE <= len(word) < NGRAM_MIN_WORD and word.isalpha() and word not in _STOPWORDS:
            tokens.extend(NGRAM_MARK + word[i:i + NGRAM_SIZE] for i in range(len(word) - NGRAM_SIZE + 1))
    return [t for t in dict.fromkeys(tokens) if t]


class _Postings:
    """The analysed corpus as numpy blocks of (term id, term frequency) per chunk, with each chunk's token count.

    What bm25s needs to score, without its Python list of token strings per chunk (3.4 GiB at 122,500 chunks).
    """

    def __init__(self):
        self.vocab: dict[str, int] = {}
        # Per block: term ids (int32, grouped by chunk), their frequencies (int32), distinct terms per chunk.
        self.blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.lengths = np.zeros(0, dtype=np.int64)

    @property
    def n_docs(self) -> int:
        """Return the number of chunks."""
        return len(self.lengths)

    @classmethod
    def of(cls, texts) -> "_Postings":
        """Analyse `texts` block by block into postings."""
        postings = cls()
        lengths, ids, block_lengths = [], [], []
        for text in texts:
            tokens = analyze(text)
            ids.extend(postings.vocab.setdefault(token, len(postings.vocab)) for token in tokens)
            block_lengths.append(len(tokens))
            if len(block_lengths) == _BLOCK_CHUNKS:
                postings._add_block(ids, block_lengths)
                lengths.extend(block_lengths)
                ids, block_lengths = [], []
        if block_lengths:
            postings._add_block(ids, block_lengths)
            lengths.extend(block_lengths)
        if lengths and not postings.vocab:
            # No chunk has a token: bm25s needs one (its empty token) to build a vocabulary.
            postings.vocab[""] = 0
        # int64, as bm25s counts them: the mean document length must come out the same to the last bit.
        postings.lengths = np.asarray(lengths, dtype=np.int64)
        return postings

    def _add_block(self, ids: list[int], block_lengths: list[int]) -> None:
        chunk_of = np.repeat(np.arange(len(block_lengths), dtype=np.int64), block_lengths)
        pairs, tf = np.unique((chunk_of << 32) | np.asarray(ids, dtype=np.int64), return_counts=True)
        distinct = np.bincount(pairs >> 32, minlength=len(block_lengths))
        self.blocks.append(((pairs & 0xFFFFFFFF).astype(np.int32), tf.astype(np.int32), distinct))


class _PostingsBM25(bm25s.BM25):
    """bm25s's BM25 built from `_Postings` (its documented override point), with bm25s's own scoring functions.

    Scores are those of `bm25s.BM25.index` over the token lists: the same tfc and idf functions in the same float
    types, elementwise over all postings instead of per chunk.
    """

    def build_index_from_ids(self, unique_token_ids, corpus_token_ids, show_progress=True, leave_progress=False):
        """Return bm25s's score matrix (CSC: terms are columns) of the postings `corpus_token_ids`."""
        postings: _Postings = corpus_token_ids
        if self.method in self.methods_requiring_nonoccurrence:
            raise ValueError(f"BM25 variant {self.method!r} is not supported over postings")
        self.nonoccurrence_array = None
        n_docs, n_vocab = postings.n_docs, len(unique_token_ids)
        avg_doc_len = postings.lengths.mean()
        doc_frequencies = np.zeros(n_vocab, dtype=np.int64)
        for terms, _, _ in postings.blocks:
            doc_frequencies += np.bincount(terms, minlength=n_vocab)
        idf = _build_idf_array(dict(enumerate(doc_frequencies.tolist())), n_docs,
                               _select_idf_scorer(self.idf_method), self.dtype)
        tfc = _select_tfc_scorer(self.method)

        indptr = np.concatenate(([0], np.cumsum(doc_frequencies)))
        data = np.empty(indptr[-1], dtype=self.dtype)
        indices = np.empty(indptr[-1], dtype=self.int_dtype)
        next_free = indptr[:-1].copy()
        first_doc = 0
        # Block by block, in chunk order, so each term's column lists its chunks in order (as scipy's CSC does);
        # a block is dropped once scattered.
        while postings.blocks:
            terms, tf, distinct = postings.blocks.pop(0)
            docs = np.repeat(np.arange(first_doc, first_doc + len(distinct), dtype=np.int64), distinct)
            scores = idf[terms] * tfc(tf_array=tf.astype(self.dtype), l_d=postings.lengths[docs], l_avg=avg_doc_len,
                                      k1=self.k1, b=self.b, delta=self.delta)
            order = np.argsort(terms, kind="stable")
            sorted_terms = terms[order]
            counts = np.bincount(sorted_terms, minlength=n_vocab)
            starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
            slots = next_free[sorted_terms] + (np.arange(len(order)) - starts[sorted_terms])
            data[slots] = scores[order]
            indices[slots] = docs[order]
            next_free += counts
            first_doc += len(distinct)
        return {"data": data, "indices": indices, "indptr": indptr, "num_docs": n_docs}
