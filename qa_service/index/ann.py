"""The vector index: every FAISS concern (factory, building, reading and writing, search-time knobs) in one class.

Nothing else in the package imports faiss. Vectors are L2-normalised and the metric is inner product, so a score
is the cosine similarity.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import IndexFactoryError, first_line

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
        import faiss

        dimension = vectors.shape[1]
        try:
            index = faiss.index_factory(dimension, factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise IndexFactoryError(f"invalid FAISS index factory {factory!r} ({first_line(exc)}): use 'auto', "
                                    "'Flat', 'HNSW32,Flat' or another faiss factory string")
        inner = faiss.downcast_index(index)
        if isinstance(inner, faiss.IndexHNSW):
            inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        try:
            if not index.is_trained:
                index.train(vectors)
            index.add(vectors)
        except RuntimeError as exc:
            raise IndexFactoryError(f"FAISS index {factory!r} cannot be built over {len(vectors)} vectors "
                                    f"({first_line(exc)}): use --factory auto")
        return cls(index)

    @classmethod
    def read(cls, path: Path) -> VectorIndex:
        """Read an index file memory-mapped where FAISS can (shared between processes), else into memory.

        Raises RuntimeError when the file is not a FAISS index.
        """
        import faiss

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
        """Let FAISS use `n` OpenMP threads per search in this process."""
        import faiss

        faiss.omp_set_num_threads(n)

