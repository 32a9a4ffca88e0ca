"""The app's searcher (model + index), opened once per process on first use: `get_searcher()` and `init_app(app)`.

flaskr's `db.py` pattern: blueprints import `get_searcher` from here, never from the package that creates the app.

The slot also follows the index folder: when a build swaps in a new index (or on SIGHUP), `reload_if_changed` loads
it beside the one being served and switches in one assignment. Requests in flight keep the searcher they took, so
they finish on the old index, which is freed when the last of them lets go. A new index that cannot be loaded is
logged and the old one stays.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from .errors import QAError

EXTENSION = "qa_searcher"
# How often `watch` looks whether the index folder was swapped: a stat() call, nothing more.
WATCH_SECONDS = 2.0

log = logging.getLogger(__name__)


def index_identity(index_dir: Path) -> tuple | None:
    """Return what changes when a build puts a new index in place: the folder's inode and the manifest's mtime."""
    try:
        folder = os.stat(index_dir)
        manifest = os.stat(Path(index_dir) / "manifest.json")
    except OSError:
        return None
    return folder.st_ino, manifest.st_ino, manifest.st_mtime_ns


def _open(settings, previous):
    from .search import open_searcher

    # The model stays loaded when the new index was built with the same one. The app serves requests from several
    # threads, so their questions are encoded together.
    searcher = open_searcher(settings, embedder=previous.embedder if previous is not None else None,
                             batch_queries=True)
    prepare_in_background(searcher)
    return searcher


def prepare_in_background(searcher) -> threading.Thread:
    """Prepare the searcher (`Searcher.prepare`: index pages mapped in, filter index built) in a thread of its own;
    requests are served meanwhile (a filtered one waits for the filter index)."""
    def prepare():
        try:
            searcher.prepare()
        except (QAError, OSError) as exc:  # a damaged store: the requests that need it report it themselves
            log.warning("preparing the searcher failed: %s", exc)

    thread = threading.Thread(target=prepare, name="prepare-searcher", daemon=True)
    thread.start()
    return thread


class SearcherSlot:
    """Open the searcher once, on first use, behind a lock; switch to a rebuilt index when asked to.

    A failed first load is not remembered as final: the next call tries again, so building the index while the
    server runs is enough to make it ready. `opener(settings, previous_searcher)` opens a searcher (tests give
    their own).
    """

    def __init__(self, settings, searcher=None, opener=_open):
        self.settings = settings
        self.searcher = searcher
        self._opener = opener
        self._lock = threading.Lock()
        # The index folder as it was when the served searcher was opened (or when a new one last failed to load).
        self._identity = index_identity(settings.index_dir) if searcher is not None else None
        self._wake = threading.Event()

    @property
    def loading(self) -> bool:
        """Return whether another thread is loading the first searcher right now."""
        return self.searcher is None and self._lock.locked()

    def get(self):
        """Return the searcher, loading the index and its model first if needed (raises QAError)."""
        if self.searcher is not None:
            return self.searcher
        with self._lock:
            if self.searcher is None:
                identity = index_identity(self.settings.index_dir)
                self.searcher = self._opener(self.settings, None)
                self._identity = identity
        return self.searcher

    def reload_if_changed(self) -> bool:
        """Load the index again if its folder changed since it was opened; return whether the searcher switched."""
        identity = index_identity(self.settings.index_dir)
        if identity is None or identity == self._identity or self.searcher is None:
            return False
        with self._lock:
            if identity == self._identity:
                return False
            old = self.searcher
            try:
                new = self._opener(self.settings, old)
            except QAError as exc:
                # Not again until the folder changes once more: a broken build must not be retried every poll.
                self._identity = identity
                log.warning("keeping the index built at %s: the new index cannot be loaded: %s",
                            old.index.manifest.get("built_at"), exc)
                return False
            self.searcher = new
            self._identity = identity
        log.warning("now serving the index built at %s (%d documents, %d chunks)", new.index.manifest.get("built_at"),
                    len(new.index.documents), len(new.index.chunks))
        return True

    def request_reload(self) -> None:
        """Ask the watcher to look at the index folder now (SIGHUP)."""
        self._wake.set()

    def watch(self, interval: float = WATCH_SECONDS) -> threading.Thread:
        """Start a daemon thread that calls reload_if_changed every `interval` seconds or when woken."""
        def loop():
            while True:
                self._wake.wait(interval)
                self._wake.clear()
                try:
                    self.reload_if_changed()
                except Exception:  # the watcher must never die: the next round tries again
                    log.exception("checking the index folder failed")

        thread = threading.Thread(target=loop, name="qa-index-watch", daemon=True)
        thread.start()
        return thread


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
