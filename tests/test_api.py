"""The JSON API through Flask's test client: every endpoint, every kind of bad input, CORS, not-ready state."""
from __future__ import annotations

import json

import pytest

from qa_service import create_app
from qa_service.payloads import results_payload
from qa_service.query import SearchFilters

from conftest import make_settings

from web_fixtures import app, client, searcher  # noqa: F401  (fixtures)

SOLAR_QUESTION = "Solaranlagen auf öffentlichen Gebäuden in Pankow"


def assert_json_error(response, status: int, code: str) -> dict:
    """Assert an API error response: status, JSON content type, `{"error": {"code", "message"}}`."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"].strip()
    return body


# --- ask ----------------------------------------------------------------------------------------------------

def test_post_ask_returns_the_cli_json_shape_plus_took_ms(client, searcher):
    response = client.post("/api/ask", json={"question": SOLAR_QUESTION, "top_k": 3, "mode": "keyword"})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    took_ms = body.pop("took_ms")
    assert isinstance(took_ms, (int, float)) and took_ms >= 0
    expected = results_payload(SOLAR_QUESTION, searcher.search(SOLAR_QUESTION, top_k=3, mode="keyword"),
                               "keyword")
    assert body == json.loads(json.dumps(expected))
    assert len(body["results"]) == 3
    assert body["results"][0]["document_id"] == "S19-10006"


def test_post_ask_result_carries_citation_and_document_metadata(client):
    body = client.post("/api/ask", json={"question": SOLAR_QUESTION, "mode": "keyword"}).get_json()
    first = body["results"][0]
    assert first["document"]["drucksache"] == "19/10006"
    assert "source_file" not in first["document"] and "warnings" not in first["document"]
    assert "Drucksache 19/10006" in first["citation"]["text"]
    assert first["citation"]["url"].endswith("S19-10006.pdf")
    assert first["antwort"]  # the verbatim answer is in the payload


def test_post_ask_defaults_to_hybrid_and_five_results(client):
    body = client.post("/api/ask", json={"question": SOLAR_QUESTION}).get_json()
    assert body["mode"] == "hybrid"
    assert len(body["results"]) == 5
    assert [r["rank"] for r in body["results"]] == [1, 2, 3, 4, 5]


def test_get_ask_answers_like_post(client):
    via_get = client.get("/api/ask", query_string={"q": SOLAR_QUESTION, "top_k": 4, "mode": "keyword"})
    via_post = client.post("/api/ask", json={"question": SOLAR_QUESTION, "top_k": 4, "mode": "keyword"})
    assert via_get.status_code == 200
    get_body, post_body = via_get.get_json(), via_post.get_json()
    get_body.pop("took_ms"), post_body.pop("took_ms")
    assert get_body == post_body


def test_question_is_stripped_and_at_the_length_limit_accepted(client):
    question = ("Pankow Solaranlagen " * 200)[:2000]
    response = client.post("/api/ask", json={"question": "  " + question + "  ", "mode": "keyword"})
    assert response.status_code == 200
    assert response.get_json()["question"] == question.strip()


def test_filter_drucksache_restricts_every_result_to_that_document(client):
    body = client.post("/api/ask", json={"question": SOLAR_QUESTION, "top_k": 50,
                                         "filters": {"drucksache": "19/10041"}}).get_json()
    assert body["results"]
    assert {r["document_id"] for r in body["results"]} == {"S19-10041"}


def test_filter_wahlperiode_and_dates_in_get_restrict_results(client, searcher):
    response = client.get("/api/ask", query_string={"q": "Sozialraumorientierung", "top_k": 50,
                                                    "wahlperiode": "17"})
    docs = {r["document_id"] for r in response.get_json()["results"]}
    assert docs == {"ka17-10866"}
    body = client.post("/api/ask", json={"question": "Schule", "top_k": 50, "filters": {
        "answered_from": "2021-11-01", "answered_to": "2021-11-30", "wahlperiode": None}}).get_json()
    answered = {r["document"]["answered_on"] for r in body["results"]}
    assert answered and all("2021-11-01" <= day <= "2021-11-30" for day in answered)
    expected = searcher.search("Schule", top_k=50, filters=SearchFilters(answered_from="2021-11-01",
                                                                         answered_to="2021-11-30"))
    assert [r["chunk_id"] for r in body["results"]] == [h.chunk.chunk_id for h in expected]


@pytest.mark.parametrize("filters,expected", [
    # The askers of the 17 corpus documents: LINKE asked S19-10041, S19-10281, S19-10282 and (the sidecar writes
    # "Die Linke") ka17-10866; GRÜNE S19-10006 and S19-10300; Anne Helm S19-10041 and S19-10282; AfD asked the
    # Bildungsverwaltung in S19-10290 and S19-21969.
    ({"party": "LINKE"}, {"S19-10041", "S19-10281", "S19-10282", "ka17-10866"}),
    ({"party": "Die Linke"}, {"S19-10041", "S19-10281", "S19-10282", "ka17-10866"}),
    ({"party": "Bündnis 90/Die Grünen"}, {"S19-10006", "S19-10300"}),
    ({"asker": "helm"}, {"S19-10041", "S19-10282"}),
    ({"doc_type": "Kleine Anfrage"}, {"ka17-10866"}),
    ({"party": "AfD", "authority": "Bildung"}, {"S19-10290", "S19-21969"}),
    ({"subject": "Schule"}, set()),  # the corpus has no subjects yet
])
def test_new_filters_in_post_and_get_restrict_results(client, filters, expected):
    question = "Schule Delikte Solaranlagen Sozialraumorientierung Straftaten"
    body = client.post("/api/ask", json={"question": question, "top_k": 50, "mode": "keyword",
                                         "filters": filters}).get_json()
    assert {r["document_id"] for r in body["results"]} == expected
    via_get = client.get("/api/ask", query_string={"q": question, "top_k": 50, "mode": "keyword", **filters})
    assert [r["chunk_id"] for r in via_get.get_json()["results"]] == [r["chunk_id"] for r in body["results"]]


def test_sort_by_date_returns_the_newest_answers_first_in_post_and_get(client):
    question = "Schule Straftaten Solaranlagen"
    by_relevance = client.post("/api/ask", json={"question": question, "top_k": 20}).get_json()["results"]
    body = client.post("/api/ask", json={"question": question, "top_k": 20, "sort": "date"}).get_json()
    dates = [r["document"]["answered_on"] for r in body["results"]]
    assert len(set(dates)) > 2 and dates == sorted(dates, reverse=True)
    assert dates != [r["document"]["answered_on"] for r in by_relevance]
    via_get = client.get("/api/ask", query_string={"q": question, "top_k": 20, "sort": "date"}).get_json()
    assert [r["chunk_id"] for r in via_get["results"]] == [r["chunk_id"] for r in body["results"]]
    default = client.post("/api/ask", json={"question": question, "top_k": 20, "sort": "relevance"}).get_json()
    assert [r["chunk_id"] for r in default["results"]] == [r["chunk_id"] for r in by_relevance]


def test_filter_that_matches_nothing_gives_empty_results_not_an_error(client):
    response = client.post("/api/ask", json={"question": SOLAR_QUESTION, "filters": {"drucksache": "99/99999"}})
    assert response.status_code == 200
    assert response.get_json()["results"] == []


def test_script_in_question_comes_back_as_json_string(client):
    response = client.get("/api/ask", query_string={"q": "<script>alert(1)</script>"})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json()["question"] == "<script>alert(1)</script>"


# --- bad input ----------------------------------------------------------------------------------------------

def _post_raw(data, content_type="application/json"):
    return {"method": "POST", "path": "/api/ask", "data": data, "content_type": content_type}


def _post(body):
    return _post_raw(json.dumps(body))


def _get(path, **query):
    return {"method": "GET", "path": path, "query_string": query}


BAD_REQUESTS = [
    # body and content type
    ("malformed_json", _post_raw('{"question": "Schule"'), 400, "invalid_json"),
    ("json_array", _post_raw('["Schule"]'), 400, "invalid_json"),
    ("json_string", _post_raw('"Schule"'), 400, "invalid_json"),
    ("empty_body", _post_raw(""), 400, "invalid_json"),
    ("deeply_nested_json", _post_raw("[" * 30000 + "]" * 30000), 400, "invalid_json"),
    ("invalid_utf8", _post_raw(b'{"question": "\xff\xfe"}'), 400, "invalid_json"),
    ("form_encoded", _post_raw("question=Schule", "application/x-www-form-urlencoded"), 415,
     "unsupported_media_type"),
    ("text_plain", _post_raw('{"question": "Schule"}', "text/plain"), 415, "unsupported_media_type"),
    ("no_content_type", _post_raw('{"question": "Schule"}', None), 415, "unsupported_media_type"),
    ("unknown_field", _post({"question": "Schule", "topk": 3}), 400, "unknown_field"),
    # question
    ("missing_question", _post({"top_k": 3}), 400, "missing_question"),
    ("null_question", _post({"question": None}), 400, "missing_question"),
    ("empty_question", _post({"question": ""}), 400, "missing_question"),
    ("blank_question", _post({"question": " \n\t "}), 400, "missing_question"),
    ("number_question", _post({"question": 42}), 400, "invalid_question"),
    ("list_question", _post({"question": ["Schule"]}), 400, "invalid_question"),
    ("object_question", _post({"question": {"text": "Schule"}}), 400, "invalid_question"),
    ("lone_surrogate_question", _post_raw('{"question": "Schule \\ud800"}'), 400, "invalid_question"),
    ("question_too_long", _post({"question": "x" * 2001}), 400, "question_too_long"),
    # top_k
    ("top_k_zero", _post({"question": "Schule", "top_k": 0}), 400, "invalid_top_k"),
    ("top_k_negative", _post({"question": "Schule", "top_k": -1}), 400, "invalid_top_k"),
    ("top_k_above_50", _post({"question": "Schule", "top_k": 51}), 400, "invalid_top_k"),
    ("top_k_float", _post({"question": "Schule", "top_k": 2.5}), 400, "invalid_top_k"),
    ("top_k_string", _post({"question": "Schule", "top_k": "5"}), 400, "invalid_top_k"),
    ("top_k_bool", _post({"question": "Schule", "top_k": True}), 400, "invalid_top_k"),
    ("top_k_nan", _post_raw('{"question": "Schule", "top_k": NaN}'), 400, "invalid_top_k"),
    # mode
    ("unknown_mode", _post({"question": "Schule", "mode": "fast"}), 400, "invalid_mode"),
    ("number_mode", _post({"question": "Schule", "mode": 1}), 400, "invalid_mode"),
    # filters
    ("unknown_filter", _post({"question": "Schule", "filters": {"fraktion": "SPD"}}), 400, "unknown_filter"),
    ("filters_list", _post({"question": "Schule", "filters": ["19/10041"]}), 400, "invalid_filter"),
    ("filters_string", _post({"question": "Schule", "filters": "19/10041"}), 400, "invalid_filter"),
    ("empty_drucksache", _post({"question": "Schule", "filters": {"drucksache": " "}}), 400, "invalid_filter"),
    ("number_drucksache", _post({"question": "Schule", "filters": {"drucksache": 19}}), 400, "invalid_filter"),
    ("string_wahlperiode", _post({"question": "Schule", "filters": {"wahlperiode": "19"}}), 400,
     "invalid_filter"),
    ("bool_wahlperiode", _post({"question": "Schule", "filters": {"wahlperiode": True}}), 400, "invalid_filter"),
    ("german_date", _post({"question": "Schule", "filters": {"answered_from": "22.11.2021"}}), 400,
     "invalid_date"),
    ("impossible_date", _post({"question": "Schule", "filters": {"answered_to": "2021-02-30"}}), 400,
     "invalid_date"),
    ("number_date", _post({"question": "Schule", "filters": {"answered_to": 20211122}}), 400, "invalid_date"),
    ("unknown_doc_type", _post({"question": "Schule", "filters": {"doc_type": "Große Anfrage"}}), 400,
     "invalid_filter"),
    ("lowercase_doc_type", _post({"question": "Schule", "filters": {"doc_type": "kleine anfrage"}}), 400,
     "invalid_filter"),
    ("number_party", _post({"question": "Schule", "filters": {"party": 90}}), 400, "invalid_filter"),
    ("blank_asker", _post({"question": "Schule", "filters": {"asker": "  "}}), 400, "invalid_filter"),
    ("long_subject", _post({"question": "Schule", "filters": {"subject": "S" * 201}}), 400, "invalid_filter"),
    ("lone_surrogate_party", _post_raw('{"question": "x", "filters": {"party": "\\udc80"}}'), 400,
     "invalid_filter"),
    # sort
    ("unknown_sort", _post({"question": "Schule", "sort": "newest"}), 400, "invalid_sort"),
    ("number_sort", _post({"question": "Schule", "sort": 1}), 400, "invalid_sort"),
    ("reversed_dates", _post({"question": "Schule", "filters": {"answered_from": "2022-01-01",
                                                                "answered_to": "2021-01-01"}}), 400,
     "invalid_filter"),
    # GET /api/ask
    ("get_without_q", _get("/api/ask", top_k="3"), 400, "missing_question"),
    ("get_empty_q", _get("/api/ask", q=""), 400, "missing_question"),
    ("get_blank_q", _get("/api/ask", q="   "), 400, "missing_question"),
    ("get_q_too_long", _get("/api/ask", q="y" * 2001), 400, "question_too_long"),
    ("get_top_k_word", _get("/api/ask", q="Schule", top_k="fünf"), 400, "invalid_top_k"),
    ("get_top_k_zero", _get("/api/ask", q="Schule", top_k="0"), 400, "invalid_top_k"),
    ("get_top_k_51", _get("/api/ask", q="Schule", top_k="51"), 400, "invalid_top_k"),
    ("get_top_k_float", _get("/api/ask", q="Schule", top_k="2.5"), 400, "invalid_top_k"),
    ("get_top_k_negative", _get("/api/ask", q="Schule", top_k="-3"), 400, "invalid_top_k"),
    ("get_unknown_mode", _get("/api/ask", q="Schule", mode="vector"), 400, "invalid_mode"),
    ("get_bad_date", _get("/api/ask", q="Schule", answered_from="2021-1-1"), 400, "invalid_date"),
    ("get_unknown_sort", _get("/api/ask", q="Schule", sort="Datum"), 400, "invalid_sort"),
    ("get_repeated_sort", {"method": "GET", "path": "/api/ask?q=a&sort=date&sort=relevance"}, 400,
     "invalid_parameter"),
    ("get_bad_doc_type", _get("/api/ask", q="Schule", doc_type="Anfrage"), 400, "invalid_filter"),
    ("get_blank_party", _get("/api/ask", q="Schule", party=" "), 400, "invalid_filter"),
    ("get_bad_wahlperiode", _get("/api/ask", q="Schule", wahlperiode="neunzehn"), 400, "invalid_filter"),
    ("get_unknown_parameter", _get("/api/ask", q="Schule", k="3"), 400, "unknown_parameter"),
    ("get_repeated_q", {"method": "GET", "path": "/api/ask?q=a&q=b"}, 400, "invalid_parameter"),
    ("get_top_k_unicode_digit", _get("/api/ask", q="Schule", top_k="²"), 400, "invalid_top_k"),
    ("get_top_k_arabic_digits", _get("/api/ask", q="Schule", top_k="٣"), 400, "invalid_top_k"),
    ("get_week_date", _get("/api/ask", q="Schule", answered_from="2021-W01-1"), 400, "invalid_date"),
    ("get_basic_date", _get("/api/ask", q="Schule", answered_to="20211231"), 400, "invalid_date"),
    # a name the caller made up is echoed in the message: a lone surrogate in it must not break the answer
    ("lone_surrogate_field", _post_raw('{"question": "x", "\\ud800": 1}'), 400, "unknown_field"),
    ("lone_surrogate_filter", _post_raw('{"question": "x", "filters": {"\\udfff": 1}}'), 400, "unknown_filter"),
    ("invalid_utf8_parameter", {"method": "GET", "path": "/api/ask?q=x&%ED%B2%80=1"}, 400, "unknown_parameter"),
    # unknown ids and routes, wrong methods
    ("unknown_document", _get("/api/documents/S19-00000"), 404, "not_found"),
    ("unknown_chunk", _get("/api/chunks/S19-10041%2399"), 404, "not_found"),
    ("chunk_id_with_slash", _get("/api/chunks/a/b"), 404, "not_found"),
    ("unknown_route", _get("/api/answers"), 404, "not_found"),
    # a double slash is no alias: no HTML redirect built from the Host header
    ("double_slash", _get("/api//ask", q="Schule"), 404, "not_found"),
    ("healthz_trailing_slash", _get("/healthz/"), 404, "not_found"),
    ("api_root", _get("/api/"), 404, "not_found"),
    ("delete_ask", {"method": "DELETE", "path": "/api/ask"}, 405, "method_not_allowed"),
    ("put_ask", {"method": "PUT", "path": "/api/ask", "json": {"question": "Schule"}}, 405, "method_not_allowed"),
    ("post_documents", {"method": "POST", "path": "/api/documents", "json": {}}, 405, "method_not_allowed"),
    ("post_healthz", {"method": "POST", "path": "/healthz"}, 405, "method_not_allowed"),
    ("body_over_64_kib", _post({"question": "x" * 70_000}), 413, "payload_too_large"),
]


@pytest.mark.parametrize("request_kwargs,status,code", [case[1:] for case in BAD_REQUESTS],
                         ids=[case[0] for case in BAD_REQUESTS])
def test_bad_input_gets_json_error_never_500(client, request_kwargs, status, code):
    kwargs = dict(request_kwargs)
    response = client.open(kwargs.pop("path"), method=kwargs.pop("method"), **kwargs)
    assert_json_error(response, status, code)


def test_method_not_allowed_names_the_allowed_methods(client):
    response = client.delete("/api/ask")
    assert_json_error(response, 405, "method_not_allowed")
    assert {"GET", "POST"} <= {m.strip() for m in response.headers["Allow"].split(",")}


def test_unexpected_exception_under_api_is_a_json_500(searcher, tmp_path):
    class Broken:
        index = searcher.index

        def search_request(self, *args, **kwargs):
            raise RuntimeError("boom")

    # Not TESTING: exceptions become 500 responses.
    app = create_app(make_settings(tmp_path, tmp_path / "index"), searcher=Broken())
    response = app.test_client().post("/api/ask", json={"question": "Schule"})
    body = assert_json_error(response, 500, "internal_error")
    assert "boom" not in body["error"]["message"]


# --- documents and chunks -----------------------------------------------------------------------------------

def test_documents_lists_every_document_with_chunk_counts(client, searcher):
    response = client.get("/api/documents")
    assert response.status_code == 200
    documents = response.get_json()["documents"]
    index = searcher.index
    assert [d["document_id"] for d in documents] == list(index.documents)
    for item in documents:
        assert item["chunk_count"] == len(index.documents[item["document_id"]].chunks) > 0
        assert "source_file" not in item and "chunks" not in item
    by_id = {d["document_id"]: d for d in documents}
    assert by_id["S19-10041"]["drucksache"] == "19/10041"
    assert by_id["ka17-10866"]["title"] == "Umsetzung der Sozialraumorientierung"


def test_document_returns_its_chunks_in_order_with_citations(client, searcher):
    response = client.get("/api/documents/S19-10041")
    assert response.status_code == 200
    body = response.get_json()
    expected = [c.chunk_id for c in searcher.index.document("S19-10041").chunks]
    assert [c["chunk_id"] for c in body["chunks"]] == expected
    assert body["chunk_count"] == len(expected)
    assert all("Drucksache 19/10041" in c["citation"]["text"] for c in body["chunks"])


def test_chunk_returns_text_document_metadata_and_citation(client, searcher):
    chunk = next(c for c in searcher.index.chunks if c.document_id == "S19-10041" and c.kind == "qa")
    assert "#" in chunk.chunk_id
    response = client.get("/api/chunks/" + chunk.chunk_id.replace("#", "%23"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["chunk_id"] == chunk.chunk_id
    assert body["antwort"] == chunk.antwort
    assert body["frage"] == chunk.frage
    assert body["document"]["drucksache"] == "19/10041"
    assert body["citation"]["text"].startswith("Antwort des Senats vom 22.11.2021")


# --- health, OpenAPI, not ready -----------------------------------------------------------------------------

def test_healthz_reports_index_stats(client, searcher):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["documents"] == len(searcher.index.documents)
    assert body["chunks"] == len(searcher.index.chunks)
    assert body["model"] == searcher.index.model_id
    assert body["built_at"] == searcher.index.manifest["built_at"]


def test_without_index_healthz_and_api_say_not_ready_and_how_to_build(tmp_path):
    app = create_app(make_settings(tmp_path, tmp_path / "no-index"), flask_config={"TESTING": True})
    client = app.test_client()
    health = assert_json_error(client.get("/healthz"), 503, "not_ready")
    assert "qa-service build" in health["error"]["message"]
    assert_json_error(client.post("/api/ask", json={"question": "Schule"}), 503, "not_ready")
    assert_json_error(client.get("/api/documents"), 503, "not_ready")
    # Bad input is still reported as bad input, before the index is needed.
    assert_json_error(client.post("/api/ask", json={"question": ""}), 400, "missing_question")


def test_openapi_document_describes_every_api_route(client, app):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") or rule.rule == "/healthz":
            path = rule.rule.replace("<", "{").replace(">", "}")
            served |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == documented
    ask = spec["components"]["schemas"]["AskRequest"]["properties"]
    assert ask["question"]["maxLength"] == 2000
    assert ask["top_k"]["maximum"] == 50
    assert ask["sort"]["enum"] == ["relevance", "date"] and ask["sort"]["default"] == "relevance"
    filters = spec["components"]["schemas"]["Filters"]["properties"]
    assert filters["doc_type"]["enum"] == ["Schriftliche Anfrage", "Kleine Anfrage"]
    assert {"party", "asker", "subject"} <= set(filters)
    get_parameters = {p["name"]: p for p in spec["paths"]["/api/ask"]["get"]["parameters"]}
    assert get_parameters["sort"]["schema"]["enum"] == ["relevance", "date"]
    assert {"party", "asker", "subject", "doc_type"} <= set(get_parameters)


# --- CORS ---------------------------------------------------------------------------------------------------

def test_cors_allows_listed_origin_and_answers_preflight(searcher, tmp_path):
    app = create_app(make_settings(tmp_path, tmp_path / "index", cors_origins="https://bot.example, https://x.example"),
                     searcher=searcher, flask_config={"TESTING": True})
    client = app.test_client()
    allowed = client.get("/api/documents", headers={"Origin": "https://bot.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://bot.example"
    other = client.get("/api/documents", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = client.options("/api/ask", headers={
        "Origin": "https://x.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Content-Type"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://x.example"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "content-type" in preflight.headers["Access-Control-Allow-Headers"].lower()
    # Errors carry the header too, so a browser client can read the error message.
    error = client.post("/api/ask", json={"question": ""}, headers={"Origin": "https://bot.example"})
    assert error.headers["Access-Control-Allow-Origin"] == "https://bot.example"
    # The web page is not an API: no CORS there.
    assert "Access-Control-Allow-Origin" not in client.get("/", headers={"Origin": "https://bot.example"}).headers


def test_cors_star_allows_any_origin_and_empty_setting_none(searcher, tmp_path):
    star = create_app(make_settings(tmp_path, tmp_path / "index", cors_origins="*"), searcher=searcher,
                      flask_config={"TESTING": True}).test_client()
    assert star.get("/api/documents", headers={"Origin": "https://a.example"}).headers[
        "Access-Control-Allow-Origin"] == "*"
    off = create_app(make_settings(tmp_path, tmp_path / "index", cors_origins=""), searcher=searcher,
                     flask_config={"TESTING": True}).test_client()
    assert "Access-Control-Allow-Origin" not in off.get("/api/documents",
                                                        headers={"Origin": "https://a.example"}).headers


def test_null_filters_mean_no_filter_as_the_schema_says(client, app):
    with_null = client.post("/api/ask", json={"question": "Schule", "filters": None})
    without = client.post("/api/ask", json={"question": "Schule"})
    assert with_null.status_code == 200
    assert [r["chunk_id"] for r in with_null.get_json()["results"]] == \
        [r["chunk_id"] for r in without.get_json()["results"]]
    filters_schema = app.extensions["qa_openapi"]["components"]["schemas"]["Filters"]
    assert filters_schema["nullable"] is True
    assert "answered_from after answered_to" in filters_schema["description"]


def test_options_under_api_answers_json_with_the_allowed_methods(client):
    response = client.open("/api/ask", method="OPTIONS")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert {"GET", "POST", "OPTIONS"} <= set(response.get_json()["methods"])


@pytest.mark.parametrize("path", ["/", "/api/ask?q=Schule", "/api/nothing", "/healthz", "/static/style.css"])
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    policy = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"


def test_decomposed_umlauts_rank_like_precomposed_ones(client):
    import unicodedata

    question = "Wie viele Solaranlagen gibt es auf öffentlichen Gebäuden, und wann kommen die übrigen Dächer?"
    assert unicodedata.normalize("NFD", question) != question
    nfc = client.post("/api/ask", json={"question": question, "top_k": 5}).get_json()
    nfd = client.post("/api/ask", json={"question": unicodedata.normalize("NFD", question), "top_k": 5}).get_json()
    assert [r["chunk_id"] for r in nfd["results"]] == [r["chunk_id"] for r in nfc["results"]]
    assert nfd["question"] == question  # answered as the normalised text


def test_fullwidth_letters_find_the_same_answers_in_keyword_mode(client):
    plain = client.get("/api/ask", query_string={"q": "Solaranlagen Pankow", "mode": "keyword"}).get_json()
    fullwidth = "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in "Solaranlagen Pankow")
    wide = client.get("/api/ask", query_string={"q": fullwidth, "mode": "keyword"}).get_json()
    assert plain["results"]
    assert [r["chunk_id"] for r in wide["results"]] == [r["chunk_id"] for r in plain["results"]]


def test_the_answer_says_whether_any_result_answers_well(client):
    body = client.post("/api/ask", json={"question": "Solaranlagen auf öffentlichen Gebäuden in Pankow"}).get_json()
    assert isinstance(body["no_answer"], bool)
    nothing = client.post("/api/ask", json={"question": "Solaranlagen", "filters": {"drucksache": "99/1"}}).get_json()
    assert nothing["results"] == [] and nothing["no_answer"] is True
