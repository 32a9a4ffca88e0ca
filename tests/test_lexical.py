"""BM25 with German analysis: stems, stopwords, compounds, numbers, save/load."""
import json

import numpy as np
import pytest

from qa_service.errors import IndexInvalidError, IndexMissingError
from qa_service.lexical import LexicalIndex, analyze, named_nouns
from qa_service.query import analyse


def best(index: LexicalIndex, question: str, k: int) -> list[tuple[int, float]]:
    """Return up to `k` (chunk position, BM25 score) pairs with a positive score, best first."""
    scores = index.scores(analyse(question))
    order = np.argsort(-scores, kind="stable")[:k]
    return [(int(i), float(scores[i])) for i in order if scores[i] > 0]

TEXTS = [
    "Der Neubau der Sporthalle an der Grundschule an der Wuhle verzögert sich bis 2023.",
    "Die Polizei hat 1.364 Straftaten der EG Quer an die Staatsanwaltschaft abgegeben (Drucksache 19/10041).",
    "Auf den Dächern öffentlicher Gebäude in Pankow sind Solaranlagen installiert.",
    "Die Zahl der Schulabbrecher ohne Abschluss ist gestiegen.",
]


@pytest.fixture
def index():
    return LexicalIndex.build(TEXTS)


def test_analysis_stems_german_words_and_drops_stopwords():
    tokens = analyze("Die Straftaten und die Straftat")
    assert "die" not in tokens and "und" not in tokens
    assert tokens.count("straftat") == 2


def test_the_nouns_of_a_german_question_are_its_capitalised_words_not_starting_a_sentence():
    nouns = dict(named_nouns("Wann soll die Siemensbahn als S-Bahn-Strecke wieder in Betrieb gehen?"))
    # "S" has no stem (one letter), "Wann" starts the sentence, "gehen" is lower case.
    assert list(nouns) == ["Siemensbahn", "Bahn", "Strecke", "Betrieb"] and nouns["Strecke"] == ("streck",)
    # A sentence's or quote's first word, a stopword ("Sie") and the words that name the document kind are no things
    # asked about; each noun comes once, with the stems BM25 gives it.
    assert [w for w, _ in named_nouns("Ich frage Sie. Wie viele Tablets gab es? „Tablets“ in Drs. 19/1 Frage 2")] \
        == ["Tablets"]
    # English capitalises names and sentence starts only: an English question gives none.
    assert named_nouns("How many Georgian nationals were deported from Berlin in 2021?") == ()
    assert named_nouns("") == ()


def test_analysis_undoes_line_break_hyphenation_but_keeps_real_hyphens_as_word_breaks():
    assert "sporthallenbetrieb" in analyze("Sport-\nhallenbetrieb")
    tokens = analyze("Marzahn-\nHellersdorf")
    assert "marzahn" in tokens and "hellersdorf" in tokens


def test_inflected_form_finds_the_chunk(index):
    assert best(index, "Straftat", 1)[0][0] == 1


def test_part_of_a_compound_finds_the_compound(index):
    # "Halle" alone is no word of the texts; only the n-grams of "Sporthalle" can match it.
    assert best(index, "Hallenneubau", 1)[0][0] == 0


def test_drucksache_number_and_figures_are_tokens(index):
    assert [pos for pos, _ in best(index, "19/10041", 4)] == [1]
    assert best(index, "1.364", 1)[0][0] == 1


def test_query_without_indexed_terms_returns_nothing(index):
    assert best(index, "the and of", 5) == []
    assert best(index, "xylophon", 5) == []


def test_coverage_is_the_share_of_query_stems_in_the_vocabulary(index):
    assert index.coverage(analyse("Straftaten Pankow")) == 1.0
    assert index.coverage(analyse("How many crimes in Pankow")) == pytest.approx(1 / 3)
    assert index.coverage(analyse("and the")) == 0.0


def test_save_and_load_give_the_same_scores(index, tmp_path):
    index.save(tmp_path / "lexical")
    loaded = LexicalIndex.load(tmp_path / "lexical")
    assert best(loaded, "Schulabbrecher Abschluss", 4) == best(index, "Schulabbrecher Abschluss", 4)


def test_load_refuses_a_missing_or_foreign_index(index, tmp_path):
    with pytest.raises(IndexMissingError):
        LexicalIndex.load(tmp_path / "nothing")
    index.save(tmp_path)
    meta = json.loads((tmp_path / "lexical.json").read_text())
    (tmp_path / "lexical.json").write_text(json.dumps({**meta, "analyzer": "other"}))
    with pytest.raises(IndexInvalidError, match="rebuild"):
        LexicalIndex.load(tmp_path)


def test_empty_index_answers_nothing(tmp_path):
    empty = LexicalIndex.build([])
    assert best(empty, "Straftat", 3) == []
    empty.save(tmp_path)
    assert best(LexicalIndex.load(tmp_path), "Straftat", 3) == []


@pytest.fixture(scope="module")
def corpus_texts():
    from conftest import CORPUS_DIR
    from qa_service.parsing import find_document_files, parse_paths
    from qa_service.passages import lexical_text

    documents = parse_paths(find_document_files(CORPUS_DIR)).documents
    return [lexical_text(doc, chunk) for doc in documents for chunk in doc.chunks]


@pytest.mark.parametrize("block_chunks", [4096, 7])
def test_scores_equal_bm25s_built_from_token_lists(corpus_texts, monkeypatch, block_chunks):
    # The build feeds bm25s postings instead of token lists; bm25s's own build over the token lists is the
    # reference. With 7 chunks per block, every term's column is assembled from many blocks.
    import bm25s
    import qa_service.lexical as lexical

    monkeypatch.setattr(lexical, "_BLOCK_CHUNKS", block_chunks)
    index = LexicalIndex.build(iter(corpus_texts))
    reference = bm25s.BM25()
    reference.index([analyze(text) for text in corpus_texts], show_progress=False)
    assert index.n_rows == len(corpus_texts) and set(index._bm25.vocab_dict) == set(reference.vocab_dict)
    questions = [text[:200] for text in corpus_texts[::9]] + ["Sporthalle Neubau", "Straftaten 19/10041"]
    for question in questions:
        query = analyse(question)
        tokens = index.query_tokens(query)
        assert tokens
        np.testing.assert_allclose(index.scores(query), reference.get_scores(tokens), rtol=1e-6, atol=1e-6)


def test_texts_without_any_token_give_an_index_that_scores_zero():
    index = LexicalIndex.build(["und die der", "the and"])
    assert index.n_rows == 2
    assert best(index, "und die Sporthalle", 2) == []
