"""How the process uses memory, through the C library calls Python does not offer (madvise, malloc_trim, mallopt).

A build of 490,000 chunks holds the BM25 postings, then the vectors and the HNSW graph; what one phase freed must
not stay resident beside the next (docs/SCALING.md, "The build's memory, phase by phase"). A searching process does
the opposite: it keeps what a search freed for the next one and maps the index's files in before the first.
"""
from __future__ import annotations

import ctypes
import mmap
import os
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def _libc():
    """Return the C library with madvise declared, or None where it cannot be opened."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    libc.madvise.restype = ctypes.c_int
    return libc


def drop_pages(address: int, n_bytes: int) -> None:
    """Hand back the whole pages of `n_bytes` at `address` (they read as zeros again); Python's mmap.madvise works
    only on mappings it made."""
    first = -(-address // mmap.PAGESIZE) * mmap.PAGESIZE
    last = (address + n_bytes) // mmap.PAGESIZE * mmap.PAGESIZE
    libc = _libc()
    if last > first and libc is not None:
        libc.madvise(first, last - first, mmap.MADV_DONTNEED)


def return_freed_heap() -> None:
    """Give the heap memory freed so far back to the system (glibc keeps it otherwise; elsewhere nothing happens).

    At 490,000 chunks the freed BM25 postings left 0.5 GiB resident that the vectors would be allocated beside
    (1.64 -> 1.13 GiB after the two text indexes).
    """
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None)  # glibc only
    if trim is not None:
        trim(0)


# mallopt's parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
# Blocks up to this size come from the heap, not from a mapping of their own: the largest glibc's own
# adjustment ever reaches on 64 bits, above a search's score arrays (490,000 chunks x 8 bytes = 3.9 MB).
_SEARCH_MMAP_THRESHOLD = 32 * 2**20
# Freed memory at the top of a heap (each thread's arena has one) is given back only above this: more than one
# search's arrays take at once at 490,000 chunks, less than a worst case of many arenas would hold with more.
_SEARCH_TRIM_THRESHOLD = 64 * 2**20


def keep_freed_heap() -> None:
    """Let this process reuse the memory a search frees instead of giving it back to the system at once.

    Each search allocates and frees a few arrays of one value per chunk. Blocks that large glibc maps and unmaps
    (or trims off the heap) every time, so the next search takes a page fault for every 4 KiB of them again: at
    490,000 chunks that cost more than the arithmetic (fusion 13-17 ms instead of 4.7 ms, selecting the best
    chunks 6 ms instead of 2; 8 threads searching on 2 cores: 24.6 instead of 36.9 ms a search). The price is the
    memory freed by one search staying resident for the next: 300 -> 434 MiB private after those 8 threads.
    Elsewhere than on glibc nothing happens.
    """
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, _SEARCH_MMAP_THRESHOLD)
        mallopt(_M_TRIM_THRESHOLD, _SEARCH_TRIM_THRESHOLD)


# Files are read ahead in blocks of this size: the disk's sequential speed (712 MB/s here against ~70 MB/s for a
# page fault at a time), at a bounded buffer.
_READ_AHEAD_BLOCK = 8 * 2**20


def read_ahead(path: Path, n_bytes: int, offset: int = 0) -> None:
    """Read `n_bytes` of the file at `path` from `offset` on in large blocks, so that they are in the page cache
    when a reader that walks them a page at a time (through a mapping) comes; from the page cache this costs a copy.

    posix_fadvise(WILLNEED) did not do it: on a cold page cache FAISS still took 5.3 s over the 376 MB of an HNSW
    graph it checks at load, 0.64 + 0.05 s after this.
    """
    if n_bytes <= 0:
        return
    buffer = memoryview(bytearray(min(n_bytes, _READ_AHEAD_BLOCK)))
    with open(path, "rb", buffering=0) as file:
        file.seek(offset)
        left = n_bytes
        while left > 0:
            got = file.readinto(buffer[:min(left, len(buffer))])
            if not got:
                break
            left -= got


_MADV_WILLNEED, _MADV_POPULATE_READ = 3, 22  # POPULATE_READ: Linux 5.14 and later
# Mappings are made resident only while they take at most this share of the memory the system has available.
_POPULATE_SHARE = 0.5
# A mapping with less than this share of its pages in the page cache is read ahead before it is populated.
_CACHED_ENOUGH = 0.9


def populate_mappings(folder: Path) -> int:
    """Map every page of this process's mappings of files under `folder` (vectors, ANN graph, BM25 matrix) now,
    so that the first searches do not fault them in one by one; return the bytes asked for (0: nothing done).

    The pages are the page cache's, shared by every process that maps the files (they count in each one's RSS as
    file pages, not as its own memory). Nothing is done when they would take more than half of the memory
    available (the system then keeps what the searches use, as before) or where /proc/self/maps is missing.
    """
    libc = _libc()
    mappings = _mappings_under(Path(folder).resolve())
    total = sum(end - start for start, end, _, _ in mappings)
    if libc is None or not mappings or total > _POPULATE_SHARE * _available_bytes():
        return 0
    for start, end, path, offset in mappings:
        # Faulted in a page at a time, pages that are not in the page cache come from the disk at a fraction of its
        # speed (4 GB at 490,000 chunks: 33 s instead of ~6 s): those files are read in large blocks first.
        if _cached_share(libc, start, end) < _CACHED_ENOUGH:
            try:
                read_ahead(Path(path), end - start, offset)
            except OSError:  # replaced or gone since it was mapped: the mapping still reads its own pages
                pass
        if libc.madvise(start, end - start, _MADV_POPULATE_READ) != 0:  # an older kernel: read ahead at least
            libc.madvise(start, end - start, _MADV_WILLNEED)
    return total


def _mappings_under(folder: Path) -> list[tuple[int, int, str, int]]:
    """Return (start, end, file path, offset in the file) of this process's mappings of files inside `folder`."""
    prefix = str(folder) + os.sep
    found = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)
                path = fields[5].rstrip("\n") if len(fields) == 6 else ""
                if path.startswith(prefix):
                    start, end = (int(part, 16) for part in fields[0].split("-"))
                    found.append((start, end, path, int(fields[2], 16)))
    except OSError:
        return []
    return found


def _cached_share(libc, start: int, end: int) -> float:
    """Return the share of the pages of the mapping start..end that are in the page cache (mincore), 1.0 where
    that cannot be told."""
    pages = -(-(end - start) // mmap.PAGESIZE)
    resident = (ctypes.c_ubyte * pages)()
    mincore = getattr(libc, "mincore", None)
    if mincore is None or not pages or mincore(ctypes.c_void_p(start), ctypes.c_size_t(end - start), resident) != 0:
        return 1.0
    return bytes(resident).count(1) / pages  # bit 0: resident; the others are reserved (0)


def _available_bytes() -> int:
    """Return MemAvailable of /proc/meminfo in bytes (0 where it cannot be read)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0
