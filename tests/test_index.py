"""The index folder: what a build writes, incremental rebuilds, verification on load, atomic replacement."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from conftest import FakeEmbedder, make_settings
from qa_service.cli import EXIT_NO_INDEX, main
from qa_service.errors import (CorpusError, IndexFactoryError, IndexInvalidError, IndexLockedError,
                               IndexMissingError, IndexWriteError, NotFoundError)
from qa_service.index import FORMAT_VERSION, VectorIndex, build_index, load_index, resolve_factory
from qa_service.index.building import _passage_key
from qa_service.passages import Passage, passage_texts, passage_views

TESTS_DIR = Path(__file__).resolve().parent
PROJECT_CORPUS = TESTS_DIR.parent / "corpus"


def _build(corpus: Path, index_dir: Path, embedder, **options):
    settings_options = {k: options.pop(k) for k in ("index_factory", "approx_threshold") if k in options}
    return build_index(make_settings(corpus, index_dir, **settings_options), progress=False, embedder=embedder,
                       **options)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _top_chunks(index, embedder, question: str, k: int = 3) -> list[str]:
    """Return the ids of the best `k` distinct chunks for `question` by the dense vectors alone."""
    _, rows = index.ann.search(embedder.encode_queries([question]), min(k * 4, index.ann.ntotal))
    ids: list[str] = []
    for row in rows[0]:
        if row < 0:
            continue
        chunk_id = index.chunks[int(index.row_chunk[row])].chunk_id
        if chunk_id not in ids:
            ids.append(chunk_id)
    return ids[:k]


# --- what a build writes -----------------------------------------------------------------------------------

def test_build_writes_a_self_describing_folder(tiny_index, corpus_copy):
    names = {p.name for p in tiny_index.iterdir()}
    assert names == {"manifest.json", "store.sqlite", "chunk_document.npy", "chunk_answerable.npy",
                     "chunk_first_row.npy", "repeated_sentences.npy", "vectors.npy", "row_chunk.npy", "row_keys.txt",
                     "faiss.index", "lexical", "quotes", "sentence_keys.npy"}
    manifest = json.loads((tiny_index / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["model_id"] == FakeEmbedder.model_id
    assert manifest["dimension"] == 64
    assert manifest["factory"] == "Flat"
    assert manifest["built_at"] and manifest["package_version"]
    with closing(sqlite3.connect(tiny_index / "store.sqlite")) as store:
        assert manifest["documents"] == store.execute("SELECT count(*) FROM documents").fetchone()[0] == 17
        assert manifest["chunks"] == store.execute("SELECT count(*) FROM chunks").fetchone()[0]
    # Every source file and the sidecar of ka17-10866 are hashed; every index file is listed with its sha256.
    assert set(manifest["sources"]) == {p.name for p in corpus_copy.iterdir() if p.suffix in (".txt", ".pdf")}
    assert manifest["sources"]["ka17-10866.txt"]["sidecar_sha256"] == _sha256(corpus_copy / "ka17-10866.json")
    assert manifest["sources"]["S19-10006.txt"]["sha256"] == _sha256(corpus_copy / "S19-10006.txt")
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == _sha256(tiny_index / name), name
    assert any(name.startswith("lexical/") for name in manifest["files"])
    assert any(name.startswith("quotes/") for name in manifest["files"])


def test_loaded_index_maps_every_vector_row_to_its_chunk(tiny_index, fake_embedder):
    index = load_index(tiny_index)
    assert index.model_id == FakeEmbedder.model_id
    with closing(sqlite3.connect(tiny_index / "store.sqlite")) as store:
        stored = [row[0] for row in store.execute("SELECT document_id FROM documents ORDER BY ordinal")]
    assert list(index.documents) == stored and len(index.documents) == 17
    assert len(index.chunks) == index.manifest["chunks"] == len({c.chunk_id for c in index.chunks})
    assert index.vectors.shape == (index.ann.ntotal, 64) and index.vectors.dtype == np.float32
    # Row i of the vectors is the embedding of the i-th passage text of the chunk it points at.
    expected = [passage.text for chunk in index.chunks
                for passage in passage_texts(index.documents[chunk.document_id], chunk)]
    np.testing.assert_allclose(index.vectors, fake_embedder.encode_passages(expected), atol=1e-6)
    assert list(np.unique(index.row_chunk)) == list(range(len(index.chunks)))
    chunk = index.chunks[5]
    assert index.position(chunk.chunk_id) == 5
    assert index.chunk(chunk.chunk_id) == chunk
    assert chunk in index.document(chunk.document_id).chunks
    assert index.lexical.n_rows == len(index.chunks)


def test_the_title_and_frage_view_is_embedded_as_a_question_and_the_others_as_passages(tiny_index, fake_embedder):
    index = load_index(tiny_index)
    views = [passage_views(index.documents[c.document_id], c) for c in index.chunks]
    # Chunks with a Frage and an Antwort have all three views; their title + Frage went to the question side.
    frage_views = {frage for both, frage, antwort in views if frage.strip() and antwort.strip()}
    assert frage_views and set(fake_embedder.questions_seen) == frage_views
    assert {antwort for _, _, antwort in views if antwort.strip()} <= set(fake_embedder.passages_seen)
    # The same text on the question side is another vector: its key differs from the passage's.
    assert _passage_key("m", Passage("Wie viele?", True)) != _passage_key("m", Passage("Wie viele?"))


def test_unknown_chunk_and_document_ids_raise_not_found(tiny_index):
    index = load_index(tiny_index)
    with pytest.raises(NotFoundError, match="S19-99999#1"):
        index.chunk("S19-99999#1")
    with pytest.raises(NotFoundError, match="S19-99999"):
        index.document("S19-99999")


def test_words_of_a_chunk_find_it_with_the_fake_embedder(corpus_copy, tmp_path, fake_embedder):
    # Over the six text documents (49 chunks): among the 251 chunks of the whole corpus, 64 hashed dimensions
    # collide too often for a chunk's first 12 words to keep it in the top 3.
    for pdf in corpus_copy.glob("*.pdf"):
        pdf.unlink()
    _build(corpus_copy, tmp_path / "index", fake_embedder)
    index = load_index(tmp_path / "index")
    assert len(index.documents) == 6
    chunks = [c for c in index.chunks if len(c.antwort.split()) >= 12]
    found = sum(c.chunk_id in _top_chunks(index, fake_embedder, " ".join(c.antwort.split()[:12]))
                for c in chunks)
    assert found >= 0.8 * len(chunks)


# --- incremental builds ------------------------------------------------------------------------------------

def test_unchanged_corpus_embeds_nothing(tiny_index, corpus_copy):
    before = load_index(tiny_index)
    embedder = FakeEmbedder()
    report = _build(corpus_copy, tiny_index, embedder)
    assert embedder.passages_seen == []
    assert (report.embedded, report.reused) == (0, report.chunks)
    assert report.changed_files == [] and report.removed_files == []
    after = load_index(tiny_index)
    np.testing.assert_array_equal(after.vectors, before.vectors)
    assert "embedded 0, reused" in report.summary_line()


def test_a_changed_document_reembeds_only_its_changed_chunks(tiny_index, corpus_copy):
    path = corpus_copy / "S19-10048.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("Insolvenz", "Zahlungsunfähigkeit"), encoding="utf-8")
    embedder = FakeEmbedder()
    report = _build(corpus_copy, tiny_index, embedder)

    index = load_index(tiny_index)
    changed = [c for c in index.chunks if "Zahlungsunfähigkeit" in c.frage + c.antwort]
    assert changed and all(c.document_id == "S19-10048" for c in changed)
    # Exactly the passages whose text changed; e.g. a Frage-only passage of the changed chunk keeps its vector.
    sent = set(embedder.passages_seen)
    assert sent == {p.text for c in changed for p in passage_texts(index.document("S19-10048"), c)
                    if "Zahlungsunfähigkeit" in p.text}
    assert report.changed_files == ["S19-10048.txt"]
    assert (report.embedded, report.reused) == (len(changed), report.chunks - len(changed))
    # The new vectors are in the index, at the rows of the changed chunk.
    rows = np.flatnonzero(index.row_chunk == index.position(changed[0].chunk_id))
    texts = [p.text for p in passage_texts(index.document("S19-10048"), changed[0])]
    np.testing.assert_allclose(index.vectors[rows], FakeEmbedder().encode_passages(texts), atol=1e-6)


def test_rebuild_flag_reembeds_everything(tiny_index, corpus_copy):
    embedder = FakeEmbedder()
    report = _build(corpus_copy, tiny_index, embedder, rebuild=True)
    assert (report.embedded, report.reused) == (report.chunks, 0)
    assert len(embedder.passages_seen) == len(set(embedder.passages_seen)) == report.embedded_passages
    assert report.embedded_passages >= report.chunks


def test_a_removed_file_removes_its_chunks(tiny_index, corpus_copy):
    (corpus_copy / "S19-10006.txt").unlink()
    embedder = FakeEmbedder()
    report = _build(corpus_copy, tiny_index, embedder)
    index = load_index(tiny_index)
    assert "S19-10006" not in index.documents
    assert not any(c.document_id == "S19-10006" for c in index.chunks)
    assert report.removed_files == ["S19-10006.txt"] and report.documents == 16
    assert embedder.passages_seen == []
    assert index.ann.ntotal == len(index.vectors) == len(index.row_chunk)


def test_a_changed_sidecar_updates_the_metadata(tiny_index, corpus_copy):
    sidecar = corpus_copy / "ka17-10866.json"
    data = json.loads(sidecar.read_text(encoding="utf-8"))
    data["title"] = "Umsetzung der Sozialraumorientierung (korrigiert)"
    sidecar.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    embedder = FakeEmbedder()
    report = _build(corpus_copy, tiny_index, embedder)
    index = load_index(tiny_index)
    assert index.document("ka17-10866").title == "Umsetzung der Sozialraumorientierung (korrigiert)"
    assert report.changed_files == ["ka17-10866.txt"]
    # Only passages of that document can need new vectors (if the passage text includes metadata at all).
    ka17_texts = {p.text for c in index.document("ka17-10866").chunks
                  for p in passage_texts(index.document("ka17-10866"), c)}
    assert set(embedder.passages_seen) <= ka17_texts


def test_another_model_reembeds_everything(tiny_index, corpus_copy):
    class OtherModel(FakeEmbedder):
        model_id = "fake:other-model"

    embedder = OtherModel()
    report = _build(corpus_copy, tiny_index, embedder)
    assert (report.embedded, report.reused) == (report.chunks, 0)
    assert load_index(tiny_index).model_id == "fake:other-model"


def test_an_unreadable_document_is_reported_and_the_rest_indexed(corpus_copy, tmp_path, fake_embedder):
    (corpus_copy / "S19-99999.pdf").write_bytes(b"%PDF-1.4 not really a pdf \x00\x01\x02")
    report = _build(corpus_copy, tmp_path / "index", fake_embedder)
    assert len(report.failures) == 1 and "S19-99999.pdf" in report.failures[0]
    assert report.documents == 17
    assert "1 unreadable" in report.summary_line()
    assert load_index(tmp_path / "index").manifest["failures"] == report.failures


# --- FAISS index types -------------------------------------------------------------------------------------

@pytest.mark.parametrize("factory", ["Flat", "HNSW32,Flat", "IVF4,Flat"])
def test_any_faiss_factory_is_built_recorded_and_searchable(corpus_copy, tmp_path, fake_embedder, factory):
    _build(corpus_copy, tmp_path / "index", fake_embedder, index_factory=factory)
    index = load_index(tmp_path / "index")
    assert index.manifest["factory"] == factory
    index.ann.set_search_effort()  # IVF4 then looks into all 4 lists: exact, so the check below is deterministic
    # Every stored vector finds itself (or an identical one): the FAISS rows are the vectors.npy rows.
    scores, rows = index.ann.search(np.ascontiguousarray(index.vectors), 1)
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-4)
    np.testing.assert_allclose(index.vectors[rows[:, 0]], index.vectors, atol=1e-5)


def test_auto_factory_switches_to_hnsw_above_the_threshold(corpus_copy, tmp_path, fake_embedder):
    assert resolve_factory("auto", 10, 200_000) == "Flat"
    assert resolve_factory("auto", 200_000, 200_000) == "HNSW32,Flat"
    _build(corpus_copy, tmp_path / "index", fake_embedder, approx_threshold=10)
    index = load_index(tmp_path / "index")
    assert index.manifest["factory"] == "HNSW32,Flat" and index.manifest["factory_setting"] == "auto"


def test_flat_index_is_memory_mapped(tiny_index):
    assert load_index(tiny_index).ann.read_mode == "mmap-ifc"


def test_an_invalid_factory_is_refused_and_the_old_index_kept(tiny_index, corpus_copy):
    before = (tiny_index / "manifest.json").read_bytes()
    with pytest.raises(IndexFactoryError, match="invalid FAISS index factory 'Bogus42'"):
        _build(corpus_copy, tiny_index, FakeEmbedder(), index_factory="Bogus42")
    assert (tiny_index / "manifest.json").read_bytes() == before


@pytest.mark.parametrize("make_corpus, message", [
    (lambda folder: None, "does not exist: pass --corpus"),
    (lambda folder: folder.mkdir(), "no .txt or .pdf documents in"),
    (lambda folder: (folder.mkdir(), (folder / "S19-1.txt").write_bytes(b"")), "could be read"),
])
def test_a_corpus_with_nothing_to_index_is_refused_and_the_old_index_kept(tiny_index, tmp_path, make_corpus,
                                                                          message):
    before = (tiny_index / "manifest.json").read_bytes()
    make_corpus(tmp_path / "other-corpus")
    with pytest.raises(CorpusError, match=message):
        _build(tmp_path / "other-corpus", tiny_index, FakeEmbedder())
    assert (tiny_index / "manifest.json").read_bytes() == before


# --- verification on load ----------------------------------------------------------------------------------

def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _edit_manifest(folder: Path, **changes) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.update(changes)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _first_lexical_file(folder: Path) -> Path:
    return sorted(p for p in (folder / "lexical").iterdir() if p.is_file())[0]


@pytest.mark.parametrize("damage, message", [
    (lambda d: _flip_a_byte(d / "vectors.npy"), "vectors.npy is corrupted (checksum mismatch)"),
    (lambda d: _flip_a_byte(d / "faiss.index"), "faiss.index is corrupted (checksum mismatch)"),
    (lambda d: (d / "store.sqlite").write_text("{}\n"), "store.sqlite is corrupted (size mismatch)"),
    (lambda d: _flip_a_byte(d / "store.sqlite"), "store.sqlite is corrupted (checksum mismatch)"),
    (lambda d: (d / "chunk_answerable.npy").unlink(), "chunk_answerable.npy is missing"),
    (lambda d: _flip_a_byte(d / "repeated_sentences.npy"), "repeated_sentences.npy is corrupted (checksum mismatch)"),
    (lambda d: (d / "row_chunk.npy").unlink(), "row_chunk.npy is missing"),
    (lambda d: _first_lexical_file(d).unlink(), "is missing"),
    (lambda d: (d / "manifest.json").write_text("{not json"), "manifest.json is unreadable"),
    (lambda d: _edit_manifest(d, format_version=99), f"index format 99 is not supported (expected {FORMAT_VERSION})"),
    (lambda d: _edit_manifest(d, chunks=3), "inconsistent"),
    (lambda d: _edit_manifest(d, dimension=384), "inconsistent"),
])
def test_a_damaged_index_is_refused_with_one_line_saying_what_to_run(tiny_index, damage, message):
    damage(tiny_index)
    with pytest.raises(IndexInvalidError) as caught:
        load_index(tiny_index)
    text = str(caught.value)
    assert message in text
    assert "run `qa-service build --rebuild`" in text
    assert "\n" not in text


def test_large_vector_files_are_checked_by_size_and_the_documents_always_by_hash(tiny_index, monkeypatch):
    import qa_service.index.loading as loading

    # Pretend every file is large: the vector files are then checked by size only, the documents still by hash.
    monkeypatch.setattr(loading, "HASH_AT_LOAD_BYTES", 0)
    vectors = tiny_index / "vectors.npy"
    vectors.write_bytes(vectors.read_bytes()[:-4])
    with pytest.raises(IndexInvalidError, match="vectors.npy is corrupted \\(size mismatch\\)"):
        load_index(tiny_index)


def test_the_row_map_is_hashed_at_load_even_when_large_files_are_not(tiny_index, monkeypatch):
    import qa_service.index.loading as loading

    monkeypatch.setattr(loading, "HASH_AT_LOAD_BYTES", 0)
    _flip_a_byte(tiny_index / "row_chunk.npy")
    with pytest.raises(IndexInvalidError, match="row_chunk.npy is corrupted \\(checksum mismatch\\)"):
        load_index(tiny_index)


def _overwrite(path: Path, start: int, stop: int) -> None:
    data = bytearray(path.read_bytes())
    data[start:stop] = bytes((i * 37 + 11) % 256 for i in range(start, min(stop, len(data))))
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("start, stop", [(0, 100), (4096, 1 << 30)], ids=["header", "every-page-but-the-first"])
def test_a_damaged_store_checked_by_size_only_gives_the_rebuild_error_not_a_crash(tiny_index, monkeypatch,
                                                                                   start, stop):
    import qa_service.index.loading as loading

    # A large store is checked by size only: damage of the same size shows when it is read, as a named error.
    monkeypatch.setattr(loading, "HASH_AT_LOAD_BYTES", 0)
    _overwrite(tiny_index / "store.sqlite", start, stop)
    with pytest.raises(IndexInvalidError, match="store.sqlite is unreadable .*run `qa-service build --rebuild`"):
        index = load_index(tiny_index)
        [chunk.antwort for chunk in index.chunks]
        [doc.title for doc in index.documents.values()]


def test_an_index_of_another_model_is_refused(tiny_index):
    with pytest.raises(IndexInvalidError, match="built with model 'fake:hashed-trigrams-64', not 'e5:x'"):
        load_index(tiny_index, model_id="e5:x")


def test_a_missing_index_says_to_build(tmp_path):
    with pytest.raises(IndexMissingError, match=r"no index in .*: run `qa-service build`"):
        load_index(tmp_path / "nothing-here")


def test_a_folder_without_manifest_counts_as_missing(tiny_index):
    (tiny_index / "manifest.json").unlink()
    with pytest.raises(IndexMissingError, match=r"manifest.json is missing\): run `qa-service build`"):
        load_index(tiny_index)


def test_a_damaged_index_is_rebuilt_from_scratch(tiny_index, corpus_copy):
    _flip_a_byte(tiny_index / "vectors.npy")
    embedder = FakeEmbedder()
    report = _build(corpus_copy, tiny_index, embedder)
    # Stored vectors that fail their checksum are not reused.
    assert (report.embedded, report.reused) == (report.chunks, 0)
    load_index(tiny_index)


# --- the command line --------------------------------------------------------------------------------------

@pytest.fixture
def cli_uses_fake_model(monkeypatch, fake_embedder):
    monkeypatch.setattr("qa_service.embedding.load_embedder", lambda spec, **options: fake_embedder)
    return fake_embedder


def test_cli_build_prints_a_summary_and_updates_incrementally(corpus_copy, tmp_path, cli_uses_fake_model, capsys):
    index_dir = tmp_path / "index"
    args = ["build", "--corpus", str(corpus_copy), "--index", str(index_dir), "--quiet"]
    assert main(args) == 0
    first = capsys.readouterr().out.strip()
    assert re.fullmatch(rf"built {re.escape(str(index_dir))}/: 17 documents, (\d+) chunks \(embedded \1, reused 0\), "
                        r"\d+ warnings, \d+\.\d s, \d+\.\d chunks/s", first), first
    assert main(args) == 0
    second = capsys.readouterr().out.strip()
    assert re.search(r"\(embedded 0, reused \d+\)", second), second


def test_cli_build_without_corpus_fails_with_one_line(tmp_path, capsys):
    code = main(["build", "--corpus", str(tmp_path / "missing"), "--index", str(tmp_path / "index")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip() == f"error: corpus folder {tmp_path / 'missing'} does not exist: pass --corpus or set " \
                          "QA_CORPUS_DIR"


def test_cli_ask_without_index_exits_with_the_no_index_code_and_one_line(tmp_path, capsys):
    code = main(["ask", "Wie viele Solaranlagen?", "--index", str(tmp_path / "none")])
    err = capsys.readouterr().err.strip()
    assert code == EXIT_NO_INDEX
    assert err == f"error: no index in {tmp_path / 'none'}/: run `qa-service build`"


def test_cli_ask_on_a_corrupted_index_exits_1_with_one_line(tiny_index, capsys):
    _flip_a_byte(tiny_index / "faiss.index")
    code = main(["ask", "Wie viele Solaranlagen?", "--index", str(tiny_index)])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert "faiss.index is corrupted" in err and "\n" not in err


# --- atomic replacement ------------------------------------------------------------------------------------

_KILLED_BUILD = """
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from conftest import FakeEmbedder, make_settings
import qa_service.index.storage as storage
from qa_service.index import build_index

MARKER = Path({marker!r})

class SlowEmbedder(FakeEmbedder):
    def encode_passages(self, texts):
        if {phase!r} == "embedding":
            MARKER.touch()
            time.sleep(60)
        return super().encode_passages(texts)

def swap_slowly(tmp, target):
    MARKER.touch()
    time.sleep(60)

storage.swap_into_place = swap_slowly
build_index(make_settings(Path({corpus!r}), Path({index!r})), rebuild=True, progress=False, embedder=SlowEmbedder())
"""


@pytest.mark.parametrize("phase", ["embedding", "before-swap"])
def test_a_build_killed_midway_leaves_the_old_index_usable(tiny_index, corpus_copy, tmp_path, fake_embedder, phase):
    before = (tiny_index / "manifest.json").read_bytes()
    (corpus_copy / "S19-10006.txt").unlink()  # the killed build would have dropped this document
    marker = tmp_path / "killed-here"
    script = _KILLED_BUILD.format(tests=str(TESTS_DIR), marker=str(marker), phase=phase,
                                  corpus=str(corpus_copy), index=str(tiny_index))
    process = subprocess.Popen([sys.executable, "-c", script], cwd=TESTS_DIR.parent)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert process.poll() is None, "the build ended before it could be killed"
            assert time.monotonic() < deadline, "the build never reached the point to kill it"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL

    leftovers = sorted(p.name for p in tiny_index.parent.glob("index.tmp-*"))
    # The BM25 and quote indexes were written before the embedding began (`parts`); the folder came at the end.
    parts = [f"index.tmp-{process.pid}-parts"]
    assert leftovers == ([f"index.tmp-{process.pid}"] + parts if phase == "before-swap" else parts)
    assert (tiny_index / "manifest.json").read_bytes() == before
    index = load_index(tiny_index)
    assert "S19-10006" in index.documents
    chunk = index.chunk("S19-10006#5")
    assert chunk.chunk_id in _top_chunks(index, fake_embedder, chunk.frage + " " + chunk.antwort)

    # The lock died with the process; the next build cleans up and goes through.
    report = _build(corpus_copy, tiny_index, FakeEmbedder())
    assert report.documents == 16
    assert list(tiny_index.parent.glob("index.tmp-*")) == []


def test_ctrl_c_while_writing_keeps_the_old_index_and_leaves_no_temporary_folder(tiny_index, corpus_copy,
                                                                                  monkeypatch):
    before = (tiny_index / "manifest.json").read_bytes()

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(VectorIndex, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _build(corpus_copy, tiny_index, FakeEmbedder(), rebuild=True)
    assert (tiny_index / "manifest.json").read_bytes() == before
    assert list(tiny_index.parent.glob("index.tmp-*")) == []
    load_index(tiny_index)


def test_a_second_concurrent_build_is_refused(tiny_index, corpus_copy):
    with open(tiny_index.parent / ".index.lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(IndexLockedError, match="another `qa-service build` is writing"):
            _build(corpus_copy, tiny_index, FakeEmbedder())
    _build(corpus_copy, tiny_index, FakeEmbedder())


def test_readers_never_see_a_half_written_index(tiny_index, corpus_copy):
    errors: list[str] = []
    loads = 0
    stop = threading.Event()

    def read_repeatedly():
        nonlocal loads
        while not stop.is_set():
            try:
                index = load_index(tiny_index)
                # The documents, chunks and vectors read belong to one and the same build.
                expected = [p.text for c in index.chunks for p in passage_texts(index.document(c.document_id), c)]
                assert index.ann.ntotal == len(index.row_chunk) == len(expected)
                np.testing.assert_allclose(index.vectors, FakeEmbedder().encode_passages(expected), atol=1e-6)
                loads += 1
            except Exception as exc:  # any failure is what this test is looking for
                errors.append(f"{type(exc).__name__}: {exc}")

    # Builds alternate between two different corpora, so that files of two builds never agree by chance.
    removable = corpus_copy / "S19-10006.txt"
    content = removable.read_bytes()
    reader = threading.Thread(target=read_repeatedly)
    reader.start()
    try:
        for round_number in range(6):
            if round_number % 2:
                removable.write_bytes(content)
            else:
                removable.unlink()
            _build(corpus_copy, tiny_index, FakeEmbedder())
    finally:
        stop.set()
        reader.join()
    assert errors == []
    assert loads > 0


def test_the_swap_without_renameat2_still_replaces_the_index(tiny_index, corpus_copy, monkeypatch):
    monkeypatch.setattr("qa_service.index.storage._exchange", lambda a, b: False)
    (corpus_copy / "S19-10006.txt").unlink()
    _build(corpus_copy, tiny_index, FakeEmbedder())
    assert "S19-10006" not in load_index(tiny_index).documents
    assert sorted(p.name for p in tiny_index.parent.iterdir() if p.name.startswith("index")) == ["index"]


def test_an_unwritable_index_location_fails_with_one_line(corpus_copy, tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(IndexWriteError) as caught:
        _build(corpus_copy, tmp_path / "a-file" / "index", FakeEmbedder())
    assert str(caught.value).startswith(f"cannot build the index in {tmp_path / 'a-file' / 'index'}: ")
    assert "\n" not in str(caught.value)


def test_a_folder_that_is_not_an_index_is_never_replaced(corpus_copy, tmp_path):
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "thesis.txt").write_text("do not delete")
    with pytest.raises(IndexWriteError, match="is not an index folder"):
        _build(corpus_copy, precious, FakeEmbedder())
    assert (precious / "thesis.txt").read_text() == "do not delete"


# --- the real model on the real corpus ---------------------------------------------------------------------

REAL_QUESTIONS = [
    ("Wie viele Quadratmeter Dachfläche sind in Pankow schon mit Solaranlagen belegt?", "S19-10006#5"),
    ("Wie viele öffentliche Gebäude nach § 19 EWG gibt es in Pankow?", "S19-10006#2"),
    ("Warum wird die Sporthalle an der Wuhle später fertig? Gab es Insolvenzen?", "S19-10048#2"),
    ("Wie viele Wohnungseinbrüche gab es in Spandau?", "S19-25521#6"),
    ("Wie viele Gefährderansprachen gab es bei Querdenkern?", "S19-10041#6"),
    ("How many young people took part in the ESF project of ZukunftPlus?", "S19-21969#2"),
]


@pytest.mark.slow
def test_real_index_is_built_with_the_default_model(real_index):
    index = load_index(real_index)
    assert index.model_id.startswith("e5:multilingual-e5-small")
    assert index.dimension == 384
    assert len(index.documents) == 17
    from qa_service.parsing import find_document_files, parse_paths

    parsed = parse_paths(find_document_files(PROJECT_CORPUS))
    assert [c.chunk_id for c in index.chunks] == [c.chunk_id for d in parsed.documents for c in d.chunks]


@pytest.fixture(scope="module")
def e5_embedder():
    from qa_service.embedding import load_embedder

    return load_embedder("e5")


@pytest.mark.slow
@pytest.mark.parametrize("question, expected", REAL_QUESTIONS)
def test_real_questions_hit_the_right_chunk(real_index, e5_embedder, question, expected):
    index = load_index(real_index, model_id=e5_embedder.model_id)
    assert expected in _top_chunks(index, e5_embedder, question, k=3)


# --- the store and the per-chunk columns -------------------------------------------------------------------

def test_the_loaded_store_gives_what_the_in_memory_index_gives(tiny_index, fake_embedder):
    from qa_service.documents import Document, answers_something
    from qa_service.index import assemble

    loaded = load_index(tiny_index)
    documents = [doc.to_dict() for doc in loaded.documents.values()]
    memory = assemble([Document.from_dict(d) for d in documents], fake_embedder)
    assert list(loaded.documents) == list(memory.documents)
    assert [c.to_dict() for c in loaded.chunks] == [c.to_dict() for c in memory.chunks]
    assert loaded.documents["S19-10006"] == memory.documents["S19-10006"]
    assert len(loaded.documents["S19-10006"].chunks) == len(memory.documents["S19-10006"].chunks) > 1
    assert "S19-10006" in loaded.documents and "S19-99999" not in loaded.documents
    for name in ("document", "answerable", "first_row", "repeated"):
        np.testing.assert_array_equal(getattr(loaded.columns, name), getattr(memory.columns, name), err_msg=name)
    order = list(loaded.documents)
    assert [order[i] for i in loaded.columns.document] == [c.document_id for c in loaded.chunks]
    assert list(loaded.columns.answerable) == [answers_something(c) for c in loaded.chunks]
    assert loaded.chunks[-1] == list(loaded.chunks)[-1] and loaded.chunks[2:4] == list(loaded.chunks)[2:4]
    with pytest.raises(IndexError):
        loaded.chunks[len(loaded.chunks)]


def test_a_sentence_in_the_answers_of_two_documents_counts_as_repeated(fake_embedder):
    from qa_service.documents import Chunk, Document
    from qa_service.index import assemble

    shared = "Der Senat verfügt über keine eigenen Erkenntnisse zu diesem besonderen Sachverhalt."
    docs = [Document(document_id=f"S19-{n}", chunks=(Chunk(f"S19-{n}#1", f"S19-{n}", "qa", ("1",), "Frage?",
                                                           f"Antwort {n}. {shared}", (1,)),)) for n in (1, 2)]
    own = Document(document_id="S19-3", chunks=tuple(
        Chunk(f"S19-3#{i}", "S19-3", "qa", (str(i),), "Frage?", f"Nur hier, zweimal im selben Dokument {i}. "
              "Dieser Satz steht nur in einem einzigen Dokument.", (1,)) for i in (1, 2)))
    columns = assemble(docs + [own], fake_embedder).columns
    assert columns.is_repeated("  der senat verfügt über keine eigenen Erkenntnisse zu diesem besonderen\nSachverhalt.")
    assert not columns.is_repeated("Dieser Satz steht nur in einem einzigen Dokument.")
    assert list(columns.document) == [0, 1, 2, 2]


def test_an_index_of_the_earlier_format_is_refused_and_rebuilt_in_place(tiny_index, corpus_copy, fake_embedder):
    # What a format-1 index folder held: documents.jsonl instead of the store.
    (tiny_index / "store.sqlite").rename(tiny_index / "documents.jsonl")
    _edit_manifest(tiny_index, format_version=1)
    with pytest.raises(IndexInvalidError, match="index format 1 is not supported .*--rebuild"):
        load_index(tiny_index)
    build_index(make_settings(corpus_copy, tiny_index), progress=False, embedder=fake_embedder)
    assert len(load_index(tiny_index).documents) == 17
    assert not (tiny_index / "documents.jsonl").exists()


def test_many_threads_reading_the_store_each_get_their_own_rows(tiny_index):
    index = load_index(tiny_index)
    expected = [c.to_dict() for c in index.chunks]
    positions = list(range(len(expected)))
    failures = []

    def read(seed: int):
        order = positions[seed:] + positions[:seed]
        if [index.chunks[p].to_dict() for p in order] != [expected[p] for p in order]:
            failures.append(f"thread {seed}: chunks[i]")
        if [c.to_dict() for c in index.chunks.many(order[::-1])] != [expected[p] for p in order[::-1]]:
            failures.append(f"thread {seed}: many()")

    threads = [threading.Thread(target=read, args=(seed * 7,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_a_loaded_index_searches_faiss_own_rows_which_are_those_of_vectors_npy(tiny_index):
    import gc

    index = load_index(tiny_index)
    on_disk = np.load(tiny_index / "vectors.npy")
    rows = index.vectors[2:5]
    assert np.array_equal(np.asarray(index.vectors), on_disk) and not index.vectors.flags.writeable
    del index
    gc.collect()
    # A view of FAISS's storage keeps the index it belongs to alive.
    assert np.array_equal(rows, on_disk[2:5])


def test_every_thread_that_searches_uses_the_faiss_thread_count_the_process_chose():
    # OpenMP's thread count is a setting of each thread: a request thread that never set it would use every core.
    import threading

    import faiss

    from qa_service.index import VectorIndex

    rows = np.random.default_rng(3).standard_normal((300, 8)).astype(np.float32)
    index = VectorIndex.build("HNSW32,Flat", rows)
    VectorIndex.use_threads(1)
    seen = {}

    def search(name):
        seen[name, "before"] = faiss.omp_get_max_threads()
        index.search(rows[:2], 5)
        seen[name, "after"] = faiss.omp_get_max_threads()

    for name in ("a", "b"):
        thread = threading.Thread(target=search, args=(name,))
        thread.start()
        thread.join()
    assert faiss.omp_get_max_threads() == 1
    assert seen["a", "after"] == seen["b", "after"] == 1
