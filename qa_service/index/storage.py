"""The index folder on disk: its file names, the manifest's file entries, and replacing the folder atomically.

A folder that describes itself (files written by `build_index`):
  manifest.json     format version, model id, dimension, FAISS factory, counts, sha256 of every source file and of
                    every index file, build time, package version; written last, so no manifest = no index
  store.sqlite      the documents (ordinal = corpus order, id, metadata JSON, first chunk, chunk count) and the
                    chunks (position, id, document ordinal, kind, numbers, frage, antwort, pages), unique indexes on
                    both ids (`store.py`); chunk position = order of chunks over the documents
  chunk_document.npy    int32 (n_chunks,): the document ordinal of each chunk
  chunk_answerable.npy  bool (n_chunks,): whether each chunk answers something (the others are never ranked)
  chunk_first_row.npy   int64 (n_chunks + 1,): the first vector row of each chunk, then the number of rows
  repeated_sentences.npy  uint64, sorted: keys of the answer sentences in two or more documents (not highlighted)
  vectors.npy       float32 (n_rows, dimension), L2-normalised: inner product is cosine similarity
  row_chunk.npy     int32 (n_rows,): the chunk position of each vector row (a chunk may have several rows)
  row_keys.txt      line i = sha256 of (model id, passage text) of vector row i: lets a rebuild reuse vectors
  faiss.index       the FAISS index over vectors.npy, inner-product metric
  lexical/          the BM25 index (`LexicalIndex.save`); row i = chunk position i
  quotes/           the verbatim-quote fingerprints (`QuoteIndex.save`): sorted hash -> chunk position arrays
  sentence_keys.npy uint64, sorted: the key of every distinct answer sentence (what a later segment's are checked
                    against for repeated_sentences.npy)
  seg-00002/ …      segments added by updates that only added documents: each holds the files above from
                    store.sqlite to sentence_keys.npy for its own documents (positions, ordinals and rows local);
                    the manifest's "segments" names them in order after the folder's own (".")

An update that only adds documents (`building.py`) hard-links the files of the existing segments into the new
folder, writes the new documents as one more segment and a new repeated_sentences.npy (over all segments): the
unchanged data is neither read nor written again.

Writing is atomic: everything goes into `<index>.tmp-<pid>` beside the target, is fsynced, and then takes the
target's place in one step (see `swap_into_place`), so a crash, Ctrl-C or `kill -9` leaves the previous index
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
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from ..errors import IndexLockedError, IndexWriteError

# 3: segments (2 had one, and no sentence_keys.npy; 1 had documents.jsonl).
FORMAT_VERSION = 3
MANIFEST = "manifest.json"
STORE = "store.sqlite"
CHUNK_DOCUMENT = "chunk_document.npy"
CHUNK_ANSWERABLE = "chunk_answerable.npy"
CHUNK_FIRST_ROW = "chunk_first_row.npy"
REPEATED_SENTENCES = "repeated_sentences.npy"
VECTORS = "vectors.npy"
ROW_CHUNK = "row_chunk.npy"
ROW_KEYS = "row_keys.txt"
FAISS_INDEX = "faiss.index"
LEXICAL_DIR = "lexical"
QUOTES_DIR = "quotes"
SENTENCE_KEYS = "sentence_keys.npy"
# The files of one segment (the folder's own, or a seg-NNNNN folder in it).
SEGMENT_NAMES = frozenset({STORE, CHUNK_DOCUMENT, CHUNK_ANSWERABLE, CHUNK_FIRST_ROW, VECTORS, ROW_CHUNK, ROW_KEYS,
                           FAISS_INDEX, LEXICAL_DIR, QUOTES_DIR, SENTENCE_KEYS})
# The folder's own segment, as the manifest's "segments" names it.
BASE_SEGMENT = "."
SEGMENT_FOLDER = re.compile(r"seg-\d{5}")
# Every name `build_index` writes into the folder: a folder holding anything else is not ours to replace.
INDEX_NAMES = SEGMENT_NAMES | {MANIFEST, REPEATED_SENTENCES}
# Names only an index of an earlier format holds: such a folder is still ours to replace by a rebuild.
EARLIER_NAMES = frozenset({"documents.jsonl"})


def folder_text(path: Path) -> str:
    """Return `path` as a folder name for messages, with one trailing slash."""
    return str(path).rstrip("/") + "/"


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of the file at `path`, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- writing -------------------------------------------------------------------------------------------------

def segment_name(number: int) -> str:
    """Return the folder name of the `number`-th segment (the folder's own is the first)."""
    return f"seg-{number:05d}"


def replace_atomically(target: Path, write_files: Callable[[Path], None], manifest: dict,
                       known: dict | None = None) -> None:
    """Write a new index folder beside `target` and swap it into place; the previous index stays until then.

    `write_files(folder)` writes every index file except the manifest into the not yet existing `folder`; the
    manifest, with an entry (sha256, size) for each of those files, is written last. `known` gives the entries of
    files linked unchanged from the previous index (not hashed again).
    """
    tmp = target.parent / f"{target.name}.tmp-{os.getpid()}"
    try:
        write_files(tmp)
        _write_manifest(tmp, manifest, known or {})
        swap_into_place(tmp, target)
    except BaseException:
        # Ctrl-C or a full disk: the previous index stays as it was, only our temporary folder goes.
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def parts_folder(target: Path):
    """Yield a new folder beside `target` for the parts a build writes before the index folder; it is removed at
    the end (a killed build's by `remove_leftovers`: its name is one of a temporary folder's)."""
    folder = target.parent / f"{target.name}.tmp-{os.getpid()}-parts"
    folder.mkdir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def link_files(source: Path, folder: Path, names) -> None:
    """Give `folder` the files `names` (relative paths) of `source`: hard links (no data written), else copies."""
    for name in names:
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source / name, target)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
            shutil.copy2(source / name, target)  # a filesystem without hard links


def _write_manifest(folder: Path, manifest: dict, known: dict) -> None:
    """Fsync every new file in `folder`, then write the manifest listing every file, then fsync the folders."""
    manifest = dict(manifest)
    names = _index_files(folder)
    manifest["files"] = {name: known[name] if name in known else _file_entry(folder / name) for name in names}
    for name in names:
        if name not in known:
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
    return {"sha256": sha256_file(path), "bytes": path.stat().st_size}


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


def swap_into_place(tmp: Path, target: Path) -> None:
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


# --- before writing ------------------------------------------------------------------------------------------

@contextmanager
def build_lock(target: Path):
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


def check_replaceable(target: Path) -> None:
    """Refuse to replace a folder that is neither missing, empty, nor an index (e.g. `--index .` by mistake)."""
    if not os.path.lexists(target):
        return
    if not target.is_dir():
        raise IndexWriteError(f"{target} exists and is not a folder: choose another --index")
    foreign = sorted(p.name for p in target.iterdir()
                     if p.name not in INDEX_NAMES | EARLIER_NAMES and not SEGMENT_FOLDER.fullmatch(p.name))
    if foreign:
        raise IndexWriteError(f"{target} is not an index folder (it holds {', '.join(foreign[:3])}): "
                              "choose another --index or empty it")


def remove_leftovers(target: Path) -> None:
    """Delete temporary folders of builds that died (we hold the lock, so no other build is using them)."""
    for pattern in (f"{target.name}.tmp-*", f"{target.name}.old-*"):
        for leftover in target.parent.glob(pattern):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
