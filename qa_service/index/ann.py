"""The vector index: every FAISS concern (factory, building, reading and writing, search-time knobs) in one class.

Nothing else in the package imports faiss. Vectors are L2-normalised and the metric is inner product, so a score
is the cosine similarity.
"""
from __future__ import annotations

import mmap
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import IndexFactoryError, first_line
from .memory import drop_pages

# "auto" factory: exact search below the threshold, HNSW (graph, approximate) above it.
EXACT_FACTORY = "Flat"
APPROX_FACTORY = "HNSW32,Flat"
# HNSW graph quality: FAISS's default efConstruction (40) reached only recall@10 0.90 at 1M rows even with
# efSearch 1024; 128 reached 0.951 (bench/RESULTS.md). It costs build time (744 s for 1M rows on 2 cores), which is
# small beside embedding those rows.
HNSW_EF_CONSTRUCTION = 128
# How hard an approximate index searches: FAISS's HNSW returns at most efSearch rows (efSearch is not raised to k),
# and IVF looks into nprobe lists. Chosen with scripts/bench.py (part scale) for recall@10 >= 0.95.
HNSW_EF_SEARCH = 1000
IVF_NPROBE = 32
# Rows handed to FAISS per `add` while building from a RowBuffer: the buffer's pages of one block are returned to
# the system once FAISS holds them, so at most this many rows are held twice.
ADD_BLOCK_ROWS = 65536


class RowBuffer:
    """The vector rows of a build in progress and the empty FAISS index of `factory` they go into.

    The rows lie in an anonymous memory mapping that `VectorIndex.build_from` gives back to the system block by
    block as FAISS copies them in, and FAISS's storage for all of them is reserved now, before any row is written:
    the vectors are never held twice (see `_reserve_flat_storage`).
    """

    def __init__(self, n_rows: int, dimension: int, factory: str = EXACT_FACTORY):
        self.factory = factory
        self.index = VectorIndex._empty(factory, dimension)
        _reserve_flat_storage(self.index, n_rows)
        self._map = mmap.mmap(-1, max(n_rows * dimension * 4, 1))
        # Zero-filled, like np.zeros: a row nobody writes is a zero vector.
        self.rows = np.frombuffer(self._map, dtype=np.float32, count=n_rows * dimension).reshape(n_rows, dimension)

    def release(self, start: int, stop: int) -> None:
        """Return the whole pages of rows start..stop to the system; those rows must not be read again."""
        row_bytes = self.rows.shape[1] * 4
        first = -(-start * row_bytes // mmap.PAGESIZE) * mmap.PAGESIZE
        last = stop * row_bytes // mmap.PAGESIZE * mmap.PAGESIZE
        if last > first:
            self._map.madvise(mmap.MADV_DONTNEED, first, last - first)


def resolve_factory(setting: str, n_rows: int, approx_threshold: int) -> str:
    """Return the FAISS factory string for `setting`: "auto" means exact below `approx_threshold` rows, else HNSW."""
    setting = (setting or "auto").strip()
    if setting.lower() == "auto":
        return EXACT_FACTORY if n_rows < approx_threshold else APPROX_FACTORY
    return setting


class VectorIndex:
    """A FAISS index over the vector rows, inner-product metric; row i of the index is vector row i."""

    def __init__(self, faiss_index, read_mode: str = "built"):
        self._index = faiss_index
        # How the file was read: "mmap-ifc" (zero-copy, shared between processes), "mmap" or "copy"; "built" when
        # made in this process.
        self.read_mode = read_mode

    @classmethod
    def build(cls, factory: str, vectors: np.ndarray) -> VectorIndex:
        """Return an index of `factory` type holding `vectors`, trained on them if the type needs training."""
        index = cls._empty(factory, vectors.shape[1])
        with cls._build_errors(factory, len(vectors)):
            if not index.is_trained:
                index.train(vectors)
            index.add(vectors)
        return cls(index)

    @classmethod
    def build_from(cls, buffer: RowBuffer) -> tuple[VectorIndex, np.ndarray]:
        """Return the index of `buffer` over its rows, and the array that holds the vectors now.

        When FAISS keeps the vectors as float32 (Flat, HNSW…,Flat), the array is a read-only view of FAISS's own
        storage and the buffer's pages are given back as the rows go in; otherwise it is the buffer's array.
        """
        vectors, index = buffer.rows, buffer.index
        flat = _flat_storage(index) is not None
        with cls._build_errors(buffer.factory, len(vectors)):
            if not index.is_trained:
                index.train(vectors)
            for start in range(0, len(vectors), ADD_BLOCK_ROWS):
                stop = min(start + ADD_BLOCK_ROWS, len(vectors))
                index.add(vectors[start:stop])
                if flat:
                    buffer.release(start, stop)
        built = cls(index)
        stored = built.float_rows()
        return built, (stored if stored is not None else vectors)

    @staticmethod
    def _empty(factory: str, dimension: int):
        import faiss

        try:
            index = faiss.index_factory(dimension, factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise IndexFactoryError(f"invalid FAISS index factory {factory!r} ({first_line(exc)}): use 'auto', "
                                    "'Flat', 'HNSW32,Flat' or another faiss factory string")
        inner = faiss.downcast_index(index)
        if isinstance(inner, faiss.IndexHNSW):
            inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        return index

    @staticmethod
    @contextmanager
    def _build_errors(factory: str, n_rows: int):
        try:
            yield
        except RuntimeError as exc:
            raise IndexFactoryError(f"FAISS index {factory!r} cannot be built over {n_rows} vectors "
                                    f"({first_line(exc)}): use --factory auto")

    def float_rows(self) -> np.ndarray | None:
        """Return a read-only (ntotal, d) float32 view of the vectors in FAISS's flat storage (no copy; it keeps
        `self` alive) when FAISS keeps them as float32 (Flat, HNSW…,Flat), else None."""
        import faiss

        storage = _flat_storage(self._index)
        if storage is None:
            return None
        n, d = self.ntotal, self.dimension
        if n == 0:
            return np.zeros((0, d), dtype=np.float32)
        address = faiss.rev_swig_ptr(storage.get_xb(), n * d).__array_interface__["data"][0]
        return np.asarray(_Borrowed(address, (n, d), self))

    @classmethod
    def read(cls, path: Path, vector_bytes: int = 0) -> VectorIndex:
        """Read an index file memory-mapped where FAISS can (shared between processes), else into memory.

        `vector_bytes` is the size of the float32 rows the file stores (FAISS writes them last): the rest, an HNSW
        graph, FAISS reads through at load (it checks every neighbour id), so it is read ahead in large blocks
        first (memory.read_ahead; at 1.45M rows 0.7 s instead of 5.3 s from a cold page cache, 0.1 s warm).
        Raises RuntimeError when the file is not a FAISS index.
        """
        import faiss

        from .memory import read_ahead

        read_ahead(path, path.stat().st_size - vector_bytes)

        # IO_FLAG_MMAP_IFC maps flat and HNSW storage zero-copy; IO_FLAG_MMAP covers inverted lists (IVF).
        attempts = [("mmap-ifc", getattr(faiss, "IO_FLAG_MMAP_IFC", None)),
                    ("mmap", getattr(faiss, "IO_FLAG_MMAP", None)), ("copy", 0)]
        last_error = None
        for mode, flag in attempts:
            if flag is None:
                continue
            try:
                return cls(faiss.read_index(str(path), flag), mode)
            except RuntimeError as exc:  # this index type cannot be mapped: try the next way
                last_error = exc
        raise last_error

    def write(self, path: Path) -> None:
        """Write the index to the file `path`."""
        import faiss

        faiss.write_index(self._index, str(path))

    # --- what the loader checks against the manifest ----------------------------------------------------------

    @property
    def ntotal(self) -> int:
        """Return the number of vectors held."""
        return int(self._index.ntotal)

    @property
    def dimension(self) -> int:
        """Return the number of columns of every vector."""
        return int(self._index.d)

    @property
    def is_inner_product(self) -> bool:
        """Return True when scores are inner products (cosine similarity of normalised vectors)."""
        import faiss

        return self._index.metric_type == faiss.METRIC_INNER_PRODUCT

    # --- searching --------------------------------------------------------------------------------------------

    @property
    def is_exact(self) -> bool:
        """Return True when a search compares the query with every vector (a Flat index)."""
        import faiss

        return isinstance(faiss.downcast_index(self._index), faiss.IndexFlat)

    def set_search_effort(self) -> None:
        """Set efSearch of an HNSW index and nprobe of an IVF index (call once, before any thread searches)."""
        import faiss

        inner = faiss.downcast_index(self._index)
        if isinstance(inner, faiss.IndexHNSW):
            inner.hnsw.efSearch = HNSW_EF_SEARCH
        try:
            faiss.extract_index_ivf(self._index).nprobe = IVF_NPROBE
        except RuntimeError:  # no IVF index inside
            pass

    def search(self, query_rows: np.ndarray, k: int, allowed_rows: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Return (scores, rows), each (len(query_rows), k), best first; a row of -1 means fewer than k were found.

        With `allowed_rows` (a boolean mask over the rows), only those rows are searched: FAISS applies the filter
        inside the graph or list traversal (an ID selector), so a filter never empties the candidates.
        """
        _apply_search_threads()
        if allowed_rows is None:
            return self._index.search(query_rows, k)
        import faiss

        bits = np.packbits(np.asarray(allowed_rows, dtype=bool), bitorder="little")
        selector = faiss.IDSelectorBitmap(len(allowed_rows), faiss.swig_ptr(bits))
        inner = faiss.downcast_index(self._index)
        if isinstance(inner, faiss.IndexHNSW):
            params = faiss.SearchParametersHNSW()
            params.efSearch = inner.hnsw.efSearch
        else:
            try:
                params = faiss.SearchParametersIVF()
                params.nprobe = faiss.extract_index_ivf(self._index).nprobe
            except RuntimeError:  # neither graph nor inverted lists: a flat scan
                params = faiss.SearchParameters()
        params.sel = selector
        # `bits` must live until the search returns: the selector only points at it.
        scores, rows = self._index.search(query_rows, k, params=params)
        del bits
        return scores, rows

    @staticmethod
    def use_threads(n: int) -> None:
        """Let FAISS use `n` OpenMP threads per search in this process, in every thread that searches."""
        global _SEARCH_THREADS
        _SEARCH_THREADS = n
        _apply_search_threads()



# OpenMP's thread count is a setting of each thread (a thread that never set it uses every core), and searches run
# in request and worker threads: `use_threads` records the process's choice, each thread applies it before its
# first search.
_SEARCH_THREADS: int | None = None
_thread_state = threading.local()


def _apply_search_threads() -> None:
    if _SEARCH_THREADS is not None and getattr(_thread_state, "threads", None) != _SEARCH_THREADS:
        import faiss

        faiss.omp_set_num_threads(_SEARCH_THREADS)
        _thread_state.threads = _SEARCH_THREADS


def _reserve_flat_storage(index, n_rows: int) -> None:
    """Make room in `index`'s flat storage (if it has one) for `n_rows` vectors without holding memory for them.

    FAISS grows its storage like a std::vector as rows are added: each time it is full it moves into one twice as
    large, and for that moment holds both, beside the rows still waiting in the RowBuffer (at 1.45M rows: 3.6 GiB
    for 2.2 GiB of vectors). Resized to the final size once (zero-filled), its pages handed back to the system
    (they read as zeros again) and resized to nothing, it keeps that capacity: every add then fills it in place.
    Called before the RowBuffer is filled, when the zero-filling costs the least.
    """
    storage = _flat_storage(index)
    if storage is None or n_rows == 0:
        return
    n_bytes = n_rows * storage.code_size
    storage.codes.resize(n_bytes)
    import faiss

    drop_pages(faiss.rev_swig_ptr(storage.codes.data(), 1).__array_interface__["data"][0], n_bytes)
    storage.codes.resize(0)


def _flat_storage(index):
    """Return the IndexFlat holding `index`'s vectors as float32 (Flat, HNSW…,Flat), else None."""
    import faiss

    inner = faiss.downcast_index(index)
    if isinstance(inner, faiss.IndexHNSW):
        inner = faiss.downcast_index(inner.storage)
    return inner if isinstance(inner, faiss.IndexFlat) else None


class _Borrowed:
    """Memory owned by FAISS, shown to numpy (`np.asarray`) read-only; the array keeps its owner alive."""

    def __init__(self, address: int, shape: tuple[int, int], owner):
        self.owner = owner
        self.__array_interface__ = {"version": 3, "shape": shape, "typestr": "<f4", "data": (address, True)}
