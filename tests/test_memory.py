"""The C library's memory calls: mapping an index's files in ahead of the first searches."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from qa_service.index.memory import _mappings_under, populate_mappings

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/maps is Linux's")


def test_only_the_mappings_of_files_under_the_folder_are_mapped_in(tmp_path):
    inside, outside = tmp_path / "index", tmp_path / "other"
    (inside / "segment").mkdir(parents=True)
    outside.mkdir()
    arrays = [np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(4096, 16))
              for path in (inside / "vectors.npy", inside / "segment" / "v.npy", outside / "vectors.npy")]
    mapped = _mappings_under(inside.resolve())
    assert len(mapped) == 2  # both files under the folder, its subfolder's too, not the other folder's
    assert populate_mappings(inside) == sum(end - start for start, end in mapped) >= 2 * 4096 * 16 * 4
    assert populate_mappings(tmp_path / "missing") == 0
    assert all(float(a[0, 0]) == 0.0 for a in arrays)  # the pages read as they were
