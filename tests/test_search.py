"""Searcher: modes, fusion, exact quotes, filters, boilerplate, highlight, the JSON shape."""

import os
import time

import numpy as np
import pytest

from qa_service.documents import Asker, Chunk, Document
from qa_service.errors import InvalidQueryError
from qa_service.index import assemble
from qa_service.passages import is_boilerplate, lexical_text, passage_texts
from qa_service.payloads import hit_payload, results_payload
from qa_service.query import SearchFilters, analyse, parse_filters
from qa_service.search import FusionParams, Searcher, kth_largest, top_positions

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
    encode_questions = _encode


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


@pytest.fixture(scope="module")
def searcher():
    embedder = ConceptEmbedder()
    return Searcher(assemble(DOCS, embedder), embedder)


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
    searcher = Searcher(assemble(DOCS, embedder), embedder, FusionParams(lexical_weight=lexical_weight))
    question = "How many crimes were there in Spandau?"
    assert ids(searcher.search(question, mode="keyword"))[0] == "S19-1#2"
    assert ids(searcher.search(question, mode="semantic"))[0] == "S19-1#1"
    assert ids(searcher.search(question, mode="hybrid"))[0] == "S19-1#1"


def test_lexical_weight_follows_how_much_of_the_question_bm25_knows(searcher):
    german = "Wie viele Straftaten gab es in Spandau?"
    english = "How many crimes were there in Spandau?"
    full = searcher.fusion.lexical_weight
    german, english = analyse(german), analyse(english)
    assert searcher.lexical_weight(german, searcher.lexical_scores(german)) == pytest.approx(full)
    assert searcher.lexical_weight(english, searcher.lexical_scores(english)) < full / 2
    unknown = analyse("What about xylophones?")
    assert searcher.lexical_weight(unknown, searcher.lexical_scores(unknown)) == 0


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
    assert all(h.match != "exact" for h in searcher.search("Schule ohne Abschluss"))
    assert all(h.match != "exact" for h in searcher.search("Wie viel Geld gibt der ESF gegen Schulabbruch her?"))


def test_semantic_mode_does_not_use_quote_lookup(searcher):
    quote = "Aus dem ESF stehen für Projekte gegen Schulabbruch 4,2 Mio. Euro bereit."
    assert all(h.match != "exact" for h in searcher.search(quote, mode="semantic"))


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


@pytest.mark.parametrize("mode", ["hybrid", "semantic", "keyword"])
@pytest.mark.parametrize("sort", ["relevance", "date"])
def test_search_request_gives_the_hits_of_search_with_candidates(searcher, mode, sort):
    from qa_service.query import parse_ask

    # search_request reads only its hits' documents (unless sorted by date): the hits must not differ for it.
    request = parse_ask({"question": "Polizei Straftaten Schule", "top_k": 3, "mode": mode, "sort": sort})
    hits, candidates = searcher.search_with_candidates(request)
    assert len(candidates) > len(hits) > 0
    shown = [(h.chunk.chunk_id, h.document.document_id, h.score, h.highlight) for h in hits]
    assert [(h.chunk.chunk_id, h.document.document_id, h.score, h.highlight)
            for h in searcher.search_request(request)] == shown


@pytest.mark.parametrize("kwargs", [{"answered_from": "2021-13-01"}, {"answered_to": "22.11.2021"},
                                    {"wahlperiode": "19"}])
def test_bad_filter_values_are_refused(kwargs, searcher):
    with pytest.raises(InvalidQueryError):
        parse_filters(kwargs)
    # The library's search checks its input with the same validator as every other surface.
    with pytest.raises(InvalidQueryError):
        searcher.search("Polizei", filters=SearchFilters(**kwargs))


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
    assert passage_texts(doc, mixed)[-1].text == "Das Bezirksamt Spandau hat zugeliefert."
    assert "Zuständigkeit" not in lexical_text(doc, mixed)
    assert "Zuständigkeit" in mixed.antwort
    # A Vorbemerkung that is nothing but boilerplate keeps it: that is what the chunk says.
    pure = DOCS[2].chunks[0]
    assert "Zuständigkeit" in passage_texts(DOCS[2], pure)[-1].text


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
    data = hit_payload(hit)
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
    assert all(h.match != "exact" for h in hits)


@pytest.mark.parametrize("question, drucksache, labels", [
    ("Drs. 19/10048 Frage 2 Gründe der Bauzeitverlängerung", "19/10048", ("2",)),
    ("Drs. 19/10279 Fragen 3 und 4: Dauer bis zur Umsetzung", "19/10279", ("3", "4")),
    ("Antwort zu den Fragen 5 bis 7 in 19/10281", "19/10281", ("5", "6", "7")),
    ("Drs 19/10006 Frage 6 a und b", "19/10006", ("6a", "6b")),
    # The service's own citation, pasted back.
    ("Drucksache 19/10041, „Delikte der EG Quer: …“, Antwort zu Frage 5 a, S. 3, https://x.de/S19-10041.pdf",
     "19/10041", ("5a",)),
    ("Kleine Anfrage 17/10866, Antwort zu Frage 7: Hemmnisse", "17/10866", ("7",)),
    ("Drs. 19/10282 Frage 2 am Montag", "19/10282", ("2",)),  # `am` is no sub-question `a`
])
def test_a_frage_cited_by_drucksache_and_number_is_read_from_the_question(question, drucksache, labels):
    reference = analyse(question).reference
    assert reference is not None and (reference.drucksache, reference.labels) == (drucksache, labels)


@pytest.mark.parametrize("question", [
    "Wie viele Ermittlungsverfahren gab es nach Frage 2?",  # no Drucksache
    "Was ist mit Drucksache 19/10048?",  # no Frage
    "Brandanschlag in der Nacht des 24./25. Oktobers 2020, Frage 2",  # a date, not a Drucksache
    "Haushalt 2012/13, Frage 3",  # a year range
])
def test_no_frage_reference_without_both_drucksache_and_frage_number(question):
    assert analyse(question).reference is None


def test_the_frage_a_question_cites_by_drucksache_and_number_comes_first(tiny_index, fake_embedder):
    from qa_service.index import load_index
    from qa_service.search import no_answer

    searcher = Searcher(load_index(tiny_index), fake_embedder)

    def first(question, **options):
        return [(h.chunk.chunk_id, h.cited) for h in searcher.search(question, top_k=5, **options)]

    assert first("Drs. 19/10048 Frage 2 Gründe")[0] == ("S19-10048#2", True)
    # A joint answer answers each Frage it names; a Frage answered only in its sub-questions gives those.
    assert first("Antwort zu Frage 7 in 19/10281")[0] == ("S19-10281#5+6+7", True)
    assert first("Drs. 19/10041 Frage 5")[:4] == [(f"S19-10041#5{x}", True) for x in "abcd"]
    hits = searcher.search("Drs. 19/10048 Frage 2", top_k=5)
    assert not no_answer(hits) and [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # Filters still hold, and a Drucksache the index does not have cites nothing.
    assert not any(cited for _, cited in first("Drs. 19/10048 Frage 2", filters=SearchFilters(wahlperiode=17)))
    assert not any(cited for _, cited in first("Drs. 19/99999 Frage 2 Gründe der Bauzeitverlängerung"))
    # Semantic mode is the vectors alone, as for quotes.
    assert not any(cited for _, cited in first("Drs. 19/10048 Frage 2 Gründe", mode="semantic"))


def test_near_quotes_are_looked_for_among_the_chunks_the_filters_allow(tiny_index, fake_embedder):
    from qa_service.index import load_index

    searcher = Searcher(load_index(tiny_index), fake_embedder)
    chunks = searcher.index.chunks
    target = searcher.index.position("S19-10041#2")
    # One word changed: not verbatim, so only the near-quote search (over the best BM25 candidates) can find it.
    quote = ("müssen seit März 2020 im Polizeilichen Landessystem zur Information, Kommunikation und Bearbeitung "
             "(POLIKS) mit dem Fallmerkmal Covid-19-Bezug versehen werden")
    # The target has the lowest BM25 score of the whole index, below far more than QUOTE_CANDIDATES chunks of
    # other documents: only candidates taken among the allowed chunks contain it.
    lexical = np.linspace(2.0, 1.0, len(chunks)).astype(np.float32)
    lexical[target] = 0.5
    allowed = np.array([c.document_id == "S19-10041" for c in chunks])
    found = searcher.quote_matches(analyse(quote), allowed, lexical)
    assert target in found and found[target][1] >= 0.9
    hits = searcher.search(quote, top_k=3, filters={"drucksache": "19/10041"})
    assert (hits[0].chunk.chunk_id, hits[0].match) == ("S19-10041#2", "exact")


def test_drucksache_number_or_asker_names_bring_that_documents_chunks_first(tiny_index, fake_embedder):
    from qa_service.index import load_index

    searcher = Searcher(load_index(tiny_index), fake_embedder)
    for question in ("19/10041", "Drucksache 19/10041"):
        hits = searcher.search(question, top_k=5)
        assert {h.document.document_id for h in hits} == {"S19-10041"}, question
    # The two asked S19-10041 and S19-10282; nothing else may come first.
    hits = searcher.search("Anne Helm Niklas Schrader", top_k=5)
    assert {h.document.document_id for h in hits} <= {"S19-10041", "S19-10282"}


def test_an_assembled_index_searches_like_the_built_folder(tiny_index, fake_embedder):
    from qa_service.index import load_index

    loaded = load_index(tiny_index)
    assembled = assemble(list(loaded.documents.values()), fake_embedder)
    assert assembled.path is None and assembled.model_id == loaded.model_id
    np.testing.assert_array_equal(assembled.row_chunk, loaded.row_chunk)
    np.testing.assert_array_equal(assembled.vectors, loaded.vectors)
    from_folder, in_memory = Searcher(loaded, fake_embedder), Searcher(assembled, fake_embedder)
    for question in ("Wie viele Sporthallen werden saniert?", "19/10041", "Delikte der EG Quer"):
        expected = [(h.chunk.chunk_id, h.score) for h in from_folder.search(question, top_k=10)]
        assert [(h.chunk.chunk_id, h.score) for h in in_memory.search(question, top_k=10)] == expected, question


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


def _large_score_arrays():
    rng = np.random.default_rng(11)
    ties = rng.integers(0, 50, size=30_000).astype(np.float32)
    # Most values tied at the bottom, as dense scores are when the ANN returned only a few chunks.
    bottom = np.full(30_000, -1.0, dtype=np.float32)
    bottom[rng.choice(30_000, 900, replace=False)] = rng.random(900)
    rising = np.sort(rng.random(30_000))
    # The strided sample (every 37th value for k = 200) holds the largest values: fewer than k reach its bound.
    sampled = rng.random(30_000) * 0.5
    sampled[::37] += 1.0
    return {"ties": ties, "bottom": bottom, "rising": rising, "falling": rising[::-1].copy(), "sampled": sampled,
            "constant": np.zeros(30_000)}


@pytest.mark.parametrize("name", ["ties", "bottom", "rising", "falling", "sampled", "constant"])
@pytest.mark.parametrize("k", [1, 10, 200, 5_000, 30_000])
def test_kth_largest_is_the_value_a_full_sort_puts_k_th_from_the_top(name, k):
    values = _large_score_arrays()[name]
    assert kth_largest(values, k) == np.sort(values)[len(values) - k]


def test_top_positions_of_many_scores_selects_like_a_full_stable_sort():
    for values in _large_score_arrays().values():
        allowed = np.random.default_rng(3).random(len(values)) > 0.2
        expected = [int(i) for i in np.lexsort((np.arange(len(values)), -values)) if allowed[i]][:200]
        assert top_positions(values, allowed, 200).tolist() == expected


def _fused_by_definition(searcher, dense, lexical, weight, allowed, hold_back):
    """fuse written out as whole-array expressions, without the in-place steps and runs that make it fast."""
    params = searcher.fusion
    d = dense[allowed]
    top = float(d.max())
    floor = float(np.sort(d)[len(d) - min(params.dense_floor_rank, len(d))]) if len(d) > 1 else top - 1.0
    spread = top - floor if top > floor else 1.0
    dense_norm = np.clip((dense - floor) / spread, 0.0, 1.0)
    lex_max = float(lexical[allowed].max())
    lex_norm = lexical / lex_max if lex_max > 0 else np.zeros_like(lexical)
    fused = (1.0 - weight) * dense_norm + weight * lex_norm
    if hold_back:
        fused = np.where(lex_norm >= params.lexical_floor, fused, fused * (1.0 - weight) ** 2)
    documents = searcher._document_of_chunk
    best = np.zeros(len(searcher.index.documents), dtype=fused.dtype)
    np.maximum.at(best, documents[allowed], fused[allowed])
    beta = params.document_weight
    return (fused + beta * best.astype(np.float64)[documents]) / (1.0 + beta)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("one_run_per_document", [True, False])
def test_fuse_gives_its_definition_to_the_last_bit(searcher, seed, one_run_per_document, monkeypatch):
    # False: the path for documents whose chunks lie in several runs (a run is then a part of its document).
    assert searcher._one_run_per_document
    monkeypatch.setattr(searcher, "_one_run_per_document", one_run_per_document)
    rng = np.random.default_rng(seed)
    n = len(searcher.index.chunks)
    dense = rng.uniform(-1, 1, n).astype(np.float32)
    lexical = (rng.random(n) * (rng.random(n) > 0.5) * 12).astype(np.float32)
    allowed = rng.random(n) > [0.0, 0.3, 0.9, 0.5, 0.2, 0.7][seed]
    allowed[rng.integers(n)] = True
    for weight in (0.0, 0.35, 0.8):
        for hold_back in (True, False):
            expected = _fused_by_definition(searcher, dense, lexical, weight, allowed, hold_back)
            found = searcher.fuse(dense, lexical, weight, allowed, hold_back)
            assert found.dtype == expected.dtype and np.array_equal(found, expected), (weight, hold_back)


# --- filters with an approximate index ------------------------------------------------------------------------

def _many_documents(copies: int) -> list:
    """Return `copies` variants of each corpus document: new ids, Drucksachen, dates and a distinct word per copy."""
    from dataclasses import replace

    from qa_service.parsing import parse_paths

    from conftest import CORPUS_DIR

    originals = parse_paths([CORPUS_DIR]).documents
    documents = []
    for n in range(copies):
        for doc in originals:
            doc_id = f"{doc.document_id}-v{n}"
            chunks = tuple(replace(c, chunk_id=c.chunk_id.replace(doc.document_id, doc_id), document_id=doc_id,
                                   antwort=f"{c.antwort} Variante{n}") for c in doc.chunks)
            documents.append(replace(doc, document_id=doc_id, drucksache=f"19/{30000 + n}",
                                     wahlperiode=18 + n % 2, answered_on=f"{2010 + n % 12}-06-01", chunks=chunks))
    return documents


@pytest.fixture(scope="module")
def exact_and_approximate():
    from conftest import FakeEmbedder
    from qa_service.index import assemble

    documents = _many_documents(40)
    embedder = FakeEmbedder()
    exact = Searcher(assemble(documents, embedder, factory="Flat"), embedder)
    approximate = Searcher(assemble(documents, embedder, factory="HNSW32,Flat"), embedder)
    assert not approximate._exact_dense and len(approximate.index.vectors) > 5000
    return exact, approximate


FILTERED_QUESTIONS = ["Solaranlagen auf Dächern in Pankow", "Straftaten der EG Quer", "Schulabbruch ohne Abschluss"]
# (filters, share of the documents they allow); 40 copies of the 6 corpus documents.
FILTERS = [({"drucksache": "19/30007"}, 1 / 40), ({"authority": "Bildung", "wahlperiode": 18}, 1 / 12),
           ({"answered_from": "2013-01-01", "answered_to": "2015-12-31"}, 1 / 4), ({"wahlperiode": 19}, 1 / 2)]


def _filtered_runs(exact, approximate, filters):
    for mode in ("semantic", "hybrid"):
        for question in FILTERED_QUESTIONS:
            want = [h.chunk.chunk_id for h in exact.search(question, top_k=5, mode=mode, filters=filters)]
            got = [h.chunk.chunk_id for h in approximate.search(question, top_k=5, mode=mode, filters=filters)]
            yield mode, question, want, got


@pytest.mark.parametrize("filters,share", FILTERS, ids=lambda f: "+".join(f) if isinstance(f, dict) else None)
def test_filtered_approximate_search_equals_filtered_exact_search(exact_and_approximate, filters, share):
    # Up to EXACT_FILTERED_ROWS allowed rows are scored exactly: the same result as the exact index, always.
    exact, approximate = exact_and_approximate
    for mode, question, want, got in _filtered_runs(exact, approximate, filters):
        assert want and got == want, (mode, question)


@pytest.mark.parametrize("filters,share", [f for f in FILTERS if f[1] >= 1 / 4],
                         ids=lambda f: "+".join(f) if isinstance(f, dict) else None)
def test_broad_filters_search_the_graph_with_an_id_selector_like_exact_search(exact_and_approximate, monkeypatch,
                                                                             filters, share):
    # Above EXACT_FILTERED_ROWS, FAISS walks the HNSW graph keeping only allowed rows; for filters that allow a
    # large share (the only ones that reach this path in a real index) that is the exact result.
    import qa_service.search as search_module

    monkeypatch.setattr(search_module, "EXACT_FILTERED_ROWS", 0)
    exact, approximate = exact_and_approximate
    for mode, question, want, got in _filtered_runs(exact, approximate, filters):
        assert want and got == want, (mode, question)


def test_a_dense_side_in_a_worker_thread_ranks_as_one_computed_in_the_searching_thread(exact_and_approximate,
                                                                                    monkeypatch):
    import threading

    import qa_service.search as search_module

    _, approximate = exact_and_approximate
    requests = [(question, mode, filters) for question in FILTERED_QUESTIONS + ["Wie viele Solaranlagen gibt es?"]
                for mode in ("semantic", "hybrid", "keyword") for filters in [None] + [f for f, _ in FILTERS[:2]]]

    def answers():
        return [[(h.chunk.chunk_id, h.score, h.match, h.similarity, h.highlight)
                 for h in approximate.search(question, 10, mode, filters)] for question, mode, filters in requests]

    threads = []
    dense_side = approximate._dense_side
    monkeypatch.setattr(approximate, "_dense_side",
                        lambda *args: threads.append(threading.current_thread().name) or dense_side(*args))
    monkeypatch.setattr(search_module, "OVERLAP_DENSE_ROWS", 10 ** 9)
    here = answers()
    assert threads and set(threads) == {threading.current_thread().name}
    threads.clear()
    monkeypatch.setattr(search_module, "OVERLAP_DENSE_ROWS", 0)
    assert answers() == here
    assert len(threads) == len(here) * 2 // 3 and all(name.startswith("qa-dense") for name in threads)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_searches_with_its_own_dense_workers(exact_and_approximate, monkeypatch):
    import qa_service.search as search_module

    _, approximate = exact_and_approximate
    monkeypatch.setattr(search_module, "OVERLAP_DENSE_ROWS", 0)
    want = [h.chunk.chunk_id for h in approximate.search(FILTERED_QUESTIONS[0], 5)]  # the parent's threads exist
    pid = os.fork()
    if pid == 0:  # the child: a search must not wait for the parent's threads, which are not here
        try:
            got = [h.chunk.chunk_id for h in approximate.search(FILTERED_QUESTIONS[0], 5)]
            os._exit(0 if got == want else 3)
        except BaseException:
            os._exit(4)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child's search hung")
    assert os.waitstatus_to_exitcode(status) == 0


def test_match_says_whether_a_hit_shares_words_with_the_question(tiny_index, fake_embedder):
    from qa_service.index import load_index

    searcher = Searcher(load_index(tiny_index), fake_embedder)
    hits = searcher.search("Solaranlagen Pankow", top_k=10)
    assert hits[0].match == "lexical"
    lexical = searcher.lexical_scores(analyse("Solaranlagen Pankow"))
    for hit in hits + searcher.search("Solaranlagen Pankow", top_k=10, mode="semantic"):
        shares = lexical[searcher.index.position(hit.chunk.chunk_id)] > 0
        assert hit.match == ("lexical" if shares else "semantic")
    # An English question shares no German word: whatever the vectors find is only similar in meaning.
    english = searcher.search("xylophone orchestra rehearsal schedule", top_k=3, mode="semantic")
    assert english and all(h.match == "semantic" for h in english)


def test_no_answer_when_nothing_is_close_and_never_for_a_quote(tiny_index, fake_embedder):
    from dataclasses import replace

    from qa_service.index import load_index
    from qa_service.search import NO_ANSWER_THRESHOLD, no_answer

    searcher = Searcher(load_index(tiny_index), fake_embedder)
    assert no_answer([])
    hit = searcher.search("Solaranlagen", top_k=1)[0]
    assert hit.stems_held == 1.0  # the answer's text holds the question's one stem
    far, close = replace(hit, match="semantic", similarity=0.1), replace(hit, similarity=NO_ANSWER_THRESHOLD + 0.01)
    assert no_answer([far])
    assert not no_answer([close])
    assert not no_answer([replace(far, match="exact")])  # a quote is always an answer
    # Sharing words lifts a hit a little: just below the threshold by similarity alone, it still answers.
    assert not no_answer([replace(hit, similarity=NO_ANSWER_THRESHOLD - 0.01)])
    assert no_answer([replace(hit, similarity=NO_ANSWER_THRESHOLD - 0.01, stems_held=0.0)])


def test_a_best_hit_whose_document_never_names_the_thing_asked_about_must_be_closer(tiny_index, fake_embedder):
    from dataclasses import replace

    from qa_service.index import load_index
    from qa_service.search import NO_ANSWER_THRESHOLD, NO_ANSWER_THRESHOLD_NOUN_MISSING, no_answer

    searcher = Searcher(load_index(tiny_index), fake_embedder)
    # S19-10006 (solar panels in Pankow) names Solaranlagen and Dächer, but no Siemensbahn and no Tablets.
    hits = searcher.search("Gibt es Solaranlagen für die Siemensbahn und Tablets auf den Dächern?", top_k=3,
                           filters={"drucksache": "19/10006"})
    assert hits[0].nouns_missing == ("Siemensbahn", "Tablets")
    assert searcher.nouns_missing(analyse("Solaranlagen für die Siemensbahn"), searcher.index.chunks.position(
        hits[-1].chunk.chunk_id)) == ("Siemensbahn",)
    held = searcher.search("Gibt es Solaranlagen auf den Dächern?", top_k=1, filters={"drucksache": "19/10006"})
    assert held[0].nouns_missing == ()
    # Between the two thresholds a hit answers unless its document lacks a noun of the question.
    between = (NO_ANSWER_THRESHOLD + NO_ANSWER_THRESHOLD_NOUN_MISSING) / 2
    hit = replace(hits[0], match="lexical", similarity=between, stems_held=0.0, districts_missing=())
    assert no_answer([hit])
    assert not no_answer([replace(hit, nouns_missing=())])
    assert not no_answer([replace(hit, similarity=NO_ANSWER_THRESHOLD_NOUN_MISSING + 0.01)])
    assert not no_answer([replace(hit, match="exact")])


def test_a_best_hit_about_another_berlin_district_is_no_answer(tiny_index, fake_embedder):
    from dataclasses import replace

    from qa_service.index import load_index
    from qa_service.search import no_answer

    searcher = Searcher(load_index(tiny_index), fake_embedder)
    # S19-10006 is about Pankow; its Vorbemerkung's standard sentence names no other district.
    pankow = searcher.search("Solaranlagen auf öffentlichen Gebäuden in Pankow", top_k=3,
                             filters={"drucksache": "19/10006"})
    spandau = searcher.search("Solaranlagen auf öffentlichen Gebäuden in Spandau", top_k=3,
                              filters={"drucksache": "19/10006"})
    assert pankow and all(h.districts_missing == () for h in pankow)
    assert spandau and all(h.districts_missing == ("Spandau",) for h in spandau)
    assert no_answer(spandau)
    # An Ortsteil of the document's Bezirk is no other place.
    assert searcher.search("Solaranlagen in Französisch Buchholz", top_k=1,
                           filters={"drucksache": "19/10006"})[0].districts_missing == ()
    # A question naming no district is not checked; a verbatim quote or a cited Frage answers all the same.
    assert searcher.search("Solaranlagen auf öffentlichen Gebäuden", top_k=1)[0].districts_missing == ()
    assert not no_answer([replace(spandau[0], match="exact")])
    assert not no_answer([replace(spandau[0], cited=True)])


def test_the_stems_a_hit_holds_are_those_its_analysed_text_shares_with_the_question(tiny_index, fake_embedder):
    from qa_service.index import load_index
    from qa_service.lexical import analyze

    searcher = Searcher(load_index(tiny_index), fake_embedder)
    for question in ("Wie viele Solaranlagen gibt es auf Schulen in Pankow?", "Straftaten Querdenker Flughafen",
                     "Wann öffnet der Flughafen BER endlich?"):
        stems = set(analyse(question).stems)
        for mode in ("hybrid", "keyword", "semantic"):
            for hit in searcher.search(question, top_k=10, mode=mode):
                shared = stems & set(analyze(lexical_text(hit.document, hit.chunk)))
                assert hit.stems_held == len(shared) / len(stems), (question, hit.chunk.chunk_id)


def test_similar_chunks_work_with_an_approximate_index_like_with_an_exact_one(exact_and_approximate):
    exact, approximate = exact_and_approximate
    chunk_id = exact.index.chunks[0].chunk_id
    want = [(c.chunk_id, round(score, 5)) for c, score in exact.similar_chunks(chunk_id)]
    got = [(c.chunk_id, round(score, 5)) for c, score in approximate.similar_chunks(chunk_id)]
    assert want and got == want
    assert all(c.split("#")[0] != chunk_id.split("#")[0] for c, _ in got)

