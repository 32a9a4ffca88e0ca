"""The JSON API under /api/ (and /healthz): validate input at the boundary, call the searcher, answer JSON.

Every error under /api/ is `{"error": {"code": …, "message": …}}` with a 4xx/5xx status, never an HTML page.
The shapes are described in `openapi.py`.
"""
from __future__ import annotations

import json
import re
import time
from datetime import date

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from . import get_searcher
from .errors import IndexMissingError, InvalidQueryError, NotFoundError, QAError

bp = Blueprint("api", __name__)

FILTER_NAMES = ("drucksache", "authority", "wahlperiode", "answered_from", "answered_to")
ASK_FIELDS = ("question", "top_k", "mode", "filters")
ASK_QUERY_PARAMS = ("q", "top_k", "mode") + FILTER_NAMES
# Short enough for any real filter value; longer strings are certainly not a Drucksache or a Senatsverwaltung.
MAX_FILTER_CHARS = 200
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INTEGER = re.compile(r"^[0-9]{1,6}$")

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
    return request.path.startswith("/api/") or request.path == "/api" or request.path == "/healthz"


def register_error_handlers(app) -> None:
    """Answer errors under /api/ (and /healthz) with JSON; other paths keep the web page's HTML errors."""

    @app.errorhandler(ApiError)
    def handle_api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message)

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


# --- validation ---------------------------------------------------------------------------------------------

def _check_text(value, what: str, code: str) -> str:
    """Reject strings Python can hold but no encoder or tokenizer can (lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ApiError(400, code, f"{what} is not valid Unicode text") from exc
    return value


def validate_question(value, max_chars: int) -> str:
    """Return the question stripped of outer whitespace, or raise ApiError for a missing or bad one."""
    if value is None:
        raise ApiError(400, "missing_question", "Give a question: 'question' in the JSON body, 'q' in the URL")
    if not isinstance(value, str):
        raise ApiError(400, "invalid_question", "The question must be a string")
    _check_text(value, "The question", "invalid_question")
    question = value.strip()
    if not question:
        raise ApiError(400, "missing_question", "The question is empty")
    if len(question) > max_chars:
        raise ApiError(400, "question_too_long",
                       f"The question has {len(question)} characters; at most {max_chars} are allowed")
    return question


def validate_top_k(value, default: int, max_top_k: int, from_query: bool = False) -> int:
    """Return `top_k` as an int in 1..max_top_k (default when None), or raise ApiError."""
    if value is None:
        return default
    if from_query and isinstance(value, str):
        if not _INTEGER.match(value.strip()):
            raise ApiError(400, "invalid_top_k", f"top_k must be an integer from 1 to {max_top_k}")
        value = int(value.strip())
    # bool is an int in Python, but `true` is not a number of results.
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= max_top_k:
        raise ApiError(400, "invalid_top_k", f"top_k must be an integer from 1 to {max_top_k}")
    return value


def validate_mode(value) -> str:
    """Return the ranking mode (default "hybrid"), or raise ApiError for an unknown one."""
    from .search import MODES

    if value is None:
        return "hybrid"
    if not isinstance(value, str) or value not in MODES:
        raise ApiError(400, "invalid_mode", f"mode must be one of: {', '.join(MODES)}")
    return value


def _validate_date(name: str, value) -> str:
    if not isinstance(value, str) or not _DATE.match(value):
        raise ApiError(400, "invalid_date", f"{name} must be a date like 2021-12-31")
    try:
        date.fromisoformat(value)
    except ValueError as exc:
        raise ApiError(400, "invalid_date", f"{name} is not a valid date: {value}") from exc
    return value


def _validate_string_filter(name: str, value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, "invalid_filter", f"{name} must be a non-empty string")
    if len(value) > MAX_FILTER_CHARS:
        raise ApiError(400, "invalid_filter", f"{name} is longer than {MAX_FILTER_CHARS} characters")
    return _check_text(value.strip(), name, "invalid_filter")


def validate_filters(raw: dict, from_query: bool = False):
    """Return SearchFilters from a mapping of filter names to values (None = not set), or raise ApiError."""
    from .search import SearchFilters

    unknown = sorted(set(raw) - set(FILTER_NAMES))
    if unknown:
        raise ApiError(400, "unknown_filter",
                       f"Unknown filter: {', '.join(unknown)}; known filters: {', '.join(FILTER_NAMES)}")
    values = {}
    for name in FILTER_NAMES:
        value = raw.get(name)
        if value is None:
            continue
        if name in ("answered_from", "answered_to"):
            values[name] = _validate_date(name, value)
        elif name == "wahlperiode":
            if from_query and isinstance(value, str) and _INTEGER.match(value.strip()):
                value = int(value.strip())
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 99:
                raise ApiError(400, "invalid_filter", "wahlperiode must be an integer from 1 to 99")
            values[name] = value
        else:
            values[name] = _validate_string_filter(name, value)
    if values.get("answered_from") and values.get("answered_to") and \
            values["answered_from"] > values["answered_to"]:
        raise ApiError(400, "invalid_filter", "answered_from is after answered_to")
    return SearchFilters(**values)


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


def _run_search(question: str, top_k: int, mode: str, filters):
    from .search import results_payload

    searcher = _searcher_or_503()
    started = time.perf_counter()
    try:
        hits = searcher.search(question, top_k=top_k, mode=mode, filters=filters)
    except InvalidQueryError as exc:
        raise ApiError(400, "invalid_query", str(exc)) from exc
    took_ms = (time.perf_counter() - started) * 1000
    payload = results_payload(question, hits, mode)
    payload["took_ms"] = round(took_ms, 1)
    return jsonify(payload)


# --- routes -------------------------------------------------------------------------------------------------

@bp.post("/api/ask")
def ask_post():
    """Answer a question sent as a JSON body."""
    settings = current_app.config["QA_SETTINGS"]
    body = _json_body()
    unknown = sorted(set(body) - set(ASK_FIELDS))
    if unknown:
        raise ApiError(400, "unknown_field",
                       f"Unknown field: {', '.join(unknown)}; known fields: {', '.join(ASK_FIELDS)}")
    question = validate_question(body.get("question"), settings.max_question_chars)
    top_k = validate_top_k(body.get("top_k"), settings.default_top_k, settings.max_top_k)
    mode = validate_mode(body.get("mode"))
    raw_filters = body.get("filters")
    if raw_filters is None:
        raw_filters = {}
    if not isinstance(raw_filters, dict):
        raise ApiError(400, "invalid_filter", "filters must be a JSON object")
    filters = validate_filters(raw_filters)
    return _run_search(question, top_k, mode, filters)


@bp.get("/api/ask")
def ask_get():
    """Answer a question given in the URL: /api/ask?q=…&top_k=5."""
    settings = current_app.config["QA_SETTINGS"]
    unknown = sorted(set(request.args) - set(ASK_QUERY_PARAMS))
    if unknown:
        raise ApiError(400, "unknown_parameter",
                       f"Unknown parameter: {', '.join(unknown)}; known: {', '.join(ASK_QUERY_PARAMS)}")
    repeated = sorted(name for name in request.args if len(request.args.getlist(name)) > 1)
    if repeated:
        raise ApiError(400, "invalid_parameter", f"Give each parameter once: {', '.join(repeated)}")
    question = validate_question(request.args.get("q"), settings.max_question_chars)
    top_k = validate_top_k(request.args.get("top_k"), settings.default_top_k, settings.max_top_k,
                           from_query=True)
    mode = validate_mode(request.args.get("mode"))
    filters = validate_filters({n: request.args[n] for n in FILTER_NAMES if n in request.args}, from_query=True)
    return _run_search(question, top_k, mode, filters)


def public_metadata(document) -> dict:
    """Return the document's metadata as the API shows it: no local file path, no parser warnings."""
    data = document.metadata()
    data.pop("source_file", None)
    data.pop("warnings", None)
    data["chunk_count"] = len(document.chunks)
    return data


def chunk_payload(document, chunk) -> dict:
    """Return one chunk with its citation, as the API shows it."""
    from .citation import citation

    data = chunk.to_dict()
    data["citation"] = citation(document, chunk)
    return data


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
        raise ApiError(404, "not_found", f"No document with id {document_id!r}") from exc
    data = public_metadata(document)
    data["chunks"] = [chunk_payload(document, c) for c in document.chunks]
    return jsonify(data)


@bp.get("/api/chunks/<chunk_id>")
def get_chunk(chunk_id: str):
    """Return one chunk with its document's metadata and its citation."""
    index = _searcher_or_503().index
    try:
        chunk = index.chunk(chunk_id)
        document = index.document(chunk.document_id)
    except NotFoundError as exc:
        raise ApiError(404, "not_found", f"No chunk with id {chunk_id!r}") from exc
    data = chunk_payload(document, chunk)
    data["document"] = public_metadata(document)
    return jsonify(data)


@bp.get("/api/openapi.json")
def openapi_document():
    """Return the OpenAPI 3 description of this API."""
    return jsonify(current_app.extensions["qa_openapi"])


@bp.get("/healthz")
def healthz():
    """Report 200 with index stats when the model and index are loaded, else 503."""
    slot = current_app.extensions["qa_searcher"]
    if slot.loading:
        return error_response(503, "not_ready", "The model and index are still loading")
    try:
        searcher = slot.get()
    except IndexMissingError as exc:
        return error_response(503, "not_ready", f"No index yet: {exc}")
    except QAError as exc:
        return error_response(503, "not_ready", f"The model or index cannot be loaded: {exc}")
    index = searcher.index
    return jsonify({
        "status": "ok",
        "documents": len(index.documents),
        "chunks": len(index.chunks),
        "model": index.model_id,
        "built_at": index.manifest.get("built_at"),
    })
