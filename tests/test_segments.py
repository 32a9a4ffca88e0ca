"""Segments: an update that only adds documents writes them beside the unchanged data, and the index of several
segments searches as one index of all its documents would."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import FakeEmbedder, make_settings
from qa_service.errors import IndexInvalidError
from qa_service.index import VectorIndex, build_index, building, load_index
from qa_service.index.segments import SegmentedVectorIndex
from qa_service.lexical import LexicalIndex, SegmentedLexical
from qa_service.query import analyse
from qa_service.search import Searcher

# Left out of the first build and added by the second: text documents (quick to parse), one with a sidecar.
ADDED = ("S19-21969.txt", "S19-25521.txt", "ka17-10866.txt", "ka17-10866.json")


@pytest.fixture
def appending(monkeypatch):
    """Let the bundled corpus (a few hundred chunks) take segments, as an archive of 10,000 chunks does."""
    monkeypatch.setattr(building, "APPEND_MIN_CHUNKS", 0)


@pytest.fixture
def split_corpus(corpus_copy, tmp_path) -> tuple[Path, Path]:
    """Return (corpus without the ADDED files, a folder holding them)."""
    held = tmp_path / "held"
    held.mkdir()
    for name in ADDED:
        shutil.move(str(corpus_copy / name), held / name)
    return corpus_copy, held


def _build(corpus: Path, index_dir: Path, embedder, **options):
    return build_index(make_settings(corpus, index_dir), progress=False, embedder=embedder, **options)


def _manifest(index_dir: Path) -> dict:
    return json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))


def _inodes(index_dir: Path) -> dict[str, int]:
    return {p.relative_to(index_dir).as_posix(): p.stat().st_ino for p in index_dir.rglob("*") if p.is_file()}


@pytest.fixture
def two_segments(appending, split_corpus, tmp_path):
    """Build the split corpus, add the held files, build again; return (index dir, the first build's inodes, report)."""
    corpus, held = split_corpus
    index_dir = tmp_path / "index"
    _build(corpus, index_dir, FakeEmbedder())
    before = _inodes(index_dir)
    for name in ADDED:
        shutil.copy2(held / name, corpus / name)
    embedder = FakeEmbedder()
    report = _build(corpus, index_dir, embedder)
    return index_dir, before, report, embedder


def test_adding_documents_writes_one_new_segment_and_links_the_rest(two_segments):
    index_dir, before, report, embedder = two_segments
    first_vectors = int(np.load(index_dir / "row_chunk.npy").shape[0])
    manifest = _manifest(index_dir)
    assert manifest["segments"] == [".", "seg-00002"]
    after = _inodes(index_dir)
    # Every file of the first build is still the same file (a hard link, not rewritten), but the index-wide list of
    # repeated sentences, which the new documents may extend.
    unchanged = {name for name in before if name not in ("manifest.json", "repeated_sentences.npy")}
    assert {name for name in unchanged if after.get(name) != before[name]} == set()
    new_files = {name for name in after if name not in before}
    assert new_files and all(name.startswith("seg-00002/") for name in new_files)
    index = load_index(index_dir)
    added_ids = {"S19-21969", "S19-25521", "ka17-10866"}
    assert added_ids <= set(index.documents)
    # Only the new documents were embedded.
    new_chunks = [c for doc_id in added_ids for c in index.document(doc_id).chunks]
    assert report.embedded == len(new_chunks) and report.reused == len(index.chunks) - len(new_chunks)
    # Each passage of the new documents once (a passage text repeated within them is embedded once).
    new_rows = manifest["vectors"] - first_vectors
    assert 0 < len(embedder.passages_seen) == report.embedded_passages <= new_rows
    assert (report.documents, report.chunks) == (len(index.documents), len(index.chunks)) == (
        manifest["documents"], manifest["chunks"])


def test_an_index_of_two_segments_holds_what_one_build_of_all_documents_holds(two_segments, corpus_copy, tmp_path):
    index_dir, _, _, _ = two_segments
    whole_dir = tmp_path / "whole"
    _build(corpus_copy, whole_dir, FakeEmbedder(), rebuild=True)
    segmented, whole = load_index(index_dir), load_index(whole_dir)
    assert sorted(segmented.documents) == sorted(whole.documents)
    assert len(segmented.chunks) == len(whole.chunks) and len(segmented.vectors) == len(whole.vectors)
    for doc_id in ("S19-21969", "S19-10006", "ka17-10866"):
        assert segmented.document(doc_id).metadata() == whole.document(doc_id).metadata()
        got = [(c.chunk_id, c.antwort) for c in segmented.document(doc_id).chunks]
        assert got == [(c.chunk_id, c.antwort) for c in whole.document(doc_id).chunks]
        for chunk in whole.document(doc_id).chunks:
            assert segmented.chunk(chunk.chunk_id) == chunk
    assert set(segmented.columns.repeated.tolist()) == set(whole.columns.repeated.tolist())
    # A chunk's vectors are its own in either index.
    for chunk in list(whole.document("S19-25521").chunks)[:3]:
        rows_a = np.flatnonzero(np.asarray(segmented.row_chunk) == segmented.position(chunk.chunk_id))
        rows_b = np.flatnonzero(np.asarray(whole.row_chunk) == whole.position(chunk.chunk_id))
        assert np.array_equal(segmented.vectors[rows_a], np.asarray(whole.vectors[rows_b]))


QUESTIONS = ("Wie viele Wohnungen wurden gebaut?", "Welche Maßnahmen plant der Senat?", "Kita-Plätze in Pankow",
             "Wer ist zuständig?", "Schulen Sanierung Kosten")


def test_semantic_search_over_segments_ranks_as_over_one_index(two_segments, corpus_copy, tmp_path):
    index_dir, _, _, _ = two_segments
    whole_dir = tmp_path / "whole"
    _build(corpus_copy, whole_dir, FakeEmbedder(), rebuild=True)
    segmented = Searcher(load_index(index_dir), FakeEmbedder())
    whole = Searcher(load_index(whole_dir), FakeEmbedder())
    for question in QUESTIONS:
        got = [(h.chunk.chunk_id, round(h.similarity, 5)) for h in segmented.search(question, 10, "semantic")]
        assert got == [(h.chunk.chunk_id, round(h.similarity, 5)) for h in whole.search(question, 10, "semantic")]


def test_every_signal_reaches_the_new_segment(two_segments):
    index_dir, _, _, _ = two_segments
    index = load_index(index_dir)
    searcher = Searcher(index, FakeEmbedder())
    chunk = next(c for c in index.document("S19-25521").chunks if len(c.antwort) > 200)
    quote = " ".join(chunk.antwort.split()[3:15])
    hits = searcher.search(quote, 3, "hybrid")
    assert hits[0].chunk.chunk_id == chunk.chunk_id and hits[0].match == "exact"
    keyword = searcher.search(quote, 3, "keyword")
    assert keyword[0].chunk.chunk_id == chunk.chunk_id
    filtered = searcher.search("Antwort", 50, "hybrid", filters={"drucksache": index.document("S19-25521").drucksache})
    assert filtered and {h.document.document_id for h in filtered} == {"S19-25521"}
    similar = searcher.similar_chunks(chunk.chunk_id)
    assert similar and all(c.document_id != "S19-25521" for c, _ in similar)


def test_the_quote_index_of_two_segments_gives_every_chunks_normalised_answer(two_segments):
    from qa_service.quotes import normalized_text

    index = load_index(two_segments[0])
    assert len(index.quotes._parts) == 2
    assert [index.quotes.normalized_answer(pos) for pos in range(len(index.chunks))] == [
        normalized_text(chunk.antwort) for chunk in index.chunks]


def test_a_searcher_over_two_segments_filters_with_the_stored_values_as_with_the_documents(two_segments):
    from qa_service.document_filters import FilterIndex
    from qa_service.query import SearchFilters

    index = load_index(two_segments[0])
    searcher = Searcher(index, FakeEmbedder())
    assert searcher.filter_index().n_documents == len(index.documents)
    assert index.documents._everything is None  # made from the stored values: no document's metadata was read
    from_documents = FilterIndex(index.documents.values())
    documents = index.documents.values()
    for filters in (SearchFilters(drucksache=documents[-1].drucksache), SearchFilters(wahlperiode=19),
                    SearchFilters(authority="inneres"), SearchFilters(answered_from="2022-01-01"),
                    SearchFilters(party=documents[-1].askers[0].party if documents[-1].askers else "SPD")):
        passing = searcher.filter_index().passing(filters)
        assert passing.tolist() == from_documents.passing(filters).tolist() == [filters.matches(d) for d in documents]
    assert searcher.filter_index().passing(SearchFilters(drucksache=documents[-1].drucksache)).sum() == 1


def test_a_changed_file_merges_the_segments_into_one_and_reuses_every_vector(two_segments, corpus_copy):
    index_dir, _, _, _ = two_segments
    path = corpus_copy / "S19-10006.txt"
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    embedder = FakeEmbedder()
    report = _build(corpus_copy, index_dir, embedder)
    assert _manifest(index_dir).get("segments", ["."]) == ["."]
    assert not any(p.name.startswith("seg-") for p in index_dir.iterdir())
    assert report.embedded == 0 and embedder.passages_seen == []
    assert "S19-21969" in load_index(index_dir).documents


def test_too_many_segments_are_merged_by_the_next_build(appending, split_corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(building, "MAX_SEGMENTS", 3)
    corpus, held = split_corpus
    index_dir = tmp_path / "index"
    _build(corpus, index_dir, FakeEmbedder())
    segments = []
    for name in ("S19-21969.txt", "S19-25521.txt", "ka17-10866.txt"):
        shutil.copy2(held / name, corpus / name)
        _build(corpus, index_dir, FakeEmbedder())
        segments.append(_manifest(index_dir).get("segments", ["."]))
    assert segments == [[".", "seg-00002"], [".", "seg-00002", "seg-00003"], ["."]]
    assert len(load_index(index_dir).documents) == 17


def test_an_unchanged_corpus_adds_no_segment(two_segments, corpus_copy):
    index_dir, _, _, _ = two_segments
    embedder = FakeEmbedder()
    report = _build(corpus_copy, index_dir, embedder)
    assert _manifest(index_dir)["segments"] == [".", "seg-00002"]
    assert report.embedded == 0 and embedder.passages_seen == [] and report.documents == 17


def test_a_document_id_taken_by_an_older_segment_is_reported_not_indexed(appending, split_corpus, tmp_path):
    corpus, held = split_corpus
    index_dir = tmp_path / "index"
    _build(corpus, index_dir, FakeEmbedder())
    # A text file whose name gives the id of a PDF indexed before (the id is the file name's stem).
    shutil.copy2(corpus / "S19-10006.txt", corpus / "S19-10268.txt")
    report = _build(corpus, index_dir, FakeEmbedder())
    assert any("S19-10268.txt: document id S19-10268 is already taken by" in f and "S19-10268.pdf" in f
               for f in report.failures)
    index = load_index(index_dir)
    assert len(index.documents) == report.documents == 14
    assert index.document("S19-10268").source_file.endswith("S19-10268.pdf")


def test_a_damaged_file_of_a_later_segment_names_it(two_segments):
    index_dir, _, _, _ = two_segments
    target = index_dir / "seg-00002" / "row_chunk.npy"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(IndexInvalidError, match="seg-00002/row_chunk.npy is corrupted"):
        load_index(index_dir)


# --- the composed parts, on their own -------------------------------------------------------------------------

def _unit_rows(n: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, 16)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.mark.parametrize("with_filter", [False, True])
def test_segmented_vector_search_finds_what_one_exact_search_finds(with_filter):
    parts = [_unit_rows(300, 1), _unit_rows(7, 2), _unit_rows(120, 3)]
    whole = VectorIndex.build("Flat", np.vstack(parts))
    segmented = SegmentedVectorIndex([VectorIndex.build("Flat", p) for p in parts])
    queries = _unit_rows(5, 4)
    allowed = np.random.default_rng(5).random(427) < 0.3 if with_filter else None
    for k in (1, 10, 500):
        want_scores, want_rows = whole.search(queries, k, allowed)
        got_scores, got_rows = segmented.search(queries, k, allowed)
        assert got_rows.shape == want_rows.shape == (5, k)
        assert np.array_equal(got_rows, want_rows)
        found = want_rows >= 0
        assert np.allclose(got_scores[found], want_scores[found], atol=1e-6)


def test_segmented_bm25_scores_as_one_index_when_the_segments_have_the_same_mean_length():
    # Every text has four tokens (short words: no n-grams), so every segment's mean length is the whole's: only the
    # idf differs per segment, and that is what the segmented scores correct.
    first = ["Schule Bauen Pankow Kosten", "Kita Platz Pankow Ausbau", "Schule Neubau Spandau Bezirk"]
    second = ["Radweg Ausbau Spandau Kosten", "Schule Halle Mitte Bauen"]
    whole = LexicalIndex.build(first + second)
    segmented = SegmentedLexical([LexicalIndex.build(first), LexicalIndex.build(second)])
    assert whole.scores(analyse("Schule")).max() > 0
    for question in ("Schule bauen", "Ausbau in Spandau", "Kosten", "Halle", "Hafen"):
        query = analyse(question)
        assert np.allclose(segmented.scores(query), whole.scores(query), atol=1e-5)
        assert segmented.coverage(query) == whole.coverage(query)
        assert segmented.query_tokens(query) == whole.query_tokens(query)
