"""The batching query encoder: each caller gets its own rows, concurrent questions share calls, errors stay local."""
from __future__ import annotations

import gc
import random
import threading
import time

import numpy as np
import pytest
from conftest import make_settings

from qa_service.batching import BatchingEncoder
from qa_service.embedding import E5Embedder, HashEmbedder, load_embedder
from qa_service.errors import EmbeddingError

WAIT_SECONDS = 30


class GatedEmbedder:
    """A deterministic embedder that records the questions of each call; a call can be held until released."""

    dimension = 384
    model_id = HashEmbedder.model_id

    def __init__(self, fail_on: str | None = None):
        self._hash = HashEmbedder()
        self.calls: list[list[str]] = []
        self.passages: list[str] = []
        self.questions: list[str] = []
        self.fail_on = fail_on
        self.entered = threading.Event()  # set when a call has started
        self.release = threading.Event()  # a call proceeds once this is set
        self.release.set()

    def encode_queries(self, texts):
        """Return the hash rows of `texts` once released; raise if a text is `fail_on`."""
        self.calls.append(list(texts))
        self.entered.set()
        assert self.release.wait(WAIT_SECONDS)
        if self.fail_on is not None and self.fail_on in texts:
            raise RuntimeError("the engine broke on " + self.fail_on)
        return self._hash.encode_queries(texts)

    def encode_passages(self, texts):
        """Return the hash rows of `texts`."""
        self.passages.extend(texts)
        return self._hash.encode_passages(texts)

    def encode_questions(self, texts):
        """Return the hash rows of `texts`."""
        self.questions.extend(texts)
        return self._hash.encode_questions(texts)


def _hold_first_call(inner: GatedEmbedder, encoder: BatchingEncoder, question: str = "erste Frage"):
    """Start a caller whose call holds the encoder busy; return its thread and its result holder."""
    inner.release.clear()
    inner.entered.clear()
    result = {}
    thread = threading.Thread(daemon=True, target=lambda: result.setdefault("rows", encoder.encode_queries([question])))
    thread.start()
    assert inner.entered.wait(WAIT_SECONDS)
    return thread, result


def _wait_until(condition) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "the condition never became true"
        time.sleep(0.001)


def _ask_in_threads(encoder, requests):
    """Call encoder.encode_queries(texts) for each list of texts in its own thread, all at once; return results."""
    results: list = [None] * len(requests)
    start = threading.Barrier(len(requests))

    def ask(i):
        start.wait()
        try:
            results[i] = encoder.encode_queries(requests[i])
        except Exception as exc:  # noqa: BLE001 - the test inspects what each caller got
            results[i] = exc

    threads = [threading.Thread(daemon=True, target=ask, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_SECONDS)
    return results


def test_many_threads_each_get_the_rows_of_their_own_questions_in_order():
    rng = random.Random(7)
    words = ["Schule", "Radweg", "Haushalt", "Polizei", "Pankow", "Sporthalle", "Photovoltaik", "Senat", "Bezirk", "Wohnung"]
    questions = [" ".join(rng.choices(words, k=rng.randint(1, 30))) + "?" for _ in range(12)]
    # Shuffled lengths, callers asking several questions, the same question from several callers and twice in one.
    requests = [[rng.choice(questions) for _ in range(rng.randint(1, 4))] for _ in range(40)]
    requests.append([questions[0], questions[0]])
    inner = GatedEmbedder()
    encoder = BatchingEncoder(inner, max_batch=8, max_wait_ms=1.0)
    alone = HashEmbedder()
    results = _ask_in_threads(encoder, requests)
    for texts, rows in zip(requests, results):
        assert isinstance(rows, np.ndarray) and rows.dtype == np.float32
        np.testing.assert_array_equal(rows, np.stack([alone.encode_queries([t])[0] for t in texts]))
    # Every call held at most max_batch questions, except a lone caller with more; duplicates were encoded once.
    assert all(len(call) <= 8 and len(call) == len(set(call)) for call in inner.calls)
    encoder.close()


def _queue_then_release(inner, encoder, question_lists, held, ask=None) -> None:
    """Queue one caller per list behind the held call `held` (each calling `ask`, default the encoder), then let the
    encoder go on and wait for them all."""
    ask = ask or encoder.encode_queries
    threads = [threading.Thread(daemon=True, target=ask, args=(texts,)) for texts in question_lists]
    for thread in threads:
        thread.start()
    _wait_until(lambda: encoder.waiting == len(question_lists))
    inner.release.set()
    for thread in threads + [held]:
        thread.join(WAIT_SECONDS)


def test_questions_arriving_while_the_encoder_is_busy_go_together_in_its_next_call():
    inner = GatedEmbedder()
    encoder = BatchingEncoder(inner, max_batch=16, max_wait_ms=0)
    first, first_result = _hold_first_call(inner, encoder)
    waiting = [[f"Frage {i}"] for i in range(5)]
    _queue_then_release(inner, encoder, waiting, first)
    assert inner.calls[0] == ["erste Frage"]
    assert sorted(inner.calls[1]) == sorted(t for texts in waiting for t in texts)
    assert encoder.batch_sizes == [1, 5]
    assert first_result["rows"].shape == (1, 384)
    encoder.close()


def test_under_load_the_encoder_waits_for_more_but_a_lone_question_after_idle_runs_at_once():
    inner = GatedEmbedder()
    # A wait far longer than the test: a question that waited for company would make the joins below time out,
    # unless a full batch (two) ends the wait.
    encoder = BatchingEncoder(inner, max_batch=2, max_wait_ms=600_000)
    lone = threading.Thread(daemon=True, target=encoder.encode_queries, args=(["allein"],))
    lone.start()
    lone.join(WAIT_SECONDS)
    assert not lone.is_alive() and inner.calls == [["allein"]]
    first, _ = _hold_first_call(inner, encoder)
    _queue_then_release(inner, encoder, [["A"], ["B"]], first)
    # The last call had two questions: the next question waits for company, and the one after it fills its call.
    c = threading.Thread(daemon=True, target=encoder.encode_queries, args=(["C"],))
    c.start()
    _wait_until(lambda: encoder.waiting == 0)
    d = threading.Thread(daemon=True, target=encoder.encode_queries, args=(["D"],))
    d.start()
    for thread in (c, d):
        thread.join(WAIT_SECONDS)
        assert not thread.is_alive()
    assert sorted(inner.calls[2]) == ["A", "B"] and inner.calls[3] == ["C", "D"]
    encoder.close()


def test_a_batch_never_holds_more_than_max_batch_questions():
    inner = GatedEmbedder()
    encoder = BatchingEncoder(inner, max_batch=4, max_wait_ms=0)
    first, _ = _hold_first_call(inner, encoder)
    waiting = [[f"Frage {i}"] for i in range(9)] + [[f"lang {i}" for i in range(6)]]
    _queue_then_release(inner, encoder, waiting, first)
    sizes = encoder.batch_sizes
    # The caller with 6 questions is encoded in a call of its own; everyone else in calls of at most 4.
    assert sizes.count(6) == 1 and all(size <= 4 for size in sizes if size != 6)
    assert sum(sizes) == 1 + 9 + 6
    encoder.close()


def test_an_error_reaches_the_callers_of_that_call_only_and_the_encoder_goes_on():
    inner = GatedEmbedder(fail_on="kaputt")
    encoder = BatchingEncoder(inner, max_wait_ms=0)
    first, first_result = _hold_first_call(inner, encoder)
    failing = {}

    def ask(texts):
        try:
            encoder.encode_queries(texts)
        except EmbeddingError as exc:
            failing[texts[0]] = exc

    _queue_then_release(inner, encoder, [["kaputt"], ["unschuldig"]], first, ask)
    # The first call succeeded; both callers of the failing call got the error, each its own, named.
    assert first_result["rows"].shape == (1, 384)
    assert set(failing) == {"kaputt", "unschuldig"}
    assert failing["kaputt"] is not failing["unschuldig"]
    assert "RuntimeError: the engine broke on kaputt" in str(failing["kaputt"])
    assert isinstance(failing["kaputt"].__cause__, RuntimeError)
    # The encoder thread survived: the next question is answered.
    assert encoder.encode_queries(["danach"]).shape == (1, 384)
    encoder.close()


def test_malformed_rows_from_the_embedder_are_an_embedding_error():
    class Short(GatedEmbedder):
        def encode_queries(self, texts):
            return np.zeros((len(texts), 10), dtype=np.float32)

    encoder = BatchingEncoder(Short())
    with pytest.raises(EmbeddingError, match=r"shape \(1, 10\) for 1 questions"):
        encoder.encode_queries(["Frage"])
    encoder.close()


def test_close_fails_waiting_callers_and_refuses_new_ones():
    inner = GatedEmbedder()
    encoder = BatchingEncoder(inner, max_wait_ms=0)
    first, first_result = _hold_first_call(inner, encoder)
    errors = []

    def ask():
        try:
            encoder.encode_queries(["wartet"])
        except EmbeddingError as exc:
            errors.append(exc)

    waiting = threading.Thread(daemon=True, target=ask)
    waiting.start()
    _wait_until(lambda: encoder.waiting == 1)
    closer = threading.Thread(daemon=True, target=encoder.close)
    closer.start()
    waiting.join(WAIT_SECONDS)
    assert len(errors) == 1 and "closed before this question was encoded" in str(errors[0])
    # The call in progress finishes and its caller gets its rows; then the thread ends.
    inner.release.set()
    first.join(WAIT_SECONDS)
    closer.join(WAIT_SECONDS)
    assert first_result["rows"].shape == (1, 384)
    assert not encoder._thread.is_alive()
    with pytest.raises(EmbeddingError, match="closed"):
        encoder.encode_queries(["später"])


def test_an_encoder_that_is_no_longer_referenced_stops_its_thread():
    encoder = BatchingEncoder(GatedEmbedder())
    encoder.encode_queries(["Frage"])
    thread = encoder._thread
    del encoder
    gc.collect()
    thread.join(WAIT_SECONDS)
    assert not thread.is_alive()


def test_passages_model_id_and_dimension_are_the_wrapped_embedders():
    inner = GatedEmbedder()
    encoder = BatchingEncoder(inner)
    assert (encoder.model_id, encoder.dimension) == (inner.model_id, inner.dimension)
    rows = encoder.encode_passages(["Ein Absatz."])
    assert rows.shape == (1, 384) and inner.passages == ["Ein Absatz."] and inner.calls == []
    assert encoder.encode_queries([]).shape == (0, 384) and inner.calls == []
    encoder.close()


@pytest.mark.parametrize("options, message", [({"max_batch": 0}, "max_batch must be at least 1, got 0"),
                                              ({"max_wait_ms": -1}, "max_wait_ms must not be negative, got -1")])
def test_bad_options_are_refused(options, message):
    with pytest.raises(EmbeddingError, match=message):
        BatchingEncoder(GatedEmbedder(), **options)


def test_a_single_string_is_refused_like_the_embedders_do():
    encoder = BatchingEncoder(GatedEmbedder())
    with pytest.raises(EmbeddingError, match="pass a list of texts"):
        encoder.encode_queries("Frage")
    encoder.close()


def test_the_real_model_gives_each_thread_the_rows_of_its_question_encoded_alone():
    plain = load_embedder("e5", max_query_tokens=16)
    assert isinstance(plain, E5Embedder)
    questions = ["Wie viele Solaranlagen gibt es auf Schulen in Pankow?", "Radwege",
                 "Wann wird die Sporthalle an der Grundschule an der Wuhle fertig? " * 8,  # cut to 16 tokens
                 "Wie viele Strafverfahren hat die Ermittlungsgruppe Quer bearbeitet?"]
    requests = [[questions[i % len(questions)]] for i in range(12)] + [questions[::-1]]
    random.Random(3).shuffle(requests)
    expected = {q: plain.encode_queries([q])[0] for q in questions}
    encoder = BatchingEncoder(plain)
    results = _ask_in_threads(encoder, requests)
    for texts, rows in zip(requests, results):
        assert isinstance(rows, np.ndarray), rows
        np.testing.assert_allclose(rows, np.stack([expected[t] for t in texts]), atol=1e-5)
    encoder.close()


def test_the_servers_searcher_batches_its_questions_and_keeps_the_encoder_on_reload(corpus_copy, tmp_path):
    from qa_service.index import build_index
    from qa_service.searcher_slot import SearcherSlot

    settings = make_settings(corpus_copy, tmp_path / "index", model="hash")
    build_index(settings, progress=False, embedder=HashEmbedder())
    slot = SearcherSlot(settings)
    searcher = slot.get()
    assert isinstance(searcher.embedder, BatchingEncoder)
    assert searcher.search("Solaranlagen Pankow", top_k=1)[0].document.document_id == "S19-10006"
    build_index(settings, progress=False, embedder=HashEmbedder(), rebuild=True)
    assert slot.reload_if_changed()
    assert slot.get() is not searcher and slot.get().embedder is searcher.embedder
