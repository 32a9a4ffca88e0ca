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
from typing import Callable

import numpy as np

from .. import package_version
from ..config import Settings
from ..documents import Document
from ..errors import CorpusError, IndexWriteError, QAError
from . import storage
from .ann import EXACT_FACTORY, VectorIndex, resolve_factory
from .checkpoint import EmbeddingCheckpoint, checkpoint_folder
from .loading import Index, verify_file
from .storage import (DOCUMENTS, FAISS_INDEX, FORMAT_VERSION, LEXICAL_DIR, MANIFEST, QUOTES_DIR, ROW_CHUNK, ROW_KEYS,
                      VECTORS, folder_text, sha256_file)

# Passages per call to the embedder: large enough to amortise the call, small enough for a smooth progress bar.
BATCH_SIZE = 32


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
    return _assemble(documents, embedder, lambda n_rows: resolve_factory(factory, n_rows, threshold), {},
                     progress=False).index


def passage_rows(documents: list[Document]) -> list[tuple[int, str]]:
    """Return (chunk position, passage text) of every vector row of the index of `documents`, in row order."""
    from ..passages import passage_texts

    chunks = [(doc, chunk) for doc in documents for chunk in doc.chunks]
    return [(position, text) for position, (doc, chunk) in enumerate(chunks) for text in passage_texts(doc, chunk)]


@dataclass
class _Assembly:
    """An assembled index and what its assembly did: the row keys to store, what had to be embedded."""

    index: Index
    row_keys: list[str]
    embedded_chunks: set[int]
    embedded_passages: int
    embedding_seconds: float


def _assemble(documents: list[Document], embedder, factory_for: Callable[[int], str], stored: dict,
              progress: bool, checkpoint=None) -> _Assembly:
    """Return the index of `documents`, embedding only the passages whose key is not in `stored` ({key: vector}).

    With `checkpoint` (an EmbeddingCheckpoint), freshly embedded vectors are saved as they come.
    """
    from ..embedding import normalise_rows
    from ..lexical import LexicalIndex
    from ..passages import lexical_text
    from ..quote_index import QuoteIndex

    model_id, dimension = str(embedder.model_id), int(embedder.dimension)
    chunks = [(doc, chunk) for doc in documents for chunk in doc.chunks]
    row_chunk, row_keys, to_embed = [], [], {}
    embedded_chunks = set()
    for position, text in passage_rows(documents):
        key = _passage_key(model_id, text)
        row_chunk.append(position)
        row_keys.append(key)
        if key not in stored:
            to_embed.setdefault(key, text)
            embedded_chunks.add(position)

    embed_started = time.perf_counter()
    fresh = _embed(embedder, to_embed, dimension, progress, normalise_rows, checkpoint)
    embedding_seconds = time.perf_counter() - embed_started
    vectors = np.zeros((len(row_keys), dimension), dtype=np.float32)
    for row, key in enumerate(row_keys):
        vectors[row] = fresh[key] if key in fresh else stored[key]

    factory = factory_for(len(row_keys))
    ann = VectorIndex.build(factory, vectors)
    lexical = LexicalIndex.build([lexical_text(doc, chunk) for doc, chunk in chunks])
    quotes = QuoteIndex.build(chunk.antwort for _, chunk in chunks)
    manifest = {"model_id": model_id, "dimension": dimension, "metric": "inner_product", "factory": factory,
                "documents": len(documents), "chunks": len(chunks), "vectors": len(row_keys)}
    index = Index(path=None, manifest=manifest, documents={doc.document_id: doc for doc in documents},
                  chunks=[chunk for _, chunk in chunks], vectors=vectors,
                  row_chunk=np.asarray(row_chunk, dtype=np.int32), ann=ann, lexical=lexical, quotes=quotes)
    return _Assembly(index, row_keys, embedded_chunks, len(to_embed), embedding_seconds)


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
        sources = {_source_name(path, corpus_dir): _source_hashes(path) for path in files}
        parsed = parse_paths(files)
        report.failures.extend(parsed.failures)
        documents = _unique_documents(parsed.documents, report.failures)
        if not documents:
            raise CorpusError(f"no document in {corpus_dir} could be read ({'; '.join(parsed.failures[:3])}): "
                              "the index was not changed")

        embedder = embedder if embedder is not None else load_embedder(settings.model)
        model_id, dimension = str(embedder.model_id), int(embedder.dimension)
        previous = _read_manifest_quietly(target)
        old_sources = previous.get("sources", {}) if isinstance(previous.get("sources"), dict) else {}
        report.changed_files = sorted(n for n, h in sources.items() if old_sources.get(n) != h)
        report.removed_files = sorted(n for n in old_sources if n not in sources)
        stored = {} if rebuild else _stored_vectors(target, previous, model_id, dimension)
        # What an earlier, killed build of this index had embedded (also for --rebuild: it is this run's work).
        checkpoint = EmbeddingCheckpoint(checkpoint_folder(target), model_id, dimension)
        resumed = checkpoint.load()
        report.resumed_passages = len(resumed)
        stored.update(resumed)

        assembly = _assemble(
            documents, embedder,
            lambda n_rows: resolve_factory(settings.index_factory, n_rows, settings.approx_threshold),
            stored, progress, checkpoint)
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
        }
        # Saved before the index is written: a kill while writing loses no embedding either.
        checkpoint.save()
        storage.replace_atomically(target, lambda folder: _write_files(folder, index, assembly.row_keys), manifest)
        checkpoint.discard()

    report.documents = len(index.documents)
    report.chunks = len(index.chunks)
    report.vectors = len(index.vectors)
    report.embedded = len(assembly.embedded_chunks)
    report.reused = len(set(index.row_chunk.tolist()) - assembly.embedded_chunks)
    report.embedded_passages = assembly.embedded_passages
    report.warnings = sum(len(doc.warnings) for doc in documents)
    report.factory = index.manifest["factory"]
    report.seconds = time.perf_counter() - started
    return report


def _write_files(folder: Path, index: Index, row_keys: list[str]) -> None:
    """Write every index file but the manifest into a fresh `folder`."""
    folder.mkdir()
    with open(folder / DOCUMENTS, "w", encoding="utf-8") as out:
        for doc in index.documents.values():
            out.write(json.dumps(doc.to_dict(), ensure_ascii=False) + "\n")
    with open(folder / VECTORS, "wb") as out:
        np.save(out, index.vectors, allow_pickle=False)
    with open(folder / ROW_CHUNK, "wb") as out:
        np.save(out, index.row_chunk, allow_pickle=False)
    (folder / ROW_KEYS).write_text("".join(key + "\n" for key in row_keys), encoding="ascii")
    index.ann.write(folder / FAISS_INDEX)
    index.lexical.save(folder / LEXICAL_DIR)
    index.quotes.save(folder / QUOTES_DIR)


def _embed(embedder, to_embed: dict[str, str], dimension: int, progress: bool, normalise_rows,
           checkpoint=None) -> dict:
    """Return {key: vector} for every passage in `to_embed`, embedded in batches behind a progress bar (and
    handed to `checkpoint` batch by batch)."""
    from tqdm import tqdm

    keys = list(to_embed)
    vectors = {}
    if not keys:
        return vectors
    with tqdm(total=len(keys), desc="embedding", unit="passage", file=sys.stderr, disable=not progress,
              dynamic_ncols=True) as bar:
        for start in range(0, len(keys), BATCH_SIZE):
            batch = keys[start:start + BATCH_SIZE]
            rows = normalise_rows(embedder.encode_passages([to_embed[k] for k in batch]), dimension, len(batch))
            vectors.update(zip(batch, rows))
            if checkpoint is not None:
                checkpoint.add(batch, rows)
            bar.update(len(batch))
    return vectors


def _passage_key(model_id: str, text: str) -> str:
    return hashlib.sha256(f"{model_id}\0{text}".encode("utf-8")).hexdigest()


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


def _stored_vectors(folder: Path, manifest: dict, model_id: str, dimension: int) -> dict:
    """Return {passage key: vector} of the existing index if it was built by the same model, else {}."""
    if (manifest.get("format_version") != FORMAT_VERSION or manifest.get("model_id") != model_id
            or manifest.get("dimension") != dimension):
        return {}
    try:
        files = manifest["files"]
        for name in (VECTORS, ROW_KEYS):
            verify_file(folder, name, files[name])
        vectors = np.load(folder / VECTORS, allow_pickle=False)
        keys = (folder / ROW_KEYS).read_text(encoding="ascii").split()
    except (QAError, OSError, ValueError, KeyError, TypeError):
        # A damaged old index is no reason to fail: everything is embedded again.
        return {}
    if vectors.shape != (len(keys), dimension) or vectors.dtype != np.float32:
        return {}
    return dict(zip(keys, vectors))
