"""The index folder: build it from the corpus, write it atomically, load and verify it.

A folder that describes itself (files written by `build_index`):
  manifest.json     format version, model id, dimension, FAISS factory, counts, sha256 of every source file and of
                    every index file, build time, package version; written last, so no manifest = no index
  documents.jsonl   one `Document.to_dict()` per line, corpus order; chunk position = order of chunks over all lines
  vectors.npy       float32 (n_rows, dimension), L2-normalised: inner product is cosine similarity
  row_chunk.npy     int32 (n_rows,): the chunk position of each vector row (a chunk may have several rows)
  row_keys.txt      line i = sha256 of (model id, passage text) of vector row i: lets a rebuild reuse vectors
  faiss.index       the FAISS index over vectors.npy, inner-product metric
  lexical/          the BM25 index (`LexicalIndex.save`); row i = chunk position i

Writing is atomic: everything goes into `<index>.tmp-<pid>` beside the target, is fsynced, and then takes the
target's place in one step (see `_swap_into_place`), so a crash, Ctrl-C or `kill -9` leaves the previous index
intact and a reader never sees a half-written folder. A lock file `.<index>.lock` beside the folder keeps two
builds from writing the same index at once.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import json
import os
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .config import Settings
from .documents import Chunk, Document
from .errors import IndexInvalidError, IndexMissingError, NotFoundError, QAError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DOCUMENTS = "documents.jsonl"
VECTORS = "vectors.npy"
ROW_CHUNK = "row_chunk.npy"
ROW_KEYS = "row_keys.txt"
FAISS_INDEX = "faiss.index"
LEXICAL_DIR = "lexical"
# Every name `build_index` writes into the folder: a folder holding anything else is not ours to replace.
INDEX_NAMES = frozenset({MANIFEST, DOCUMENTS, VECTORS, ROW_CHUNK, ROW_KEYS, FAISS_INDEX, LEXICAL_DIR})
REQUIRED_FILES = (DOCUMENTS, VECTORS, ROW_CHUNK, ROW_KEYS, FAISS_INDEX)
# At load, files up to this size are checked against their sha256 (hashing reads ~1 GB/s); larger ones (the vectors
# and FAISS index of a large corpus) only against their size, so that a server starts in seconds and memory-maps
# them instead of reading them through. The documents and the row map are always hashed: they are read whole
# anyway, and a flipped byte there would cite the wrong text.
HASH_AT_LOAD_BYTES = 64 * 2**20
ALWAYS_HASHED = frozenset({MANIFEST, DOCUMENTS, ROW_CHUNK, ROW_KEYS})

# Passages per call to the embedder: large enough to amortise the call, small enough for a smooth progress bar.
BATCH_SIZE = 32
# "auto" factory: exact search below the threshold, HNSW (graph, approximate) above it.
EXACT_FACTORY = "Flat"
APPROX_FACTORY = "HNSW32,Flat"
# HNSW graph quality: FAISS's default efConstruction (40) reached only recall@10 0.90 at 1M rows even with
# efSearch 1024; 128 reached 0.951 (bench/RESULTS.md). It costs build time (744 s for 1M rows on 2 cores), which is
# small beside embedding those rows.
HNSW_EF_CONSTRUCTION = 128

_REBUILD_HINT = "run `qa-service build --rebuild`"


class IndexLockedError(QAError):
    """Another build is writing the same index folder right now."""


# --- build -------------------------------------------------------------------------------------------------

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
        line = (f"built {_folder(self.index_dir)}: {self.documents} documents, {self.chunks} chunks "
                f"(embedded {self.embedded}, reused {self.reused}), {self.warnings} warnings, "
                f"{self.seconds:.1f} s, {self.chunks_per_second:.1f} chunks/s")
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
        raise QAError(f"cannot build the index in {settings.index_dir}: {exc.strerror or exc}{where}") from exc


def _build(settings: Settings, rebuild: bool, progress: bool, embedder) -> BuildReport:
    from .embedding import load_embedder, normalise_rows
    from .lexical import LexicalIndex
    from .parsing import find_document_files, parse_paths
    from .passages import lexical_text, passage_texts

    started = time.perf_counter()
    corpus_dir = Path(settings.corpus_dir)
    if not corpus_dir.exists():
        raise QAError(f"corpus folder {corpus_dir} does not exist: pass --corpus or set QA_CORPUS_DIR")
    # The real folder, not a symlink to it: the swap must move the folder itself.
    target = Path(os.path.realpath(settings.index_dir))
    report = BuildReport(index_dir=Path(settings.index_dir))

    target.parent.mkdir(parents=True, exist_ok=True)
    with _build_lock(target):
        _check_replaceable(target)
        _remove_leftovers(target)
        files = find_document_files(corpus_dir)
        if not files:
            raise QAError(f"no .txt or .pdf documents in {corpus_dir}: nothing to index, the index was not changed")
        sources = {_source_name(path, corpus_dir): _source_hashes(path) for path in files}
        parsed = parse_paths(files)
        report.failures.extend(parsed.failures)
        documents = _unique_documents(parsed.documents, report.failures)
        if not documents:
            raise QAError(f"no document in {corpus_dir} could be read ({'; '.join(parsed.failures[:3])}): "
                          "the index was not changed")

        embedder = embedder if embedder is not None else load_embedder(settings.model)
        model_id, dimension = str(embedder.model_id), int(embedder.dimension)
        previous = _read_manifest_quietly(target)
        old_sources = previous.get("sources", {}) if isinstance(previous.get("sources"), dict) else {}
        report.changed_files = sorted(n for n, h in sources.items() if old_sources.get(n) != h)
        report.removed_files = sorted(n for n in old_sources if n not in sources)
        stored = {} if rebuild else _stored_vectors(target, previous, model_id, dimension)

        chunks = [(doc, chunk) for doc in documents for chunk in doc.chunks]
        row_chunk, row_keys, to_embed = [], [], {}
        embedded_chunks, vectorised_chunks = set(), set()
        for position, (doc, chunk) in enumerate(chunks):
            for text in passage_texts(doc, chunk):
                vectorised_chunks.add(position)
                key = _passage_key(model_id, text)
                row_chunk.append(position)
                row_keys.append(key)
                if key not in stored:
                    to_embed.setdefault(key, text)
                    embedded_chunks.add(position)

        embed_started = time.perf_counter()
        fresh = _embed(embedder, to_embed, dimension, progress, normalise_rows)
        report.embedding_seconds = time.perf_counter() - embed_started
        vectors = np.zeros((len(row_keys), dimension), dtype=np.float32)
        for row, key in enumerate(row_keys):
            vectors[row] = fresh[key] if key in fresh else stored[key]

        factory = resolve_factory(settings.index_factory, len(row_keys), settings.approx_threshold)
        faiss_index = _faiss_index(factory, vectors, dimension)
        lexical = LexicalIndex.build([lexical_text(doc, chunk) for doc, chunk in chunks])

        seconds_so_far = time.perf_counter() - started
        manifest = {
            "format_version": FORMAT_VERSION,
            "package_version": _package_version(),
            "model_id": model_id,
            "dimension": dimension,
            "metric": "inner_product",
            "factory": factory,
            "factory_setting": settings.index_factory,
            "documents": len(documents),
            "chunks": len(chunks),
            "vectors": len(row_keys),
            "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "build_seconds": round(seconds_so_far, 3),
            "corpus_dir": str(corpus_dir),
            "sources": sources,
            "failures": list(report.failures),
        }
        tmp = target.parent / f"{target.name}.tmp-{os.getpid()}"
        try:
            _write_folder(tmp, manifest, documents, vectors, np.asarray(row_chunk, dtype=np.int32), row_keys,
                          faiss_index, lexical)
            _swap_into_place(tmp, target)
        except BaseException:
            # Ctrl-C or a full disk: the previous index stays as it was, only our temporary folder goes.
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    report.documents = len(documents)
    report.chunks = len(chunks)
    report.vectors = len(row_keys)
    report.embedded = len(embedded_chunks)
    report.reused = len(vectorised_chunks - embedded_chunks)
    report.embedded_passages = len(to_embed)
    report.warnings = sum(len(doc.warnings) for doc in documents)
    report.factory = factory
    report.seconds = time.perf_counter() - started
    return report


def resolve_factory(setting: str, n_rows: int, approx_threshold: int) -> str:
    """Return the FAISS factory string for `setting`: "auto" means exact below `approx_threshold` rows, else HNSW."""
    setting = (setting or "auto").strip()
    if setting.lower() == "auto":
        return EXACT_FACTORY if n_rows < approx_threshold else APPROX_FACTORY
    return setting


def _faiss_index(factory: str, vectors: np.ndarray, dimension: int):
    """Return a FAISS index of `factory` type holding `vectors`, trained on them if the type needs training."""
    import faiss

    try:
        index = faiss.index_factory(dimension, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise QAError(f"invalid FAISS index factory {factory!r} ({_first_line(exc)}): use 'auto', 'Flat', "
                      "'HNSW32,Flat' or another faiss factory string")
    inner = faiss.downcast_index(index)
    if isinstance(inner, faiss.IndexHNSW):
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    try:
        if not index.is_trained:
            index.train(vectors)
        index.add(vectors)
    except RuntimeError as exc:
        raise QAError(f"FAISS index {factory!r} cannot be built over {len(vectors)} vectors "
                      f"({_first_line(exc)}): use --factory auto")
    return index


def _embed(embedder, to_embed: dict[str, str], dimension: int, progress: bool, normalise_rows) -> dict:
    """Return {key: vector} for every passage in `to_embed`, embedded in batches behind a progress bar."""
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
    hashes = {"sha256": _sha256_file(path)}
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        hashes["sidecar_sha256"] = _sha256_file(sidecar)
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
            _verify_file(folder, name, files[name])
        vectors = np.load(folder / VECTORS, allow_pickle=False)
        keys = (folder / ROW_KEYS).read_text(encoding="ascii").split()
    except (QAError, OSError, ValueError, KeyError, TypeError):
        # A damaged old index is no reason to fail: everything is embedded again.
        return {}
    if vectors.shape != (len(keys), dimension) or vectors.dtype != np.float32:
        return {}
    return dict(zip(keys, vectors))


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("qa_service")
    except Exception:  # running from a source tree that is not installed
        return "unknown"


# --- writing -----------------------------------------------------------------------------------------------

def _write_folder(folder: Path, manifest: dict, documents, vectors, row_chunk, row_keys, faiss_index,
                  lexical) -> None:
    """Write every index file into a fresh `folder`, manifest last, each fsynced."""
    import faiss

    folder.mkdir()
    with open(folder / DOCUMENTS, "w", encoding="utf-8") as out:
        for doc in documents:
            out.write(json.dumps(doc.to_dict(), ensure_ascii=False) + "\n")
    with open(folder / VECTORS, "wb") as out:
        np.save(out, vectors, allow_pickle=False)
    with open(folder / ROW_CHUNK, "wb") as out:
        np.save(out, row_chunk, allow_pickle=False)
    (folder / ROW_KEYS).write_text("".join(key + "\n" for key in row_keys), encoding="ascii")
    faiss.write_index(faiss_index, str(folder / FAISS_INDEX))
    lexical.save(folder / LEXICAL_DIR)

    manifest = dict(manifest)
    manifest["files"] = {name: _file_entry(folder / name) for name in _index_files(folder)}
    for name in manifest["files"]:
        _fsync_file(folder / name)
    with open(folder / MANIFEST, "w", encoding="utf-8") as out:
        json.dump(manifest, out, ensure_ascii=False, indent=2)
        out.write("\n")
        out.flush()
        os.fsync(out.fileno())
    for sub in sorted({(folder / name).parent for name in manifest["files"]} | {folder}):
        _fsync_dir(sub)


def _index_files(folder: Path) -> list[str]:
    """Return the relative paths of every file in `folder` except the manifest, sorted."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and p.name != MANIFEST)


def _file_entry(path: Path) -> dict:
    return {"sha256": _sha256_file(path), "bytes": path.stat().st_size}


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    # A rename or a new file is durable only once its directory entry is; directories are fsynced via an fd.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on directories; durability then rests on the filesystem
        pass
    finally:
        os.close(fd)


def _swap_into_place(tmp: Path, target: Path) -> None:
    """Put the complete folder `tmp` at `target` so that `target` is at every moment the old or the new index.

    Why not a symlink `index -> index.v123`: the index stays a plain folder that users can copy, mount or ignore
    in git, and nothing accumulates beside it. Linux's renameat2(RENAME_EXCHANGE) swaps two directories
    atomically, which plain rename() cannot do for a non-empty target. Where it is missing (other systems, some
    filesystems) we rename the old folder aside and the new one in: then for an instant there is no folder, which a
    reader sees as "no index" and `load_index` retries.
    """
    if not os.path.lexists(target):
        os.rename(tmp, target)
    elif _exchange(tmp, target):
        shutil.rmtree(tmp)  # now holds the previous index
    else:
        old = target.parent / f"{target.name}.old-{os.getpid()}"
        os.rename(target, old)
        try:
            os.rename(tmp, target)
        except BaseException:
            os.rename(old, target)  # interrupted between the two renames: put the previous index back
            raise
        shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(target.parent)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap the paths `a` and `b` (Linux renameat2); return False where the system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


@contextmanager
def _build_lock(target: Path):
    """Hold an exclusive lock on `.<index>.lock` beside the index for the whole build (released even on kill -9)."""
    lock_path = target.parent / f".{target.name}.lock"
    handle = open(lock_path, "a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexLockedError(f"another `qa-service build` is writing {target} right now (lock {lock_path}): "
                                   "wait for it to finish") from None
        yield
    finally:
        handle.close()


def _check_replaceable(target: Path) -> None:
    """Refuse to replace a folder that is neither missing, empty, nor an index (e.g. `--index .` by mistake)."""
    if not os.path.lexists(target):
        return
    if not target.is_dir():
        raise QAError(f"{target} exists and is not a folder: choose another --index")
    foreign = sorted(p.name for p in target.iterdir() if p.name not in INDEX_NAMES)
    if foreign:
        raise QAError(f"{target} is not an index folder (it holds {', '.join(foreign[:3])}): "
                      "choose another --index or empty it")


def _remove_leftovers(target: Path) -> None:
    """Delete temporary folders of builds that died (we hold the lock, so no other build is using them)."""
    for pattern in (f"{target.name}.tmp-*", f"{target.name}.old-*"):
        for leftover in target.parent.glob(pattern):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)


# --- loading -----------------------------------------------------------------------------------------------

@dataclass(eq=False)
class Index:
    """A loaded, verified index folder: documents, chunks, vectors, FAISS and BM25 indexes, manifest."""

    path: Path
    manifest: dict
    documents: dict[str, Document]
    chunks: list[Chunk]
    vectors: np.ndarray
    row_chunk: np.ndarray
    faiss_index: object
    lexical: object
    # How faiss.index was read: "mmap-ifc" (zero-copy, shared between processes), "mmap" or "copy".
    faiss_read_mode: str = "copy"
    _positions: dict[str, int] = field(default_factory=dict, repr=False)

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
        try:
            return self._positions[chunk_id]
        except KeyError:
            raise NotFoundError(f"no chunk {chunk_id!r} in the index") from None

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
        raise IndexMissingError(f"no index in {_folder(path)}: run `qa-service build`")
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise IndexMissingError(f"no complete index in {_folder(path)} ({MANIFEST} is missing): run `qa-service build`")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexInvalidError(f"{manifest_path} is unreadable ({_first_line(exc)}): {_REBUILD_HINT}")
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
    for name in REQUIRED_FILES:
        if name not in files:
            raise IndexInvalidError(f"{manifest_path} does not list {name}: {_REBUILD_HINT}")
    for name, entry in files.items():
        _verify_file(path, name, entry)

    name = DOCUMENTS
    try:
        documents, chunks = _read_documents(path / DOCUMENTS)
        name = VECTORS
        vectors = np.load(path / VECTORS, mmap_mode="r", allow_pickle=False)
        name = ROW_CHUNK
        row_chunk = np.load(path / ROW_CHUNK, allow_pickle=False)
        name = FAISS_INDEX
        faiss_index, read_mode = _read_faiss(path / FAISS_INDEX)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise IndexInvalidError(f"{path / name} is unreadable ({_first_line(exc)}): {_REBUILD_HINT}")

    from .lexical import LexicalIndex

    lexical = LexicalIndex.load(path / LEXICAL_DIR)
    index = Index(path=path, manifest=manifest, documents=documents, chunks=chunks, vectors=vectors,
                  row_chunk=row_chunk, faiss_index=faiss_index, lexical=lexical, faiss_read_mode=read_mode,
                  _positions={c.chunk_id: i for i, c in enumerate(chunks)})
    _check_consistent(index)
    return index


def _verify_file(folder: Path, name: str, entry) -> None:
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
    if hashed and _sha256_file(file_path) != entry["sha256"]:
        raise IndexInvalidError(f"{file_path} is corrupted (checksum mismatch): {_REBUILD_HINT}")


def _read_documents(path: Path) -> tuple[dict[str, Document], list[Chunk]]:
    documents: dict[str, Document] = {}
    chunks: list[Chunk] = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            doc = Document.from_dict(json.loads(line))
            documents[doc.document_id] = doc
            chunks.extend(doc.chunks)
    return documents, chunks


def _read_faiss(path: Path):
    """Read a FAISS index memory-mapped where FAISS can (shared between processes), else into memory."""
    import faiss

    # IO_FLAG_MMAP_IFC maps flat and HNSW storage zero-copy; IO_FLAG_MMAP covers inverted lists (IVF).
    attempts = [("mmap-ifc", getattr(faiss, "IO_FLAG_MMAP_IFC", None)), ("mmap", getattr(faiss, "IO_FLAG_MMAP", None)),
                ("copy", 0)]
    last_error = None
    for mode, flag in attempts:
        if flag is None:
            continue
        try:
            return faiss.read_index(str(path), flag), mode
        except RuntimeError as exc:  # this index type cannot be mapped: try the next way
            last_error = exc
    raise last_error


def _check_consistent(index: Index) -> None:
    """Raise IndexInvalidError if the files disagree with each other or with the manifest."""
    manifest, path = index.manifest, index.path
    n_rows, dimension, n_chunks = int(manifest["vectors"]), int(manifest["dimension"]), len(index.chunks)
    problems = []
    if len(index.documents) != manifest["documents"]:
        problems.append(f"{len(index.documents)} documents, manifest says {manifest['documents']}")
    if n_chunks != manifest["chunks"] or len(index._positions) != n_chunks:
        problems.append(f"{n_chunks} chunks (ids unique: {len(index._positions)}), manifest says {manifest['chunks']}")
    if index.vectors.shape != (n_rows, dimension) or index.vectors.dtype != np.float32:
        problems.append(f"vectors are {index.vectors.dtype} {index.vectors.shape}, expected float32 "
                        f"({n_rows}, {dimension})")
    if index.row_chunk.shape != (n_rows,) or (n_rows and not (0 <= index.row_chunk.min() and
                                                              index.row_chunk.max() < n_chunks)):
        problems.append("row_chunk does not map every vector row to a chunk")
    import faiss

    if index.faiss_index.metric_type != faiss.METRIC_INNER_PRODUCT:
        problems.append("faiss.index does not use the inner-product metric")
    if index.faiss_index.ntotal != n_rows or index.faiss_index.d != dimension:
        problems.append(f"faiss.index holds {index.faiss_index.ntotal} vectors of {index.faiss_index.d} "
                        f"dimensions, expected {n_rows} of {dimension}")
    if index.lexical.n_rows != n_chunks:
        problems.append(f"the lexical index has {index.lexical.n_rows} rows, expected {n_chunks}")
    if problems:
        raise IndexInvalidError(f"the index in {path} is inconsistent ({problems[0]}): {_REBUILD_HINT}")


def _folder(path: Path) -> str:
    return str(path).rstrip("/") + "/"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
