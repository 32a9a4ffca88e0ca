"""QuoteIndex: which answers can hold a pasted quote, found by lookup of winnowed fingerprints, never by a scan.

Fingerprints are taken from `quotes.normalized_text` of each answer (casefolded letters and digits, nothing else),
exactly what `quotes.find_exact` matches on. Words are not used: a line-break hyphen ("Sport-\\nhallen"), a number's
thousands dot ("1.000") or an apostrophe cut a word in the answer where the pasted text has none (and the other way
round), so word shingles would differ where the matcher finds the quote; character k-grams of the normalised text
cannot.

Winnowing (Schleimer, Wilkerson, Aiken 2003): every KGRAM consecutive characters are hashed (a stable 64-bit hash),
and of every WINDOW consecutive k-gram hashes the smallest is a fingerprint. A window covers SPAN = KGRAM + WINDOW - 1
characters, and SPAN is MIN_QUOTE_CHARS, so a quote has at least one window. The guarantee: every window of a
quote's normalised text, if the quote occurs in an answer, is also a window of that answer, with the same smallest
hash, so an answer holding the quote holds every fingerprint of the quote. Candidates are therefore the chunks
holding all of them: no answer that holds the quote is missed, whatever the hash (a collision only adds a
candidate, which the check then rejects). About 2 / (WINDOW + 1) of an answer's characters give a fingerprint
(each stored once per chunk).

A short quote has few fingerprints, and those of a common phrase are in thousands of answers; so the candidates are
checked here, against the normalised answers stored beside the fingerprints (a substring search in place, about a
microsecond each), not by reading and normalising every candidate's text.

On disk (a folder, see `save`): hashes.npy (uint64, ascending) and chunks.npy (int32, the chunk position of each
hash, ascending within one hash); texts.bin (the normalised answers in UTF-8, one after the other) and starts.npy
(int64, n_chunks + 1: answer i is bytes starts[i]:starts[i + 1]); all memory-mapped at load; meta.json with the
parameters and the counts.
"""
from __future__ import annotations

import json
import mmap
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .errors import IndexInvalidError
from .quotes import MIN_QUOTE_CHARS, normalized_text

KGRAM = 10
WINDOW = MIN_QUOTE_CHARS - KGRAM + 1
SPAN = KGRAM + WINDOW - 1
HASHES_FILE = "hashes.npy"
CHUNKS_FILE = "chunks.npy"
TEXTS_FILE = "texts.bin"
STARTS_FILE = "starts.npy"
META_FILE = "meta.json"
# Names the hash function: a change of it (or of KGRAM, WINDOW) makes stored fingerprints useless.
HASH_NAME = "polynomial-31-splitmix64"
# Answers are fingerprinted in batches of about this many characters: numpy's speed with bounded memory.
BATCH_CHARS = 1 << 22
# Near-quote ranking counts, per chunk, the quote's fingerprints it holds, rarest fingerprint first, until this many
# postings were read: a fingerprint of a phrase in every other answer would cost much and tell little.
NEAR_POSTINGS_BUDGET = 200_000

_REBUILD_HINT = "run `qa-service build --rebuild`"
_BASE = np.uint64(31)


class QuoteIndex:
    """Winnowed fingerprints and normalised texts of every chunk's answer: the chunks that hold a quote, by lookup."""

    def __init__(self, hashes: np.ndarray, chunks: np.ndarray, texts, starts: np.ndarray):
        self._hashes = hashes
        self._chunks = chunks
        self._texts = texts  # bytes or a read-only mmap: both have .find(sub, start, end)
        self._starts = starts
        self.n_chunks = len(starts) - 1

    @property
    def n_entries(self) -> int:
        """Return the number of stored (fingerprint, chunk) pairs."""
        return len(self._hashes)

    @classmethod
    def build(cls, answers: Iterable[str]) -> "QuoteIndex":
        """Index the fingerprints of `answers`; answer i is chunk position i."""
        parts: list[tuple[np.ndarray, np.ndarray]] = []
        encoded: list[bytes] = []
        batch: list[str] = []
        size = 0
        n_chunks = 0
        for answer in answers:
            text = normalized_text(answer)
            encoded.append(text.encode("utf-8"))
            batch.append(text)
            size += len(text)
            n_chunks += 1
            if size >= BATCH_CHARS:
                parts.append(_batch_fingerprints(batch, n_chunks - len(batch)))
                batch, size = [], 0
        if batch:
            parts.append(_batch_fingerprints(batch, n_chunks - len(batch)))
        hashes = np.concatenate([h for h, _ in parts]) if parts else np.zeros(0, dtype=np.uint64)
        chunks = np.concatenate([c for _, c in parts]) if parts else np.zeros(0, dtype=np.int32)
        # Each batch is in chunk order and batches follow each other: a stable sort by hash keeps chunks ascending.
        order = np.argsort(hashes, kind="stable")
        starts = np.zeros(n_chunks + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=starts[1:])
        return cls(hashes[order], chunks[order], b"".join(encoded), starts)

    def save(self, folder: Path) -> None:
        """Write the index into `folder` (created if missing)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / HASHES_FILE, np.asarray(self._hashes, dtype=np.uint64), allow_pickle=False)
        np.save(folder / CHUNKS_FILE, np.asarray(self._chunks, dtype=np.int32), allow_pickle=False)
        (folder / TEXTS_FILE).write_bytes(self._texts[:])
        np.save(folder / STARTS_FILE, np.asarray(self._starts, dtype=np.int64), allow_pickle=False)
        meta = {"kgram": KGRAM, "window": WINDOW, "hash": HASH_NAME, "chunks": self.n_chunks,
                "entries": self.n_entries}
        (folder / META_FILE).write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, n_chunks: int) -> "QuoteIndex":
        """Memory-map an index written by `save` for `n_chunks` chunks; raise IndexInvalidError when unusable."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
            params = (meta["kgram"], meta["window"], meta["hash"])
            rows, entries = int(meta["chunks"]), int(meta["entries"])
            # Plain arrays over the mapped pages (np.asarray): a memmap makes every slice of itself a memmap.
            hashes, chunks, starts = (np.asarray(np.load(folder / name, mmap_mode="r", allow_pickle=False))
                                      for name in (HASHES_FILE, CHUNKS_FILE, STARTS_FILE))
            texts = _map(folder / TEXTS_FILE)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexInvalidError(f"the quote index in {folder} is missing or unreadable ({exc}): {_REBUILD_HINT}")
        if params != (KGRAM, WINDOW, HASH_NAME):
            raise IndexInvalidError(f"the quote index in {folder} was made with other fingerprints {params}: "
                                    f"{_REBUILD_HINT}")
        if (rows != n_chunks or hashes.dtype != np.uint64 or chunks.dtype != np.int32
                or hashes.shape != (entries,) or chunks.shape != (entries,) or starts.dtype != np.int64
                or starts.shape != (n_chunks + 1,) or int(starts[-1]) != len(texts)):
            raise IndexInvalidError(f"the quote index in {folder} does not fit the index ({rows} chunks, "
                                    f"{entries} entries, {len(texts)} text bytes; expected {n_chunks} chunks): "
                                    f"{_REBUILD_HINT}")
        return cls(hashes, chunks, texts, starts)

    def holding(self, quote: str, allowed: np.ndarray) -> np.ndarray:
        """Return the allowed chunk positions (ascending) whose normalised answer holds the normalised `quote`."""
        found = self.candidates(quote, allowed)
        needle = quote.encode("utf-8")
        starts, ends = np.asarray(self._starts[found]).tolist(), np.asarray(self._starts[found + 1]).tolist()
        # UTF-8 is self-synchronising: a byte match of valid UTF-8 is a match of whole characters.
        held = [self._texts.find(needle, start, end) >= 0 for start, end in zip(starts, ends)]
        return found[np.array(held, dtype=bool)] if held else found

    def normalized_answer(self, position: int) -> str:
        """Return the normalised answer of the chunk at `position` (`quotes.normalized_text` of its antwort)."""
        return self._texts[int(self._starts[position]):int(self._starts[position + 1])].decode("utf-8")

    def candidates(self, quote: str, allowed: np.ndarray) -> np.ndarray:
        """Return the allowed chunk positions (ascending) whose answers hold every fingerprint of the normalised
        `quote`: a superset of those holding it verbatim (none for a quote shorter than SPAN)."""
        postings = self._postings(quote)
        if not postings:
            return np.zeros(0, dtype=np.int64)
        postings.sort(key=len)
        found = np.asarray(postings[0], dtype=np.int64)
        found = found[allowed[found]]
        # Rarest first: the candidates only shrink, so each longer list is probed (binary search), never read whole.
        for posting in postings[1:]:
            if not len(found):
                break
            at = np.minimum(np.searchsorted(posting, found), len(posting) - 1)
            found = found[posting[at] == found]
        return found

    def ranked(self, quote: str, allowed: np.ndarray, limit: int) -> np.ndarray:
        """Return up to `limit` allowed chunk positions holding the most fingerprints of the normalised `quote`
        (at least one), most first, ties by position: the candidates of a near-verbatim quote."""
        positions, counts = self.fingerprint_counts(quote, allowed)
        return positions[np.lexsort((positions, -counts))[:limit]]

    def fingerprint_counts(self, quote: str, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (positions ascending, counts): the allowed chunks holding fingerprints of the normalised `quote`
        and how many each holds, over its rarest fingerprints (up to NEAR_POSTINGS_BUDGET postings read)."""
        postings = sorted(self._postings(quote), key=len)
        taken, read = [], 0
        for posting in postings:
            if taken and read + len(posting) > NEAR_POSTINGS_BUDGET:
                break
            taken.append(np.asarray(posting, dtype=np.int64))
            read += len(posting)
        if not taken:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        positions, counts = np.unique(np.concatenate(taken), return_counts=True)
        keep = allowed[positions]
        return positions[keep], counts[keep]

    def _postings(self, quote: str) -> list[np.ndarray]:
        """Return, per distinct fingerprint of `quote`, the ascending chunk positions that hold it."""
        fingerprints = np.unique(_window_minima(_codes(quote)))
        starts = np.searchsorted(self._hashes, fingerprints, side="left")
        ends = np.searchsorted(self._hashes, fingerprints, side="right")
        return [self._chunks[s:e] for s, e in zip(starts.tolist(), ends.tolist())]


def _map(path: Path):
    """Return the bytes of the file at `path`, memory-mapped read-only (an empty file as b"")."""
    with open(path, "rb") as handle:
        if not path.stat().st_size:
            return b""
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)


def _codes(text: str) -> np.ndarray:
    """Return the code points of `text` as uint64."""
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)


def _kgram_hashes(codes: np.ndarray) -> np.ndarray:
    """Return the stable 64-bit hash of every KGRAM consecutive code points (one per start, len - KGRAM + 1)."""
    n = len(codes) - KGRAM + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    h = codes[:n].copy()
    for j in range(1, KGRAM):  # a polynomial in the code points, modulo 2**64 (numpy's uint64 arithmetic wraps)
        h *= _BASE
        h += codes[j:j + n]
    # splitmix64's finaliser: the polynomial's low bits depend on few characters, the minima must be random.
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return h


def _sliding_min(values: np.ndarray, width: int) -> np.ndarray:
    """Return the minimum of every `width` consecutive values (len - width + 1 of them), by doubling windows."""
    n = len(values) - width + 1
    if n <= 0:
        return np.zeros(0, dtype=values.dtype)
    span, mins = 1, values
    while span * 2 <= width:
        mins = np.minimum(mins[:-span], mins[span:])  # mins[i] = min of values[i:i + 2 * span]
        span *= 2
    # Two overlapping windows of `span` cover one of `width`.
    return np.minimum(mins[:n], mins[width - span:width - span + n])


def _window_minima(codes: np.ndarray) -> np.ndarray:
    """Return the winnowing minimum of every window of SPAN consecutive characters (in window order)."""
    return _sliding_min(_kgram_hashes(codes), WINDOW)


def _batch_fingerprints(texts: list[str], first_chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (hashes, chunk positions) of the distinct fingerprints of each normalised text, in chunk order; text
    i is chunk `first_chunk + i`. The texts are fingerprinted as one string; windows across two texts are dropped."""
    lengths = np.array([len(t) for t in texts], dtype=np.int64)
    minima = _window_minima(_codes("".join(texts)))
    chunk_of_char = np.repeat(np.arange(first_chunk, first_chunk + len(texts), dtype=np.int32), lengths)
    starts = np.arange(len(minima))
    # A window starting at char i ends at char i + SPAN - 1: it is one text's when both chars are.
    inside = chunk_of_char[starts] == chunk_of_char[starts + SPAN - 1]
    hashes, chunks = minima[inside], chunk_of_char[starts[inside]]
    # Neighbouring windows mostly share their minimum: dropping those repeats first makes the sort ~10 times smaller.
    changed = np.ones(len(hashes), dtype=bool)
    changed[1:] = (hashes[1:] != hashes[:-1]) | (chunks[1:] != chunks[:-1])
    hashes, chunks = hashes[changed], chunks[changed]
    order = np.lexsort((hashes, chunks))
    hashes, chunks = hashes[order], chunks[order]
    distinct = np.ones(len(hashes), dtype=bool)
    distinct[1:] = (hashes[1:] != hashes[:-1]) | (chunks[1:] != chunks[:-1])
    return hashes[distinct], chunks[distinct]
