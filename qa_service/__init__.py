"""qa_service: answers to questions from the Berlin Senate's official answers, with exact citations.

`create_app()` is the Flask application factory. Flask is imported inside it, so that the library modules
(parsing, index, search) and the CLI can be imported without the web stack.
"""
from __future__ import annotations

# Largest request body the API reads; a question is at most a few thousand characters.
MAX_CONTENT_LENGTH = 64 * 1024


def package_version() -> str:
    """Return the installed version of qa_service ("unknown" in a source tree that is not installed)."""
    try:
        from importlib.metadata import version

        return version("qa_service")
    except Exception:  # PackageNotFoundError, or metadata that cannot be read
        return "unknown"


def create_app(settings=None, *, searcher=None, flask_config=None):
    """Build the Flask app: the API and the web page over `settings` (default: defaults < QA_* environment).

    `searcher` is a ready Searcher to use instead of opening one from `settings.index_dir` (tests); `flask_config`
    holds Flask config keys (e.g. {"TESTING": True}).
    """
    from flask import Flask

    from . import api, browse, exports, feeds, searcher_slot, web
    from .config import load_settings
    from .openapi import build_openapi

    settings = settings if settings is not None else load_settings()
    app = Flask(__name__)
    app.config.from_mapping(MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH, QA_SETTINGS=settings)
    app.config.update(flask_config or {})
    # German text stays readable in JSON responses.
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    # `/api//ask` is no alias of `/api/ask`: werkzeug would answer it with an HTML redirect built from the Host header.
    app.url_map.merge_slashes = False

    searcher_slot.init_app(app, settings, searcher)
    app.extensions["qa_openapi"] = build_openapi(settings)

    app.register_blueprint(api.bp)
    app.register_blueprint(web.bp)
    app.register_blueprint(browse.bp)
    app.register_blueprint(feeds.bp)
    app.register_blueprint(exports.bp)
    api.register_error_handlers(app)
    app.after_request(_security_headers)
    _enable_cors(app, settings.cors_origins)
    return app


# Only the page's own script and style; no frames, no plugins, forms only to this service.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                           "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def _security_headers(response):
    """Add the headers that keep browsers from sniffing types, framing the page or leaking the query as a referrer."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def _enable_cors(app, cors_origins: str) -> None:
    """Let browsers on `cors_origins` ("*" or a comma list; "" = off) call /api/ and its preflight."""
    cors_origins = (cors_origins or "").strip()
    if not cors_origins:
        return
    from flask_cors import CORS

    origins = "*" if cors_origins == "*" else [o.strip() for o in cors_origins.split(",") if o.strip()]
    CORS(app, resources={r"/api/*": {"origins": origins}}, methods=["GET", "POST", "OPTIONS"],
         allow_headers=["Content-Type"], max_age=600, send_wildcard=origins == "*")
