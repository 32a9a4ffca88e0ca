"""Searcher: modes, fusion, exact quotes, filters, boilerplate, highlight, the JSON shape."""
from types import SimpleNamespace

import numpy as np
import pytest

from qa_service.documents import Asker, Chunk, Document
from qa_service.errors import InvalidQueryError
from qa_service.lexical import LexicalIndex
from qa_service.passages import is_boilerplate, lexical_text, passage_texts
from qa_service.search import FusionParams, Searcher, SearchFilters, hit_to_dict, results_payload, top_positions

BOILERPLATE = ("Die Schriftliche Anfrage betrifft Sachverhalte, die der Senat nicht aus eigener Zuständigkeit und "
               "Kenntnis beantworten kann. Er ist gleichwohl bemüht, Ihnen eine Antwort zukommen zu lassen.")

# A fake embedder that knows concepts, in German and English: texts sharing a concept get similar vectors.
CONCEPTS = [
    ("crime", "straftat", "straftaten", "crimes", "offences", "delikte", "kriminalität"),
    ("school", "schule", "schulen", "schools", "abschluss", "schulabbrecher", "drop-outs", "dropouts"),
    ("solar", "solaranlagen", "photovoltaik", "panels", "dächer", "roofs"),
    ("gym", "sporthalle", "turnhalle", "gym", "sports", "neubau"),
    ("money", "euro", "mittel", "funding", "esf", "haushalt", "budget"),
    ("police", "polizei", "police", "einsatz"),
    ("district", "bezirk", "bezirksamt", "district", "pankow", "spandau"),
    ("responsibility", "zuständigkeit", "sachverhalte", "senat", "kenntnis"),
]


class ConceptEmbedder:
    model_id = "fake:concepts"
    dimension = len(CONCEPTS) + 1

    def _encode(self, texts):
        rows = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            words = [w.strip(".,?!:;()„“\"").lower() for w in text.split()]
            for j, concept in enumerate(CONCEPTS):
                rows[i, j] = sum(w in concept for w in words)
            rows[i, -1] = 0.3  # every text shares a little, so unrelated texts are not orthogonal
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    encode_queries = _encode
    encode_passages = _encode


def chunk(doc_id, label, frage, antwort, kind="qa", pages=(2,)):
    numbers = tuple(label.split("+")) if kind == "qa" else ()
    return Chunk(f"{doc_id}#{label}", doc_id, kind, numbers, frage, antwort, pages)


DOCS = [
    Document("S19-1", drucksache="19/1", wahlperiode=19, doc_type="Schriftliche Anfrage",
             title="Straftaten in Spandau", askers=(Asker("A B", "SPD"),), answered_on="2021-03-01",
             authority="Senatsverwaltung für Inneres und Sport", source_url="https://example.org/S19-1.pdf",
             chunks=(
                 chunk("S19-1", "vorbemerkung", "", BOILERPLATE + " Das Bezirksamt Spandau hat zugeliefert.",
                       kind="vorbemerkung", pages=(1,)),
                 chunk("S19-1", "1", "Wie viele Straftaten registrierte die Polizei 2020 in Spandau?",
                       "Die Polizei registrierte 2020 in Spandau 25.310 Straftaten. Das sind mehr als im Vorjahr."),
                 chunk("S19-1", "2", "Wie viele Polizeieinsätze gab es am Rathaus Spandau?",
                       "Am Rathaus Spandau gab es 41 Einsätze der Polizei. Die Lage war ruhig."),
             )),
    Document("S19-2", drucksache="19/2", wahlperiode=19, doc_type="Schriftliche Anfrage",
             title="Schulabbrecher und ESF-Förderung", askers=(Asker("C D", "CDU"),), answered_on="2023-05-10",
             authority="Senatsverwaltung für Bildung, Jugend und Familie",
             chunks=(
                 chunk("S19-2", "1", "Wie viele Jugendliche verließen 2022 die Schule ohne Abschluss?",
                       "2022 verließen in Berlin 2.900 Jugendliche die Schule ohne Abschluss.\n„Die Quote "
                       "ist seit Jahren zu hoch“, heißt es im Bericht der Schulver-\nwaltung des Landes."),
                 chunk("S19-2", "2", "Welche Mittel stehen aus dem ESF zur Verfügung?",
                       "Aus dem ESF stehen für Projekte gegen Schulabbruch 4,2 Mio. Euro bereit."),
             )),
    Document("S17-3", drucksache="17/3", wahlperiode=17, doc_type="Kleine Anfrage",
             title="Solaranlagen auf Dächern in Pankow", askers=(Asker(None, "Die Linke"),),
             answered_on="2012-09-12", authority="Senatsverwaltung für Stadtentwicklung und Umwelt",
             chunks=(
                 chunk("S17-3", "vorbemerkung", "", BOILERPLATE, kind="vorbemerkung", pages=(1,)),
                 chunk("S17-3", "1", "Wie viele Solaranlagen gibt es auf öffentlichen Dächern in Pankow?",
                       "Auf den Dächern öffentlicher Gebäude im Bezirk Pankow sind 12 Photovoltaikanlagen in "
                       "Betrieb."),
                 chunk("S17-3", "2+3", "Wann wird die Sporthalle gebaut? Was kostet der Neubau?",
                       "Der Neubau der Sporthalle beginnt 2024 und kostet 9 Mio. Euro.", pages=(2, 3)),
             )),
]


def build_index(documents, embedder):
    chunks, texts, row_chunk, lex = [], [], [], []
    for doc in documents:
        for c in doc.chunks:
            for text in passage_texts(doc, c):
                texts.append(text)
                row_chunk.append(len(chunks))
            lex.append(lexical_text(doc, c))
            chunks.append(c)
    return SimpleNamespace(documents={d.document_id: d for d in documents}, chunks=chunks,
                           vectors=embedder.encode_passages(texts), row_chunk=np.array(row_chunk),
                           lexical=LexicalIndex.build(lex), faiss_index=None, manifest={}, model_id=embedder.model_id)


@pytest.fixture(scope="module")
def searcher():
    embedder = ConceptEmbedder()
    return Searcher(build_index(DOCS, embedder), embedder)


def ids(hits):
    return [h.chunk.chunk_id for h in hits]


# --- modes and fusion -----------------------------------------------------------------------------------------

def test_every_mode_finds_the_german_question(searcher):
    for mode in ("hybrid", "semantic", "keyword"):
        assert ids(searcher.search("Wie viele Straftaten gab es 2020 in Spandau?", mode=mode))[0] == "S19-1#1", mode


@pytest.mark.parametrize("lexical_weight", [0.4, 0.6, 0.8])
def test_english_question_is_ranked_by_vectors_not_by_stray_keywords(lexical_weight):
    # "Spandau" is the only word BM25 knows, and it favours the Rathaus chunk; the vectors know "crimes".
    embedder = ConceptEmbedder()
    searcher = Searcher(build_index(DOCS, embedder), embedder, FusionParams(lexical_weight=lexical_weight))
    question = "How many crimes were there in Spandau?"
    assert ids(searcher.search(question, mode="keyword"))[0] == "S19-1#2"
    assert ids(searcher.search(question, mode="semantic"))[0] == "S19-1#1"
    assert ids(searcher.search(question, mode="hybrid"))[0] == "S19-1#1"


def test_lexical_weight_follows_how_much_of_the_question_bm25_knows(searcher):
    german = "Wie viele Straftaten gab es in Spandau?"
    english = "How many crimes were there in Spandau?"
    full = searcher.fusion.lexical_weight
    assert searcher.lexical_weight(german, searcher.lexical_scores(german)) == pytest.approx(full)
    assert searcher.lexical_weight(english, searcher.lexical_scores(english)) < full / 2
    assert searcher.lexical_weight("What about xylophones?", searcher.lexical_scores("What about xylophones?")) == 0


def test_keyword_mode_returns_only_chunks_sharing_a_term(searcher):
    hits = searcher.search("Photovoltaikanlagen", top_k=10, mode="keyword")
    assert ids(hits)[0] == "S17-3#1"
    assert {h.document.document_id for h in hits} == {"S17-3"}
    assert searcher.search("xylophone", mode="keyword") == []


def test_scores_are_ordered_and_ranks_count_from_one(searcher):
    hits = searcher.search("Schule ohne Abschluss", top_k=5)
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))


@pytest.mark.parametrize("kwargs, message", [
    ({"question": "  "}, "empty"),
    ({"question": "Schule", "mode": "fuzzy"}, "mode"),
    ({"question": "Schule", "top_k": 0}, "top_k"),
    ({"question": "Schule", "top_k": "3"}, "top_k"),
])
def test_bad_input_raises_a_clear_error(searcher, kwargs, message):
    with pytest.raises(InvalidQueryError, match=message):
        searcher.search(**kwargs)


# --- exact quotes ---------------------------------------------------------------------------------------------

def test_verbatim_sentence_ranks_first_with_its_span(searcher):
    quote = "Aus dem ESF stehen für Projekte gegen Schulabbruch 4,2 Mio. Euro bereit."
    hit = searcher.search(quote)[0]
    assert hit.chunk.chunk_id == "S19-2#2"
    assert hit.match == "exact"
    start, end = hit.quote_span
    assert hit.chunk.antwort[start:end] == quote.rstrip(".")
    assert hit.highlight == [hit.quote_span]


def test_quote_with_other_quote_marks_whitespace_and_joined_hyphenation_still_matches(searcher):
    # The answer has „…“ and a line-break hyphen ("Schulver-\nwaltung"); the pasted text has "…" and one word.
    quote = 'Die Quote ist seit Jahren zu hoch", heißt es im Bericht der   Schulverwaltung des Landes'
    hit = searcher.search(quote)[0]
    assert (hit.chunk.chunk_id, hit.match) == ("S19-2#1", "exact")
    start, end = hit.quote_span
    assert hit.chunk.antwort[start:end].startswith("Die Quote")
    assert hit.chunk.antwort[start:end].endswith("Schulver-\nwaltung des Landes")


def test_near_verbatim_quote_with_a_changed_word_still_matches(searcher):
    quote = "Auf den Dächern der öffentlichen Gebäude im Bezirk Pankow sind 12 Photovoltaikanlagen in Betrieb"
    hit = searcher.search(quote)[0]
    assert (hit.chunk.chunk_id, hit.match) == ("S17-3#1", "exact")


def test_short_or_paraphrased_question_is_no_quote(searcher):
    assert all(h.match is None for h in searcher.search("Schule ohne Abschluss"))
    assert all(h.match is None for h in searcher.search("Wie viel Geld gibt der ESF gegen Schulabbruch her?"))


def test_semantic_mode_does_not_use_quote_lookup(searcher):
    quote = "Aus dem ESF stehen für Projekte gegen Schulabbruch 4,2 Mio. Euro bereit."
    assert all(h.match is None for h in searcher.search(quote, mode="semantic"))


# --- filters --------------------------------------------------------------------------------------------------

def test_filters_apply_before_the_cut(searcher):
    hits = searcher.search("Straftaten Spandau", top_k=3, filters=SearchFilters(wahlperiode=17))
    assert hits and all(h.document.wahlperiode == 17 for h in hits)
    assert len(hits) == 3


def test_filter_by_drucksache_authority_and_dates(searcher):
    assert {h.document.document_id for h in searcher.search(
        "Polizei", top_k=10, filters=SearchFilters(drucksache="19 /1"))} == {"S19-1"}
    assert {h.document.document_id for h in searcher.search(
        "Polizei", top_k=10, filters=SearchFilters(authority="bildung"))} == {"S19-2"}
    assert {h.document.document_id for h in searcher.search(
        "Polizei", top_k=10, filters=SearchFilters(answered_from="2021-01-01", answered_to="2021-12-31"))} == {"S19-1"}
    assert searcher.search("Polizei", filters=SearchFilters(drucksache="18/999")) == []


@pytest.mark.parametrize("kwargs", [{"answered_from": "2021-13-01"}, {"answered_to": "22.11.2021"},
                                    {"wahlperiode": "19"}])
def test_bad_filter_values_are_refused(kwargs):
    with pytest.raises(InvalidQueryError):
        SearchFilters(**kwargs)


# --- boilerplate and highlight --------------------------------------------------------------------------------

def test_boilerplate_in_a_question_does_not_lift_unrelated_chunks(searcher):
    # The question borrows the boilerplate's words; S19-1's Vorbemerkung has the boilerplate and an unrelated
    # sentence, and must not come up. (S17-3's Vorbemerkung is nothing but boilerplate, so the words are its topic.)
    hits = searcher.search("Kann der Senat aus eigener Zuständigkeit und Kenntnis sagen, wie viele Jugendliche die "
                           "Schule ohne Abschluss verließen?", top_k=3)
    assert "S19-2#1" in ids(hits)[:2]
    assert "S19-1#vorbemerkung" not in ids(hits)


def test_boilerplate_is_left_out_of_what_is_embedded_and_indexed_but_not_out_of_the_answer():
    doc = DOCS[0]
    mixed = doc.chunks[0]
    assert passage_texts(doc, mixed)[-1] == "Das Bezirksamt Spandau hat zugeliefert."
    assert "Zuständigkeit" not in lexical_text(doc, mixed)
    assert "Zuständigkeit" in mixed.antwort
    # A Vorbemerkung that is nothing but boilerplate keeps it: that is what the chunk says.
    pure = DOCS[2].chunks[0]
    assert "Zuständigkeit" in passage_texts(DOCS[2], pure)[-1]


def test_standard_sentences_are_recognised_across_their_variants():
    assert is_boilerplate("Die schriftliche Anfrage betrifft Sachverhalte, die der Senat nicht oder nur teilweise in "
                          "eigener Zuständigkeit und Kenntnis beantworten kann.")
    assert is_boilerplate("Er ist gleichwohl bemüht, Ihnen eine Antwort auf Ihre Anfrage zukommen zu lassen und hat "
                          "daher den Bezirk Marzahn-Hellersdorf um Stellungnahme gebeten.")
    assert is_boilerplate("Sie wird nachfolgend wiedergege-\nben.")
    assert not is_boilerplate("Der Senat hat die Zuständigkeit für Sporthallen an die Bezirke übertragen.")


def test_highlight_marks_the_sentence_that_answers(searcher):
    hit = searcher.search("Wie viele Straftaten gab es 2020 in Spandau?")[0]
    assert [hit.chunk.antwort[s:e] for s, e in hit.highlight] == [
        "Die Polizei registrierte 2020 in Spandau 25.310 Straftaten."]


def test_highlight_skips_boilerplate_repeated_across_documents(searcher):
    hit = next(h for h in searcher.search("Bezirksamt Spandau Zuständigkeit Senat", top_k=10)
               if h.chunk.chunk_id == "S19-1#vorbemerkung")
    texts = [hit.chunk.antwort[s:e] for s, e in hit.highlight]
    assert texts == ["Das Bezirksamt Spandau hat zugeliefert."]


# --- JSON shape -----------------------------------------------------------------------------------------------

def test_hit_dict_has_the_api_shape(searcher):
    hit = searcher.search("Sporthalle Neubau Kosten")[0]
    data = hit_to_dict(hit)
    assert data["chunk_id"] == "S17-3#2+3" and data["numbers"] == ["2", "3"] and data["pages"] == [2, 3]
    assert data["document"]["drucksache"] == "17/3"
    assert "warnings" not in data["document"] and "source_file" not in data["document"]
    assert data["citation"]["text"].endswith("Antwort zu den Fragen 2 und 3, S. 2–3")
    assert data["citation"]["url"] is None
    payload = results_payload("Sporthalle", [hit], "hybrid")
    assert payload["mode"] == "hybrid" and payload["results"][0]["rank"] == 1


# --- over a built index of the real corpus ------------------------------------------------------------------

def test_searcher_over_a_built_index_finds_a_hyphenated_quote_and_filters(tiny_index, fake_embedder):
    from qa_service.index import load_index

    searcher = Searcher(load_index(tiny_index), fake_embedder)
    # In the PDF text "Kommunikation und Sachbearbeitung (POLIKS) mit dem Fallmerkmal „Covid-19-" ends a line.
    quote = ('müssen seit März 2020 im Polizeilichen Landessystem zur Information, Kommunikation und Sachbearbeitung '
             '(POLIKS) mit dem Fallmerkmal "Covid-19-Bezug" versehen werden')
    hit = searcher.search(quote, top_k=3)[0]
    assert (hit.chunk.chunk_id, hit.match) == ("S19-10041#2", "exact")
    start, end = hit.quote_span
    assert hit.chunk.antwort[start:end].startswith("müssen seit März 2020")
    assert hit.chunk.antwort[start:end].endswith("versehen werden")
    hits = searcher.search(quote, top_k=5, filters=SearchFilters(wahlperiode=17))
    assert hits and {h.document.document_id for h in hits} == {"ka17-10866"}
    assert all(h.match is None for h in hits)


def test_drucksache_number_or_asker_names_bring_that_documents_chunks_first(tiny_index, fake_embedder):
    from qa_service.index import load_index

    searcher = Searcher(load_index(tiny_index), fake_embedder)
    for question in ("19/10041", "Drucksache 19/10041"):
        hits = searcher.search(question, top_k=5)
        assert {h.document.document_id for h in hits} == {"S19-10041"}, question
    # The two asked S19-10041 and S19-10282; nothing else may come first.
    hits = searcher.search("Anne Helm Niklas Schrader", top_k=5)
    assert {h.document.document_id for h in hits} <= {"S19-10041", "S19-10282"}


def test_an_approximate_index_ranks_a_small_corpus_like_exact_search(tiny_index, corpus_copy, tmp_path,
                                                                      fake_embedder):
    # HNSW returns at most efSearch rows: the searcher must raise it from FAISS's default of 16, or the dense side
    # would see a handful of chunks.
    from conftest import make_settings
    from qa_service.index import build_index, load_index

    hnsw_dir = tmp_path / "hnsw"
    build_index(make_settings(corpus_copy, hnsw_dir, index_factory="HNSW32,Flat"), progress=False,
                embedder=fake_embedder)
    exact = Searcher(load_index(tiny_index), fake_embedder)
    approximate = Searcher(load_index(hnsw_dir), fake_embedder)
    assert approximate.index.manifest["factory"] == "HNSW32,Flat"
    for question in ("Wie viele Sporthallen werden saniert?", "Delikte der EG Quer", "Kieze Verwaltung Bezirke"):
        for mode in ("semantic", "hybrid"):
            expected = [(h.chunk.chunk_id, round(h.score, 5)) for h in exact.search(question, top_k=10, mode=mode)]
            found = [(h.chunk.chunk_id, round(h.score, 5)) for h in approximate.search(question, top_k=10, mode=mode)]
            assert found == expected, (question, mode)


@pytest.mark.parametrize("k", [0, 1, 3, 7, 50])
def test_top_positions_selects_like_a_full_stable_sort(k):
    rng = np.random.default_rng(k)
    scores = rng.integers(0, 5, size=40).astype(np.float32)  # many ties
    allowed = rng.random(40) > 0.3
    expected = [int(i) for i in np.lexsort((np.arange(40), -scores)) if allowed[i]][:k]
    assert top_positions(scores, allowed, k).tolist() == expected
