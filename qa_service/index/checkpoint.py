"""Embedding checkpoints: vectors of a build in progress, saved as it goes, so a killed build resumes.

Embedding is the slow part of a build (hours for an archive). Every CHECKPOINT_SECONDS the vectors embedded since
the last save are written as one more part file into `.<index>.checkpoint/` beside the index folder (written to a
temporary name, fsynced, renamed: a part is whole or absent). The next build of the same index reads the parts
back and embeds only what they lack; a build that completes removes the folder. Parts of another model are ignored
(a passage's key names its model anyway).
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np

# Longest stretch of embedding a kill -9 may lose.
CHECKPOINT_SECONDS = 30.0
# Most rows held unsaved (96 MiB at 384 dimensions): a fast embedder makes millions of rows in 30 s.
CHECKPOINT_ROWS = 65536


def checkpoint_folder(target: Path) -> Path:
    """Return the checkpoint folder of the index folder `target`."""
    return target.parent / f".{target.name}.checkpoint"


class EmbeddingCheckpoint:
    """The vectors a build has embedded so far, saved in parts."""

    def __init__(self, folder: Path, model_id: str, dimension: int):
        self.folder = Path(folder)
        self.model_id = model_id
        self.dimension = dimension
        self._keys: list[str] = []
        self._rows: list[np.ndarray] = []
        self._last_save = time.monotonic()
        self.saved_passages = 0

    def load(self) -> dict[str, np.ndarray]:
        """Return {passage key: vector} of every readable part of this model."""
        vectors: dict[str, np.ndarray] = {}
        for unfinished in self.folder.glob(".part-*"):  # a part being written when the build was killed
            unfinished.unlink(missing_ok=True)
        for part in sorted(self.folder.glob("part-*.npz")):
            try:
                with np.load(part, allow_pickle=False) as data:
                    if str(data["model_id"]) != self.model_id or data["vectors"].shape[1:] != (self.dimension,):
                        continue
                    vectors.update(zip((k.decode("ascii") for k in data["keys"]), data["vectors"]))
            except (OSError, ValueError, KeyError):
                continue  # a part of another format: its passages are embedded again
        return vectors

    def add(self, keys: list[str], rows: np.ndarray) -> None:
        """Remember freshly embedded rows; save a part when the last save is CHECKPOINT_SECONDS ago or
        CHECKPOINT_ROWS rows are unsaved."""
        self._keys.extend(keys)
        self._rows.append(np.asarray(rows, dtype=np.float32))
        if time.monotonic() - self._last_save >= CHECKPOINT_SECONDS or len(self._keys) >= CHECKPOINT_ROWS:
            self.save()

    def save(self) -> None:
        """Write the rows not yet saved as one part file (atomically)."""
        self._last_save = time.monotonic()
        if not self._keys:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        number = len(list(self.folder.glob("part-*.npz")))
        path = self.folder / f"part-{number:06d}.npz"
        tmp = self.folder / f".part-{number:06d}.tmp-{os.getpid()}.npz"
        with open(tmp, "wb") as out:
            np.savez(out, model_id=np.array(self.model_id), keys=np.array(self._keys, dtype="S64"),
                     vectors=np.concatenate(self._rows))
            out.flush()
            os.fsync(out.fileno())
        os.rename(tmp, path)
        self.saved_passages += len(self._keys)
        self._keys, self._rows = [], []

    def discard(self) -> None:
        """Remove the checkpoint folder: its vectors are in the index now."""
        shutil.rmtree(self.folder, ignore_errors=True)
