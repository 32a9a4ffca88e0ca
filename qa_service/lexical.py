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
from bm25s.stopwords import STOPWORDS_EN_PLUS, STOPWORDS_GERMAN

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


class LexicalIndex:
    """BM25 scores of every chunk for any query, over the analysed chunk texts."""

    def __init__(self, bm25: bm25s.BM25, n_rows: int):
        self._bm25 = bm25
        self.n_rows = n_rows

    @classmethod
    def build(cls, texts: list[str]) -> "LexicalIndex":
        """Index `texts`; row i is chunk position i."""
        corpus = [analyze(text) for text in texts]
        bm25 = bm25s.BM25()
        if corpus:
            bm25.index(corpus, show_progress=False)
        return cls(bm25, len(texts))

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
            bm25 = bm25s.BM25.load(str(folder), show_progress=False)
        except Exception as exc:  # bm25s raises whatever numpy/json raise on a damaged file
            raise IndexInvalidError(f"lexical index in {folder} is unreadable ({exc}): run `qa-service build --rebuild`")
        if int(bm25.scores["num_docs"]) != rows:
            raise IndexInvalidError(f"lexical index in {folder} has {bm25.scores['num_docs']} rows, expected {rows}: "
                                    "run `qa-service build --rebuild`")
        return cls(bm25, rows)

    def query_tokens(self, query) -> list[str]:
        """Return the distinct analysed tokens of `query` (a `qa_service.query.Query`) that occur in the index."""
        if not self.n_rows:
            return []
        vocab = self._bm25.vocab_dict
        tokens = list(query.tokens)
        # A shorter query word ("Abfall") is often part of indexed compounds ("Abfallbeseitigung"), whose n-grams
        # are indexed: look its n-grams up too (query side only, the index is unchanged).
        for word in query.words:
            if NGRAM_SIZE <= len(word) < NGRAM_MIN_WORD and word.isalpha() and word not in _STOPWORDS:
                tokens.extend(NGRAM_MARK + word[i:i + NGRAM_SIZE] for i in range(len(word) - NGRAM_SIZE + 1))
        return [t for t in dict.fromkeys(tokens) if t and t in vocab]

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
