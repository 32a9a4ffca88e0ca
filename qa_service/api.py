"""The JSON API under /api/ (and /healthz): parse input with `query.parse_ask`, call the searcher, answer JSON.

Every error under /api/ and /healthz is `{"error": {"code": …, "message": …}}` with a 4xx/5xx status, never an HTML
page. The shapes are built in `payloads.py` and described in `openapi.py`.
"""
from __future__ import annotations

import json
import time

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from .errors import IndexMissingError, InvalidQueryError, NotFoundError, QAError
from .payloads import chunk_with_document, document_with_chunks, health_payload, public_metadata, results_payload
from .query import parse_ask, parse_ask_parameters, shown
from .searcher_slot import get_searcher, get_slot

bp = Blueprint("api", __name__)

# Error codes for HTTP errors raised by Flask/Werkzeug themselves (routing, body size, …).
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    500: "internal_error",
}


class ApiError(Exception):
    """An error to answer with an HTTP status and a JSON error body."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str, headers=None):
    """Return the JSON error response `{"error": {"code", "message"}}` with `status`."""
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    for name, value in headers or ():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _wants_json_errors() -> bool:
    path = request.path
    return path == "/api" or path.startswith("/api/") or path == "/healthz" or path.startswith("/healthz/")


def register_error_handlers(app) -> None:
    """Answer errors under /api/ (and /healthz) with JSON; other paths keep the web page's HTML errors."""

    @app.errorhandler(ApiError)
    def handle_api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(InvalidQueryError)
    def handle_invalid_query(exc: InvalidQueryError):
        return error_response(400, exc.code, str(exc))

    @app.after_request
    def options_as_json(response):
        # Flask answers OPTIONS itself with an empty text/html body; under /api/ say the allowed methods in JSON
        # (a CORS preflight keeps its headers).
        if request.method == "OPTIONS" and _wants_json_errors() and response.status_code == 200:
            methods = sorted(m.strip() for m in response.headers.get("Allow", "").split(",") if m.strip())
            response.set_data(json.dumps({"methods": methods}))
            response.mimetype = "application/json"
        return response

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException):
        if not _wants_json_errors():
            from .web import render_http_error

            return render_http_error(exc)
        status = exc.code or 500
        message = exc.description or exc.name
        if status == 404:
            message = f"No such API resource: {request.path}"
        elif status == 405:
            message = f"Method {request.method} is not allowed for {request.path}"
        elif status == 413:
            message = f"The request body is larger than {current_app.config['MAX_CONTENT_LENGTH']} bytes"
        return error_response(status, _HTTP_CODES.get(status, "http_error"), message, exc.get_headers())

    @app.errorhandler(500)
    def handle_internal_error(exc):
        # Unhandled exceptions arrive here wrapped in InternalServerError; the traceback is already logged.
        if not _wants_json_errors():
            from .web import render_http_error

            return render_http_error(exc)
        return error_response(500, "internal_error", "Internal server error")


def _searcher_or_503():
    try:
        return get_searcher()
    except IndexMissingError as exc:
        raise ApiError(503, "not_ready", f"The index is not available: {exc}") from exc
    except QAError as exc:
        raise ApiError(503, "not_ready", f"The search service is not available: {exc}") from exc


def _json_body() -> dict:
    if not request.mimetype or request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the request body as application/json")
    raw = request.get_data(cache=False)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"The request body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise ApiError(400, "invalid_json", "The request body is nested too deeply") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object")
    return body


def _answer(ask_request):
    searcher = _searcher_or_503()
    started = time.perf_counter()
    hits = searcher.search_request(ask_request)
    payload = results_payload(ask_request.question, hits, ask_request.mode)
    payload["took_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return jsonify(payload)


# --- routes -------------------------------------------------------------------------------------------------

@bp.post("/api/ask")
def ask_post():
    """Answer a question sent as a JSON body."""
    return _answer(parse_ask(_json_body(), current_app.config["QA_SETTINGS"]))


@bp.get("/api/ask")
def ask_get():
    """Answer a question given in the URL: /api/ask?q=…&top_k=5."""
    return _answer(parse_ask_parameters(request.args.to_dict(flat=False), current_app.config["QA_SETTINGS"]))


@bp.get("/api/documents")
def list_documents():
    """List every document with its metadata and number of chunks, in corpus order."""
    index = _searcher_or_503().index
    return jsonify({"documents": [public_metadata(d) for d in index.documents.values()]})


@bp.get("/api/documents/<document_id>")
def get_document(document_id: str):
    """Return one document with its chunks in order."""
    index = _searcher_or_503().index
    try:
        document = index.document(document_id)
    except NotFoundError as exc:
        raise ApiError(404, "not_found", f"No document with id '{shown(document_id)}'") from exc
    return jsonify(document_with_chunks(document))


@bp.get("/api/chunks/<chunk_id>")
def get_chunk(chunk_id: str):
    """Return one chunk with its document's metadata and its citation."""
    index = _searcher_or_503().index
    try:
        chunk = index.chunk(chunk_id)
        document = index.document(chunk.document_id)
    except NotFoundError as exc:
        raise ApiError(404, "not_found", f"No chunk with id '{shown(chunk_id)}'") from exc
    return jsonify(chunk_with_document(document, chunk))


@bp.get("/api/openapi.json")
def openapi_document():
    """Return the OpenAPI 3 description of this API."""
    return jsonify(current_app.extensions["qa_openapi"])


@bp.get("/healthz")
def healthz():
    """Report 200 with index stats when the model and index are loaded, else 503."""
    slot = get_slot()
    if slot.loading:
        return error_response(503, "not_ready", "The model and index are still loading")
    try:
        searcher = slot.get()
    except IndexMissingError as exc:
        return error_response(503, "not_ready", f"No index yet: {exc}")
    except QAError as exc:
        return error_response(503, "not_ready", f"The model or index cannot be loaded: {exc}")
    return jsonify(health_payload(searcher.index))
