"""A build killed while embedding resumes from its checkpoint: only what was not saved is embedded again."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from qa_service.index import build_index, load_index
from qa_service.index.checkpoint import checkpoint_folder

from conftest import PROJECT_DIR, FakeEmbedder, make_settings


class DiesAfter(FakeEmbedder):
    """A fake embedder that is interrupted (Ctrl-C) after embedding `batches` batches."""

    def __init__(self, batches: int):
        super().__init__()
        self.batches = batches

    def encode_passages(self, texts):
        if self.batches == 0:
            raise KeyboardInterrupt
        self.batches -= 1
        return super().encode_passages(texts)


def test_an_interrupted_build_resumes_from_its_checkpoint(tmp_path, corpus_copy, monkeypatch):
    import qa_service.index.checkpoint as checkpoint_module

    monkeypatch.setattr(checkpoint_module, "CHECKPOINT_SECONDS", 0.0)  # save after every batch
    settings = make_settings(corpus_copy, tmp_path / "index")
    with pytest.raises(KeyboardInterrupt):
        build_index(settings, progress=False, embedder=DiesAfter(batches=3))
    folder = checkpoint_folder(tmp_path / "index")
    assert len(list(folder.glob("part-*.npz"))) == 3
    assert not (tmp_path / "index").exists()  # nothing half-written took the index's place

    counting = FakeEmbedder()
    report = build_index(settings, progress=False, embedder=counting)
    complete = FakeEmbedder()
    build_index(make_settings(corpus_copy, tmp_path / "fresh"), progress=False, embedder=complete)
    assert report.resumed_passages == 3 * 32
    assert len(counting.passages_seen) == len(complete.passages_seen) - 3 * 32
    assert "resumed from an interrupted build" in report.summary_line()
    assert not folder.exists()  # the index holds the vectors now
    resumed, fresh = load_index(tmp_path / "index"), load_index(tmp_path / "fresh")
    assert (resumed.vectors == fresh.vectors).all()


def test_a_build_killed_with_sigkill_loses_at_most_the_unsaved_stretch(tmp_path, corpus_copy):
    # A real kill -9 in the middle of embedding: the checkpoint parts on disk are whole, and the next build
    # embeds only what they lack.
    index_dir = tmp_path / "index"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path[:0] = [{str(PROJECT_DIR)!r}, {str(PROJECT_DIR / "tests")!r}]
        import qa_service.index.checkpoint as checkpoint
        from conftest import FakeEmbedder, make_settings
        from qa_service.index import build_index
        checkpoint.CHECKPOINT_SECONDS = 0.2

        class Slow(FakeEmbedder):
            def encode_passages(self, texts):
                time.sleep(0.15)
                print("batch", flush=True)
                return super().encode_passages(texts)

        build_index(make_settings({str(corpus_copy)!r}, {str(index_dir)!r}), progress=False, embedder=Slow())
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    for _ in range(5):  # five batches, then kill -9
        assert process.stdout.readline().strip() == "batch"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert list(checkpoint_folder(index_dir).glob("part-*.npz"))  # whole parts (a part being written is ignored)
    assert not index_dir.exists()

    counting, complete = FakeEmbedder(), FakeEmbedder()
    report = build_index(make_settings(corpus_copy, index_dir), progress=False, embedder=counting)
    build_index(make_settings(corpus_copy, tmp_path / "fresh"), progress=False, embedder=complete)
    assert report.resumed_passages > 0
    assert len(counting.passages_seen) == len(complete.passages_seen) - report.resumed_passages
    assert not list(checkpoint_folder(index_dir).glob("*"))


def test_a_part_is_saved_once_enough_rows_are_unsaved_however_fast_the_embedder(tmp_path, monkeypatch):
    import numpy as np

    import qa_service.index.checkpoint as checkpoint_module
    from qa_service.index.checkpoint import EmbeddingCheckpoint

    monkeypatch.setattr(checkpoint_module, "CHECKPOINT_ROWS", 4)
    checkpoint = EmbeddingCheckpoint(tmp_path / "parts", "model", 2)
    checkpoint.add(["a" * 64, "b" * 64, "c" * 64], np.ones((3, 2), dtype=np.float32))
    assert not list((tmp_path / "parts").glob("part-*.npz"))
    checkpoint.add(["d" * 64], np.ones((1, 2), dtype=np.float32))
    assert len(list((tmp_path / "parts").glob("part-*.npz"))) == 1
    assert set(checkpoint.load()) == {"a" * 64, "b" * 64, "c" * 64, "d" * 64}
