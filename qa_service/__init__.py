"""qa_service: answers to questions from the Berlin Senate's official answers, with exact citations.

`create_app()` is the Flask application factory. Flask is imported inside it, so that the library modules
(parsing, index, search) and the CLI can be imported without the web stack.
"""
from __future__ import annotations

import threading

from .config import load_settings
from .errors import QAError

# Largest request body the API reads; a question is at most a few thousand characters.
MAX_CONTENT_LENGTH = 64 * 1024


class SearcherSlot:
    """Open the searcher (model + index) once per process, on first use, behind a lock.

    A failed load is not remembered as final: the next call tries again, so building the index while the
    server runs is enough to make it ready. `error` keeps the last failure for /healthz.
    """

    def __init__(self, settings, searcher=None):
        self.settings = settings
        self.searcher = searcher
        self.error: str | None = None
        self._lock = threading.Lock()

    @property
    def loading(self) -> bool:
        """Return whether another thread is loading the searcher right now."""
        return self.searcher is None and self._lock.locked()

    def get(self):
        """Return the searcher, loading the index and its model first if needed (raises QAError)."""
        if self.searcher is not None:
            return self.searcher
        with self._lock:
            if self.searcher is None:
                from .search import open_searcher

                try:
                    self.searcher = open_searcher(self.settings)
                except QAError as exc:
                    self.error = str(exc)
                    raise
                self.error = None
        return self.searcher


def create_app(config=None):
    """Build the Flask app: settings from defaults, QA_* environment and `config` overrides; API and web page.

    `config` may hold Settings field names (e.g. `index_dir`), Flask config keys (upper case, e.g. `TESTING`)
    and `SEARCHER`: a ready Searcher to use instead of opening one from `index_dir`.
    """
    from flask import Flask

    from . import api, web
    from .openapi import build_openapi

    overrides = dict(config or {})
    searcher = overrides.pop("SEARCHER", None)
    flask_config = {key: overrides.pop(key) for key in list(overrides) if key.isupper()}
    settings = load_settings(**overrides)

    app = Flask(__name__)
    app.config.from_mapping(MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH, QA_SETTINGS=settings)
    app.config.update(flask_config)
    # German text stays readable in JSON responses.
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    app.extensions["qa_searcher"] = SearcherSlot(settings, searcher)
    app.extensions["qa_openapi"] = build_openapi(settings)

    app.register_blueprint(api.bp)
    app.register_blueprint(web.bp)
    api.register_error_handlers(app)
    _enable_cors(app, settings.cors_origins)
    return app


def get_searcher():
    """Return the current app's searcher, loading it on first use (raises QAError when it cannot be loaded)."""
    from flask import current_app

    return current_app.extensions["qa_searcher"].get()


def _enable_cors(app, cors_origins: str) -> None:
    """Let browsers on `cors_origins` ("*" or a comma list; "" = off) call /api/ and its preflight."""
    cors_origins = (cors_origins or "").strip()
    if not cors_origins:
        return
    from flask_cors import CORS

    origins = "*" if cors_origins == "*" else [o.strip() for o in cors_origins.split(",") if o.strip()]
    CORS(app, resources={r"/api/*": {"origins": origins}}, methods=["GET", "POST", "OPTIONS"],
         allow_headers=["Content-Type"], max_age=600, send_wildcard=origins == "*")
