"""The OpenAPI 3 description of the JSON API: every path, parameter, request and response shape, written down once.

Built once per app from the settings (the limits on question length and top_k are part of the contract).
"""
from __future__ import annotations

from .citation import CSL_TYPE
from .documents import CHUNK_KINDS
from .query import CANDIDATE_POOL, DEFAULT_MODE, DEFAULT_SORT, FILTER_FIELDS, MAX_FILTER_CHARS, MAX_WAHLPERIODE, \
    MIN_WAHLPERIODE, MODES, SORTS
from .search import MATCH_KINDS

SORT_DESCRIPTION = (f"relevance: best match first; date: the {CANDIDATE_POOL} best-matching answers, newest answer "
                    "first (ties by relevance, undated last)")

OPENAPI_VERSION = "3.0.3"


def _nullable(schema: dict) -> dict:
    return {**schema, "nullable": True}


def _error_response(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(description: str, schema_name: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}}}


def filter_schema(spec) -> dict:
    """Return the JSON schema of one filter field of SearchFilters (not nullable), from its `kind`."""
    kind = spec.metadata["kind"]
    if kind == "date":
        schema = {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
    elif kind == "wahlperiode":
        schema = {"type": "integer", "minimum": MIN_WAHLPERIODE, "maximum": MAX_WAHLPERIODE}
    elif kind == "choice":
        schema = {"type": "string", "enum": list(spec.metadata["choices"])}
    else:  # "text" and "party" (any spelling of a party's name)
        schema = {"type": "string", "minLength": 1, "maxLength": MAX_FILTER_CHARS}
    return {**schema, "description": spec.metadata["description"], "example": spec.metadata["example"]}


def _schemas(settings) -> dict:
    string, integer = {"type": "string"}, {"type": "integer"}
    date_string = {"type": "string", "format": "date", "example": "2021-11-22"}
    span = {"type": "array", "items": integer, "minItems": 2, "maxItems": 2,
            "description": "[start, end) character offsets into `antwort`"}
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "description": "machine-readable, snake_case",
                             "example": "question_too_long"},
                    "message": {"type": "string", "description": "what is wrong, for people"},
                },
            }},
        },
        "Filters": {
            "type": "object",
            "nullable": True,
            "additionalProperties": False,
            "description": ("Restrict answers to documents with these metadata; null or absent = no restriction. "
                            "answered_from after answered_to is refused (400 invalid_filter)."),
            "properties": {spec.name: _nullable(filter_schema(spec)) for spec in FILTER_FIELDS},
        },
        "AskRequest": {
            "type": "object",
            "required": ["question"],
            "additionalProperties": False,
            "properties": {
                "question": {"type": "string", "minLength": 1, "maxLength": settings.max_question_chars,
                             "description": "the question in your own words (not blank), or a quoted sentence",
                             "example": "Wie viele Solaranlagen gibt es auf öffentlichen Gebäuden in Pankow?"},
                "top_k": {"type": "integer", "minimum": 1, "maximum": settings.max_top_k,
                          "default": settings.default_top_k},
                "mode": {"type": "string", "enum": list(MODES), "default": DEFAULT_MODE,
                         "description": "hybrid: vectors and BM25 fused; semantic: vectors; keyword: BM25"},
                "sort": {"type": "string", "enum": list(SORTS), "default": DEFAULT_SORT,
                         "description": SORT_DESCRIPTION},
                "filters": {"$ref": "#/components/schemas/Filters"},
            },
        },
        "Asker": {
            "type": "object",
            "required": ["name", "party"],
            "properties": {"name": _nullable(string), "party": _nullable(string)},
        },
        "DocumentMetadata": {
            "type": "object",
            "required": ["document_id", "drucksache", "wahlperiode", "doc_type", "title", "askers", "asked_on",
                         "answered_on", "authority", "source_url"],
            "properties": {
                "document_id": {"type": "string", "example": "S19-10041"},
                "drucksache": _nullable(string),
                "wahlperiode": _nullable(integer),
                "doc_type": _nullable(string),
                "title": _nullable(string),
                "askers": {"type": "array", "items": {"$ref": "#/components/schemas/Asker"}},
                "asked_on": _nullable(date_string),
                "asked_received_on": _nullable(date_string),
                "answered_on": _nullable(date_string),
                "answered_received_on": _nullable(date_string),
                "authority": _nullable(string),
                "signatory": _nullable(string),
                "source_url": _nullable({"type": "string", "format": "uri"}),
                "subjects": {"type": "array", "items": string,
                             "description": "subject area and descriptors from the parliament's export"},
                "page_count": _nullable(integer),
                "chunk_count": integer,
            },
        },
        "Citation": {
            "type": "object",
            "required": ["text", "url", "page_url"],
            "properties": {"text": {"type": "string", "description": "German citation, ready to paste"},
                           "url": _nullable({"type": "string", "format": "uri"}),
                           "page_url": _nullable({"type": "string", "format": "uri",
                                                  "description": "the PDF opened at the chunk's first page "
                                                                 "(`…pdf#page=3`, RFC 3778)",
                                                  "example": "https://pardok.parlament-berlin.de/starweb/adis/"
                                                             "citat/VT/19/SchrAnfr/S19-10041.pdf#page=3"})},
        },
        "Chunk": {
            "type": "object",
            "required": ["chunk_id", "document_id", "kind", "numbers", "frage", "antwort", "pages", "citation"],
            "properties": {
                "chunk_id": {"type": "string", "example": "S19-10041#5a"},
                "document_id": string,
                "kind": {"type": "string", "enum": list(CHUNK_KINDS)},
                "numbers": {"type": "array", "items": string, "description": "Frage numbers as cited"},
                "frage": {"type": "string", "description": "the question, verbatim"},
                "antwort": {"type": "string", "description": "the Senate's answer, verbatim"},
                "pages": {"type": "array", "items": integer, "description": "1-based PDF pages"},
                "citation": {"$ref": "#/components/schemas/Citation"},
            },
        },
        "ChunkWithDocument": {
            "allOf": [{"$ref": "#/components/schemas/Chunk"},
                      {"type": "object", "required": ["document"],
                       "properties": {"document": {"$ref": "#/components/schemas/DocumentMetadata"}}}],
        },
        "DocumentWithChunks": {
            "allOf": [{"$ref": "#/components/schemas/DocumentMetadata"},
                      {"type": "object", "required": ["chunks", "chunk_count"],
                       "properties": {"chunks": {"type": "array",
                                                 "items": {"$ref": "#/components/schemas/Chunk"}}}}],
        },
        "DocumentList": {
            "type": "object",
            "required": ["documents"],
            "properties": {"documents": {
                "type": "array",
                "items": {"allOf": [{"$ref": "#/components/schemas/DocumentMetadata"},
                                    {"type": "object", "required": ["chunk_count"]}]},
            }},
        },
        "Result": {
            "type": "object",
            "required": ["rank", "score", "chunk_id", "document_id", "numbers", "kind", "frage", "antwort",
                         "pages", "match", "quote_span", "highlight", "document", "citation"],
            "properties": {
                "rank": {"type": "integer", "minimum": 1},
                "score": {"type": "number"},
                "chunk_id": string,
                "document_id": string,
                "numbers": {"type": "array", "items": string},
                "kind": {"type": "string", "enum": list(CHUNK_KINDS)},
                "frage": string,
                "antwort": string,
                "pages": {"type": "array", "items": integer},
                "match": {"type": "string", "enum": list(MATCH_KINDS),
                          "description": ("how the answer matched: \"exact\" (the question quotes it), \"lexical\" "
                                          "(it shares informative words with the question), \"semantic\" (only "
                                          "the meaning is similar: no shared word)")},
                "quote_span": _nullable(span),
                "highlight": {"type": "array", "items": span,
                              "description": "passages of `antwort` that best match the question"},
                "document": {"$ref": "#/components/schemas/DocumentMetadata"},
                "citation": {"$ref": "#/components/schemas/Citation"},
            },
        },
        "AskResponse": {
            "type": "object",
            "required": ["question", "mode", "no_answer", "results", "took_ms"],
            "properties": {
                "question": string,
                "no_answer": {"type": "boolean",
                              "description": ("true when no result answers the question well (a calibrated "
                                              "threshold, or the best result's document names none of the "
                                              "Berlin districts the question names); the results are then only "
                                              "similar answers")},
                "mode": {"type": "string", "enum": list(MODES)},
                "results": {"type": "array", "items": {"$ref": "#/components/schemas/Result"}},
                "took_ms": {"type": "number", "minimum": 0, "description": "time spent searching"},
            },
        },
        "ResultsDownload": {
            "type": "object",
            "required": ["question", "mode", "no_answer", "results"],
            "properties": {
                "question": string,
                "no_answer": {"type": "boolean"},
                "mode": {"type": "string", "enum": list(MODES)},
                "results": {"type": "array", "items": {"$ref": "#/components/schemas/Result"}},
            },
        },
        "CslItem": {
            "type": "object",
            "required": ["id", "type"],
            "description": "One CSL-JSON item (Citation Style Language 1.0.2); fields the document lacks are absent",
            "properties": {
                "id": string,
                "type": {"type": "string", "enum": [CSL_TYPE]},
                "title": string,
                "author": {"type": "array", "items": {"type": "object", "required": ["literal"],
                                                      "properties": {"literal": string}}},
                "issued": {"type": "object", "required": ["date-parts"],
                           "properties": {"date-parts": {"type": "array", "minItems": 1, "maxItems": 1,
                                                         "items": {"type": "array", "items": integer,
                                                                   "minItems": 1, "maxItems": 3}}}},
                "number": string,
                "genre": string,
                "publisher": string,
                "publisher-place": string,
                "URL": {"type": "string", "format": "uri"},
                "page": string,
                "section": string,
                "language": string,
            },
        },
        "Health": {
            "type": "object",
            "required": ["status", "documents", "chunks", "model", "built_at"],
            "properties": {
                "status": {"type": "string", "enum": ["ok"]},
                "documents": {"type": "integer", "minimum": 0},
                "chunks": {"type": "integer", "minimum": 0},
                "model": string,
                "built_at": _nullable(string),
            },
        },
    }


def _query(name: str, schema: dict, description: str, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def _file(description: str, media_type: str, schema: dict) -> dict:
    return {"description": description, "content": {media_type: {"schema": schema}}}


def _download_paths(get_parameters: list, bad_request: dict, not_ready: dict, not_found: dict) -> dict:
    """Return the paths of the downloads (exports.py)."""
    chunk_id = {"name": "chunk_id", "in": "path", "required": True, "schema": {"type": "string"},
                "description": "e.g. S19-10041#5a (percent-encode # as %23)"}
    return {
        "/api/ask.csv": {"get": {
            "operationId": "askCsv",
            "summary": "Download the results of GET /api/ask as CSV (UTF-8 with BOM, one row per answer)",
            "parameters": get_parameters,
            "responses": {"200": _file("CSV attachment: a header row, then one row per answer (README: the columns)",
                                       "text/csv", {"type": "string"}),
                          "400": bad_request, "503": not_ready},
        }},
        "/api/ask.json": {"get": {
            "operationId": "askJson",
            "summary": "Download the results of GET /api/ask as a JSON file",
            "parameters": get_parameters,
            "responses": {"200": _file("JSON attachment: the results of GET /api/ask", "application/json",
                                       {"$ref": "#/components/schemas/ResultsDownload"}),
                          "400": bad_request, "503": not_ready},
        }},
        "/api/chunks/{chunk_id}/citation.csl.json": {"get": {
            "operationId": "getChunkCsl",
            "summary": "One chunk's citation as CSL-JSON (for Zotero and other reference managers)",
            "parameters": [chunk_id],
            "responses": {"200": _file("A CSL-JSON list with one item", "application/vnd.citationstyles.csl+json",
                                       {"type": "array", "minItems": 1, "maxItems": 1,
                                        "items": {"$ref": "#/components/schemas/CslItem"}}),
                          "404": not_found, "503": not_ready},
        }},
        "/api/chunks/{chunk_id}/citation.bib": {"get": {
            "operationId": "getChunkBibtex",
            "summary": "One chunk's citation as a BibTeX @techreport entry",
            "parameters": [chunk_id],
            "responses": {"200": _file("A BibTeX entry (UTF-8)", "application/x-bibtex", {"type": "string"}),
                          "404": not_found, "503": not_ready},
        }},
    }


def build_openapi(settings) -> dict:
    """Return the OpenAPI 3 document of the JSON API for these settings (limits included)."""
    bad_request = _error_response("Bad input: see error.code (e.g. missing_question, invalid_top_k)")
    not_ready = _error_response("The model or index is not loaded (not_ready)")
    not_found = _error_response("Unknown id (not_found)")
    ask_responses = {
        "200": _ok("The best-matching official answers, best first", "AskResponse"),
        "400": bad_request,
        "503": not_ready,
    }
    get_parameters = [
        _query("q", {"type": "string", "minLength": 1, "maxLength": settings.max_question_chars},
               "the question (not blank)", required=True),
        _query("top_k", {"type": "integer", "minimum": 1, "maximum": settings.max_top_k,
                         "default": settings.default_top_k}, "number of answers"),
        _query("mode", {"type": "string", "enum": list(MODES), "default": DEFAULT_MODE}, "ranking mode"),
        _query("sort", {"type": "string", "enum": list(SORTS), "default": DEFAULT_SORT}, SORT_DESCRIPTION),
    ] + [_query(spec.name, filter_schema(spec), f"filter: {spec.metadata['description']}") for spec in FILTER_FIELDS]
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "qa_service: Antworten des Berliner Senats",
            "version": "1",
            "description": ("Question answering over the Berlin Senate's official answers to written parliamentary "
                            "questions. Every answer is quoted verbatim with its citation. Errors are "
                            "`{\"error\": {\"code\", \"message\"}}`."),
        },
        "paths": {
            "/api/ask": {
                "post": {
                    "operationId": "askPost",
                    "summary": "Answer a question (JSON body)",
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/AskRequest"}}}},
                    "responses": {**ask_responses,
                                  "413": _error_response("Body larger than the limit (payload_too_large)"),
                                  "415": _error_response("Body is not application/json (unsupported_media_type)")},
                },
                "get": {
                    "operationId": "askGet",
                    "summary": "Answer a question given in the URL (for curl and simple bots)",
                    "parameters": get_parameters,
                    "responses": ask_responses,
                },
            },
            "/api/documents": {
                "get": {
                    "operationId": "listDocuments",
                    "summary": "All documents with metadata and chunk counts",
                    "responses": {"200": _ok("Documents in corpus order", "DocumentList"), "503": not_ready},
                },
            },
            "/api/documents/{document_id}": {
                "get": {
                    "operationId": "getDocument",
                    "summary": "One document with its chunks in order",
                    "parameters": [{"name": "document_id", "in": "path", "required": True,
                                    "schema": {"type": "string"}, "example": "S19-10041"}],
                    "responses": {"200": _ok("The document", "DocumentWithChunks"), "404": not_found,
                                  "503": not_ready},
                },
            },
            "/api/chunks/{chunk_id}": {
                "get": {
                    "operationId": "getChunk",
                    "summary": "One chunk with its document metadata and citation",
                    "parameters": [{"name": "chunk_id", "in": "path", "required": True,
                                    "schema": {"type": "string"},
                                    "description": "e.g. S19-10041#5a (percent-encode # as %23)"}],
                    "responses": {"200": _ok("The chunk", "ChunkWithDocument"), "404": not_found,
                                  "503": not_ready},
                },
            },
            "/api/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3 document",
                                          "content": {"application/json": {"schema": {"type": "object"}}}}},
                },
            },
            **_download_paths(get_parameters, bad_request, not_ready, not_found),
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "summary": "200 with index stats once model and index are loaded, else 503",
                    "responses": {"200": _ok("Ready", "Health"), "503": not_ready},
                },
            },
        },
        "components": {"schemas": _schemas(settings)},
    }
