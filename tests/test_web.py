"""The German web page through Flask's test client: form, server-rendered results, escaping, permalinks, errors."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from qa_service import create_app
from markupsafe import escape

from qa_service.web import LONG_ANSWER_CHARS, chunk_heading, mark_segments

from conftest import make_settings

from web_fixtures import app, client, searcher  # noqa: F401  (fixtures)

SOLAR_QUESTION = "Solaranlagen auf öffentlichen Gebäuden in Pankow"
STATIC_DIR = Path(__file__).resolve().parent.parent / "qa_service" / "static"


class PageParser(HTMLParser):
    """Collect what the accessibility and escaping checks look at: form controls, labels, marks, script tags."""

    def __init__(self):
        super().__init__()
        self.controls, self.label_for, self.scripts, self.links = [], set(), [], []
        self.html_lang = None
        self.label_depth = 0
        self.wrapped = []
        self.mark_texts, self._in_mark = [], False
        self.blockquotes, self._in_blockquote = [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.html_lang = attrs.get("lang")
        if tag == "label":
            self.label_depth += 1
            if attrs.get("for"):
                self.label_for.add(attrs["for"])
        if tag in ("input", "select", "textarea") and attrs.get("type") not in ("hidden", "submit"):
            self.controls.append(attrs)
            if self.label_depth:
                self.wrapped.append(attrs)
        if tag == "script":
            self.scripts.append(attrs)
        if tag in ("link", "a", "img"):
            self.links.append(attrs.get("href") or attrs.get("src") or "")
        if tag == "mark":
            self._in_mark = True
            self.mark_texts.append("")
        if tag == "blockquote":
            self._in_blockquote = True
            self.blockquotes.append("")

    def handle_endtag(self, tag):
        if tag == "label":
            self.label_depth -= 1
        if tag == "mark":
            self._in_mark = False
        if tag == "blockquote":
            self._in_blockquote = False

    def handle_data(self, data):
        if self._in_mark:
            self.mark_texts[-1] += data
        if self._in_blockquote:
            self.blockquotes[-1] += data


def parse(html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    return parser


def test_form_page_is_german_and_every_control_has_a_label(client):
    response = client.get("/")
    assert response.status_code == 200
    page = parse(response.get_data(as_text=True))
    assert page.html_lang == "de"
    assert len(page.controls) >= 5  # question, three modes, top_k, Drucksache, two dates
    for control in page.controls:
        assert control.get("id") in page.label_for or control in page.wrapped, control
    html = response.get_data(as_text=True)
    for label in ("Kombiniert", "Bedeutung", "Stichwort", "Ihre Frage", "Suchen"):
        assert label in html


def test_page_loads_nothing_from_other_hosts(client):
    html = client.get("/", query_string={"q": SOLAR_QUESTION}).get_data(as_text=True)
    page = parse(html)
    assert page.scripts, "the page has its copy script: the check below must see it"
    for script in page.scripts:
        assert script.get("src", "").startswith("/static/")
    assert not re.search(r"<link[^>]+href=\"(https?:)?//", html)
    css = (STATIC_DIR / "style.css").read_text()
    assert "@import" not in css and "url(" not in css
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/static/copy.js").status_code == 200


def test_query_renders_results_with_frage_answer_and_citation(client, searcher):
    response = client.get("/", query_string={"q": SOLAR_QUESTION, "mode": "keyword"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    top = searcher.search(SOLAR_QUESTION, top_k=5, mode="keyword")[0]
    assert top.document.document_id == "S19-10006"
    assert f'href="https://pardok.parlament-berlin.de/starweb/adis/citat/VT/19/SchrAnfr/S19-10006.pdf#page={min(top.chunk.pages)}"' in html
    assert "Drucksache 19/10006" in html
    assert f'<span class="card-heading">{chunk_heading(top.chunk)}</span>' in html
    page = parse(html)
    assert len(page.blockquotes) == 5
    from qa_service.citation import citation_text
    assert page.blockquotes[0] == citation_text(top.document, top.chunk)
    # The copy button names the visible citation it copies; it is hidden until JavaScript enables it.
    assert 'data-copy-target="zitattext-1"' in html and 'id="zitattext-1"' in html
    assert re.search(r'<button[^>]+data-copy-target="zitattext-1"[^>]*hidden', html)
    permalink = "/chunks/" + top.chunk.chunk_id.replace("#", "%23")
    assert f'href="{permalink}"' in html
    assert top.document.authority in html


def test_highlighted_passage_is_the_hits_highlight_span(client, searcher):
    hits = searcher.search(SOLAR_QUESTION, top_k=5, mode="keyword")
    expected = []
    for hit in hits:
        passages = [hit.chunk.antwort[s:e] for s, e in ([hit.quote_span] if hit.quote_span else hit.highlight)]
        # A long answer shows its passages first, then again inside the collapsed full text.
        expected += passages * (2 if len(hit.chunk.antwort) > LONG_ANSWER_CHARS else 1)
    assert expected, "the keyword search should highlight a sentence"
    html = client.get("/", query_string={"q": SOLAR_QUESTION, "mode": "keyword"}).get_data(as_text=True)
    assert parse(html).mark_texts == expected


def test_long_answer_shows_the_passage_and_keeps_the_full_text_verbatim(client, searcher):
    question = "Wie viele Delikte hat die EG Quer bearbeitet?"
    hits = [h for h in searcher.search(question, top_k=10, mode="keyword")
            if len(h.chunk.antwort) > LONG_ANSWER_CHARS and h.highlight]
    assert hits
    html = client.get("/", query_string={"q": question, "mode": "keyword", "top_k": "10"}).get_data(as_text=True)
    assert "Ganze Antwort lesen" in html
    for hit in hits:
        # The complete answer is on the page (escaped, with the <mark> tags taken out), not just the excerpt.
        without_marks = html.replace("<mark>", "").replace("</mark>", "")
        assert str(escape(hit.chunk.antwort)) in without_marks


def test_exact_quote_is_marked_and_labelled(client, searcher):
    chunk = next(c for c in searcher.index.chunks if c.document_id == "S19-10048" and len(c.antwort) > 200)
    sentence = next(s.strip() for s in re.split(r"(?<=\.)\s", chunk.antwort) if len(s.strip()) > 60)
    html = client.get("/", query_string={"q": sentence}).get_data(as_text=True)
    assert "wörtlicher Treffer" in html
    hit = searcher.search(sentence, top_k=5)[0]
    assert hit.chunk.chunk_id == chunk.chunk_id and hit.quote_span
    marks = parse(html).mark_texts
    assert marks[0] == chunk.antwort[hit.quote_span[0]:hit.quote_span[1]]
    # The marked passage is the quoted sentence (the span may leave out the final full stop).
    assert " ".join(sentence.split()).startswith(" ".join(marks[0].split()))
    assert len(marks[0]) >= len(sentence) - 2


def test_query_and_document_text_are_html_escaped(client):
    html = client.get("/", query_string={"q": "<script>alert(1)</script>"}).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # The real title of S19-10041 has "&" in it: it must arrive as an entity.
    html = client.get("/", query_string={"q": "Querdenker Delikte EG Quer", "mode": "keyword"}).get_data(
        as_text=True)
    assert "Straftaten &amp; Ordnungswidrigkeiten" in html
    assert "Straftaten & Ordnungswidrigkeiten" not in html


def test_result_page_is_a_shareable_link_with_options_kept(client):
    html = client.get("/", query_string={"q": "Schule", "mode": "semantic", "top_k": "10",
                                         "drucksache": "19/21969"}).get_data(as_text=True)
    assert re.search(r'value="semantic"\s+checked', html)
    assert '<option value="10" selected>' in html
    assert 'value="19/21969"' in html
    assert "Drucksache 19/21969" in html
    assert "Drucksache 19/10041" not in html


@pytest.mark.parametrize("query,message", [
    ({"q": "x" * 2001}, "zu lang"),
    ({"q": "Schule", "mode": "vector"}, "Unbekannte Suchart"),
    ({"q": "Schule", "top_k": "0"}, "Anzahl"),
    ({"q": "Schule", "top_k": "viele"}, "Anzahl"),
    ({"q": "Schule", "answered_from": "1.1.2021"}, "Datum"),
    ({"q": "Schule", "answered_from": "2021-W01-1"}, "Datum"),
    ({"q": "Schule", "top_k": "²"}, "Anzahl"),
    ({"q": "Schule", "wahlperiode": "neunzehn"}, "Wahlperiode"),
    ({"q": "Schule", "authority": "x" * 201}, "Senatsverwaltung"),
    ({"q": "Schule", "answered_from": "2022-01-01", "answered_to": "2021-01-01"}, "Zeitraum"),
    ({"q": "Schule", "sort": "neueste"}, "Unbekannte Sortierung"),
    ({"q": "Schule", "doc_type": "Große Anfrage"}, "Art der Anfrage"),
    ({"q": "Schule", "party": "x" * 201}, "Partei"),
    ({"q": "Schule", "asker": "x" * 201}, "Fragesteller"),
])
def test_bad_form_input_shows_an_inline_message(client, query, message):
    response = client.get("/", query_string=query)
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert re.search(r'<p class="error" role="alert">[^<]*' + message, html)
    assert "<form" in html  # the form stays, to correct the input


def test_empty_query_shows_just_the_form(client):
    html = client.get("/", query_string={"q": "   "}).get_data(as_text=True)
    assert "<form" in html and "<blockquote" not in html and 'class="error"' not in html


def test_chunk_permalink_page_shows_full_chunk_and_citation(client, searcher):
    chunk = next(c for c in searcher.index.chunks if c.document_id == "S19-10041" and c.kind == "qa")
    response = client.get("/chunks/" + chunk.chunk_id.replace("#", "%23"))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert str(escape(chunk.antwort)) in html
    assert str(escape(chunk.frage)) in html
    page = parse(html)
    from qa_service.citation import citation_text
    assert page.blockquotes == [citation_text(searcher.index.document("S19-10041"), chunk)]


def test_unknown_chunk_and_unknown_page_are_german_html_404s(client):
    for path in ("/chunks/S19-10041%23999", "/nirgends"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.mimetype == "text/html"
        assert "Nicht gefunden" in response.get_data(as_text=True)


def test_without_index_the_page_says_to_build_it(tmp_path):
    client = create_app(make_settings(tmp_path, tmp_path / "none"),
                        flask_config={"TESTING": True}).test_client()
    response = client.get("/", query_string={"q": "Schule"})
    assert response.status_code == 503
    assert "qa-service build" in response.get_data(as_text=True)
    assert client.get("/").status_code == 200  # the form itself needs no index


@pytest.mark.parametrize("text,spans,expected", [
    ("abcdef", [], [("abcdef", False)]),
    ("abcdef", [(1, 3)], [("a", False), ("bc", True), ("def", False)]),
    ("abcdef", [(0, 6)], [("abcdef", True)]),
    ("abcdef", [(3, 5), (1, 4)], [("a", False), ("bcde", True), ("f", False)]),
    ("abcdef", [(4, 99), (-5, 1)], [("a", True), ("bcd", False), ("ef", True)]),
    ("abcdef", [(3, 3), (5, 2)], [("abcdef", False)]),
    ("", [(0, 3)], [("", False)]),
])
def test_mark_segments_merges_and_clips_spans(text, spans, expected):
    assert mark_segments(text, spans) == expected


def test_form_offers_every_filter_the_api_accepts(client):
    from qa_service.query import FILTER_NAMES

    page = parse(client.get("/").get_data(as_text=True))
    names = {control.get("name") for control in page.controls}
    assert set(FILTER_NAMES) <= names


def test_form_filters_by_authority_and_wahlperiode_like_the_api(client):
    for query in ({"authority": "Bildung"}, {"wahlperiode": "17"}):
        html = client.get("/", query_string={"q": "Schule", "top_k": "20", **query}).get_data(as_text=True)
        api = client.get("/api/ask", query_string={"q": "Schule", "top_k": "20", **query}).get_json()
        assert api["results"]
        for result in api["results"]:
            assert f'href="/chunks/{result["chunk_id"].replace("#", "%23")}"' in html
        assert html.count('class="card"') == len(api["results"])


def test_form_ignores_parameters_it_does_not_know(client):
    response = client.get("/", query_string={"q": "Solaranlagen", "utm_source": "newsletter"})
    assert response.status_code == 200
    assert 'class="card"' in response.get_data(as_text=True)


def test_a_hit_found_by_meaning_only_is_labelled_so(client, searcher):
    question = "xylophone orchestra rehearsal schedule"
    hits = searcher.search(question, top_k=3, mode="semantic")
    assert hits and all(h.match == "semantic" for h in hits)
    html = client.get("/", query_string={"q": question, "mode": "semantic", "top_k": "5"}).get_data(as_text=True)
    assert html.count("nur inhaltlich ähnlich") == len(searcher.search(question, top_k=5, mode="semantic"))
    solar = client.get("/", query_string={"q": "Solaranlagen Pankow", "top_k": "1"}).get_data(as_text=True)
    assert "nur inhaltlich ähnlich" not in solar

def test_form_offers_sort_and_the_party_and_type_lists_with_the_value_kept(client):
    html = client.get("/", query_string={"q": "Schule", "party": "Die Linke", "doc_type": "Kleine Anfrage",
                                         "sort": "date"}).get_data(as_text=True)
    # "Die Linke" is the list's "LINKE"; a party the list lacks (from a link) stays selectable.
    assert '<option value="LINKE" selected>' in html
    assert '<option value="Kleine Anfrage" selected>' in html
    assert '<option value="date" selected>' in html
    html = client.get("/", query_string={"q": "Schule", "party": "Freie Wähler"}).get_data(as_text=True)
    assert '<option value="Freie Wähler" selected>' in html


def test_form_filters_by_party_and_sorts_by_date_like_the_api(client):
    query = {"q": "Schule Straftaten", "top_k": "20", "party": "AfD", "sort": "date"}
    html = client.get("/", query_string=query).get_data(as_text=True)
    api = client.get("/api/ask", query_string=query).get_json()["results"]
    assert api and {r["document"]["askers"][0]["party"] for r in api} == {"AfD"}
    permalinks = [m for m in re.findall(r'href="/chunks/([^"]+)"', html)]
    assert permalinks == [r["chunk_id"].replace("#", "%23") for r in api]


def test_result_page_shows_facets_with_links_that_add_a_filter(client):
    html = client.get("/", query_string={"q": "Schule", "mode": "keyword"}).get_data(as_text=True)
    assert 'class="facets"' in html
    assert 'href="/?q=Schule&amp;mode=keyword&amp;authority=Senatsverwaltung+f%C3%BCr+Bildung,+Jugend+und+Familie"' in html
    page = parse(html)
    for control in page.controls:
        assert control.get("id") in page.label_for or control in page.wrapped, control


def test_browse_navigation_is_on_every_page(client):
    html = client.get("/").get_data(as_text=True)
    assert 'href="/senatsverwaltungen"' in html and 'href="/parteien"' in html
