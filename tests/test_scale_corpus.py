"""scripts/make_scale_corpus.py: synthetic copies of the real answers that parse alike and share no passage."""
from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

from conftest import CORPUS_DIR, make_settings
from qa_service.embedding import load_embedder
from qa_service.parsing import parse_paths
from qa_service.passages import passage_texts

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import make_scale_corpus  # noqa: E402

# The script copies the text documents of the corpus (not its PDFs).
SOURCES = sorted((d for d in parse_paths([CORPUS_DIR]).documents if d.source_file.endswith(".txt")),
                 key=lambda d: d.document_id)
N = 2 * len(SOURCES)  # every source copied twice


@pytest.fixture(scope="module")
def scale_corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("scale") / "corpus"
    assert make_scale_corpus.main([str(N), str(out), "--source", str(CORPUS_DIR)]) == 0
    return out


def _source_of(document):
    i = int(re.search(r"(\d+)$", document.document_id).group(1)) - make_scale_corpus.FIRST_NUMBER
    return SOURCES[i % len(SOURCES)], i


def test_copies_have_new_numbers_and_dates_and_parse_like_their_sources(scale_corpus):
    report = parse_paths([scale_corpus])
    assert not report.failures
    assert len(report.documents) == N
    for document in report.documents:
        source, i = _source_of(document)
        wahlperiode = source.drucksache.split("/")[0]
        assert document.drucksache == f"{wahlperiode}/{make_scale_corpus.FIRST_NUMBER + i}"
        assert document.document_id.endswith(str(make_scale_corpus.FIRST_NUMBER + i))
        assert [c.chunk_id.split("#")[1] for c in document.chunks] == [c.chunk_id.split("#")[1]
                                                                       for c in source.chunks]
        assert [c.kind for c in document.chunks] == [c.kind for c in source.chunks]
        assert len(document.warnings) == len(source.warnings)
        assert (document.doc_type, document.askers, document.authority) == \
            (source.doc_type, source.askers, source.authority)
        assert document.title and document.title != source.title
        assert document.answered_on and document.answered_on != source.answered_on


def test_no_passage_is_shared_by_two_documents_or_with_the_sources(scale_corpus):
    texts = [p.text for d in parse_paths([scale_corpus]).documents for c in d.chunks for p in passage_texts(d, c)]
    originals = {p.text for d in SOURCES for c in d.chunks for p in passage_texts(d, c)}
    assert len(texts) == 2 * sum(len(passage_texts(d, c)) for d in SOURCES for c in d.chunks)
    assert len(set(texts)) == len(texts)
    assert not originals & set(texts)


def test_an_index_of_the_copies_embeds_every_passage(scale_corpus, tmp_path):
    from qa_service.index import build_index

    report = build_index(make_settings(scale_corpus, tmp_path / "index"), progress=False,
                         embedder=load_embedder("hash"))
    assert report.documents == N and not report.failures
    assert report.embedded_passages == report.vectors


def test_the_same_n_and_seed_write_the_same_files(scale_corpus, tmp_path):
    again = tmp_path / "again"
    make_scale_corpus.write_corpus(N, again, CORPUS_DIR)
    assert sorted(p.name for p in again.iterdir()) == sorted(p.name for p in scale_corpus.iterdir())
    for path in again.iterdir():
        assert path.read_bytes() == (scale_corpus / path.name).read_bytes()
    other = tmp_path / "other"
    make_scale_corpus.write_corpus(1, other, CORPUS_DIR, seed=make_scale_corpus.DEFAULT_SEED + 1)
    first = sorted(other.glob("*.txt"))[0]
    assert first.read_bytes() != (scale_corpus / first.name).read_bytes()


def test_a_source_folder_without_numbered_documents_is_one_line_of_error(tmp_path, capsys):
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(CORPUS_DIR / "ka17-10866.txt", source)  # no cover sheet and no sidecar: no Drucksache number
    assert make_scale_corpus.main(["3", str(tmp_path / "out"), "--source", str(source)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no document with a Drucksache number" in err
