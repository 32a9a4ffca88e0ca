"""The loaded index (`Index`) and `load_index`: read the index folder and verify it against its manifest."""
from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..documents import Chunk, Document
from ..errors import IndexInvalidError, IndexMissingError, NotFoundError, first_line
from .ann import VectorIndex
from .segments import Segment, SegmentedChunks, SegmentedDocuments, compose
from .storage import (BASE_SEGMENT, CHUNK_ANSWERABLE, CHUNK_DOCUMENT, CHUNK_FIRST_ROW, FAISS_INDEX, FORMAT_VERSION,
                      LEXICAL_DIR, MANIFEST, QUOTES_DIR, REPEATED_SENTENCES, ROW_CHUNK, ROW_KEYS, SEGMENT_FOLDER, STORE,
                      VECTORS, folder_text, sha256_file)
from .store import (ChunkColumns, MemoryChunks, MemoryDocuments, Store, StoreChunks, StoreDocuments,
                    chunk_columns)

# What every segment must hold (relative to its folder), and the folder besides.
SEGMENT_FILES = (STORE, CHUNK_DOCUMENT, CHUNK_ANSWERABLE, CHUNK_FIRST_ROW, VECTORS, ROW_CHUNK, ROW_KEYS, FAISS_INDEX)
REQUIRED_FILES = (REPEATED_SENTENCES,)
# At load, files up to this size are checked against their sha256 (hashing reads ~1 GB/s); larger ones (the vectors
# and FAISS index of a large corpus) only against their size, so that a server starts in seconds and memory-maps
# them instead of reading them through (the store, too, is read only where a request needs it; SQLite's own page
# checks and the store's named errors catch damage there). The row map is always hashed: it is read whole, and a
# flipped byte there would cite the wrong text.
HASH_AT_LOAD_BYTES = 64 * 2**20
ALWAYS_HASHED = frozenset({MANIFEST, ROW_CHUNK, ROW_KEYS})

_REBUILD_HINT = "run `qa-service build --rebuild`"


@dataclass(eq=False)
class Index:
    """An index ready to search: documents, chunks, per-chunk columns, vectors, FAISS, BM25 and quote indexes,
    manifest.

    Loaded from a folder by `load_index` (documents and chunks then read from its store on demand), or made in
    memory by `assemble` (then `path` is None, and `documents`/`chunks` may be given as a dict and a list).
    `documents` is a read-only Mapping id -> Document in corpus order, `chunks` a read-only Sequence by position.
    """

    path: Path | None
    manifest: dict
    documents: Mapping[str, Document]
    chunks: Sequence[Chunk]
    vectors: np.ndarray
    row_chunk: np.ndarray
    ann: VectorIndex
    lexical: object
    quotes: object
    columns: ChunkColumns | None = None

    def __post_init__(self):
        if not isinstance(self.documents, (MemoryDocuments, StoreDocuments, SegmentedDocuments)):
            self.documents = MemoryDocuments(self.documents.values())
        if not isinstance(self.chunks, (MemoryChunks, StoreChunks, SegmentedChunks)):
            self.chunks = MemoryChunks(self.chunks)
        if self.columns is None:
            self.columns = chunk_columns(self.documents.values(), self.row_chunk)

    @property
    def model_id(self) -> str:
        """Return the id of the model that embedded the vectors; queries must use the same model."""
        return self.manifest["model_id"]

    @property
    def dimension(self) -> int:
        """Return the number of columns of every vector."""
        return int(self.manifest["dimension"])

    def position(self, chunk_id: str) -> int:
        """Return the chunk position of `chunk_id` (raises NotFoundError)."""
        return self.chunks.position(chunk_id)

    def chunk(self, chunk_id: str) -> Chunk:
        """Return the chunk with id `chunk_id` (raises NotFoundError)."""
        return self.chunks[self.position(chunk_id)]

    def document(self, document_id: str) -> Document:
        """Return the document with id `document_id` (raises NotFoundError)."""
        try:
            return self.documents[document_id]
        except KeyError:
            raise NotFoundError(f"no document {document_id!r} in the index") from None


def load_index(index_dir: Path, model_id: str | None = None) -> Index:
    """Load and verify the index folder (raises IndexMissingError / IndexInvalidError with what to run).

    With `model_id`, also refuse an index built by another model. The model itself is not loaded here.
    Every index file is checked against its size and, unless it is large (HASH_AT_LOAD_BYTES), its sha256.
    """
    path = Path(index_dir)
    attempts = 5
    for attempt in range(1, attempts + 1):
        before = _inode(path)
        try:
            index = _load_once(path, model_id)
        except (IndexMissingError, IndexInvalidError):
            # A build swapped the folder while we read it: read the new one instead of reporting damage.
            if attempt < attempts and (before is None or _inode(path) != before):
                time.sleep(0.05)
                continue
            raise
        # A swap midway could mix files of two builds that still agree in their counts: read again.
        if _inode(path) == before or attempt == attempts:
            return index
    raise AssertionError("unreachable")  # pragma: no cover


def _inode(path: Path):
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _load_once(path: Path, model_id: str | None) -> Index:
    if not path.is_dir():
        raise IndexMissingError(f"no index in {folder_text(path)}: run `qa-service build`")
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise IndexMissingError(f"no complete index in {folder_text(path)} ({MANIFEST} is missing): "
                                "run `qa-service build`")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexInvalidError(f"{manifest_path} is unreadable ({first_line(exc)}): {_REBUILD_HINT}")
    if not isinstance(manifest, dict):
        raise IndexInvalidError(f"{manifest_path} is not an index manifest: {_REBUILD_HINT}")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexInvalidError(f"index format {version} is not supported (expected {FORMAT_VERSION}): {_REBUILD_HINT}")
    for key in ("model_id", "dimension", "files", "documents", "chunks", "vectors"):
        if key not in manifest:
            raise IndexInvalidError(f"{manifest_path} lacks {key!r}: {_REBUILD_HINT}")
    if model_id is not None and manifest["model_id"] != model_id:
        raise IndexInvalidError(f"the index in {path} was built with model {manifest['model_id']!r}, not "
                                f"{model_id!r}: run `qa-service build --rebuild` with that model, or ask without "
                                "--model")
    files = manifest["files"]
    if not isinstance(files, dict):
        raise IndexInvalidError(f"{manifest_path} lists no files: {_REBUILD_HINT}")
    segments = segment_names(manifest)
    if segments is None:
        raise IndexInvalidError(f"{manifest_path} has a bad list of segments: {_REBUILD_HINT}")
    for name in REQUIRED_FILES + tuple(segment_path(segment, name) for segment in segments for name in SEGMENT_FILES):
        if name not in files:
            raise IndexInvalidError(f"{manifest_path} does not list {name}: {_REBUILD_HINT}")
    for name, entry in files.items():
        verify_file(path, name, entry)

    loaded = [_load_segment(path / segment) for segment in segments]
    if len(loaded) > 1:
        for segment, folder in zip(loaded, segments):
            _check_segment(segment, path / folder)
    try:
        repeated = np.load(path / REPEATED_SENTENCES, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise IndexInvalidError(f"{path / REPEATED_SENTENCES} is unreadable ({first_line(exc)}): {_REBUILD_HINT}")
    index = Index(path=path, manifest=manifest, **compose(loaded, repeated))
    _check_consistent(index)
    return index


def segment_names(manifest: dict) -> list[str] | None:
    """Return the segment folders the manifest names ("." first: the folder's own), or None when it is malformed."""
    segments = manifest.get("segments", [BASE_SEGMENT])
    if (not isinstance(segments, list) or not segments or segments[0] != BASE_SEGMENT
            or not all(isinstance(s, str) and SEGMENT_FOLDER.fullmatch(s) for s in segments[1:])
            or len(set(segments)) != len(segments)):
        return None
    return segments


def segment_path(segment: str, name: str) -> str:
    """Return the manifest's name (a relative path) of the file `name` of `segment`."""
    return name if segment == BASE_SEGMENT else f"{segment}/{name}"


def _load_segment(folder: Path) -> Segment:
    """Open one segment's files: store, per-chunk columns, vectors and row map memory-mapped, FAISS, BM25, quotes."""
    from ..lexical import LexicalIndex
    from ..quote_index import QuoteIndex

    name = STORE
    try:
        store = Store(folder / STORE)
        chunks = StoreChunks(store)
        documents = StoreDocuments(store, chunks)
        arrays = {}
        for name in (CHUNK_DOCUMENT, CHUNK_ANSWERABLE, CHUNK_FIRST_ROW, ROW_CHUNK):
            # A plain array over the mapped pages: every slice of an np.memmap is a memmap, at a cost per slice.
            arrays[name] = np.asarray(np.load(folder / name, mmap_mode="r", allow_pickle=False))
        name = VECTORS
        shape = _npy_shape(folder / VECTORS)
        name = FAISS_INDEX
        ann = VectorIndex.read(folder / FAISS_INDEX, vector_bytes=int(np.prod(shape)) * 4)
        # FAISS's flat storage holds the same float32 rows as vectors.npy: searched there, the page cache holds one
        # copy of them, not two (2.2 GB at 490,000 chunks). vectors.npy stays for builds and other index types.
        name = VECTORS
        arrays[VECTORS] = ann.float_rows()
        if arrays[VECTORS] is None:
            arrays[VECTORS] = np.load(folder / VECTORS, mmap_mode="r", allow_pickle=False)
        elif shape != arrays[VECTORS].shape:
            raise ValueError(f"it holds other rows than {FAISS_INDEX}")
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise IndexInvalidError(f"{folder / name} is unreadable ({first_line(exc)}): {_REBUILD_HINT}")
    lexical = LexicalIndex.load(folder / LEXICAL_DIR)
    quotes = QuoteIndex.load(folder / QUOTES_DIR, len(chunks))
    columns = ChunkColumns(document=arrays[CHUNK_DOCUMENT], answerable=arrays[CHUNK_ANSWERABLE],
                           first_row=arrays[CHUNK_FIRST_ROW], repeated=np.zeros(0, dtype=np.uint64))
    return Segment(documents=documents, chunks=chunks, vectors=arrays[VECTORS], row_chunk=arrays[ROW_CHUNK],
                   ann=ann, lexical=lexical, quotes=quotes, columns=columns)


def _npy_shape(path: Path) -> tuple:
    """Return the shape of the array in the .npy file `path`, read from its header alone."""
    with open(path, "rb") as file:
        major, _ = np.lib.format.read_magic(file)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, _, _ = read_header(file)
    return shape


def _check_segment(segment: Segment, folder: Path) -> None:
    """Raise IndexInvalidError if one segment's files disagree (in an index of several, errors could cancel out)."""
    columns = segment.columns
    rows = {len(segment.vectors), len(segment.row_chunk), segment.ann.ntotal, int(columns.first_row[-1])}
    chunks = {len(segment.chunks), segment.lexical.n_rows, len(columns.document), len(columns.first_row) - 1}
    if len(rows) != 1 or len(chunks) != 1:
        raise IndexInvalidError(f"the segment in {folder_text(folder)} is inconsistent (its vectors, row map, FAISS "
                                f"index, chunks and BM25 rows disagree): {_REBUILD_HINT}")


def verify_file(folder: Path, name: str, entry) -> None:
    """Raise IndexInvalidError unless `folder/name` exists with the size (and sha256) the manifest recorded."""
    file_path = folder / name
    if not isinstance(entry, dict) or "sha256" not in entry or ".." in Path(name).parts:
        raise IndexInvalidError(f"{folder / MANIFEST} has a bad entry for {name}: {_REBUILD_HINT}")
    if not file_path.is_file():
        raise IndexInvalidError(f"{file_path} is missing: {_REBUILD_HINT}")
    size = file_path.stat().st_size
    hashed = name in ALWAYS_HASHED or size <= HASH_AT_LOAD_BYTES
    if "bytes" in entry and size != entry["bytes"]:
        raise IndexInvalidError(f"{file_path} is corrupted (size mismatch): {_REBUILD_HINT}")
    if hashed and sha256_file(file_path) != entry["sha256"]:
        raise IndexInvalidError(f"{file_path} is corrupted (checksum mismatch): {_REBUILD_HINT}")


def _check_consistent(index: Index) -> None:
    """Raise IndexInvalidError if the files disagree with each other or with the manifest."""
    manifest, path = index.manifest, index.path
    n_rows, dimension, n_chunks = int(manifest["vectors"]), int(manifest["dimension"]), len(index.chunks)
    problems = []
    if len(index.documents) != manifest["documents"]:
        problems.append(f"{len(index.documents)} documents, manifest says {manifest['documents']}")
    if n_chunks != manifest["chunks"] or not index.chunks.unique:
        problems.append(f"{n_chunks} chunks (ids unique: {index.chunks.unique}), manifest says {manifest['chunks']}")
    if index.vectors.shape != (n_rows, dimension) or index.vectors.dtype != np.float32:
        problems.append(f"vectors are {index.vectors.dtype} {index.vectors.shape}, expected float32 "
                        f"({n_rows}, {dimension})")
    if index.row_chunk.shape != (n_rows,) or (n_rows and not (0 <= index.row_chunk.min() and
                                                              index.row_chunk.max() < n_chunks)):
        problems.append("row_chunk does not map every vector row to a chunk")
    elif n_rows and np.any(np.diff(index.row_chunk) < 0):
        # The searcher reads a chunk's vectors as one run of rows (chunk order), as every build writes them.
        problems.append("row_chunk is not in chunk order")
    columns = index.columns
    if (columns.document.shape != (n_chunks,) or columns.document.dtype != np.int32
            or columns.answerable.shape != (n_chunks,) or columns.answerable.dtype != np.bool_
            or columns.first_row.shape != (n_chunks + 1,) or columns.first_row.dtype != np.int64
            or columns.repeated.ndim != 1 or columns.repeated.dtype != np.uint64):
        problems.append("the per-chunk columns do not have one entry of the right type per chunk")
    elif n_chunks and not (0 <= columns.document[0] and columns.document[-1] < len(index.documents)
                           and not np.any(np.diff(columns.document) < 0)
                           and columns.first_row[0] == 0 and columns.first_row[-1] == n_rows):
        problems.append("the per-chunk columns do not span the documents and vector rows")
    if not index.ann.is_inner_product:
        problems.append("faiss.index does not use the inner-product metric")
    if index.ann.ntotal != n_rows or index.ann.dimension != dimension:
        problems.append(f"faiss.index holds {index.ann.ntotal} vectors of {index.ann.dimension} "
                        f"dimensions, expected {n_rows} of {dimension}")
    if index.lexical.n_rows != n_chunks:
        problems.append(f"the lexical index has {index.lexical.n_rows} rows, expected {n_chunks}")
    if problems:
        raise IndexInvalidError(f"the index in {path} is inconsistent ({problems[0]}): {_REBUILD_HINT}")
