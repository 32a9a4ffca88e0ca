"""The C library's memory calls: mapping an index's files in ahead of the first searches."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from qa_service.index import memory
from qa_service.index.memory import _cached_share, _libc, _mappings_under, populate_mappings

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/maps is Linux's")


def test_only_the_mappings_of_files_under_the_folder_are_mapped_in(tmp_path):
    inside, outside = tmp_path / "index", tmp_path / "other"
    (inside / "segment").mkdir(parents=True)
    outside.mkdir()
    arrays = [np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(4096, 16))
              for path in (inside / "vectors.npy", inside / "segment" / "v.npy", outside / "vectors.npy")]
    mapped = _mappings_under(inside.resolve())
    assert len(mapped) == 2  # both files under the folder, its subfolder's too, not the other folder's
    assert populate_mappings(inside) == sum(end - start for start, end, _, _ in mapped) >= 2 * 4096 * 16 * 4
    assert populate_mappings(tmp_path / "missing") == 0
    assert all(float(a[0, 0]) == 0.0 for a in arrays)  # the pages read as they were


def _evict(path) -> None:
    """Drop the file's pages from the page cache where the file system lets them go (tmpfs keeps them)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def test_a_mapping_missing_from_the_page_cache_is_read_ahead_from_its_offset_then_populated(tmp_path, monkeypatch):
    index = tmp_path / "index"
    index.mkdir()
    np.save(index / "rows.npy", np.arange(512 * 1024, dtype=np.float32).reshape(-1, 64))
    rows = np.load(index / "rows.npy", mmap_mode="r")  # mapped from offset 0 (the header included)
    part = np.memmap(index / "rows.npy", dtype=np.float32, mode="r", offset=8 * 4096)  # a second one, further in
    (start, end, path, offset), (start2, end2, _, offset2) = sorted(_mappings_under(index.resolve()),
                                                                   key=lambda m: m[3])
    assert (path, offset, offset2) == (str((index / "rows.npy").resolve()), 0, 8 * 4096)
    read = []
    real_read_ahead = memory.read_ahead
    monkeypatch.setattr(memory, "read_ahead", lambda *args: read.append(args) or real_read_ahead(*args))
    _evict(index / "rows.npy")
    cold = _cached_share(_libc(), start, end)
    populate_mappings(index)
    if cold < 0.9:  # the file system let its pages go: read in blocks, a mapping's bytes from its offset (the one
        # mapped second is cached by then: the first covers it)
        assert read and set(read) <= {(Path(path), end - start, 0), (Path(path), end2 - start2, 8 * 4096)}
    assert _cached_share(_libc(), start, end) == _cached_share(_libc(), start2, end2) == 1.0
    read.clear()
    populate_mappings(index)
    assert read == []  # in the page cache already: nothing is read again
    assert float(rows[3, 5]) == 3 * 64 + 5 and float(part[0]) == 8 * 4096 / 4 - 32  # 128-byte .npy header


def test_read_ahead_reads_the_bytes_asked_for_in_blocks(tmp_path, monkeypatch):
    path = tmp_path / "data"
    path.write_bytes(bytes(range(256)) * 1000)
    monkeypatch.setattr(memory, "_READ_AHEAD_BLOCK", 1000)
    reads = []
    real_open = open

    class Spy:
        def __init__(self, file):
            self.file = file

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def seek(self, offset):
            reads.append(("seek", offset))
            return self.file.seek(offset)

        def readinto(self, buffer):
            got = self.file.readinto(buffer)
            reads.append(("read", got))
            return got

    monkeypatch.setattr(memory, "open", lambda *args, **kwargs: Spy(real_open(*args, **kwargs)), raising=False)
    memory.read_ahead(path, 2500, offset=100)
    assert reads == [("seek", 100), ("read", 1000), ("read", 1000), ("read", 500)]
    reads.clear()
    memory.read_ahead(path, 10 ** 6, offset=255_500)  # past the end: stops there
    assert reads == [("seek", 255_500), ("read", 500), ("read", 0)]
