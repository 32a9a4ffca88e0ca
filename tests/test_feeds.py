"""Atom feeds of saved searches, parsed with feedparser: order by answer date, entries, filters, escaping, errors."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html import escape as html_escape
from urllib.parse import parse_qs, urlsplit

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from qa_service.citation import chunk_heading, citation_text
from qa_service.documents import Chunk, Document
from qa_service.feeds import FEED_SIZE, build_feed, parse_feed_request
from qa_service.query import URL_PARAMETERS, parse_filters

from web_fixtures import app, client, searcher  # noqa: F401  (fixtures)

ATOM = "{http://www.w3.org/2005/Atom}"
SOLAR_QUESTION = "Solaranlagen auf öffentlichen Gebäuden in Pankow"


def get_feed(client, **params):
    """Return the parsed feed of GET /feed.atom?params, checked to be well-formed Atom 1.0."""
    response = client.get("/feed.atom", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/atom+xml"
    parsed = feedparser.parse(response.data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    return parsed


def chunk_of(entry, searcher):
    """Return (document, chunk, position) of a feed entry, from its permalink."""
    chunk_id = entry.link.split("/chunks/", 1)[1].replace("%23", "#")
    position = searcher.index.position(chunk_id)
    chunk = searcher.index.chunks[position]
    return searcher.index.documents[chunk.document_id], chunk, position


def answerable(chunk) -> bool:
    return chunk.kind != "qa" or bool(chunk.antwort.strip())


def assert_newest_first(entries, searcher):
    keys = []
    for entry in entries:
        document, _, position = chunk_of(entry, searcher)
        keys.append((document.answered_on is None, "" if document.answered_on is None else document.answered_on,
                     position))
    # Dated before undated; newer date first; within a date, chunk order.
    assert [k[0] for k in keys] == sorted(k[0] for k in keys)
    for before, after in zip(keys, keys[1:]):
        if before[0] == after[0] and before[1] == after[1]:
            assert before[2] < after[2]
        elif before[0] == after[0]:
            assert before[1] > after[1]


def test_feed_without_question_lists_every_answer_newest_first(client, searcher):
    feed = get_feed(client)
    expected = [c for c in searcher.index.chunks if answerable(c)][:FEED_SIZE]
    assert len(feed.entries) == len(expected) > 10
    assert_newest_first(feed.entries, searcher)
    newest = max(d.answered_on for d in searcher.index.documents.values())
    assert chunk_of(feed.entries[0], searcher)[0].answered_on == newest
    assert feed.feed.title == "Neue Antworten des Senats"
    assert feed.feed.language == "de"


def test_entry_has_heading_frage_verbatim_answer_citation_author_and_answer_date(client, searcher):
    feed = get_feed(client, drucksache="19/10041")
    entry = next(e for e in feed.entries if e.link.endswith("/chunks/S19-10041%235a"))
    document, chunk, _ = chunk_of(entry, searcher)
    assert entry.title.startswith(f"{chunk_heading(chunk)} – Drucksache 19/10041: Delikte der EG Quer")
    assert entry.author == "Senatsverwaltung für Inneres und Sport"
    assert entry.summary == citation_text(document, chunk)
    assert entry.published_parsed[:3] == entry.updated_parsed[:3] == (2021, 11, 22)
    html = entry.content[0].value
    assert entry.content[0].type == "text/html"
    assert html_escape(chunk.frage.split("\n")[0], quote=False) in html
    for paragraph in chunk.antwort.split("\n"):
        if paragraph.strip():
            assert f"<p>{html_escape(paragraph, quote=False)}</p>" in html
    assert 'href="https://pardok.parlament-berlin.de/starweb/adis/citat/VT/19/SchrAnfr/S19-10041.pdf#page=' in html
    # The id is the permalink; one link per entry, the permalink.
    assert entry.id == entry.link
    assert [link.rel for link in entry.links] == ["alternate"]


def test_every_entry_links_to_its_permalink_page(client, searcher):
    feed = get_feed(client)
    for entry in feed.entries:
        document, chunk, _ = chunk_of(entry, searcher)
        response = client.get(urlsplit(entry.link).path)
        assert response.status_code == 200, entry.link
        assert f'{chunk_heading(chunk)} <span class="hint">aus Drucksache {document.drucksache}' in \
            response.get_data(as_text=True)


@pytest.mark.parametrize("filters", [
    {"authority": "Inneres"},
    {"wahlperiode": "17"},
    {"drucksache": "19/10048"},
    {"answered_from": "2021-11-15", "answered_to": "2025-12-31"},
])
def test_filters_restrict_the_feed_to_matching_documents(client, searcher, filters):
    feed = get_feed(client, **filters)
    wanted = parse_filters(filters, strings=True)
    expected = [c for c in searcher.index.chunks
                if answerable(c) and wanted.matches(searcher.index.documents[c.document_id])]
    # At most the feed's length: the newest of them (S19-14497 alone has over a hundred chunks).
    assert len(feed.entries) == min(len(expected), FEED_SIZE) > 0
    assert all(wanted.matches(chunk_of(e, searcher)[0]) for e in feed.entries)
    assert_newest_first(feed.entries, searcher)
    # The feed's own URL keeps its filters, so that a reader subscribes to this very search.
    assert parse_qs(urlsplit(feed.feed.id).query) == {k: [v] for k, v in filters.items()}


def test_feed_of_a_question_has_the_search_candidates_ordered_by_date(client, searcher):
    feed = get_feed(client, q=SOLAR_QUESTION)
    hits = searcher.search(SOLAR_QUESTION, top_k=FEED_SIZE)
    assert {chunk_of(e, searcher)[1].chunk_id for e in feed.entries} == {h.chunk.chunk_id for h in hits}
    assert_newest_first(feed.entries, searcher)
    assert feed.feed.title == f"Senatsantworten zu „{SOLAR_QUESTION}“"


def test_top_k_sets_the_number_of_entries_and_a_filter_applies_to_a_question(client, searcher):
    feed = get_feed(client, q=SOLAR_QUESTION, top_k="3", authority="Inneres")
    assert len(feed.entries) == 3
    assert all("Inneres" in chunk_of(e, searcher)[0].authority for e in feed.entries)
    assert "Senatsverwaltung: Inneres" in feed.feed.title
    # Subscribing to the feed's own link gives this same feed.
    assert parse_qs(urlsplit(feed.feed.id).query) == {"q": [SOLAR_QUESTION], "top_k": ["3"], "authority": ["Inneres"]}


@pytest.mark.parametrize("params", [
    {"q": "Solaranlagen", "drucksache": "99/99999"},
    {"q": "qqxyz vvwq", "mode": "keyword"},
    {"authority": "Senatsverwaltung für Nichts"},
])
def test_a_search_without_matches_is_an_empty_valid_feed(client, params):
    feed = get_feed(client, **params)
    assert feed.entries == []
    assert feed.feed.title and feed.feed.updated_parsed


@pytest.mark.parametrize("params, code", [
    ({"top_k": "0"}, "invalid_top_k"),
    ({"foo": "1"}, "unknown_parameter"),
    ({"answered_from": "2021-13-01"}, "invalid_date"),
    ({"q": ""}, "missing_question"),
    ({"q": "x", "mode": "fuzzy"}, "invalid_mode"),
    ({"answered_from": "2022-01-01", "answered_to": "2021-01-01"}, "invalid_filter"),
])
def test_bad_input_gets_the_api_json_error(client, params, code):
    response = client.get("/feed.atom", query_string=params)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code


def test_repeated_parameter_is_refused(client):
    response = client.get("/feed.atom?authority=Inneres&authority=Bildung")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_parameter"


def test_markup_and_control_characters_in_answers_are_escaped_not_interpreted(app):
    document = Document(document_id="X19-1", drucksache="19/1", title="Titel <b>fett</b> & \x0bmehr",
                        answered_on="2024-05-06", authority="Senatsverwaltung für <i>Test</i>",
                        source_url="https://example.org/X19-1.pdf")
    chunk = Chunk(chunk_id="X19-1#1", document_id="X19-1", kind="qa", numbers=("1",),
                  frage="Was ist <script>alert(1)</script>?", antwort="Antwort mit <img src=x onerror=alert(2)>\x01 & Co.",
                  pages=(2,))
    with app.test_request_context("/feed.atom"):
        ask, has_question = parse_feed_request({}, app.config["QA_SETTINGS"])
        body = build_feed([(document, chunk, 0)], ask, has_question, None)
    root = ET.fromstring(body)  # well-formed although the texts held control characters
    entry = root.find(f"{ATOM}entry")
    content = entry.find(f"{ATOM}content")
    assert content.get("type") == "html"
    # The entry's HTML holds the answer as escaped text: no element of the answer survives as markup.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content.text
    assert "&lt;img src=x onerror=alert(2)&gt; &amp; Co." in content.text
    assert "<script" not in content.text and "<img" not in content.text
    assert entry.find(f"{ATOM}title").text == "Frage 1 – Drucksache 19/1: Titel <b>fett</b> & mehr"
    assert entry.find(f"{ATOM}author/{ATOM}name").text == "Senatsverwaltung für <i>Test</i>"
    parsed = feedparser.parse(body)
    assert not parsed.bozo
    assert "<script" not in parsed.entries[0].content[0].value


def test_control_characters_in_the_question_give_a_valid_feed(client):
    feed = get_feed(client, q="Solar\x01anlagen")
    assert feed.feed.title == "Senatsantworten zu „Solaranlagen“"


def test_unchanged_feed_is_answered_304_to_a_reader_that_has_it(client):
    first = client.get("/feed.atom", query_string={"authority": "Inneres"})
    etag = first.headers["ETag"]
    again = client.get("/feed.atom", query_string={"authority": "Inneres"}, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""


def test_result_page_links_the_feed_of_its_search(client, searcher):
    response = client.get("/", query_string={"q": SOLAR_QUESTION, "authority": "Umwelt", "top_k": "10",
                                             "mode": "hybrid", "drucksache": ""})
    html = response.get_data(as_text=True)
    head = html.split("</head>", 1)[0]
    alternate = re.search(r'<link rel="alternate" type="application/atom\+xml" title="[^"]*" href="([^"]+)">', head)
    assert alternate, head
    href = alternate.group(1).replace("&amp;", "&")
    # The feed keeps the question and the filters, not the page's number of answers nor empty fields.
    assert parse_qs(urlsplit(href).query) == {"q": [SOLAR_QUESTION], "authority": ["Umwelt"]}
    assert re.search(r'<a href="' + re.escape(alternate.group(1)) + r'"[^>]*>Diese Suche abonnieren</a>', html)
    feed = get_feed(client, **{k: v[0] for k, v in parse_qs(urlsplit(href).query).items()})
    assert feed.entries and all("Umwelt" in chunk_of(e, searcher)[0].authority for e in feed.entries)


def test_start_page_links_the_feed_of_the_newest_answers(client):
    head = client.get("/").get_data(as_text=True).split("</head>", 1)[0]
    assert '<link rel="alternate" type="application/atom+xml" title="Neue Antworten des Senats" href="/feed.atom">' \
        in head


def test_feed_is_updated_at_its_newest_answer_date_not_at_the_request(client):
    feed = get_feed(client, drucksache="19/10006")
    assert feed.feed.updated == "2021-11-12T00:00:00+00:00"


# Generated parameters: the feed's own names and stray ones, with any text (control characters, markup, digits).
PARAMETER_NAMES = st.sampled_from(URL_PARAMETERS + ("sort", "Q", ""))
PARAMETER_VALUES = st.one_of(st.text(max_size=30), st.sampled_from(["5", "0", "19", "2021-11-22", "Inneres", "keyword"]))


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(params=st.lists(st.tuples(PARAMETER_NAMES, PARAMETER_VALUES), max_size=4))
def test_generated_parameters_get_a_valid_feed_or_a_json_400(client, params):
    response = client.get("/feed.atom", query_string=params)
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert response.get_json()["error"]["code"]
    else:
        parsed = feedparser.parse(response.data)
        assert not parsed.bozo and parsed.version == "atom10"
