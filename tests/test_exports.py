"""Downloads: results as CSV and JSON (the API's results), citations as CSL-JSON and BibTeX for reference managers."""
from __future__ import annotations

import csv
import io
import json
import re
from urllib.parse import quote

import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from qa_service.citation import bibtex_entry, latex_escape
from qa_service.documents import Chunk, Document
from qa_service.exports import CSV_COLUMNS, filename_slug

from web_fixtures import app, client, searcher  # noqa: F401  (fixtures)

SOLAR_QUESTION = "Solaranlagen auf öffentlichen Gebäuden in Pankow"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# The part of the CSL-JSON schema (CSL 1.0.2, csl-data.json) that covers the fields we write: the item types of
# Appendix III, dates as date-parts, names as literal or family/given, the standard variables as strings.
CSL_TYPES = [
    "article", "article-journal", "article-magazine", "article-newspaper", "bill", "book", "broadcast", "chapter",
    "classic", "collection", "dataset", "document", "entry", "entry-dictionary", "entry-encyclopedia", "event",
    "figure", "graphic", "hearing", "interview", "legal_case", "legislation", "manuscript", "map", "motion_picture",
    "musical_score", "pamphlet", "paper-conference", "patent", "performance", "periodical",
    "personal_communication", "post", "post-weblog", "regulation", "report", "review", "review-book", "software",
    "song", "speech", "standard", "thesis", "treaty", "webpage"]
CSL_ITEM_SCHEMA = {
    "type": "object",
    "required": ["id", "type"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": ["string", "number"]},
        "type": {"enum": CSL_TYPES},
        "author": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "properties": {"literal": {"type": "string"}, "family": {"type": "string"}, "given": {"type": "string"}}}},
        "issued": {"type": "object", "additionalProperties": False, "required": ["date-parts"],
                   "properties": {"date-parts": {"type": "array", "minItems": 1, "maxItems": 2, "items": {
                       "type": "array", "minItems": 1, "maxItems": 3, "items": {"type": "integer"}}}}},
        **{name: {"type": "string"} for name in (
            "title", "number", "genre", "publisher", "publisher-place", "URL", "page", "section", "language")},
    },
}


def test_csv_has_the_columns_and_rows_of_the_api_results_with_the_answer_verbatim(client):
    params = {"q": SOLAR_QUESTION, "top_k": "10"}
    response = client.get("/api/ask.csv", query_string=params)
    assert response.status_code == 200
    assert response.mimetype == "text/csv" and response.mimetype_params["charset"] == "utf-8"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="senatsantworten-solaranlagen-auf-oeffentlichen-gebaeuden-in-pankow.csv"')
    # A byte order mark first, so that Excel reads UTF-8.
    assert response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"), newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    records = [dict(zip(CSV_COLUMNS, row)) for row in rows[1:]]
    results = client.get("/api/ask", query_string=params).get_json()["results"]
    assert len(records) == len(results) == 10
    assert any("\n" in r["antwort"] for r in results), "a multi-line answer must be among the rows"
    for record, result in zip(records, results):
        assert record["antwort"] == result["antwort"] and record["frage"] == result["frage"]
        assert record["chunk_id"] == result["chunk_id"] and int(record["rank"]) == result["rank"]
        assert float(record["score"]) == result["score"]
        assert record["citation"] == result["citation"]["text"]
        assert record["page_url"] == result["citation"]["page_url"]
        assert record["pages"] == "; ".join(str(p) for p in result["pages"])
        assert record["drucksache"] == result["document"]["drucksache"]
        assert record["authority"] == result["document"]["authority"]


def test_csv_cells_keep_quotes_commas_and_line_breaks(client, searcher):
    # The ka17 document's askers are known only by their party: the cell says so.
    response = client.get("/api/ask.csv", query_string={"q": "Solaranlagen", "drucksache": "17/10866"})
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"), newline="")))
    assert rows and all(r["askers"] == "Fraktion Die Linke" for r in rows)
    for row in rows:
        chunk = searcher.index.chunk(row["chunk_id"])
        assert row["antwort"] == chunk.antwort


def test_json_download_equals_the_api_results(client):
    params = {"q": SOLAR_QUESTION, "mode": "keyword", "top_k": "7", "wahlperiode": "19"}
    response = client.get("/api/ask.json", query_string=params)
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="senatsantworten-')
    download = json.loads(response.data)
    api = client.get("/api/ask", query_string=params).get_json()
    api.pop("took_ms")
    assert download == api


@pytest.mark.parametrize("path", ["/api/ask.csv", "/api/ask.json"])
@pytest.mark.parametrize("params, code", [({}, "missing_question"), ({"q": "x", "top_k": "500"}, "invalid_top_k"),
                                          ({"q": "x", "order": "date"}, "unknown_parameter")])
def test_bad_download_input_gets_the_api_json_error(client, path, params, code):
    response = client.get(path, query_string=params)
    assert response.status_code == 400 and response.mimetype == "application/json"
    assert response.get_json()["error"]["code"] == code


@pytest.mark.parametrize("suffix", ["citation.csl.json", "citation.bib"])
def test_unknown_chunk_citation_is_a_json_404(client, suffix):
    response = client.get(f"/api/chunks/S99-1%23nope/{suffix}")
    assert response.status_code == 404 and response.mimetype == "application/json"
    assert response.get_json()["error"]["code"] == "not_found"


def test_csl_json_of_every_chunk_is_valid_and_states_the_document(client, searcher):
    for chunk in searcher.index.chunks:
        response = client.get(f"/api/chunks/{quote(chunk.chunk_id, safe='')}/citation.csl.json")
        assert response.status_code == 200
        assert response.mimetype == "application/vnd.citationstyles.csl+json"
        items = json.loads(response.data)
        assert len(items) == 1
        item = items[0]
        jsonschema.validate(item, CSL_ITEM_SCHEMA)
        document = searcher.index.documents[chunk.document_id]
        assert item["type"] == "report" and item["id"] == chunk.chunk_id
        assert item["number"] == document.drucksache
        assert item["author"] == [{"literal": document.authority}]
        assert item["publisher"] == "Abgeordnetenhaus Berlin"
        assert item["URL"] == document.source_url
        year, month, day = (int(p) for p in document.answered_on.split("-"))
        assert item["issued"] == {"date-parts": [[year, month, day]]}
        pages = sorted(set(chunk.pages))
        first, last = pages[0], pages[-1]
        if pages == list(range(first, last + 1)):
            assert item["page"] == (str(first) if first == last else f"{first}-{last}")
        else:  # pages apart (an attachment table continued later) are listed, not spanned
            assert item["page"] == ", ".join(map(str, pages))


def test_csl_json_leaves_out_what_the_document_does_not_state():
    from qa_service.citation import csl_item

    item = csl_item(Document(document_id="x"), Chunk("x#1", "x", "text", (), "", "Text.", ()))
    jsonschema.validate(item, CSL_ITEM_SCHEMA)
    assert set(item) == {"id", "type", "language", "publisher", "publisher-place"}


def braces_balanced(text: str) -> bool:
    """Return True when every brace closes one opened before it (as BibTeX counts them: backslashes or not)."""
    depth = 0
    for ch in text:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def bibtex_fields(entry: str) -> dict:
    """Return the fields of one BibTeX entry written one per line as `name = {value},` or `name = macro,`."""
    fields = {}
    for line in entry.splitlines()[1:-1]:
        name, value = line.strip().rstrip(",").split(" = ", 1)
        fields[name] = value[1:-1] if value.startswith("{") else value
    return fields


def test_bibtex_of_every_chunk_is_a_balanced_techreport(client, searcher):
    for chunk in searcher.index.chunks:
        response = client.get(f"/api/chunks/{quote(chunk.chunk_id, safe='')}/citation.bib")
        assert response.status_code == 200 and response.mimetype == "application/x-bibtex"
        assert response.headers["Content-Disposition"].endswith('.bib"')
        entry = response.get_data(as_text=True)
        assert braces_balanced(entry), entry
        assert re.match(r"@techreport\{[A-Za-z0-9_.:-]+,\n", entry)
        fields = bibtex_fields(entry)
        document = searcher.index.documents[chunk.document_id]
        assert fields["author"] == "{" + document.authority + "}"
        assert fields["number"] == document.drucksache
        assert fields["institution"] == "Abgeordnetenhaus Berlin"
        assert fields["year"] == document.answered_on[:4]
        assert fields["url"] == document.source_url


def test_bibtex_escapes_what_latex_reads_as_markup():
    assert latex_escape("A & B 100% $5 #1 x_y {z} ~ ^ \\") == (
        r"A \& B 100\% \$5 \#1 x\_y \textbraceleft{}z\textbraceright{} \textasciitilde{} \textasciicircum{} "
        r"\textbackslash{}")
    document = Document(document_id="S19-1", drucksache="19/1", title="Straftaten & Ordnungs}widrigkeiten {100 %}",
                        authority="Senatsverwaltung für Inneres & Sport", answered_on="2021-11-22")
    entry = bibtex_entry(document, Chunk("S19-1#5a", "S19-1", "qa", ("5a",), "F?", "A.", (3,)))
    assert braces_balanced(entry)
    fields = bibtex_fields(entry)
    assert fields["title"] == r"{Straftaten \& Ordnungs\textbraceright{}widrigkeiten \textbraceleft{}100 \%\textbraceright{}}"
    assert fields["author"] == r"{Senatsverwaltung für Inneres \& Sport}"
    assert fields["month"] == "nov" and fields["date"] == "2021-11-22" and fields["pages"] == "3"
    assert fields["note"] == "Antwort zu Frage 5 a"
    assert entry.startswith("@techreport{S19-1_5a,\n")


def test_result_cards_and_chunk_page_link_both_citation_formats(client):
    html = client.get("/", query_string={"q": SOLAR_QUESTION}).get_data(as_text=True)
    links = re.findall(r'href="(/api/chunks/[^"]+/citation\.(?:bib|csl\.json))"', html)
    assert len(links) == 10  # two per result card
    for link in links:
        assert client.get(link).status_code == 200
    chunk_page = client.get("/chunks/S19-10041%235a").get_data(as_text=True)
    assert 'href="/api/chunks/S19-10041%235a/citation.bib"' in chunk_page
    assert 'href="/api/chunks/S19-10041%235a/citation.csl.json"' in chunk_page
    assert "Zitat als" in chunk_page


def test_result_page_offers_its_results_as_downloads(client):
    html = client.get("/", query_string={"q": SOLAR_QUESTION, "top_k": "10"}).get_data(as_text=True)
    downloads = {}
    for extension in ("csv", "json"):
        match = re.search(rf'href="(/api/ask\.{extension}\?[^"]+)"', html)
        assert match, extension
        downloads[extension] = client.get(match.group(1).replace("&amp;", "&"))
        assert downloads[extension].status_code == 200
    # The downloads hold the page's results: its question and its number of answers.
    assert len(list(csv.DictReader(io.StringIO(downloads["csv"].data.decode("utf-8-sig"))))) == 10
    assert len(json.loads(downloads["json"].data)["results"]) == 10


@pytest.mark.parametrize("text, slug", [("Solaranlagen in Pankow?", "solaranlagen-in-pankow"),
                                        ("Straße über Öl", "strasse-ueber-oel"), ("„…“", "suche"),
                                        ("a" * 80, "a" * 50)])
def test_download_file_names_are_short_ascii(text, slug):
    assert filename_slug(text) == slug


def test_generated_download_requests_get_no_5xx_and_match_the_document(app, searcher):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    for path in ("/api/ask.csv", "/api/ask.json"):
        operation = schema[path]["GET"]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case):
                case.call_and_validate(checks=CHECKS)

            call()
    # Generated ids are almost never real: walk the real ones so every 200 body is checked against the document.
    for path in ("/api/chunks/{chunk_id}/citation.csl.json", "/api/chunks/{chunk_id}/citation.bib"):
        operation = schema[path]["GET"]
        for chunk in searcher.index.chunks:
            case = operation.Case(path_parameters={"chunk_id": quote(chunk.chunk_id, safe="")})
            assert case.call_and_validate(checks=CHECKS).status_code == 200
