"""Generated requests from the OpenAPI document (schemathesis): no 5xx, every response as the document says.

Runs in-process against the WSGI app over the tiny index (fake embedder), valid and invalid inputs alike.
"""
from __future__ import annotations

from urllib.parse import quote

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from web_fixtures import app, searcher  # noqa: F401  (fixtures)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Examples per operation and mode: the ask endpoints have the most input to get wrong.
BUDGET = {
    "POST /api/ask": {GenerationMode.POSITIVE: 300, GenerationMode.NEGATIVE: 200},
    "GET /api/ask": {GenerationMode.POSITIVE: 300, GenerationMode.NEGATIVE: 200},
    # Any string is a valid id (unknown ones are a documented 404), so there is no invalid input to generate.
    "GET /api/documents/{document_id}": {GenerationMode.POSITIVE: 100},
    "GET /api/chunks/{chunk_id}": {GenerationMode.POSITIVE: 100},
}
# Operations without parameters or body have no invalid input either.
DEFAULT_BUDGET = {GenerationMode.POSITIVE: 10}
MIN_REQUESTS = 1000


def run_cases(strategy, max_examples: int, sent: dict, key: str) -> None:
    """Send up to `max_examples` generated cases and validate each response; count them in sent[key]."""

    @settings(max_examples=max_examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def call(case):
        sent[key] += 1
        case.call_and_validate(checks=CHECKS)

    call()


def test_generated_requests_get_no_5xx_and_responses_match_the_document(app):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    sent: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        for mode, max_examples in BUDGET.get(label, DEFAULT_BUDGET).items():
            key = f"{label} [{mode.value}]"
            sent[key] = 0
            run_cases(operation.as_strategy(generation_mode=mode), max_examples, sent, key)
    print("\n".join(f"{n:5d}  {key}" for key, n in sent.items()))
    assert {"POST /api/ask [positive]", "GET /api/ask [negative]", "GET /healthz [positive]"} <= set(sent)
    assert sum(sent.values()) >= MIN_REQUESTS, sent


def test_every_document_and_chunk_response_matches_the_document(app, searcher):
    # Generated ids are almost never real ones; walk the real ids so every 200 body is checked too.
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    get_document = schema["/api/documents/{document_id}"]["GET"]
    get_chunk = schema["/api/chunks/{chunk_id}"]["GET"]
    for document_id in searcher.index.documents:
        response = get_document.Case(path_parameters={"document_id": document_id}).call_and_validate(checks=CHECKS)
        assert response.status_code == 200
    for chunk in searcher.index.chunks:
        response = get_chunk.Case(path_parameters={"chunk_id": quote(chunk.chunk_id, safe="")}).call_and_validate(checks=CHECKS)
        assert response.status_code == 200, chunk.chunk_id
        assert response.json()["chunk_id"] == chunk.chunk_id
    for mode in ("hybrid", "semantic", "keyword"):
        case = schema["/api/ask"]["POST"].Case(body={"question": "Solaranlagen in Pankow", "mode": mode,
                                                    "top_k": 50}, media_type="application/json")
        assert case.call_and_validate(checks=CHECKS).status_code == 200
