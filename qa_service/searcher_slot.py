"""The app's searcher (model + index), opened once per process on first use: `get_searcher()` and `init_app(app)`.

flaskr's `db.py` pattern: blueprints import `get_searcher` from here, never from the package that creates the app.
"""
from __future__ import annotations

import threading

EXTENSION = "qa_searcher"


class SearcherSlot:
    """Open the searcher once, on first use, behind a lock.

    A failed load is not remembered as final: the next call tries again, so building the index while the
    server runs is enough to make it ready.
    """

    def __init__(self, settings, searcher=None):
        self.settings = settings
        self.searcher = searcher
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

                self.searcher = open_searcher(self.settings)
        return self.searcher


def init_app(app, settings, searcher=None) -> None:
    """Give `app` its searcher slot: `searcher` if given (tests), else one opened from `settings` on first use."""
    app.extensions[EXTENSION] = SearcherSlot(settings, searcher)


def get_slot() -> SearcherSlot:
    """Return the current app's searcher slot."""
    from flask import current_app

    return current_app.extensions[EXTENSION]


def get_searcher():
    """Return the current app's searcher, loading it on first use (raises QAError when it cannot be loaded)."""
    return get_slot().get()
