"""scripts/tune_signals.py's measuring helpers: the README's signal table rests on them. No model, no timing."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from qa_service.documents import Chunk

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import tune_signals  # noqa: E402


def test_normalise_maps_the_best_allowed_to_one_and_the_floor_rank_to_zero():
    signal = np.array([9.0, 5.0, 4.0, 3.0, 2.0, 100.0])
    allowed = np.array([True, True, True, True, True, False])
    normalised = tune_signals.normalise(signal, allowed, floor_rank=3)
    # The disallowed 100 neither sets the top nor is clipped into range by it.
    assert normalised[:5] == pytest.approx([1.0, 0.2, 0.0, 0.0, 0.0])


def test_separation_counts_unanswerable_below_the_five_percent_point_of_the_answerable():
    answerable = np.linspace(0.80, 0.99, 100)
    unanswerable = np.array([0.70, 0.75, 0.79, 0.95])
    values = np.concatenate((answerable, unanswerable))
    is_unanswerable = np.array([False] * 100 + [True] * 4)
    auc, flagged = tune_signals.separation(values, is_unanswerable)
    assert flagged == pytest.approx(0.75)  # three of four lie below every answerable value
    assert auc == pytest.approx((3 * 1.0 + 0.95 * 0 + np.mean(answerable > 0.95)) / 4)


def test_answer_sentences_leave_out_boilerplate_unless_nothing_else_is_left():
    chunk = Chunk(chunk_id="d#1", document_id="d", kind="frage", numbers=("1",), frage="Wie viele?",
                  antwort="Der Senat hat den Bezirk um Stellungnahme gebeten. Es sind 42 Anlagen.", pages=(1,))
    assert tune_signals.answer_sentences(chunk) == ["Es sind 42 Anlagen."]
    only = Chunk(chunk_id="d#2", document_id="d", kind="frage", numbers=("2",), frage="Wer?",
                 antwort="Der Senat hat den Bezirk um Stellungnahme gebeten.", pages=(1,))
    assert tune_signals.answer_sentences(only) == ["Der Senat hat den Bezirk um Stellungnahme gebeten."]


@pytest.fixture
def small_index(fake_embedder):
    from qa_service.index import assemble
    from qa_service.parsing import parse_paths

    documents = parse_paths([ROOT / "corpus" / "S19-10006.txt", ROOT / "corpus" / "S19-10041.txt"]).documents
    return assemble(documents, fake_embedder)


def test_signal_searcher_ranks_as_shipped_at_weight_zero_and_follows_a_strong_signal(small_index, fake_embedder):
    from qa_service.search import Searcher

    question = "Wie viele Solaranlagen gibt es auf den Dächern öffentlicher Gebäude?"
    shipped = [hit.chunk.chunk_id for hit in Searcher(small_index, fake_embedder).search(question, top_k=5)]
    # A signal that names one answerable chunk the shipped ranker puts below rank 1.
    favoured = small_index.position(shipped[3])
    signal = np.zeros(len(small_index.chunks))
    signal[favoured] = 1.0
    searcher = tune_signals.SignalSearcher(small_index, fake_embedder, lambda _question: signal)
    assert [hit.chunk.chunk_id for hit in searcher.search(question, top_k=5)] == shipped
    searcher.weight = 0.9
    assert searcher.search(question, top_k=1)[0].chunk.chunk_id == shipped[3]
