"""`qa-service ask`: text and JSON output over the real index, errors as one line and an exit code."""
import json

import pytest

from qa_service.cli import EXIT_NO_INDEX, main

QUESTION = "Wie viele Straftaten hat die EG Quer an die Staatsanwaltschaft abgegeben?"


def test_ask_without_index_says_how_to_build_it_and_exits_2(tmp_path, capsys):
    code = main(["ask", "Wie viele Solaranlagen gibt es in Pankow?", "--index", str(tmp_path / "none")])
    err = capsys.readouterr().err.strip()
    assert code == EXIT_NO_INDEX == 3
    assert len(err.splitlines()) == 1 and "qa-service build" in err


@pytest.mark.parametrize("args, message", [(["--top-k", "0"], "--top-k"), (["--top-k", "51"], "--top-k")])
def test_ask_refuses_a_bad_top_k_with_one_line(tmp_path, capsys, args, message):
    code = main(["ask", "Frage", "--index", str(tmp_path / "none"), *args])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and message in err


@pytest.mark.slow
def test_ask_json_has_the_api_shape_and_cites_the_source(real_index, capsys):
    assert main(["ask", QUESTION, "--json", "--top-k", "3", "--index", str(real_index)]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["question"] == QUESTION and payload["mode"] == "hybrid"
    assert [r["rank"] for r in payload["results"]] == [1, 2, 3]
    first = payload["results"][0]
    assert first["document_id"] == "S19-10041"
    assert first["chunk_id"].startswith("S19-10041#")
    assert set(first) >= {"score", "numbers", "kind", "frage", "antwort", "pages", "match", "quote_span",
                          "highlight", "document", "citation"}
    assert first["document"]["drucksache"] == "19/10041"
    assert first["citation"]["url"].endswith("S19-10041.pdf")
    assert "Drucksache 19/10041" in first["citation"]["text"]
    for start, end in first["highlight"]:
        assert 0 <= start < end <= len(first["antwort"])


@pytest.mark.slow
def test_ask_text_prints_rank_answer_and_citation(real_index, capsys):
    assert main(["ask", QUESTION, "--top-k", "2", "--index", str(real_index)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1. [")
    assert "\n2. [" in out
    assert "Quelle: Antwort des Senats vom 22.11.2021" in out


@pytest.mark.slow
def test_ask_finds_a_pasted_sentence_as_exact_quote(real_index, capsys):
    quote = ("Im Aktenverwaltungssystem der Strafverfolgungsbehörden werden Wertungen wie „schwere Delikte“ und "
             "„gefährliche Delikte“ nicht erfasst.")
    assert main(["ask", quote, "--json", "--top-k", "1", "--index", str(real_index)]) == 0
    first = json.loads(capsys.readouterr().out)["results"][0]
    assert first["match"] == "exact" and first["chunk_id"] == "S19-10041#3"
    start, end = first["quote_span"]
    assert first["antwort"][start:end].startswith("Im Aktenverwaltungssystem")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["semantic", "keyword"])
def test_ask_other_modes_answer_too(real_index, capsys, mode):
    assert main(["ask", QUESTION, "--json", "--mode", mode, "--index", str(real_index)]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["mode"] == mode and payload["results"][0]["document_id"] == "S19-10041"
