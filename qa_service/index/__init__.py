"""The index: build it from the corpus, write it atomically, load and verify it, search its vectors.

  storage.py    the folder's file names and its atomic replacement (temp folder, fsync, swap, build lock)
  building.py   `build_index` (corpus -> folder, incremental) and `assemble` (documents -> in-memory Index)
  loading.py    `Index` and `load_index` with its verification
  store.py      texts and metadata in `store.sqlite`, read on demand (a Mapping and a Sequence); per-chunk columns
  ann.py        `VectorIndex`: every FAISS concern
  segments.py   several segments (an update that only added documents writes one more) seen as one index
  checkpoint.py the embedding checkpoint a killed build continues from
  memory.py     the C library's memory calls: pages handed back in a build, kept and mapped in by a searcher
"""
from .ann import VectorIndex, resolve_factory
from .building import BuildReport, assemble, build_index, passage_rows
from .loading import Index, load_index
from .storage import FORMAT_VERSION

__all__ = ["FORMAT_VERSION", "BuildReport", "Index", "VectorIndex", "assemble", "build_index", "load_index",
           "passage_rows", "resolve_factory"]
