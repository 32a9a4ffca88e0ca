"""Build the index: from the corpus into the index folder (`build_index`, incremental), or in memory (`assemble`).

Both assemble the rows the same way: every passage of every chunk (`passages.passage_texts`) is one vector row,
mapped to its chunk; the lexical index has one row per chunk (`passages.lexical_text`).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from .. import package_version
from ..config import Settings
from ..documents import Document
from ..errors import CorpusError, IndexWriteError, QAError
from . import storage
from .ann import EXACT_FACTORY, RowBuffer, VectorIndex, resolve_factory
from .checkpoint import EmbeddingCheckpoint, checkpoint_folder
from .loading import Index, segment_names, segment_path, verify_file
from .memory import return_freed_heap
from .segments import SegmentedRows
from .storage import (CHUNK_ANSWERABLE, CHUNK_DOCUMENT, CHUNK_FIRST_ROW, FAISS_INDEX, FORMAT_VERSION, LEXICAL_DIR,
                      MANIFEST, QUOTES_DIR, REPEATED_SENTENCES, ROW_CHUNK, ROW_KEYS, SENTENCE_KEYS, STORE, VECTORS,
                      folder_text, link_files, segment_name, sha256_file)
from .store import Store, repeated_across, write_store

if TYPE_CHECKING:
    from ..passages import Passage

# Passages per call to the embedder: large enough to amortise the call, small enough for a smooth progress bar.
BATCH_SIZE = 32
# An update that only adds documents to an index of at least this many chunks writes them as a new segment and
# leaves the others as they are; a smaller index is built whole again (seconds), so that it stays one segment.
APPEND_MIN_CHUNKS = 10_000
# An index of this many segments is merged into one by its next build (a full build that reuses every vector):
# each segment costs every search one more FAISS, BM25 and quote lookup.
MAX_SEGMENTS = 8
# Formats whose vectors a build may reuse (2 is one segment of the same files).
REUSABLE_FORMATS = (2, FORMAT_VERSION)
# Stored vectors copied per step from the old index's memory-mapped file: bounds the temporary copy (96 MiB at 384
# dimensions).
_COPY_BLOCK = 65536


@dataclass
class BuildReport:
    """What a build did: counts of documents, chunks, embedded and reused chunks, warnings, failures, time."""

    index_dir: Path
    documents: int = 0
    chunks: int = 0
    vectors: int = 0
    # A chunk counts as embedded when at least one of its passages had no stored vector, otherwise as reused.
    embedded: int = 0
    reused: int = 0
    embedded_passages: int = 0
    # Passages whose vectors came from the checkpoint of an earlier build that was killed.
    resumed_passages: int = 0
    warnings: int = 0
    failures: list[str] = field(default_factory=list)
    changed_files: list[str] = field(default_factory=list)
    removed_files: list[str] = field(default_factory=list)
    factory: str = ""
    # Segments of the index written: more than one after updates that only added documents.
    segments: int = 1
    seconds: float = 0.0
    embedding_seconds: float = 0.0

    @property
    def chunks_per_second(self) -> float:
        """Return embedded chunks per second of the whole build (0 when nothing was embedded)."""
        return self.embedded / self.seconds if self.seconds > 0 else 0.0

    def summary_line(self) -> str:
        """Return the one-line summary `qa-service build` ends with."""
        line = (f"built {folder_text(self.index_dir)}: {self.documents} documents, {self.chunks} chunks "
                f"(embedded {self.embedded}, reused {self.reused}), {self.warnings} warnings, "
                f"{self.seconds:.1f} s, {self.chunks_per_second:.1f} chunks/s")
        if self.segments > 1:
            line += f", {self.segments} segments"
        if self.resumed_passages:
            line += f", {self.resumed_passages} passages resumed from an interrupted build"
        if self.failures:
            line += f", {len(self.failures)} unreadable"
        return line


def build_index(settings: Settings, rebuild: bool = False, progress: bool = True, embedder=None) -> BuildReport:
    """Build or update the index folder from the corpus, re-embedding only passages without a stored vector."""
    try:
        return _build(settings, rebuild, progress, embedder)
    except OSError as exc:
        # A full disk, a read-only folder, a file where a folder should be: one line, not a traceback.
        where = f" ({exc.filename})" if exc.filename else ""
        raise IndexWriteError(f"cannot build the index in {settings.index_dir}: {exc.strerror or exc}{where}") from exc


def assemble(documents: list[Document], embedder, factory: str = EXACT_FACTORY) -> Index:
    """Return an in-memory index of `documents` (its path is None): every passage embedded, FAISS and BM25 built.

    `factory` is a FAISS factory string or "auto" (resolved with the default approx_threshold).
    """
    threshold = Settings().approx_threshold
    return _assemble(documents, embedder, lambda n_rows: resolve_factory(factory, n_rows, threshold),
                     _StoredVectors(), progress=False).index


def passage_rows(documents: list[Document]) -> list[tuple[int, Passage]]:
    """Return (chunk position, passage) of every vector row of the index of `documents`, in row order."""
    return list(_passage_rows(documents))


def _passage_rows(documents: list[Document]):
    """Yield (chunk position, passage) of every vector row, in row order, one chunk's passages at a time."""
    from ..passages import passage_texts

    chunks = ((doc, chunk) for doc in documents for chunk in doc.chunks)
    for position, (doc, chunk) in enumerate(chunks):
        for passage in passage_texts(doc, chunk):
            yield position, passage


@dataclass
class _Assembly:
    """An assembled index and what its assembly did: the row keys to store, what had to be embedded."""

    index: Index
    row_keys: list[str]
    embedded_chunks: set[int]
    embedded_passages: int
    embedding_seconds: float


def _assemble(documents: list[Document], embedder, factory_for: Callable[[int], str], stored: _StoredVectors,
              progress: bool, checkpoint=None, parts: Path | None = None) -> _Assembly:
    """Return the index of `documents`, embedding only the passages whose key `stored` lacks.

    With `checkpoint` (an EmbeddingCheckpoint), freshly embedded vectors are saved as they come. With `parts` (a
    folder), the BM25 and quote indexes are written there and memory-mapped (`_text_indexes`).
    """
    from ..embedding import normalise_rows

    model_id, dimension = str(embedder.model_id), int(embedder.dimension)
    chunks = [(doc, chunk) for doc in documents for chunk in doc.chunks]
    lexical, quotes = _text_indexes(chunks, parts)
    row_chunk, row_keys, reused = [], [], []
    # Each passage text is embedded once: key -> its first row; a later row of that key is a repeat.
    to_embed: dict[str, int] = {}
    repeats: list[tuple[int, int]] = []
    # Chunk position -> its first row, for the chunks with a passage to embed.
    embedded_chunks: dict[int, int] = {}
    chunk_start, last_position = 0, -1
    for row, (position, passage) in enumerate(_passage_rows(documents)):
        if position != last_position:
            chunk_start, last_position = row, position
        key = _passage_key(model_id, passage)
        row_chunk.append(position)
        row_keys.append(key)
        if key in stored:
            reused.append((row, key))
            continue
        embedded_chunks.setdefault(position, chunk_start)
        if key in to_embed:
            repeats.append((row, to_embed[key]))
        else:
            to_embed[key] = row

    # One float32 array filled row by row, then handed to FAISS: no vector is held twice on the way.
    factory = factory_for(len(row_keys))
    buffer = RowBuffer(len(row_keys), dimension, factory)
    vectors = buffer.rows
    stored.copy_into(vectors, reused)
    embed_started = time.perf_counter()
    _embed(embedder, _texts_to_embed(chunks, embedded_chunks, row_keys, to_embed), len(to_embed), vectors, progress,
           normalise_rows, checkpoint)
    embedding_seconds = time.perf_counter() - embed_started
    if repeats:
        targets, sources = np.array(repeats, dtype=np.int64).T
        vectors[targets] = vectors[sources]

    ann, vectors = VectorIndex.build_from(buffer)
    manifest = {"model_id": model_id, "dimension": dimension, "metric": "inner_product", "factory": factory,
                "documents": len(documents), "chunks": len(chunks), "vectors": len(row_keys)}
    index = Index(path=None, manifest=manifest, documents={doc.document_id: doc for doc in documents},
                  chunks=[chunk for _, chunk in chunks], vectors=vectors,
                  row_chunk=np.asarray(row_chunk, dtype=np.int32), ann=ann, lexical=lexical,
                  quotes=quotes)
    return _Assembly(index, row_keys, set(embedded_chunks), len(to_embed), embedding_seconds)


def _text_indexes(chunks: list, parts: Path | None):
    """Return the BM25 and quote indexes of `chunks`; with `parts`, each is written into that folder and read back
    memory-mapped as soon as it is built.

    Built before the vectors and not held in memory beside them: at 490,000 chunks building BM25 took ~2 GiB (its
    1 GiB matrix and the postings), which on top of the vectors, the HNSW graph and the documents took the build
    past 6 GiB.
    """
    from ..lexical import LexicalIndex
    from ..passages import lexical_text
    from ..quote_index import QuoteIndex

    lexical = LexicalIndex.build(lexical_text(doc, chunk) for doc, chunk in chunks)
    if parts is not None:
        lexical.save(parts / LEXICAL_DIR)
        lexical = LexicalIndex.load(parts / LEXICAL_DIR)
    quotes = QuoteIndex.build(chunk.antwort for _, chunk in chunks)
    if parts is not None:
        quotes.save(parts / QUOTES_DIR)
        quotes = QuoteIndex.load(parts / QUOTES_DIR, len(chunks))
        return_freed_heap()
    return lexical, quotes


def _texts_to_embed(chunks: list, embedded_chunks: dict[int, int], row_keys: list[str], to_embed: dict[str, int]):
    """Yield (key, passage, row) of the first row of every key in `to_embed`, in row order.

    The passages are made again from their chunks: holding them from the first pass would take ~1 KB per row.
    """
    from ..passages import passage_texts

    for position, first_row in embedded_chunks.items():
        doc, chunk = chunks[position]
        for row, passage in enumerate(passage_texts(doc, chunk), start=first_row):
            if to_embed.get(row_keys[row]) == row:
                yield row_keys[row], passage, row


def _build(settings: Settings, rebuild: bool, progress: bool, embedder) -> BuildReport:
    from ..embedding import load_embedder
    from ..parsing import find_document_files, parse_paths

    started = time.perf_counter()
    corpus_dir = Path(settings.corpus_dir)
    if not corpus_dir.exists():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist: pass --corpus or set QA_CORPUS_DIR")
    # The real folder, not a symlink to it: the swap must move the folder itself.
    target = Path(os.path.realpath(settings.index_dir))
    report = BuildReport(index_dir=Path(settings.index_dir))

    target.parent.mkdir(parents=True, exist_ok=True)
    with storage.build_lock(target):
        storage.check_replaceable(target)
        storage.remove_leftovers(target)
        files = find_document_files(corpus_dir)
        if not files:
            raise CorpusError(f"no .txt or .pdf documents in {corpus_dir}: nothing to index, the index was not "
                              "changed")
        paths = {_source_name(path, corpus_dir): path for path in files}
        sources = {name: _source_hashes(path) for name, path in paths.items()}
        previous = _read_manifest_quietly(target)
        old_sources = previous.get("sources", {}) if isinstance(previous.get("sources"), dict) else {}
        report.changed_files = sorted(n for n, h in sources.items() if old_sources.get(n) != h)
        report.removed_files = sorted(n for n in old_sources if n not in sources)

        embedder = embedder if embedder is not None else load_embedder(settings.model)
        model_id, dimension = str(embedder.model_id), int(embedder.dimension)
        # What an earlier, killed build of this index had embedded (also for --rebuild: it is this run's work).
        checkpoint = EmbeddingCheckpoint(checkpoint_folder(target), model_id, dimension)
        if not rebuild and _can_append(target, previous, settings, model_id, dimension, report):
            added = [paths[name] for name in report.changed_files]
            return _append(target, previous, sources, added, settings, embedder, checkpoint, progress, report,
                           started)

        parsed = parse_paths(files)
        report.failures.extend(parsed.failures)
        documents = _unique_documents(parsed.documents, report.failures)
        if not documents:
            raise CorpusError(f"no document in {corpus_dir} could be read ({'; '.join(parsed.failures[:3])}): "
                              "the index was not changed")
        stored = _StoredVectors() if rebuild else _stored_vectors(target, previous, model_id, dimension)
        resumed = checkpoint.load()
        report.resumed_passages = len(resumed)
        stored.resume(resumed)

        # BM25 and quote indexes are written into `parts` as they are built (`_text_indexes`) and moved into the
        # new folder with the rest.
        with storage.parts_folder(target) as parts:
            assembly = _assemble(
                documents, embedder,
                lambda n_rows: resolve_factory(settings.index_factory, n_rows, settings.approx_threshold),
                stored, progress, checkpoint, parts)
            index = assembly.index
            report.embedding_seconds = assembly.embedding_seconds

            seconds_so_far = time.perf_counter() - started
            manifest = {
                "format_version": FORMAT_VERSION,
                "package_version": package_version(),
                "model_id": index.model_id,
                "dimension": index.dimension,
                "metric": index.manifest["metric"],
                "factory": index.manifest["factory"],
                "factory_setting": settings.index_factory,
                "documents": len(index.documents),
                "chunks": len(index.chunks),
                "vectors": len(index.vectors),
                "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "build_seconds": round(seconds_so_far, 3),
                "corpus_dir": str(corpus_dir),
                "sources": sources,
                "failures": list(report.failures),
                "warnings": sum(len(doc.warnings) for doc in documents),
            }
            # Saved before the index is written: a kill while writing loses no embedding either.
            checkpoint.save()
            storage.replace_atomically(target, lambda folder: _write_files(folder, index, assembly.row_keys, parts),
                                       manifest)
            checkpoint.discard()

    report.documents = len(index.documents)
    report.chunks = len(index.chunks)
    report.vectors = len(index.vectors)
    report.embedded = len(assembly.embedded_chunks)
    report.reused = len(set(index.row_chunk.tolist()) - assembly.embedded_chunks)
    report.embedded_passages = assembly.embedded_passages
    report.warnings = manifest["warnings"]
    report.factory = index.manifest["factory"]
    report.seconds = time.perf_counter() - started
    return report


def _can_append(target: Path, previous: dict, settings: Settings, model_id: str, dimension: int,
                report: BuildReport) -> bool:
    """Return True when this build only adds files to an index that takes a new segment (see APPEND_MIN_CHUNKS)."""
    segments = segment_names(previous)
    if (previous.get("format_version") != FORMAT_VERSION or segments is None or len(segments) >= MAX_SEGMENTS
            or previous.get("model_id") != model_id or previous.get("dimension") != dimension
            or previous.get("factory_setting") != settings.index_factory
            or not isinstance(previous.get("chunks"), int) or previous["chunks"] < APPEND_MIN_CHUNKS
            or not isinstance(previous.get("files"), dict) or report.removed_files
            or any(name in (previous.get("sources") or {}) for name in report.changed_files)):
        return False
    files = previous["files"]
    # The sentence keys of every segment say which of the new sentences are repeated (an index without them is old).
    if not all(segment_path(segment, SENTENCE_KEYS) in files for segment in segments):
        return False
    try:
        # Sizes of everything (and the sha256 of small files): the new index links these files unchanged.
        for name, entry in files.items():
            verify_file(target, name, entry)
    except (QAError, KeyError):
        return False  # a damaged index is built whole again (reusing whatever vectors it still has)
    return True


def _append(target: Path, previous: dict, sources: dict, added: list[Path], settings: Settings, embedder,
            checkpoint: EmbeddingCheckpoint, progress: bool, report: BuildReport, started: float) -> BuildReport:
    """Write the documents of the `added` files as a new segment beside the unchanged segments of `target`."""
    from ..parsing import parse_paths

    segments = segment_names(previous)
    parsed = parse_paths(added)
    # The files that failed before are unchanged (else this would be a full build): they still fail.
    report.failures.extend(previous.get("failures", []))
    report.failures.extend(parsed.failures)
    unique = _unique_documents(parsed.documents, report.failures)
    taken = _taken_ids(target, segments, [doc.document_id for doc in unique])
    documents = []
    for doc in unique:
        if doc.document_id in taken:
            report.failures.append(f"{doc.source_file}: document id {doc.document_id} is already taken by "
                                   f"{taken[doc.document_id]}; skipped")
        else:
            documents.append(doc)
    resumed = checkpoint.load()
    report.resumed_passages = len(resumed)
    stored = _StoredVectors()
    stored.resume(resumed)
    assembly = None
    if documents:
        assembly = _assemble(
            documents, embedder,
            lambda n_rows: resolve_factory(settings.index_factory, n_rows, settings.approx_threshold),
            stored, progress, checkpoint)
        report.embedding_seconds = assembly.embedding_seconds

    files = previous["files"]
    # The new index-wide repeated sentences: those of the old ones, of the new segment, and those that the new
    # segment shares with an old one.
    old_keys = [np.load(target / segment_path(s, SENTENCE_KEYS), mmap_mode="r", allow_pickle=False)
                for s in segments]
    old_repeated = np.load(target / REPEATED_SENTENCES, mmap_mode="r", allow_pickle=False)
    new_segment = segment_name(len(segments) + 1)
    manifest = {key: value for key, value in previous.items() if key != "files"}
    manifest.update({"package_version": package_version(), "sources": sources, "failures": list(report.failures),
                     "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    if assembly is not None:
        new = assembly.index
        repeated = repeated_across([*old_keys, new.columns.sentence_keys], [old_repeated, new.columns.repeated])
        manifest.update({"segments": [*segments, new_segment],
                         "documents": previous["documents"] + len(new.documents),
                         "chunks": previous["chunks"] + len(new.chunks),
                         "vectors": previous["vectors"] + len(new.vectors),
                         "warnings": previous.get("warnings", 0) + sum(len(doc.warnings) for doc in documents)})
    else:
        repeated = np.asarray(old_repeated)
    manifest["build_seconds"] = round(time.perf_counter() - started, 3)
    known = {name: entry for name, entry in files.items() if name != REPEATED_SENTENCES}

    def write(folder: Path) -> None:
        folder.mkdir()
        link_files(target, folder, known)
        if assembly is not None:
            _write_segment(folder / new_segment, assembly.index, assembly.row_keys)
        _save_array(folder / REPEATED_SENTENCES, repeated)

    checkpoint.save()
    storage.replace_atomically(target, write, manifest, known)
    checkpoint.discard()

    report.documents, report.chunks, report.vectors = manifest["documents"], manifest["chunks"], manifest["vectors"]
    report.embedded = len(assembly.embedded_chunks) if assembly is not None else 0
    report.reused = report.chunks - report.embedded
    report.embedded_passages = assembly.embedded_passages if assembly is not None else 0
    report.warnings = manifest.get("warnings", 0)
    report.factory = manifest["factory"]
    report.segments = len(manifest.get("segments", segments))
    report.seconds = time.perf_counter() - started
    return report


def _taken_ids(target: Path, segments: list[str], document_ids: list[str]) -> dict[str, str | None]:
    """Return {document id: its source file} of the `document_ids` that a segment of the index at `target` holds.

    Asked of each segment's store (files `_can_append` checked): loading the whole index would verify and map
    every file of it for this one question.
    """
    taken = {}
    for segment in segments:
        store = Store(target / segment_path(segment, STORE))
        try:
            for document_id, metadata in store.many("SELECT document_id, metadata FROM documents WHERE document_id IN",
                                                    document_ids):
                taken[document_id] = json.loads(metadata).get("source_file")
        finally:
            store.close()
    return taken


def _write_files(folder: Path, index: Index, row_keys: list[str], parts: Path | None = None) -> None:
    """Write every index file but the manifest into a fresh `folder`: one segment, the index's own."""
    folder.mkdir()
    _write_segment(folder, index, row_keys, parts)
    _save_array(folder / REPEATED_SENTENCES, index.columns.repeated)


def _write_segment(folder: Path, index: Index, row_keys: list[str], parts: Path | None = None) -> None:
    """Write the files of one segment holding all of `index` into `folder` (created if missing); the BM25 and
    quote indexes already written into `parts` are moved from there (not read again)."""
    folder.mkdir(exist_ok=True)
    write_store(folder / STORE, index.documents.values())
    columns = index.columns
    arrays = {VECTORS: index.vectors, ROW_CHUNK: index.row_chunk, CHUNK_DOCUMENT: columns.document,
              CHUNK_ANSWERABLE: columns.answerable, CHUNK_FIRST_ROW: columns.first_row,
              SENTENCE_KEYS: columns.sentence_keys}
    for name, array in arrays.items():
        _save_array(folder / name, array)
    (folder / ROW_KEYS).write_text("".join(key + "\n" for key in row_keys), encoding="ascii")
    index.ann.write(folder / FAISS_INDEX)
    if parts is not None:
        for name in (LEXICAL_DIR, QUOTES_DIR):
            os.rename(parts / name, folder / name)
    else:
        index.lexical.save(folder / LEXICAL_DIR)
        index.quotes.save(folder / QUOTES_DIR)


def _save_array(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as out:
        np.save(out, np.asarray(array), allow_pickle=False)


def _embed(embedder, passages, total: int, vectors: np.ndarray, progress: bool, normalise_rows,
           checkpoint=None) -> None:
    """Embed the `total` passages of `passages` ((key, passage, row) each) into their rows of `vectors`, in batches
    behind a progress bar (and hand each batch to `checkpoint`)."""
    from tqdm import tqdm

    if not total:
        return
    dimension = vectors.shape[1]
    with tqdm(total=total, desc="embedding", unit="passage", file=sys.stderr, disable=not progress,
              dynamic_ncols=True) as bar:
        for batch in _batches(passages, BATCH_SIZE):
            keys, items, rows = zip(*batch)
            embedded = np.empty((len(batch), dimension), dtype=np.float32)
            for as_question, encode in ((False, embedder.encode_passages), (True, embedder.encode_questions)):
                at = [i for i, passage in enumerate(items) if passage.as_question == as_question]
                if at:
                    embedded[at] = normalise_rows(encode([items[i].text for i in at]), dimension, len(at))
            vectors[list(rows)] = embedded
            if checkpoint is not None:
                checkpoint.add(list(keys), embedded)
            bar.update(len(batch))


def _batches(items, size: int):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _passage_key(model_id: str, passage: Passage) -> str:
    """Return the key of the vector of `passage`: the same text embedded as a question is another vector. A
    passage's key is the one it had before questions were told apart, so its vector is reused."""
    side = "\0question" if passage.as_question else ""
    return hashlib.sha256(f"{model_id}{side}\0{passage.text}".encode("utf-8")).hexdigest()


def _source_name(path: Path, corpus_dir: Path) -> str:
    try:
        return path.relative_to(corpus_dir).as_posix() if corpus_dir.is_dir() else path.name
    except ValueError:
        return path.name


def _source_hashes(path: Path) -> dict:
    """Return the sha256 of a document file and of its sidecar `<stem>.json` (metadata), if there is one."""
    hashes = {"sha256": sha256_file(path)}
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        hashes["sidecar_sha256"] = sha256_file(sidecar)
    return hashes


def _unique_documents(documents: list[Document], failures: list[str]) -> list[Document]:
    """Drop a second document with an id already seen (e.g. S19-1.txt and S19-1.pdf), saying so in `failures`."""
    seen: dict[str, Document] = {}
    for doc in documents:
        if doc.document_id in seen:
            failures.append(f"{doc.source_file}: document id {doc.document_id} is already taken by "
                            f"{seen[doc.document_id].source_file}; skipped")
            continue
        seen[doc.document_id] = doc
    return list(seen.values())


def _read_manifest_quietly(folder: Path) -> dict:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class _StoredVectors:
    """Vectors a build may reuse by passage key: the old index's vectors files (one per segment, memory-mapped, seen
    as one array) looked up through {key: row} (never copied whole), and the vectors resumed from the checkpoint of
    an interrupted build."""

    def __init__(self, array: np.ndarray | None = None, rows: dict[str, int] | None = None):
        self._array = array
        self._rows = rows or {}
        self._resumed: dict[str, np.ndarray] = {}

    def resume(self, vectors: dict[str, np.ndarray]) -> None:
        """Add the vectors of a checkpoint; they win over the old index's."""
        self._resumed.update(vectors)

    def __contains__(self, key: str) -> bool:
        return key in self._resumed or key in self._rows

    def copy_into(self, vectors: np.ndarray, wanted: list[tuple[int, str]]) -> None:
        """Fill `vectors[row]` with the stored vector of `key` for every (row, key) of `wanted`."""
        targets, sources = [], []
        for row, key in wanted:
            if key in self._resumed:
                vectors[row] = self._resumed[key]
            else:
                targets.append(row)
                sources.append(self._rows[key])
        if not targets:
            return
        # In the file's order, a block at a time: the mapped file is read sequentially and never held whole.
        order = np.argsort(np.asarray(sources, dtype=np.int64), kind="stable")
        targets, sources = np.asarray(targets, dtype=np.int64)[order], np.asarray(sources, dtype=np.int64)[order]
        for start in range(0, len(targets), _COPY_BLOCK):
            block = slice(start, start + _COPY_BLOCK)
            vectors[targets[block]] = self._array[sources[block]]


def _stored_vectors(folder: Path, manifest: dict, model_id: str, dimension: int) -> _StoredVectors:
    """Return the vectors of the existing index (every segment) if it was built by the same model, else none."""
    segments = segment_names(manifest)
    if (manifest.get("format_version") not in REUSABLE_FORMATS or segments is None
            or manifest.get("model_id") != model_id or manifest.get("dimension") != dimension):
        return _StoredVectors()
    parts, keys = [], []
    try:
        files = manifest["files"]
        for segment in segments:
            for name in (VECTORS, ROW_KEYS):
                verify_file(folder, segment_path(segment, name), files[segment_path(segment, name)])
            vectors = np.load(folder / segment / VECTORS, mmap_mode="r", allow_pickle=False)
            segment_keys = (folder / segment / ROW_KEYS).read_text(encoding="ascii").split()
            if vectors.shape != (len(segment_keys), dimension) or vectors.dtype != np.float32:
                return _StoredVectors()
            parts.append(vectors)
            keys += segment_keys
    except (QAError, OSError, ValueError, KeyError, TypeError):
        # A damaged old index is no reason to fail: everything is embedded again.
        return _StoredVectors()
    return _StoredVectors(parts[0] if len(parts) == 1 else SegmentedRows(parts),
                          {key: row for row, key in enumerate(keys)})
