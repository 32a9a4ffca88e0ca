"""Browsing: the document page, the lists per Senatsverwaltung and party, facets, references between documents,
similar Fragen, and the new filters and sort in the library.

The corpus copy (its six text documents) gets one more document, a Nachfrage to Drucksache 19/10041 by an asker of "DIE LINKE" (the party
that the cover sheet of 19/10041 spells "LINKE"), whose first Frage repeats 19/10041's first Frage word for word.
"""
from __future__ import annotations

import dataclasses
import re
import shutil
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from markupsafe import escape

from qa_service import create_app
from qa_service.catalog import build_catalog, cited_by, referenced_drucksachen
from qa_service.facets import facets
from qa_service.index import build_index, load_index
from qa_service.parties import party_key, normalise_party
from qa_service.query import SearchFilters, parse_ask
from qa_service.search import Searcher

from conftest import CORPUS_DIR, FakeEmbedder, make_settings

FOLLOW_UP_ID = "S19-11500"
FOLLOW_UP = """Drucksache 19 /11 500
Schriftliche Anfrage
19. Wahlperiode
Schriftliche Anfrage
des Abgeordneten Niklas Schrader (DIE LINKE)
vom 03. Januar 2022 (Eingang beim Abgeordnetenhaus am 04. Januar 2022)
zum Thema:
Nachfrage zur Schriftlichen Anfrage Drs. 19/10 041: Delikte der EG Quer
und Antwort vom 17. Januar 2022 (Eingang beim Abgeordnetenhaus am 18. Januar 2022)Senatsverwaltung für Inneres und Sport
Herrn Abgeordneten Niklas Schrader (DIE LINKE)
über
den Präsidenten des Abgeordnetenhauses von Berlin
über Senatskanzlei - G Sen -
Antwort
auf die Schriftliche Anfrage Nr. 19/11500
vom 03. Januar 2022
über Nachfrage zur Schriftlichen Anfrage Drs. 19/10 041: Delikte der EG Quer
Im Namen des Senats von Berlin beantworte ich Ihre Schriftliche Anfrage wie folgt:
Vorbemerkung des Abgeordneten:
Die Antwort auf die Schriftliche Anfrage Drucksache 19/10041 ließ offen, wie die Verfahren ausgingen; zuletzt
fragte Drs. 18/3901 danach. Mit dieser Drucksache 19/11 500 wird nachgefragt.
1. Wie viele Delikte welcher Art hat die EG Quer seit ihrer Gründung mit welchem Ergebnis bzw.
Ausgang bearbeitet? (Bitte aufschlüsseln nach Straftaten, Ordnungswidrigkeiten, Art der
Normverletzung und Ergebnis.)
Zu 1.:
Seit der Beantwortung der Drucksache 19/10041 sind keine weiteren Verfahren abgeschlossen worden.
2. Wie viele Beamtinnen und Beamte gehören der EG Quer heute an?
Zu 2.:
Der EG Quer gehören derzeit zwölf Beamtinnen und Beamte an.
Berlin, den 17. Januar 2022
In Vertretung
Torsten Akmann
Senatsverwaltung für Inneres und Sport
"""


@pytest.fixture(scope="module")
def searcher(tmp_path_factory):
    """Return a Searcher over the corpus plus the follow-up document (fake embedder), built once per module."""
    base = tmp_path_factory.mktemp("browse")
    # The six text documents the expectations below were written for (not the PDFs added later), plus the follow-up.
    shutil.copytree(CORPUS_DIR, base / "corpus", ignore=shutil.ignore_patterns("*.pdf"))
    (base / "corpus" / f"{FOLLOW_UP_ID}.txt").write_text(FOLLOW_UP, encoding="utf-8")
    embedder = FakeEmbedder()
    build_index(make_settings(base / "corpus", base / "index"), progress=False, embedder=embedder)
    return Searcher(load_index(base / "index"), embedder)


@pytest.fixture
def client(searcher, tmp_path):
    return create_app(make_settings(tmp_path, tmp_path / "unused"), searcher=searcher,
                      flask_config={"TESTING": True}).test_client()


class Links(HTMLParser):
    """Collect every link (href and text) and every element id of a page."""

    def __init__(self):
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self.ids: list[str] = []
        self._href = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.append(attrs["id"])
        if tag == "a":
            self._href = attrs.get("href")
            self.links.append((self._href, ""))

    def handle_endtag(self, tag):
        if tag == "a" and self.links:
            href, text = self.links[-1]
            self.links[-1] = (href, " ".join(text.split()))
            self._href = None

    def handle_data(self, data):
        if self._href is not None:
            href, text = self.links[-1]
            self.links[-1] = (href, text + data)


def links_of(html: str) -> Links:
    parser = Links()
    parser.feed(html)
    return parser


def page(client, path: str, status: int = 200, **query) -> str:
    response = client.get(path, query_string=query)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


# --- parties and references: the small functions -----------------------------------------------------------

@pytest.mark.parametrize("spellings", [
    ("GRÜNE", "Grüne", "BÜNDNIS 90/DIE GRÜNEN", "Bündnis 90 / Die Grünen", "grüne"),
    ("LINKE", "Die Linke", "DIE LINKE", "linke"),
    ("CDU", "cdu"),
])
def test_spellings_of_one_party_share_a_key_and_a_name(spellings):
    assert len({party_key(s) for s in spellings}) == 1
    assert len({normalise_party(s) for s in spellings}) == 1


def test_different_parties_keep_different_keys():
    assert len({party_key(p) for p in ("GRÜNE", "LINKE", "CDU", "SPD", "AfD", "FDP")}) == 6
    assert party_key(None) is None and normalise_party("  ") is None


@pytest.mark.parametrize("text,expected", [
    ("Nachfrage zur Schriftlichen Anfrage Drs. 18/28 747", ["18/28747"]),
    ("zuletzt Drs. 18/3901 123 Fälle", ["18/3901"]),
    ("Drucksache 19/10041 und Drucksache 19 /10 041", ["19/10041"]),
    ("Schriftliche Anfrage Nr. 19/ 25 521 vom 10. März", ["19/25521"]),
    ("im Jahr 2021/22 und 19/10041 ohne Drucksache davor", []),
])
def test_references_are_found_with_spaces_inside_the_number(text, expected):
    assert referenced_drucksachen(text) == expected


# --- filters and sort in the library --------------------------------------------------------------------------

def _documents(searcher, **kwargs) -> set[str]:
    request = parse_ask({"question": "Delikte Schule Solaranlagen Sozialraum", "top_k": 50, "mode": "keyword",
                         **kwargs})
    return {hit.document.document_id for hit in searcher.search_request(request)}


def test_party_filter_matches_every_spelling_of_the_party(searcher):
    linke = {"S19-10041", "ka17-10866", FOLLOW_UP_ID}
    for spelling in ("LINKE", "Die Linke", "die linke"):
        assert _documents(searcher, filters={"party": spelling}) == linke
    assert _documents(searcher, filters={"party": "BÜNDNIS 90/DIE GRÜNEN"}) == {"S19-10006"}


def test_asker_filter_matches_part_of_a_name_case_ignored(searcher):
    assert _documents(searcher, filters={"asker": "schrader"}) == {"S19-10041", FOLLOW_UP_ID}
    assert _documents(searcher, filters={"asker": "Anne Helm"}) == {"S19-10041"}


def test_doc_type_filter(searcher):
    assert _documents(searcher, filters={"doc_type": "Kleine Anfrage"}) == {"ka17-10866"}
    assert "ka17-10866" not in _documents(searcher, filters={"doc_type": "Schriftliche Anfrage"})


def test_subject_filter_matches_one_of_the_subjects_case_ignored(searcher):
    document = searcher.index.document("S19-10041")
    tagged = dataclasses.replace(document, subjects=("Innere Sicherheit", "Polizei"))
    assert SearchFilters(subject="polizei").matches(tagged)
    assert not SearchFilters(subject="Poli").matches(tagged)
    assert not SearchFilters(subject="Polizei").matches(document)  # no subjects: no match


def test_sort_by_date_puts_the_newest_answer_first_among_the_same_candidates(searcher):
    question = "Delikte der EG Quer Straftaten Schule"
    by_relevance = searcher.search_request(parse_ask({"question": question, "top_k": 50, "mode": "keyword"}))
    by_date = searcher.search_request(parse_ask({"question": question, "top_k": 50, "mode": "keyword",
                                                 "sort": "date"}))
    assert {h.chunk.chunk_id for h in by_date} == {h.chunk.chunk_id for h in by_relevance}
    dates = [h.document.answered_on for h in by_date]
    assert dates == sorted(dates, reverse=True) and len(set(dates)) > 1
    assert dates[0] == max(h.document.answered_on for h in by_relevance)
    assert [h.rank for h in by_date] == list(range(1, len(by_date) + 1))


# --- facets ---------------------------------------------------------------------------------------------------

def test_facets_count_each_candidate_document_once(searcher):
    documents = [searcher.index.document(d) for d in ("S19-10041", "S19-10041", FOLLOW_UP_ID, "ka17-10866",
                                                      "S19-25521")]
    found = {facet.name: {v.label: (v.count, v.filters) for v in facet.values} for facet in facets(documents)}
    assert found["authority"]["Senatsverwaltung für Inneres und Sport"] == (
        3, {"authority": "Senatsverwaltung für Inneres und Sport"})
    assert found["party"]["LINKE"] == (3, {"party": "LINKE"})  # LINKE, DIE LINKE and Die Linke are one party
    assert found["party"]["AfD"][0] == 1
    assert found["year"]["2021"] == (1, {"answered_from": "2021-01-01", "answered_to": "2021-12-31"})
    assert list(found["year"]) == ["2026", "2022", "2021", "2012"]  # newest year first


def test_result_page_facet_links_add_the_filter_and_keep_the_other_parameters(client, searcher):
    query = {"q": "Delikte EG Quer", "mode": "keyword", "top_k": "10"}
    html = page(client, "/", **query)
    facet_html = html[html.index('class="facets"'):html.index('class="result-list"')]
    links = [(href, text) for href, text in links_of(facet_html).links]
    party_link = next(href for href, text in links if text.startswith("LINKE"))
    params = {k: v[0] for k, v in parse_qs(urlsplit(party_link).query).items()}
    assert params == {**query, "party": "LINKE"}
    # The count shown is the number of candidate documents with that party.
    _, candidates = searcher.search_with_candidates(parse_ask({"question": query["q"], "mode": "keyword",
                                                              "top_k": 10}))
    expected = len({d.document_id for d in candidates if any(party_key(a.party) == "linke" for a in d.askers)})
    assert re.search(rf"LINKE <span class=\"count\">\({expected}\)</span>", facet_html)
    # Following the link filters the results; the facet is then shown as set, with a link to remove it.
    filtered = client.get(party_link).get_data(as_text=True)
    sources = set(re.findall(r'<span class="card-source">([^<]*)</span>', filtered))
    assert sources and sources <= {"Drucksache 19/10041", "Drucksache 19/11500", "Drucksache 17/10866"}
    assert 'aria-current="true">LINKE' in filtered
    remove = next(href for href, text in links_of(filtered).links if text.startswith("Filter „LINKE“ entfernen"))
    assert {k: v[0] for k, v in parse_qs(urlsplit(remove).query).items()} == query


def test_year_facet_link_sets_the_date_range(client):
    html = page(client, "/", q="Delikte EG Quer", mode="keyword")
    year_link = next(href for href, text in links_of(html).links if text.startswith("2022 "))
    params = parse_qs(urlsplit(year_link).query)
    assert params["answered_from"] == ["2022-01-01"] and params["answered_to"] == ["2022-12-31"]
    filtered = client.get(year_link).get_data(as_text=True)
    sources = set(re.findall(r'<span class="card-source">([^<]*)</span>', filtered))
    assert sources == {"Drucksache 19/11500"}


# --- the document page ----------------------------------------------------------------------------------------

def test_document_page_shows_every_chunk_verbatim_in_order_with_permalinks(client, searcher):
    document = searcher.index.document("S19-10006")
    html = page(client, "/documents/S19-10006")
    positions = []
    for chunk in document.chunks:
        text = str(escape(chunk.antwort))
        assert text in html
        positions.append(html.index(text))
        if chunk.frage:
            assert str(escape(chunk.frage)) in html
    assert positions == sorted(positions) and document.chunks[0].kind == "vorbemerkung"
    parsed = links_of(html)
    hrefs = [href for href, _ in parsed.links]
    for chunk in document.chunks:
        anchor = chunk.chunk_id.partition("#")[2]
        assert anchor in parsed.ids
        assert "/chunks/" + chunk.chunk_id.replace("#", "%23") in hrefs
        assert "#" + anchor in hrefs
    assert document.source_url in hrefs
    assert "Andreas Otto (GRÜNE)" in html and document.authority in html


def test_document_page_escapes_the_title(client):
    html = page(client, "/documents/S19-10041")
    assert "Straftaten &amp; Ordnungswidrigkeiten" in html
    assert "Straftaten & Ordnungswidrigkeiten" not in html


def test_unknown_document_is_a_german_404(client):
    html = page(client, "/documents/S19-99999", status=404)
    assert "Nicht gefunden" in html


def test_chunk_page_links_to_its_place_in_the_document(client):
    html = page(client, "/chunks/S19-10041%235a")
    assert "/documents/S19-10041#5a" in [href for href, _ in links_of(html).links]


# --- references both ways -------------------------------------------------------------------------------------

def test_follow_up_links_to_the_document_it_refers_to_and_back(client):
    html = page(client, f"/documents/{FOLLOW_UP_ID}")
    links = links_of(html).links
    assert ("/documents/S19-10041", "Drucksache 19/10041") in links
    # A Drucksache that is not in the index is named, not linked.
    assert "Drucksache 18/3901" in html and not any("18/3901" in text for _, text in links)
    # The document's own number (in its own text) is no reference.
    assert not any(h == f"/documents/{FOLLOW_UP_ID}" for h, _ in links)

    referred = page(client, "/documents/S19-10041")
    assert "Nachfragen / Bezüge" in referred
    assert f"/documents/{FOLLOW_UP_ID}" in [href for href, _ in links_of(referred).links]
    assert "Nachfragen / Bezüge" not in page(client, "/documents/S19-10048")


def test_catalog_lists_references_once_per_document(searcher):
    catalog = build_catalog(searcher.index.documents.values())
    assert catalog.references[FOLLOW_UP_ID] == ["19/10041", "18/3901"]
    assert [d.document_id for d in catalog.follow_ups["S19-10041"]] == [FOLLOW_UP_ID]


def test_the_build_stores_each_documents_citations_and_the_catalog_reads_them_instead_of_the_texts(searcher):
    documents = searcher.index.documents
    stored = documents.citations()
    read = {d.document_id: cited_by(d) for d in documents.values() if cited_by(d)}
    assert stored == read and stored[FOLLOW_UP_ID] == ["19/10041", "18/3901"]
    from_store, from_texts = build_catalog(documents.values(), stored), build_catalog(documents.values())
    assert from_store.references == from_texts.references
    assert {k: [d.document_id for d in v] for k, v in from_store.follow_ups.items()} == \
        {k: [d.document_id for d in v] for k, v in from_texts.follow_ups.items()}


def test_a_store_written_before_citations_were_stored_has_none_and_the_catalog_reads_the_texts(searcher, tmp_path):
    import sqlite3

    from qa_service.index.store import Store, StoreChunks, StoreDocuments, write_store

    path = tmp_path / "store.sqlite"
    write_store(path, searcher.index.documents.values())
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE citations")
    store = Store(path)
    old = StoreDocuments(store, StoreChunks(store))
    assert old.citations() is None
    assert build_catalog(old.values(), old.citations()).references[FOLLOW_UP_ID] == ["19/10041", "18/3901"]


# --- similar Fragen -------------------------------------------------------------------------------------------

def test_similar_chunks_come_from_other_documents_best_first(searcher):
    similar = searcher.similar_chunks("S19-10041#1")
    assert len(similar) == 5
    assert all(chunk.document_id != "S19-10041" for chunk, _ in similar)
    scores = [score for _, score in similar]
    assert scores == sorted(scores, reverse=True)
    # The follow-up repeats this Frage word for word: it is the nearest.
    assert similar[0][0].chunk_id == f"{FOLLOW_UP_ID}#1"


def test_chunk_page_shows_similar_fragen_of_other_documents(client, searcher):
    html = page(client, "/chunks/S19-10041%231")
    section = html[html.index('id="aehnliche"'):]
    hrefs = [href for href, _ in links_of(section).links if href.startswith("/chunks/")]
    assert hrefs[0] == f"/chunks/{FOLLOW_UP_ID}%231"
    assert len(hrefs) == 5 and not any(h.startswith("/chunks/S19-10041") for h in hrefs)


# --- browse pages ---------------------------------------------------------------------------------------------

def test_authority_pages_list_newest_answers_first(client):
    html = page(client, "/senatsverwaltungen")
    links = dict((text, href) for href, text in links_of(html).links)
    href = links["Senatsverwaltung für Inneres und Sport"]
    assert "3 Antworten" in html
    listing = page(client, href)
    order = [h for h, _ in links_of(listing).links if h.startswith("/documents/")]
    assert order == ["/documents/S19-25521", f"/documents/{FOLLOW_UP_ID}", "/documents/S19-10041"]


def test_party_page_takes_any_spelling_and_lists_newest_first(client):
    for spelling in ("LINKE", "Die%20Linke", "DIE%20LINKE"):
        html = page(client, f"/parteien/{spelling}")
        order = [h for h, _ in links_of(html).links if h.startswith("/documents/")]
        assert order == [f"/documents/{FOLLOW_UP_ID}", "/documents/S19-10041", "/documents/ka17-10866"]
    assert "/parteien/LINKE" in [h for h, _ in links_of(page(client, "/parteien")).links]
    assert "/parteien/GR%C3%9CNE" in [h for h, _ in links_of(page(client, "/parteien")).links]


@pytest.mark.parametrize("path,status", [
    ("/senatsverwaltungen/Senatsverwaltung%20f%C3%BCr%20Nichts", 404),
    ("/parteien/Keine", 404),
    ("/parteien/LINKE?seite=2", 404),
    ("/parteien/LINKE?seite=0", 400),
    ("/parteien/LINKE?seite=eins", 400),
    ("/parteien/LINKE?seite=%C2%B2", 400),
])
def test_bad_browse_paths_are_german_html_errors(client, path, status):
    response = client.get(path)
    assert response.status_code == status
    assert response.mimetype == "text/html" and 'class="error"' in response.get_data(as_text=True)


def test_browse_pages_without_index_say_so(tmp_path):
    client = create_app(make_settings(tmp_path, tmp_path / "none"), flask_config={"TESTING": True}).test_client()
    for path in ("/documents/S19-10041", "/senatsverwaltungen", "/parteien/LINKE"):
        assert client.get(path).status_code == 503


def test_cli_ask_offers_sort_and_the_new_filters_as_flags():
    import argparse

    from qa_service.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    args = sub.choices["ask"].parse_args(["Frage", "--sort", "date", "--party", "Die Linke", "--asker", "Helm",
                                          "--doc-type", "Kleine Anfrage", "--subject", "Schule"])
    assert (args.sort, args.party, args.asker, args.doc_type, args.subject) == (
        "date", "Die Linke", "Helm", "Kleine Anfrage", "Schule")
    with pytest.raises(SystemExit):
        sub.choices["ask"].parse_args(["Frage", "--doc-type", "Große Anfrage"])
