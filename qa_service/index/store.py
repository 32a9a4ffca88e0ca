"""The index's texts and metadata: `store.sqlite` (documents and chunks, fetched on demand) and the per-chunk columns.

A serving process must not read every text at start-up: `StoreDocuments` (a read-only Mapping, document id ->
Document) and `StoreChunks` (a read-only Sequence, chunk position -> Chunk) fetch rows from SQLite when asked and
keep the recent ones in bounded LRU caches. `MemoryDocuments` and `MemoryChunks` give the same interface over
Python lists, for an index assembled in memory (`assemble`, and a build before it writes its files).

What the searcher needs for every chunk is computed once, by the build (`chunk_columns`), and stored as `.npy`
files that are memory-mapped at load, so several worker processes share one copy in the page cache.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import numpy as np

from ..catalog import cited_by
from ..documents import Chunk, Document, answers_something
from ..errors import IndexInvalidError, NotFoundError, first_line
from ..query import FILTERED_VALUES

# Recently fetched documents and chunks kept per process (a chunk is ~2 KiB of text, a document's metadata ~1 KiB).
DOCUMENT_CACHE_SIZE = 4096
CHUNK_CACHE_SIZE = 8192
# A sentence shorter than this is too generic to count as repeated boilerplate ("Ja.", "Siehe Antwort zu 1.").
REPEATED_SENTENCE_CHARS = 40

_SCHEMA = """
CREATE TABLE documents (
    ordinal INTEGER PRIMARY KEY,    -- corpus order, 0-based
    document_id TEXT NOT NULL,
    first_chunk INTEGER NOT NULL,   -- position of its first chunk; its chunks are positions first_chunk ..
    chunk_count INTEGER NOT NULL,
    metadata TEXT NOT NULL          -- Document.metadata() as JSON
);
CREATE TABLE chunks (
    position INTEGER PRIMARY KEY,   -- chunk position = row of the lexical index, target of row_chunk.npy
    chunk_id TEXT NOT NULL,
    document_ordinal INTEGER NOT NULL,
    kind TEXT NOT NULL,
    numbers TEXT NOT NULL,          -- JSON list
    frage TEXT NOT NULL,
    antwort TEXT NOT NULL,
    pages TEXT NOT NULL             -- JSON list
);
CREATE TABLE citations (            -- the Drucksachen a document cites (catalog.cited_by); since session 6
    document_ordinal INTEGER NOT NULL,
    rank INTEGER NOT NULL,          -- order of first mention
    drucksache TEXT NOT NULL,
    PRIMARY KEY (document_ordinal, rank)
);
CREATE TABLE filter_values (        -- per filtered value (query.FILTERED_VALUES), the documents holding it; session 7
    field TEXT NOT NULL,
    value TEXT NOT NULL,            -- the value as JSON (a string, a number or null)
    ordinals BLOB NOT NULL          -- int32 little-endian, ascending
);
CREATE TABLE filter_fields (        -- the FILTERED_VALUES names written: a later name not here means "not stored"
    field TEXT PRIMARY KEY
);
"""
# Created after the rows are in: one sort instead of a B-tree insert per row. UNIQUE also checks the ids.
_INDEXES = ("CREATE UNIQUE INDEX documents_by_id ON documents (document_id)",
            "CREATE UNIQUE INDEX chunks_by_id ON chunks (chunk_id)")
_CHUNK_COLUMNS = "c.chunk_id, d.document_id, c.kind, c.numbers, c.frage, c.antwort, c.pages"
_CHUNK_JOIN = "chunks c JOIN documents d ON d.ordinal = c.document_ordinal"

_REBUILD_HINT = "run `qa-service build --rebuild`"
# SQLite allows 32,766 parameters per statement (since 3.32); pages of this many keep statements short.
_KEYS_PER_QUERY = 500


# --- per-chunk columns ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChunkColumns:
    """What the searcher needs of every chunk, as arrays: computed by the build, memory-mapped at load."""

    # int32 (n_chunks,): the ordinal (corpus order) of each chunk's document.
    document: np.ndarray
    # bool (n_chunks,): whether the chunk answers something (`answers_something`); the others are never ranked.
    answerable: np.ndarray
    # int64 (n_chunks + 1,): the first vector row of each chunk, and the number of rows at the end.
    first_row: np.ndarray
    # uint64, sorted: `sentence_key` of every sentence that occurs in the answers of two or more documents.
    repeated: np.ndarray
    # uint64, sorted: the key of every distinct answer sentence; only a build uses them (a later segment's sentences
    # are checked against them), so a loaded index has None.
    sentence_keys: np.ndarray | None = None

    def is_repeated(self, sentence: str) -> bool:
        """Return True if `sentence` occurs in the answers of two or more documents (boilerplate)."""
        key = np.uint64(sentence_key(sentence))
        at = int(np.searchsorted(self.repeated, key))
        return at < len(self.repeated) and self.repeated[at] == key


def sentence_key(sentence: str) -> int:
    """Return the 64-bit key of a sentence, whitespace collapsed and casefolded (collisions: ~1 in 10^19 pairs)."""
    return _key(_folded(sentence))


def _folded(sentence: str) -> str:
    return " ".join(sentence.split()).casefold()


def _key(folded: str) -> int:
    return int.from_bytes(hashlib.blake2b(folded.encode("utf-8"), digest_size=8).digest(), "little")


def chunk_columns(documents: Sequence[Document], row_chunk: np.ndarray) -> ChunkColumns:
    """Return the ChunkColumns of `documents` (in corpus order) whose vector rows map to chunks as `row_chunk`."""
    from ..quotes import sentence_spans

    document, answerable = [], []
    seen: dict[int, int] = {}  # sentence key -> ordinal of the first document holding it, or -1 once two do
    for ordinal, doc in enumerate(documents):
        for chunk in doc.chunks:
            document.append(ordinal)
            answerable.append(answers_something(chunk))
            for start, end in sentence_spans(chunk.antwort):
                folded = _folded(chunk.antwort[start:end])
                if len(folded) >= REPEATED_SENTENCE_CHARS:
                    key = _key(folded)
                    if seen.setdefault(key, ordinal) not in (ordinal, -1):
                        seen[key] = -1
    n_chunks = len(document)
    first_row = np.searchsorted(np.asarray(row_chunk, dtype=np.int64), np.arange(n_chunks + 1)).astype(np.int64)
    repeated = np.array(sorted(k for k, first in seen.items() if first == -1), dtype=np.uint64)
    return ChunkColumns(document=np.array(document, dtype=np.int32), answerable=np.array(answerable, dtype=bool),
                        first_row=first_row, repeated=repeated,
                        sentence_keys=np.array(sorted(seen), dtype=np.uint64))


def repeated_across(segment_keys: list[np.ndarray], repeated: list[np.ndarray]) -> np.ndarray:
    """Return the sorted keys of sentences in two or more documents of an index made of segments.

    `segment_keys` are each segment's distinct keys, `repeated` each segment's (or an earlier union's) repeated keys:
    a sentence is repeated when one segment repeats it or two segments hold it.
    """
    keys, counts = np.unique(np.concatenate([np.zeros(0, dtype=np.uint64), *segment_keys]), return_counts=True)
    return np.union1d(keys[counts > 1], np.concatenate([np.zeros(0, dtype=np.uint64), *repeated])).astype(np.uint64)


class _Cache:
    """A bounded LRU cache that fetches what it lacks in one call; safe from many threads."""

    def __init__(self, size: int, fetch):
        self._size, self._fetch = size, fetch
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: list[int]) -> list:
        """Return the values of `keys` in their order, fetching the missing ones with one `fetch(missing)`."""
        found = {}
        with self._lock:
            for key in keys:
                if key in self._items:
                    self._items.move_to_end(key)
                    found[key] = self._items[key]
        missing = [key for key in dict.fromkeys(keys) if key not in found]
        if missing:
            fetched = self._fetch(missing)
            found.update(fetched)
            with self._lock:
                self._items.update(fetched)
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
        return [found[key] for key in keys]


# --- in memory -----------------------------------------------------------------------------------------------

class MemoryDocuments(Mapping):
    """Documents held in memory, in corpus order, with the interface of `StoreDocuments`."""

    def __init__(self, documents: Iterable[Document]):
        self._list = tuple(documents)
        self._ordinals = {doc.document_id: i for i, doc in enumerate(self._list)}

    def __getitem__(self, document_id: str) -> Document:
        return self._list[self._ordinals[document_id]]

    def __iter__(self):
        return iter(self._ordinals)

    def __len__(self) -> int:
        return len(self._list)

    def at_many(self, ordinals) -> list[Document]:
        """Return the documents at `ordinals` (corpus order; `ChunkColumns.document` gives each chunk's)."""
        return [self._list[int(i)] for i in ordinals]

    def values(self) -> tuple[Document, ...]:
        """Return every document in corpus order."""
        return self._list

    def filter_values(self) -> None:
        """Return None: the documents are in memory, the filters read them."""
        return None

    def citations(self) -> None:
        """Return None: the texts are in memory, the catalog reads their citations itself."""
        return None


class MemoryChunks(Sequence):
    """Chunks held in memory, in position order, with the interface of `StoreChunks`."""

    def __init__(self, chunks: Iterable[Chunk]):
        self._list = tuple(chunks)
        self._positions = {c.chunk_id: i for i, c in enumerate(self._list)}

    def __getitem__(self, position):
        return self._list[position]

    def __len__(self) -> int:
        return len(self._list)

    def __iter__(self):
        return iter(self._list)

    def many(self, positions) -> list[Chunk]:
        """Return the chunks at `positions`, in their order."""
        return [self._list[int(i)] for i in positions]

    @property
    def unique(self) -> bool:
        """Return True when no two chunks share an id."""
        return len(self._positions) == len(self._list)

    def position(self, chunk_id: str) -> int:
        """Return the position of `chunk_id` (raises NotFoundError)."""
        try:
            return self._positions[chunk_id]
        except KeyError:
            raise NotFoundError(f"no chunk {chunk_id!r} in the index") from None


# --- the SQLite store ----------------------------------------------------------------------------------------

def write_store(path: Path, documents: Iterable[Document]) -> None:
    """Write `documents` (corpus order) and their chunks into a new SQLite file at `path`."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        # The file is fsynced with the rest of the folder before the manifest is written: no journal needed.
        connection.execute("PRAGMA journal_mode = OFF")
        connection.execute("PRAGMA synchronous = OFF")
        connection.executescript(_SCHEMA)
        connection.execute("BEGIN")
        position = 0
        holders: dict[str, dict[str, list[int]]] = {name: {} for name in FILTERED_VALUES}
        for ordinal, doc in enumerate(documents):
            for name, values_of in FILTERED_VALUES.items():
                for value in dict.fromkeys(json.dumps(value, ensure_ascii=False) for value in values_of(doc)):
                    holders[name].setdefault(value, []).append(ordinal)
            connection.execute("INSERT INTO documents VALUES (?, ?, ?, ?, ?)",
                               (ordinal, doc.document_id, position, len(doc.chunks),
                                json.dumps(doc.metadata(), ensure_ascii=False)))
            connection.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [
                (position + i, c.chunk_id, ordinal, c.kind, json.dumps(list(c.numbers), ensure_ascii=False),
                 c.frage, c.antwort, json.dumps(list(c.pages))) for i, c in enumerate(doc.chunks)])
            connection.executemany("INSERT INTO citations VALUES (?, ?, ?)",
                                   [(ordinal, rank, cited) for rank, cited in enumerate(cited_by(doc))])
            position += len(doc.chunks)
        connection.executemany("INSERT INTO filter_values VALUES (?, ?, ?)", [
            (name, value, np.asarray(ordinals, dtype="<i4").tobytes())
            for name, values in holders.items() for value, ordinals in values.items()])
        connection.executemany("INSERT INTO filter_fields VALUES (?)", [(name,) for name in holders])
        for statement in _INDEXES:
            connection.execute(statement)
        connection.execute("COMMIT")
    except sqlite3.IntegrityError as exc:
        raise ValueError(f"two documents or chunks share an id ({first_line(exc)})") from None
    finally:
        connection.close()


class Store:
    """A read-only connection to `store.sqlite`; every query is one call, safe from many threads.

    One connection, opened at load and held: the file handle keeps reading the index that was loaded even after a
    build swaps a new folder into the same path (a new connection there would read the new one).
    """

    def __init__(self, path: Path):
        self.path = path
        try:
            self._connection = sqlite3.connect(f"file:{quote(str(path))}?mode=ro&immutable=1", uri=True,
                                               check_same_thread=False)
        except sqlite3.Error as exc:
            raise self._damaged(exc) from None
        self._lock = threading.Lock()
        # The largest key, not count(*): one B-tree descent instead of reading a whole index; rows are numbered
        # densely by the build, and a missing row is reported when it is asked for.
        self.n_documents = self.one("SELECT coalesce(max(ordinal), -1) + 1 FROM documents")[0]
        self.n_chunks = self.one("SELECT coalesce(max(position), -1) + 1 FROM chunks")[0]

    def _damaged(self, exc: Exception) -> IndexInvalidError:
        return IndexInvalidError(f"{self.path} is unreadable ({first_line(exc)}): {_REBUILD_HINT}")

    def all(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        """Return every row of a query (raises IndexInvalidError if the file is damaged)."""
        try:
            with self._lock:
                return self._connection.execute(sql, parameters).fetchall()
        except sqlite3.Error as exc:
            raise self._damaged(exc) from None

    def many(self, sql_in: str, keys: list) -> list[tuple]:
        """Return the rows of `sql_in` (ending in "IN") for `keys`, a page of keys per query."""
        rows = []
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            page = keys[start:start + _KEYS_PER_QUERY]
            rows += self.all(f"{sql_in} ({', '.join('?' * len(page))})", tuple(page))
        return rows

    def one(self, sql: str, parameters: tuple = ()) -> tuple | None:
        """Return the first row of a query, or None."""
        rows = self.all(sql, parameters)
        return rows[0] if rows else None

    def has_table(self, name: str) -> bool:
        """Return True when the store has the table `name` (later builds added some: older stores lack them)."""
        return self.one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)) is not None

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()


def checked_position(position, length: int) -> int:
    """Return `position` (negative counts from the end) as an index into `length` chunks; raise IndexError outside."""
    position = int(position)
    if position < 0:
        position += length
    if not 0 <= position < length:
        raise IndexError("chunk position out of range")
    return position


class StoreChunks(Sequence):
    """The chunks of a store by position, fetched on demand (recent ones cached); a read-only Sequence."""

    def __init__(self, store: Store):
        self._store = store
        self._cache = _Cache(CHUNK_CACHE_SIZE, self._fetch)

    def __len__(self) -> int:
        return self._store.n_chunks

    def __getitem__(self, position):
        if isinstance(position, slice):
            return [self[i] for i in range(*position.indices(len(self)))]
        return self._cache.get_many([checked_position(position, len(self))])[0]

    def many(self, positions) -> list[Chunk]:
        """Return the chunks at `positions`, in their order, with one query for those not cached."""
        positions = [int(p) for p in positions]
        if any(not 0 <= p < len(self) for p in positions):
            raise IndexError("chunk position out of range")
        return self._cache.get_many(positions)

    def __iter__(self):
        # In pages, so that iterating costs one query per page and holds one page in memory.
        page = 1024
        for start in range(0, len(self), page):
            yield from self.range(start, min(start + page, len(self)))

    def range(self, start: int, stop: int) -> list[Chunk]:
        """Return the chunks at positions start .. stop - 1 with one query."""
        rows = self._store.all(f"SELECT {_CHUNK_COLUMNS} FROM {_CHUNK_JOIN} WHERE c.position >= ? AND "
                               "c.position < ? ORDER BY c.position", (start, stop))
        return [_chunk(row) for row in rows]

    @property
    def unique(self) -> bool:
        """Return True when no two chunks share an id (the store's unique index on chunk ids holds it)."""
        return True

    def position(self, chunk_id: str) -> int:
        """Return the position of `chunk_id` (raises NotFoundError)."""
        row = self._store.one("SELECT position FROM chunks WHERE chunk_id = ?", (chunk_id,))
        if row is None:
            raise NotFoundError(f"no chunk {chunk_id!r} in the index")
        return row[0]

    def _fetch(self, positions: list[int]) -> dict[int, Chunk]:
        rows = self._store.many(f"SELECT c.position, {_CHUNK_COLUMNS} FROM {_CHUNK_JOIN} WHERE c.position IN",
                                positions)
        if len(rows) != len(positions):
            raise self._store._damaged(ValueError(f"{len(positions) - len(rows)} chunks are missing"))
        return {row[0]: _chunk(row[1:]) for row in rows}


class StoreDocuments(Mapping):
    """The documents of a store by id, in corpus order, fetched on demand; a read-only Mapping.

    A Document's `chunks` is a `ChunkRange` into the store: its length is known, its texts are read when used.
    `values()` (and iteration) read every document's metadata once, on first use, and keep that list: the
    listings (feeds, catalog, filters) walk it per request; a single document is one query.
    """

    def __init__(self, store: Store, chunks: StoreChunks):
        self._store = store
        self._chunks = chunks
        self._cache = _Cache(DOCUMENT_CACHE_SIZE, self._fetch)
        self._everything: tuple[Document, ...] | None = None
        self._everything_lock = threading.Lock()

    def __len__(self) -> int:
        return self._store.n_documents

    def __getitem__(self, document_id: str) -> Document:
        row = self._store.one("SELECT ordinal FROM documents WHERE document_id = ?", (document_id,))
        if row is None:
            raise KeyError(document_id)
        return self.at_many([row[0]])[0]

    def __contains__(self, document_id) -> bool:
        return self._store.one("SELECT 1 FROM documents WHERE document_id = ?", (document_id,)) is not None

    def __iter__(self):
        return (doc.document_id for doc in self.values())

    def at_many(self, ordinals) -> list[Document]:
        """Return the documents at `ordinals`, in their order, with one query for those not cached."""
        everything = self._everything
        if everything is not None:
            return [everything[int(i)] for i in ordinals]
        return self._cache.get_many([int(i) for i in ordinals])

    def values(self) -> tuple[Document, ...]:
        """Return every document in corpus order (read on first use, then kept)."""
        if self._everything is None:
            with self._everything_lock:
                if self._everything is None:
                    rows = self._store.all("SELECT first_chunk, chunk_count, metadata FROM documents ORDER BY ordinal")
                    self._everything = tuple(self._document(row) for row in rows)
        return self._everything

    def citations(self) -> dict[str, list[str]] | None:
        """Return {document id: the Drucksachen it cites} as the build stored them, None for a store written before
        the build stored them (the catalog then reads the texts)."""
        if not self._store.has_table("citations"):
            return None
        cited: dict[str, list[str]] = {}
        for document_id, drucksache in self._store.all(
                "SELECT d.document_id, c.drucksache FROM citations c JOIN documents d "
                "ON d.ordinal = c.document_ordinal ORDER BY c.document_ordinal, c.rank"):
            cited.setdefault(document_id, []).append(drucksache)
        return cited

    def filter_values(self) -> dict[str, list[tuple[object, np.ndarray]]] | None:
        """Return {FILTERED_VALUES name: [(value, ordinals of the documents holding it, ascending)]} as the build
        stored them, None for a store that lacks any of them (written before; the filters then read the documents)."""
        if not self._store.has_table("filter_fields"):
            return None
        if not set(FILTERED_VALUES) <= {name for name, in self._store.all("SELECT field FROM filter_fields")}:
            return None
        stored: dict[str, list[tuple[object, np.ndarray]]] = {name: [] for name in FILTERED_VALUES}
        try:
            for name, value, ordinals in self._store.all("SELECT field, value, ordinals FROM filter_values"):
                if name in stored:
                    stored[name].append((json.loads(value), np.frombuffer(ordinals, dtype="<i4")))
        except (ValueError, TypeError) as exc:
            raise self._store._damaged(exc) from None
        return stored

    def _fetch(self, ordinals: list[int]) -> dict[int, Document]:
        rows = self._store.many("SELECT ordinal, first_chunk, chunk_count, metadata FROM documents WHERE ordinal IN",
                                ordinals)
        if len(rows) != len(ordinals):
            raise self._store._damaged(ValueError(f"{len(ordinals) - len(rows)} documents are missing"))
        return {row[0]: self._document(row[1:]) for row in rows}

    def _document(self, row: tuple) -> Document:
        first, count, metadata = row
        try:
            return Document.from_dict(json.loads(metadata), chunks=ChunkRange(self._chunks, first, first + count))
        except (ValueError, TypeError, KeyError) as exc:
            raise self._store._damaged(exc) from None


class ChunkRange(Sequence):
    """The chunks of one document in a store (positions start .. stop - 1), read each time they are used.

    Not kept: the list of every document would otherwise come to hold every text.
    """

    def __init__(self, chunks: StoreChunks, start: int, stop: int):
        self._chunks, self._start, self._stop = chunks, start, stop

    def __len__(self) -> int:
        return self._stop - self._start

    def __getitem__(self, i):
        if isinstance(i, slice):
            return tuple(self)[i]
        if not -len(self) <= i < len(self):
            raise IndexError("chunk index out of range")
        return self._chunks[self._start + i % len(self)]

    def __iter__(self):
        return iter(self._chunks.range(self._start, self._stop))

    def __eq__(self, other) -> bool:
        if isinstance(other, (tuple, ChunkRange)):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(tuple(self))


def _chunk(row: tuple) -> Chunk:
    chunk_id, document_id, kind, numbers, frage, antwort, pages = row
    return Chunk(chunk_id=chunk_id, document_id=document_id, kind=kind, numbers=tuple(json.loads(numbers)),
                 frage=frage, antwort=antwort, pages=tuple(json.loads(pages)))
