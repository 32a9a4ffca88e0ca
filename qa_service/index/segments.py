"""Several segments of an index seen as one: chunk positions, document ordinals and vector rows run on across them.

An update that only adds documents writes them as a new segment beside the unchanged ones (building.py), as search
engines do; a loaded index of several segments shows the searcher the interface of one (`compose`): segment i's
chunk p is position `chunk_offsets[i] + p`, its document d ordinal `document_offsets[i] + d`, its vector row r row
`row_offsets[i] + r`. Nothing here copies vectors, texts or postings; the per-chunk columns (a few bytes per chunk)
are concatenated at load.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..documents import Chunk, Document
from ..errors import NotFoundError
from .store import ChunkColumns, checked_position


def _offsets(sizes) -> np.ndarray:
    """Return [0, s0, s0 + s1, …]: where each part starts, and the total at the end."""
    return np.concatenate(([0], np.cumsum(np.asarray(list(sizes), dtype=np.int64)))).astype(np.int64)


def _split(keys: np.ndarray, offsets: np.ndarray):
    """Yield (part, positions in `keys`, local keys) for every part that some of the global `keys` fall into."""
    keys = np.asarray(keys, dtype=np.int64)
    part_of = np.searchsorted(offsets, keys, side="right") - 1
    for part in np.unique(part_of).tolist():
        where = np.flatnonzero(part_of == part)
        yield part, where, keys[where] - offsets[part]


class SegmentedRows:
    """The vector rows of all segments as one read-only (n_rows, dimension) array: gathers and matrix products."""

    def __init__(self, parts: list[np.ndarray]):
        self._parts = parts
        self._offsets = _offsets(len(p) for p in parts)
        self.shape = (int(self._offsets[-1]), parts[0].shape[1])
        self.dtype = parts[0].dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows) -> np.ndarray:
        if isinstance(rows, slice):
            rows = np.arange(*rows.indices(len(self)))
        elif np.ndim(rows) == 0:
            return self[np.array([rows])][0]
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.shape[1]), dtype=self.dtype)
        for part, where, local in _split(rows, self._offsets):
            out[where] = self._parts[part][local]
        return out

    def __matmul__(self, vector: np.ndarray) -> np.ndarray:
        return np.concatenate([part @ vector for part in self._parts])


class SegmentedVectorIndex:
    """The FAISS indexes of all segments searched as one: each gives its k best rows, the k best of those win."""

    def __init__(self, parts: list):
        self._parts = parts
        self._offsets = _offsets(p.ntotal for p in parts)
        self.read_mode = "+".join(dict.fromkeys(p.read_mode for p in parts))

    @property
    def ntotal(self) -> int:
        """Return the number of vectors held."""
        return int(self._offsets[-1])

    @property
    def dimension(self) -> int:
        """Return the number of columns of every vector."""
        return self._parts[0].dimension

    @property
    def is_inner_product(self) -> bool:
        """Return True when every segment scores by inner product."""
        return all(p.is_inner_product for p in self._parts)

    @property
    def is_exact(self) -> bool:
        """Return True when every segment compares the query with all of its vectors."""
        return all(p.is_exact for p in self._parts)

    def set_search_effort(self) -> None:
        """Set each segment's search effort (call once, before any thread searches)."""
        for part in self._parts:
            part.set_search_effort()

    def search(self, query_rows: np.ndarray, k: int, allowed_rows: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Return (scores, rows) of the k best rows over every segment, as `VectorIndex.search` does for one."""
        all_scores, all_rows = [], []
        for part, index in enumerate(self._parts):
            start, stop = int(self._offsets[part]), int(self._offsets[part + 1])
            allowed = None if allowed_rows is None else allowed_rows[start:stop]
            if stop == start or (allowed is not None and not allowed.any()):
                continue
            scores, rows = index.search(query_rows, min(k, stop - start), allowed)
            found = rows >= 0
            all_scores.append(np.where(found, scores, -np.inf))
            all_rows.append(np.where(found, rows + start, -1))
        n = len(query_rows)
        if not all_scores:
            return np.full((n, k), -np.inf, dtype=np.float32), np.full((n, k), -1, dtype=np.int64)
        scores, rows = np.hstack(all_scores), np.hstack(all_rows)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        scores, rows = np.take_along_axis(scores, order, axis=1), np.take_along_axis(rows, order, axis=1)
        if scores.shape[1] < k:  # fewer rows than k in all segments together: pad as FAISS does
            pad = k - scores.shape[1]
            scores = np.hstack([scores, np.full((n, pad), -np.inf, dtype=scores.dtype)])
            rows = np.hstack([rows, np.full((n, pad), -1, dtype=rows.dtype)])
        return scores.astype(np.float32), rows


class SegmentedChunks(Sequence):
    """The chunks of all segments by global position; a read-only Sequence like `StoreChunks`."""

    def __init__(self, parts: list):
        self._parts = parts
        self.offsets = _offsets(len(p) for p in parts)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, position):
        if isinstance(position, slice):
            return [self[i] for i in range(*position.indices(len(self)))]
        position = checked_position(position, len(self))
        part = int(np.searchsorted(self.offsets, position, side="right")) - 1
        return self._parts[part][position - int(self.offsets[part])]

    def many(self, positions) -> list[Chunk]:
        """Return the chunks at `positions`, in their order, with one query per segment."""
        positions = np.asarray([int(p) for p in positions], dtype=np.int64)
        if len(positions) and (positions.min() < 0 or positions.max() >= len(self)):
            raise IndexError("chunk position out of range")
        out: list = [None] * len(positions)
        for part, where, local in _split(positions, self.offsets):
            for i, chunk in zip(where.tolist(), self._parts[part].many(local.tolist())):
                out[i] = chunk
        return out

    def __iter__(self):
        for part in self._parts:
            yield from part

    @property
    def unique(self) -> bool:
        """Return True when no two chunks share an id within a segment (the build keeps ids apart across them)."""
        return all(p.unique for p in self._parts)

    def position(self, chunk_id: str) -> int:
        """Return the global position of `chunk_id` (raises NotFoundError)."""
        for part, chunks in enumerate(self._parts):
            try:
                return int(self.offsets[part]) + chunks.position(chunk_id)
            except NotFoundError:
                continue
        raise NotFoundError(f"no chunk {chunk_id!r} in the index")


class SegmentedDocuments(Mapping):
    """The documents of all segments by id, segment after segment; a read-only Mapping like `StoreDocuments`."""

    def __init__(self, parts: list):
        self._parts = parts
        self.offsets = _offsets(len(p) for p in parts)
        self._everything: tuple[Document, ...] | None = None

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, document_id: str) -> Document:
        for part in self._parts:
            if document_id in part:
                return part[document_id]
        raise KeyError(document_id)

    def __contains__(self, document_id) -> bool:
        return any(document_id in part for part in self._parts)

    def __iter__(self):
        for part in self._parts:
            yield from part

    def at_many(self, ordinals) -> list[Document]:
        """Return the documents at global `ordinals`, in their order."""
        ordinals = np.asarray([int(i) for i in ordinals], dtype=np.int64)
        out: list = [None] * len(ordinals)
        for part, where, local in _split(ordinals, self.offsets):
            for i, doc in zip(where.tolist(), self._parts[part].at_many(local.tolist())):
                out[i] = doc
        return out

    def values(self) -> tuple[Document, ...]:
        """Return every document, segment after segment (read once, then kept; two threads may both read it)."""
        if self._everything is None:
            self._everything = tuple(doc for part in self._parts for doc in part.values())
        return self._everything

    def citations(self) -> dict[str, list[str]] | None:
        """Return the citations of every segment's documents (`StoreDocuments.citations`), None when a segment
        has none stored."""
        cited: dict[str, list[str]] = {}
        for part in self._parts:
            own = part.citations()
            if own is None:
                return None
            cited.update(own)
        return cited


    def filter_values(self) -> dict[str, list[tuple[object, np.ndarray]]] | None:
        """Return the stored filter values of every segment's documents (`StoreDocuments.filter_values`) with
        ordinals over all segments, None when a segment has none stored."""
        stored: dict[str, list[tuple[object, np.ndarray]]] = {}
        for part, offset in zip(self._parts, self.offsets.tolist()):
            own = part.filter_values()
            if own is None:
                return None
            for name, values in own.items():
                stored.setdefault(name, []).extend((value, ordinals + offset) for value, ordinals in values)
        return stored


class SegmentedQuotes:
    """The quote indexes of all segments asked as one (`QuoteIndex`'s `holding`, `ranked` and `normalized_answer`)."""

    def __init__(self, parts: list, chunk_offsets: np.ndarray):
        self._parts = parts
        self._offsets = chunk_offsets
        self.n_chunks = int(chunk_offsets[-1])

    @property
    def n_entries(self) -> int:
        """Return the number of stored (fingerprint, chunk) pairs over every segment."""
        return sum(p.n_entries for p in self._parts)

    def _each(self, allowed: np.ndarray):
        for part, quotes in enumerate(self._parts):
            start, stop = int(self._offsets[part]), int(self._offsets[part + 1])
            yield quotes, start, allowed[start:stop]

    def holding(self, quote: str, allowed: np.ndarray) -> np.ndarray:
        """Return the allowed global positions (ascending) whose normalised answer holds the normalised `quote`."""
        found = [quotes.holding(quote, part_allowed) + start for quotes, start, part_allowed in self._each(allowed)]
        return np.concatenate(found).astype(np.int64)

    def normalized_answer(self, position: int) -> str:
        """Return the normalised answer of the chunk at global `position`."""
        part = int(np.searchsorted(self._offsets, position, side="right")) - 1
        return self._parts[part].normalized_answer(position - int(self._offsets[part]))

    def ranked(self, quote: str, allowed: np.ndarray, limit: int) -> np.ndarray:
        """Return up to `limit` allowed global positions holding the most fingerprints of `quote`, most first."""
        positions, counts = [], []
        for quotes, start, part_allowed in self._each(allowed):
            found, found_counts = quotes.fingerprint_counts(quote, part_allowed)
            positions.append(found + start)
            counts.append(found_counts)
        positions, counts = np.concatenate(positions), np.concatenate(counts)
        return positions[np.lexsort((positions, -counts))[:limit]]


@dataclass(frozen=True)
class Segment:
    """One segment as loaded: what `Index` holds, with positions, ordinals and rows local to the segment."""

    documents: Mapping
    chunks: Sequence
    vectors: np.ndarray
    row_chunk: np.ndarray
    ann: object
    lexical: object
    quotes: object
    columns: ChunkColumns


def compose(segments: list[Segment], repeated: np.ndarray) -> dict:
    """Return the fields of one `Index` over `segments` (keyword arguments), with the index's `repeated` keys."""
    from ..lexical import SegmentedLexical

    if len(segments) == 1:
        only = segments[0]
        columns = ChunkColumns(document=only.columns.document, answerable=only.columns.answerable,
                               first_row=only.columns.first_row, repeated=repeated)
        return {"documents": only.documents, "chunks": only.chunks, "vectors": only.vectors,
                "row_chunk": only.row_chunk, "ann": only.ann, "lexical": only.lexical, "quotes": only.quotes,
                "columns": columns}
    chunk_offsets = _offsets(len(s.chunks) for s in segments)
    document_offsets = _offsets(len(s.documents) for s in segments)
    row_offsets = _offsets(len(s.vectors) for s in segments)
    columns = ChunkColumns(
        document=np.concatenate([s.columns.document + np.int32(document_offsets[i])
                                 for i, s in enumerate(segments)]).astype(np.int32),
        answerable=np.concatenate([s.columns.answerable for s in segments]).astype(bool),
        first_row=np.concatenate([s.columns.first_row[:-1] + row_offsets[i] for i, s in enumerate(segments)]
                                 + [row_offsets[-1:]]).astype(np.int64),
        repeated=repeated)
    row_chunk = np.concatenate([s.row_chunk.astype(np.int64) + chunk_offsets[i]
                                for i, s in enumerate(segments)]).astype(np.int32)
    return {"documents": SegmentedDocuments([s.documents for s in segments]),
            "chunks": SegmentedChunks([s.chunks for s in segments]),
            "vectors": SegmentedRows([s.vectors for s in segments]), "row_chunk": row_chunk,
            "ann": SegmentedVectorIndex([s.ann for s in segments]),
            "lexical": SegmentedLexical([s.lexical for s in segments]),
            "quotes": SegmentedQuotes([s.quotes for s in segments], chunk_offsets), "columns": columns}
