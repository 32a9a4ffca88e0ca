"""Browsing pages: a document in full (`/documents/<id>`), the newest answers per Senatsverwaltung and per party.

Lists and references come from the index's Catalog (catalog.py), built once per loaded index and kept in the
app's extensions; a request only looks things up.
"""
from __future__ import annotations

import threading

from flask import Blueprint, current_app, render_template, request

from .catalog import Catalog, build_catalog
from .citation import chunk_heading, german_date, pages_phrase
from .errors import NotFoundError, QAError
from .parties import party_key, normalise_party
from .searcher_slot import get_searcher
from .web import anchor, askers_text

bp = Blueprint("browse", __name__)

EXTENSION = "qa_catalog"
# Documents per browse page; older ones are on ?seite=2, 3, …
PAGE_SIZE = 50


class CatalogSlot:
    """Hold the Catalog of the index being served, rebuilt only when another index object is served."""

    def __init__(self):
        self._lock = threading.Lock()
        self._index = None
        self._catalog: Catalog | None = None

    def get(self, index) -> Catalog:
        """Return the Catalog of `index`, building it on first use."""
        # _catalog is assigned before _index, so a reader that sees this index sees its catalog.
        if self._index is index:
            return self._catalog
        with self._lock:
            if self._index is not index:
                documents = index.documents
                self._catalog, self._index = build_catalog(documents.values(), documents.citations()), index
            return self._catalog


@bp.record_once
def _init(state) -> None:
    state.app.extensions[EXTENSION] = CatalogSlot()


def get_catalog(index) -> Catalog:
    """Return the Catalog of `index` for the current app."""
    return current_app.extensions[EXTENSION].get(index)


def document_entry(document) -> dict:
    """Return what a list shows of one document: title, Drucksache, date, who asked, who answered."""
    return {"document": document, "answered_on": german_date(document.answered_on),
            "askers": askers_text(document.askers),
            "parties": list(dict.fromkeys(normalise_party(a.party) for a in document.askers if a.party))}


def _error(status: int, title: str, message: str):
    return render_template("error.html", status=status, title=title, message=message), status


def _index_or_none():
    try:
        return get_searcher().index
    except QAError:
        return None


def _unavailable():
    return _error(503, "Nicht verfügbar", "Der Suchindex ist gerade nicht verfügbar.")


def _page_number():
    """Return the ?seite= page number (1 by default), or None when it is not a positive number."""
    raw = request.args.get("seite", "1")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6 or int(raw) < 1:
        return None
    return int(raw)


def _paged(documents, title: str, heading_hint: str):
    page = _page_number()
    if page is None:
        return _error(400, "Ungültige Seite", "Die Seitenzahl muss eine positive ganze Zahl sein.")
    pages = max(1, -(-len(documents) // PAGE_SIZE))
    if page > pages:
        return _error(404, "Nicht gefunden", "Diese Seite der Liste gibt es nicht.")
    shown = documents[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    return render_template("browse_list.html", title=title, hint=heading_hint, total=len(documents),
                           entries=[document_entry(d) for d in shown], page=page, pages=pages)


@bp.get("/documents/<document_id>")
def document_page(document_id: str):
    """Show one answer in full and in order, each chunk with its permalink, and the documents it is linked with."""
    index = _index_or_none()
    if index is None:
        return _unavailable()
    try:
        document = index.document(document_id)
    except NotFoundError:
        return _error(404, "Nicht gefunden", f"Es gibt keine Drucksache mit der Kennung „{document_id}“.")
    catalog = get_catalog(index)
    references = [{"drucksache": number, "document": catalog.by_drucksache.get(number)}
                  for number in catalog.references.get(document.document_id, [])]
    sections = [{"chunk": c, "anchor": anchor(c), "heading": chunk_heading(c), "pages": pages_phrase(c.pages)}
                for c in document.chunks]
    return render_template("document.html", d=document, entry=document_entry(document), sections=sections,
                           references=references, follow_ups=[document_entry(d) for d in
                                                              catalog.follow_ups.get(document.document_id, [])],
                           asked_on=german_date(document.asked_on))


@bp.get("/senatsverwaltungen")
def authorities():
    """List every answering Senatsverwaltung with its number of answers and its newest answer's date."""
    index = _index_or_none()
    if index is None:
        return _unavailable()
    catalog = get_catalog(index)
    rows = [{"name": name, "count": len(docs), "newest": german_date(docs[0].answered_on)}
            for name, docs in catalog.by_authority.items()]
    return render_template("browse_groups.html", title="Senatsverwaltungen", rows=rows,
                           endpoint="browse.authority", argument="name")


@bp.get("/senatsverwaltungen/<path:name>")
def authority(name: str):
    """List the answers of one Senatsverwaltung, newest first."""
    index = _index_or_none()
    if index is None:
        return _unavailable()
    documents = get_catalog(index).by_authority.get(name)
    if documents is None:
        return _error(404, "Nicht gefunden", f"Keine Antworten der Senatsverwaltung „{name}“ im Index.")
    return _paged(documents, name, "Antworten, neueste zuerst")


@bp.get("/parteien")
def parties():
    """List every asking party with its number of Anfragen and its newest answer's date."""
    index = _index_or_none()
    if index is None:
        return _unavailable()
    catalog = get_catalog(index)
    rows = [{"name": catalog.party_names[key], "count": len(docs), "newest": german_date(docs[0].answered_on)}
            for key, docs in catalog.by_party.items()]
    return render_template("browse_groups.html", title="Parteien", rows=rows, endpoint="browse.party",
                           argument="party")


@bp.get("/parteien/<path:party>")
def party(party: str):
    """List the answers to Anfragen of one party (any spelling of its name), newest first."""
    index = _index_or_none()
    if index is None:
        return _unavailable()
    catalog = get_catalog(index)
    documents = catalog.documents_of_party(party)
    if not documents:
        return _error(404, "Nicht gefunden", f"Keine Anfragen der Partei „{party}“ im Index.")
    return _paged(documents, catalog.party_names[party_key(party)], "Antworten auf ihre Anfragen, neueste zuerst")
