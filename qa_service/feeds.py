"""Saved searches as Atom feeds: `GET /feed.atom?q=…&authority=…`, the newest matching answers first.

One entry per answer chunk, with its Frage, the verbatim answer, the citation and the permalink. Without `q` the
feed lists the newest answers of the documents the filters allow ("what's new", per Senatsverwaltung and so on);
with `q` it lists the search's best candidates, ordered by answer date. The parameters are those of `GET /api/ask`,
read by the same validator; bad input gets the API's JSON error with status 400. The XML is written by feedgen.
"""
from __future__ import annotations

import re
import threading
from dataclasses import replace
from datetime import date, datetime, time, timezone

from flask import Blueprint, current_app, request, url_for
from markupsafe import escape

from .api import error_response
from .citation import chunk_heading, citation, pages_phrase
from .documents import answers_something
from .errors import QAError
from .query import DEFAULT_MODE, FILTER_FIELDS, FILTER_NAMES, AskRequest, parse_ask_parameters
from .searcher_slot import get_searcher

bp = Blueprint("feeds", __name__)
EXTENSION = "qa_feed_order"

# Entries per feed unless top_k says otherwise: enough for a reader that polls daily, small enough to stay fast.
FEED_SIZE = 50
ATOM_MEDIA_TYPE = "application/atom+xml"
# The authors of the answers as a whole; an entry names its Senatsverwaltung when the document does.
FEED_AUTHOR = "Senat von Berlin"
# Characters XML 1.0 cannot hold at all, not even escaped (control characters); a question may contain them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Stands in for the question when a feed has none, so that the one validator reads every other parameter.
_NO_QUESTION = "-"


def xml_text(text: str) -> str:
    """Return `text` without the characters XML 1.0 cannot represent."""
    return _NOT_XML.sub("", text)


def feed_parameters(values) -> dict:
    """Return the feed's URL parameters for a search form's values: q, mode and filters that are set (no top_k).

    The result page's count of answers is not the feed's: a feed lists FEED_SIZE entries.
    """
    params = {name: str(values.get(name) or "").strip() for name in ("q", "mode") + FILTER_NAMES}
    if params["mode"] == DEFAULT_MODE:
        params["mode"] = ""
    return {name: value for name, value in params.items() if value}


def parse_feed_request(args, settings) -> tuple[AskRequest, bool]:
    """Return the feed's request (top_k = number of entries) and whether it has a question; raise InvalidQueryError."""
    has_question = "q" in args
    if not has_question:
        args = {**args, "q": [_NO_QUESTION]}
    ask = parse_ask_parameters(args, settings)
    if "top_k" not in args:
        ask = replace(ask, top_k=min(FEED_SIZE, settings.max_top_k))
    return ask, has_question


def _day(iso: str | None) -> datetime | None:
    """Return an ISO date as midnight UTC (Atom wants a time), or None when it is missing or not a date."""
    try:
        return datetime.combine(date.fromisoformat(iso), time(), tzinfo=timezone.utc) if iso else None
    except ValueError:
        return None


def _newest_first(item) -> tuple:
    """Sort key of a (document, chunk, position): newest answer date first, undated last, then chunk position."""
    document, _, position = item
    day = _day(document.answered_on)
    return (0, -day.toordinal(), position) if day else (1, 0, position)


class NewestOrder:
    """Hold the documents of the index being served, newest answer first: sorted once per index, not per request."""

    def __init__(self):
        self._lock = threading.Lock()
        self._index = None
        self._documents: tuple = ()

    def get(self, index) -> tuple:
        """Return the documents of `index` newest answer first (ties in corpus order), sorting on first use."""
        # _documents is assigned before _index, so a reader that sees this index sees its order.
        if self._index is index:
            return self._documents
        with self._lock:
            if self._index is not index:
                self._documents = tuple(sorted(index.documents.values(), key=lambda d: _newest_first((d, None, 0))))
                self._index = index
            return self._documents


@bp.record_once
def _init(state) -> None:
    state.app.extensions[EXTENSION] = NewestOrder()


def newest_chunks(index, documents_newest_first, filters, limit: int) -> list[tuple]:
    """Return up to `limit` (document, chunk, position) of the documents `filters` allow, newest answer first."""
    # Documents are dated, chunks are not: take the newest documents until `limit` chunks are together.
    picked = []
    for document in (d for d in documents_newest_first if filters.matches(d)):
        picked += [(document, chunk, index.position(chunk.chunk_id)) for chunk in document.chunks
                   if answers_something(chunk)]
        if len(picked) >= limit:
            break
    return sorted(picked, key=_newest_first)[:limit]


def searched_chunks(searcher, ask: AskRequest) -> list[tuple]:
    """Return the search's best candidates as (document, chunk, position), newest answer first."""
    index = searcher.index
    found = [(hit.document, hit.chunk, index.position(hit.chunk.chunk_id)) for hit in searcher.search_request(ask)]
    return sorted(found, key=_newest_first)


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{escape(xml_text(line))}</p>" for line in text.split("\n") if line.strip())


def entry_html(document, chunk, cite: dict) -> str:
    """Return an entry's content as HTML: Frage, the verbatim answer and the citation, every text escaped."""
    parts = []
    if chunk.kind == "qa" and chunk.frage:
        parts.append("<h3>Frage</h3>" + _paragraphs(chunk.frage))
    parts.append("<h3>Antwort des Senats</h3>" + _paragraphs(chunk.antwort))
    parts.append("<h3>Zitat</h3>" + _paragraphs(cite["text"]))
    if cite["page_url"]:
        where = pages_phrase(chunk.pages)
        label = f"PDF, {where}" if where else "PDF"
        parts.append(f'<p><a href="{escape(cite["page_url"])}">{escape(label)}</a></p>')
    return "".join(parts)


def entry_title(document, chunk) -> str:
    """Return an entry's title: "Frage 5 a – Drucksache 19/10041: Delikte der EG Quer …"."""
    source = f"Drucksache {document.drucksache}" if document.drucksache else document.document_id
    title = f"{chunk_heading(chunk)} – {source}"
    if document.title:
        title += ": " + " ".join(document.title.split())
    return xml_text(title)


def feed_title(ask: AskRequest, has_question: bool) -> str:
    """Return the feed's title from its question and filters."""
    title = f"Senatsantworten zu „{ask.question}“" if has_question else "Neue Antworten des Senats"
    shown = [f"{spec.metadata['label']}: {getattr(ask.filters, spec.name)}" for spec in FILTER_FIELDS
             if getattr(ask.filters, spec.name) is not None]
    if shown:
        title += " (" + "; ".join(shown) + ")"
    return xml_text(title)


def build_feed(items, ask: AskRequest, has_question: bool, built_at: str | None) -> bytes:
    """Return the Atom document (UTF-8) for `items` of (document, chunk, position)."""
    from feedgen.feed import FeedGenerator

    params = feed_parameters({"q": ask.question if has_question else None, "mode": ask.mode,
                              **{name: getattr(ask.filters, name) for name in FILTER_NAMES}})
    self_params = params if ask.top_k == FEED_SIZE else {**params, "top_k": ask.top_k}
    self_url = url_for("feeds.feed", _external=True, **self_params)
    fallback = _built_time(built_at)
    generator = FeedGenerator()
    # The feed's own URL (parameters in one order) is its id: the same saved search is the same feed.
    generator.id(self_url)
    generator.title(feed_title(ask, has_question))
    generator.author({"name": FEED_AUTHOR})
    generator.language("de")
    generator.link(href=self_url, rel="self", type=ATOM_MEDIA_TYPE)
    generator.link(href=url_for("web.index", _external=True, **params), rel="alternate", type="text/html")
    newest = None
    for document, chunk, _ in items:
        cite = citation(document, chunk)
        answered = _day(document.answered_on) or fallback
        newest = max(newest, answered) if newest else answered
        permalink = url_for("web.chunk_page", chunk_id=chunk.chunk_id, _external=True)
        entry = generator.add_entry(order="append")
        # The permalink is the entry's id: chunk ids stay the same when the index is rebuilt.
        entry.id(permalink)
        entry.title(entry_title(document, chunk))
        # One link only: feedgen 1.0.0 writes an entry link's href but drops its rel and type (python-feedgen issue
        # 135), so a second link would be a second "alternate". The PDF at its page is linked in the content.
        entry.link(href=permalink)
        # Every entry has an author: its Senatsverwaltung, else the feed's author stands for it (RFC 4287 4.1.2).
        if document.authority:
            entry.author({"name": xml_text(document.authority)})
        entry.published(answered)
        entry.updated(answered)
        entry.summary(xml_text(cite["text"]))
        entry.content(entry_html(document, chunk, cite), type="html")
        if document.authority:
            entry.category(term=xml_text(document.authority))
    generator.updated(newest or fallback)
    return generator.atom_str(pretty=True)


def _built_time(built_at: str | None) -> datetime:
    """Return when the index was built (the time of a feed without entries), or now when that is unknown."""
    try:
        built = datetime.fromisoformat(built_at) if built_at else None
    except ValueError:
        built = None
    if built is not None and built.tzinfo is None:
        built = built.replace(tzinfo=timezone.utc)
    return built or datetime.now(timezone.utc)


@bp.get("/feed.atom")
def feed():
    """Answer the Atom feed of a saved search (or of the newest answers), newest answer first."""
    settings = current_app.config["QA_SETTINGS"]
    ask, has_question = parse_feed_request(request.args.to_dict(flat=False), settings)
    try:
        searcher = get_searcher()
    except QAError as exc:
        return error_response(503, "not_ready", f"The search service is not available: {exc}")
    if has_question:
        items = searched_chunks(searcher, ask)
    else:
        newest = current_app.extensions[EXTENSION].get(searcher.index)
        items = newest_chunks(searcher.index, newest, ask.filters, ask.top_k)
    body = build_feed(items, ask, has_question, searcher.index.manifest.get("built_at"))
    response = current_app.response_class(body, content_type=f"{ATOM_MEDIA_TYPE}; charset=utf-8")
    # Feed readers poll: an unchanged feed is answered with 304 Not Modified.
    response.add_etag()
    return response.make_conditional(request)


@bp.app_template_global()
def feed_url(values) -> str:
    """Return the URL of the feed of a search form's values (for the result page's link)."""
    return url_for("feeds.feed", **feed_parameters(values))
