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


_MADV_WILLNEED, _MADV_POPULATE_READ = 3, 22  # POPULATE_READ: Linux 5.14 and later
# Mappings are made resident only while they take at most this share of the memory the system has available.
_POPULATE_SHARE = 0.5


def populate_mappings(folder: Path) -> int:
    """Map every page of this process's mappings of files under `folder` (vectors, ANN graph, BM25 matrix) now,
    so that the first searches do not fault them in one by one; return the bytes asked for (0: nothing done).

    The pages are the page cache's, shared by every process that maps the files (they count in each one's RSS as
    file pages, not as its own memory). Nothing is done when they would take more than half of the memory
    available (the system then keeps what the searches use, as before) or where /proc/self/maps is missing.
    """
    libc = _libc()
    mappings = _mappings_under(Path(folder).resolve())
    total = sum(end - start for start, end in mappings)
    if libc is None or not mappings or total > _POPULATE_SHARE * _available_bytes():
        return 0
    for start, end in mappings:
        if libc.madvise(start, end - start, _MADV_POPULATE_READ) != 0:  # an older kernel: read ahead at least
            libc.madvise(start, end - start, _MADV_WILLNEED)
    return total


def _mappings_under(folder: Path) -> list[tuple[int, int]]:
    """Return (start, end) of this process's mappings of files inside `folder`."""
    prefix = str(folder) + os.sep
    found = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)
                if len(fields) == 6 and fields[5].rstrip("\n").startswith(prefix):
                    start, end = (int(part, 16) for part in fields[0].split("-"))
                    found.append((start, end))
    except OSError:
        return []
    return found


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
