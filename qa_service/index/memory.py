"""Handing memory back to the system during a build: the two C library calls Python does not offer.

A build of 490,000 chunks holds the BM25 postings, then the vectors and the HNSW graph; what one phase freed must
not stay resident beside the next (docs/SCALING.md, "The build's memory, phase by phase").
"""
from __future__ import annotations

import ctypes
import mmap
from functools import lru_cache


@lru_cache(maxsize=1)
def _libc():
    """Return the C library with madvise declared, or None where it cannot be opened."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
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
# Freed memory at the top of the heap is given back only above this: more than a search's arrays take at once.
_SEARCH_TRIM_THRESHOLD = 256 * 2**20


def keep_freed_heap() -> None:
    """Let this process reuse the memory a search frees instead of giving it back to the system at once.

    Each search allocates and frees a few arrays of one value per chunk. Blocks that large glibc maps and unmaps
    (or trims off the heap) every time, so the next search takes a page fault for every 4 KiB of them again: at
    490,000 chunks that cost more than the arithmetic (fusion 13-17 ms instead of 4.7 ms, selecting the best
    chunks 6 ms instead of 2). The price is that up to a few hundred MiB freed by one search stay resident for the
    next (docs/SCALING.md). Elsewhere than on glibc nothing happens.
    """
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, _SEARCH_MMAP_THRESHOLD)
        mallopt(_M_TRIM_THRESHOLD, _SEARCH_TRIM_THRESHOLD)
