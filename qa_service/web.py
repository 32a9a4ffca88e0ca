"""The German web page: a search form, results rendered on the server (works without JavaScript), chunk permalinks."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from werkzeug.exceptions import HTTPException

from . import get_searcher
from .citation import askers_names, chunk_heading, citation, german_date, pages_phrase, party_only_askers
from .errors import IndexMissingError, InvalidQueryError, NotFoundError, QAError

bp = Blueprint("web", __name__)

# Answers longer than this show the matching passage first and the full text behind a <details> toggle,
# so that five results with long statistics tables stay scannable on a phone.
LONG_ANSWER_CHARS = 1200
MODE_LABELS = {"hybrid": "Kombiniert", "semantic": "Bedeutung", "keyword": "Stichwort"}
TOP_K_CHOICES = (5, 10, 20)


def mark_segments(text: str, spans) -> list[tuple[str, bool]]:
    """Split `text` into (part, highlighted) pieces along `spans` (clipped to the text, overlaps merged)."""
    clean = sorted((max(0, int(s)), min(len(text), int(e))) for s, e in spans or () if int(e) > int(s))
    merged: list[list[int]] = []
    for start, end in clean:
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    pieces, position = [], 0
    for start, end in merged:
        if start > position:
            pieces.append((text[position:start], False))
        pieces.append((text[start:end], True))
        position = end
    if position < len(text) or not pieces:
        pieces.append((text[position:], False))
    return pieces


def askers_text(askers) -> str:
    """Return who asked, for display: "Anne Helm und Niklas Schrader (LINKE)", "Mitglieder der Fraktion Die Linke"."""
    parts = [askers_names(askers)] if askers_names(askers) else []
    parts += [f"Mitglieder der Fraktion {party}" for party in party_only_askers(askers)]
    return "; ".join(parts)


def card(document, chunk, hit=None) -> dict:
    """Return what the result template shows for one chunk (and, for a search hit, its highlighted spans)."""
    spans = []
    if hit is not None:
        spans = [hit.quote_span] if hit.quote_span else list(hit.highlight or ())
    pieces = mark_segments(chunk.antwort, spans)
    marked = [text for text, is_marked in pieces if is_marked]
    return {
        "antwort_chars": f"{len(chunk.antwort):,}".replace(",", "."),
        # Verbatim passages shown above the collapsed full answer; empty = show the full answer directly.
        "excerpt": marked if hit is not None and marked and len(chunk.antwort) > LONG_ANSWER_CHARS else [],
        "chunk": chunk,
        "document": document,
        "heading": chunk_heading(chunk),
        "antwort_pieces": pieces,
        "exact": bool(hit is not None and hit.quote_span),
        "citation": citation(document, chunk),
        "askers": askers_text(document.askers),
        "asked_on": german_date(document.asked_on),
        "answered_on": german_date(document.answered_on),
        "pages": pages_phrase(chunk.pages),
    }


class FormError(Exception):
    """A form value the page shows as an inline message instead of results."""


def _form_filters(args):
    from .search import SearchFilters

    values = {}
    drucksache = (args.get("drucksache") or "").strip()
    if drucksache:
        values["drucksache"] = drucksache[:200]
    for name, label in (("answered_from", "von"), ("answered_to", "bis")):
        raw = (args.get(name) or "").strip()
        if raw:
            if german_date(raw) is None or len(raw) != 10:
                raise FormError(f"Das Datum „{label}“ ist ungültig; bitte im Format JJJJ-MM-TT angeben.")
            values[name] = raw
    if values.get("answered_from") and values.get("answered_to") and \
            values["answered_from"] > values["answered_to"]:
        raise FormError("Der Zeitraum ist leer: „von“ liegt nach „bis“.")
    return SearchFilters(**values)


@bp.get("/")
def index():
    """Show the search form; with ?q=… also the results, rendered on the server."""
    settings = current_app.config["QA_SETTINGS"]
    args = request.args
    question = (args.get("q") or "").strip()
    mode = args.get("mode") or "hybrid"
    top_k_raw = args.get("top_k") or str(settings.default_top_k)
    form = {
        "q": args.get("q") or "",
        "mode": mode if mode in MODE_LABELS else "hybrid",
        "top_k": top_k_raw,
        "drucksache": args.get("drucksache") or "",
        "answered_from": args.get("answered_from") or "",
        "answered_to": args.get("answered_to") or "",
    }
    context = {"form": form, "modes": MODE_LABELS, "top_k_choices": TOP_K_CHOICES,
               "max_chars": settings.max_question_chars, "cards": None, "error": None}
    if not question:
        return render_template("index.html", **context)

    status = 200
    try:
        if len(question) > settings.max_question_chars:
            raise FormError(f"Die Frage ist zu lang: höchstens {settings.max_question_chars} Zeichen.")
        if mode not in MODE_LABELS:
            raise FormError("Unbekannte Suchart.")
        if not top_k_raw.isdigit() or not 1 <= int(top_k_raw) <= settings.max_top_k:
            raise FormError(f"Die Anzahl der Antworten muss zwischen 1 und {settings.max_top_k} liegen.")
        filters = _form_filters(args)
        searcher = get_searcher()
        hits = searcher.search(question, top_k=int(top_k_raw), mode=mode, filters=filters)
        context["cards"] = [card(h.document, h.chunk, h) for h in hits]
    except (FormError, InvalidQueryError) as exc:
        context["error"], status = str(exc), 400
    except IndexMissingError:
        context["error"], status = "Der Suchindex fehlt noch. Bitte zuerst „qa-service build“ ausführen.", 503
    except QAError as exc:
        context["error"], status = f"Die Suche ist gerade nicht verfügbar: {exc}", 503
    return render_template("index.html", **context), status


@bp.get("/chunks/<chunk_id>")
def chunk_page(chunk_id: str):
    """Show one chunk in full with its citation: the permalink of a result."""
    try:
        index_ = get_searcher().index
    except QAError:
        return render_template("error.html", status=503, title="Nicht verfügbar",
                               message="Der Suchindex ist gerade nicht verfügbar."), 503
    try:
        chunk = index_.chunk(chunk_id)
        document = index_.document(chunk.document_id)
    except NotFoundError:
        return render_template("error.html", status=404, title="Nicht gefunden",
                               message=f"Es gibt keinen Abschnitt mit der Kennung „{chunk_id}“."), 404
    return render_template("chunk.html", item=card(document, chunk))


_HTTP_TITLES = {404: "Nicht gefunden", 405: "Methode nicht erlaubt", 413: "Anfrage zu groß",
                500: "Interner Fehler"}


def render_http_error(exc: HTTPException):
    """Render an HTTP error outside /api/ as a German HTML page."""
    status = getattr(exc, "code", None) or 500
    title = _HTTP_TITLES.get(status, "Fehler")
    message = "Diese Seite gibt es nicht." if status == 404 else "Die Anfrage konnte nicht bearbeitet werden."
    response = current_app.make_response(
        (render_template("error.html", status=status, title=title, message=message), status))
    if isinstance(exc, HTTPException):
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
    return response
