"""The German web page: a search form, results rendered on the server (works without JavaScript), chunk permalinks."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from .citation import askers_names, chunk_heading, citation, german_date, pages_phrase, party_only_askers
from .errors import IndexMissingError, InvalidQueryError, NotFoundError, QAError
from .facets import facets
from .parties import KNOWN_PARTIES, party_key
from .query import CANDIDATE_POOL, DEFAULT_SORT, FILTER_FIELDS, MAX_FILTER_CHARS, MAX_WAHLPERIODE, \
    MIN_WAHLPERIODE, URL_PARAMETERS, parse_ask_parameters
from .search import no_answer
from .searcher_slot import get_searcher

bp = Blueprint("web", __name__)

# Answers longer than this show the matching passage first and the full text behind a <details> toggle,
# so that five results with long statistics tables stay scannable on a phone.
LONG_ANSWER_CHARS = 1200
MODE_LABELS = {"hybrid": "Kombiniert", "semantic": "Bedeutung", "keyword": "Stichwort"}
SORT_LABELS = {"relevance": "Beste Treffer zuerst", "date": "Neueste Antwort zuerst"}
TOP_K_CHOICES = (5, 10, 20)
# The Wahlperioden the form offers (PARDOK's open data covers 11 to 19); the API takes any from 1 to 99.
MIN_WAHLPERIODE_SHOWN, MAX_WAHLPERIODE_SHOWN = 11, 19


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
        "anchor": anchor(chunk),
        "document": document,
        "heading": chunk_heading(chunk),
        "antwort_pieces": pieces,
        "exact": bool(hit is not None and hit.quote_span),
        # Found by the vectors alone, sharing no word with the question: said so, so nobody takes it for the answer.
        "semantic_only": bool(hit is not None and hit.match == "semantic"),
        "citation": citation(document, chunk),
        "askers": askers_text(document.askers),
        "asked_on": german_date(document.asked_on),
        "answered_on": german_date(document.answered_on),
        "pages": pages_phrase(chunk.pages),
    }


# The page's words for the validator's error codes (query.py); the API shows the English message instead.
FORM_MESSAGES = {
    "question_too_long": "Die Frage ist zu lang: höchstens {max_chars} Zeichen.",
    "invalid_question": "Die Frage enthält Zeichen, die keine gültige Unicode-Schrift sind.",
    "invalid_mode": "Unbekannte Suchart.",
    "invalid_sort": "Unbekannte Sortierung.",
    "invalid_top_k": "Die Anzahl der Antworten muss zwischen 1 und {max_top_k} liegen.",
    "invalid_date": "Das Datum „{label}“ ist ungültig; bitte im Format JJJJ-MM-TT angeben.",
    "invalid_parameter": "Jedes Feld darf nur einmal angegeben werden.",
}
RANGE_MESSAGE = "Der Zeitraum ist leer: „von“ liegt nach „bis“."
FILTER_MESSAGE = "Die Angabe „{label}“ ist ungültig."
WAHLPERIODE_MESSAGE = "Die Wahlperiode muss eine Zahl von {low} bis {high} sein."


def form_message(exc: InvalidQueryError, settings) -> str:
    """Return the German message the form shows for a validation error."""
    labels = {spec.name: spec.metadata["label"] for spec in FILTER_FIELDS}
    if exc.code == "invalid_filter" and exc.field == "answered_from":
        return RANGE_MESSAGE
    if exc.code == "invalid_filter" and exc.field == "wahlperiode":
        return WAHLPERIODE_MESSAGE.format(low=MIN_WAHLPERIODE, high=MAX_WAHLPERIODE)
    if exc.code == "invalid_filter":
        return FILTER_MESSAGE.format(label=labels.get(exc.field, exc.field))
    label = labels.get(exc.field, exc.field or "")
    # "von"/"bis" as the form labels the two date fields next to each other.
    label = {"answered_from": "von", "answered_to": "bis"}.get(exc.field, label)
    template = FORM_MESSAGES.get(exc.code, "Die Anfrage ist ungültig.")
    return template.format(max_chars=settings.max_question_chars, max_top_k=settings.max_top_k, label=label)


def _choices(spec, value: str) -> tuple[str, ...]:
    """Return the options of a select filter; a party the list lacks (from a link) is offered too, so it stays."""
    kind = spec.metadata["kind"]
    if kind == "choice":
        return tuple(spec.metadata["choices"])
    if kind == "party":
        known = {party_key(p) for p in KNOWN_PARTIES}
        return KNOWN_PARTIES + ((value,) if value and party_key(value) not in known else ())
    return ()


def filter_inputs(form: dict) -> list[dict]:
    """Return the filter fields of the form (name, label, kind, value, options), derived from SearchFilters."""
    inputs = []
    for spec in FILTER_FIELDS:
        value = form.get(spec.name, "")
        if spec.metadata["kind"] == "party" and value:
            # The option of the party selected, in the list's spelling ("Grüne" selects "GRÜNE").
            value = next((p for p in KNOWN_PARTIES if party_key(p) == party_key(value)), value)
        inputs.append({"name": spec.name, "label": spec.metadata["label"], "kind": spec.metadata["kind"],
                       "example": spec.metadata.get("example", ""), "value": value,
                       "choices": _choices(spec, value)})
    return inputs


def _same_value(name: str, given: str | None, value: str) -> bool:
    # "Die Linke" in the URL is the facet value "LINKE".
    return party_key(given) == party_key(value) if name == "party" else given == value


def facet_links(found_facets, current: dict) -> list[dict]:
    """Return the facets for the template: each value with the link that adds its filter to the current search
    (`current`: the page's parameters, all kept) and, when it is already set, the link that takes it away."""
    shown = []
    for facet in found_facets:
        values = []
        for value in facet.values:
            active = all(_same_value(name, current.get(name), v) for name, v in value.filters.items())
            without = {name: v for name, v in current.items() if name not in value.filters}
            values.append({"label": value.label, "count": value.count, "active": active,
                           "url": url_for("web.index", **{**current, **value.filters}),
                           "remove_url": url_for("web.index", **without)})
        if values:
            shown.append({"name": facet.name, "label": facet.label, "options": values})
    return shown


@bp.get("/")
def index():
    """Show the search form; with ?q=… also the results, rendered on the server."""
    settings = current_app.config["QA_SETTINGS"]
    # The form sends every field, most of them empty, and links may carry other parameters (tracking and the
    # like): the page reads its own fields that are filled and ignores the rest.
    args = {name: [v for v in request.args.getlist(name) if v.strip()] for name in URL_PARAMETERS}
    args = {name: values for name, values in args.items() if values}
    form = {name: values[0] for name, values in args.items()}
    form.setdefault("q", "")
    mode = form.get("mode", "hybrid")
    form["mode"] = mode if mode in MODE_LABELS else "hybrid"
    form.setdefault("top_k", str(settings.default_top_k))
    sort = form.get("sort", DEFAULT_SORT)
    form["sort"] = sort if sort in SORT_LABELS else DEFAULT_SORT
    context = {"form": form, "filters": filter_inputs(form), "modes": MODE_LABELS, "top_k_choices": TOP_K_CHOICES,
               "sorts": SORT_LABELS, "facets": [], "candidate_pool": CANDIDATE_POOL,
               "max_chars": settings.max_question_chars, "max_filter_chars": MAX_FILTER_CHARS,
               "wahlperioden": range(MAX_WAHLPERIODE_SHOWN, MIN_WAHLPERIODE_SHOWN - 1, -1),
               "cards": None, "no_answer": False, "error": None}
    if not form["q"].strip():
        return render_template("index.html", **context)

    status = 200
    try:
        ask = parse_ask_parameters(args, settings)
        hits, candidates = get_searcher().search_with_candidates(ask)
        context["cards"] = [card(h.document, h.chunk, h) for h in hits]
        context["no_answer"] = bool(hits) and no_answer(hits)
        # Links carry the parameters the page was given, not the form's defaults.
        context["facets"] = facet_links(facets(candidates), {name: values[0] for name, values in args.items()})
    except InvalidQueryError as exc:
        context["error"], status = form_message(exc, settings), 400
    except IndexMissingError:
        context["error"], status = "Der Suchindex fehlt noch. Bitte zuerst „qa-service build“ ausführen.", 503
    except QAError as exc:
        context["error"], status = f"Die Suche ist gerade nicht verfügbar: {exc}", 503
    return render_template("index.html", **context), status


@bp.get("/chunks/<chunk_id>")
def chunk_page(chunk_id: str):
    """Show one chunk in full with its citation, a link to it in its document, and similar Fragen of others."""
    try:
        searcher = get_searcher()
        index_ = searcher.index
    except QAError:
        return render_template("error.html", status=503, title="Nicht verfügbar",
                               message="Der Suchindex ist gerade nicht verfügbar."), 503
    try:
        chunk = index_.chunk(chunk_id)
        document = index_.document(chunk.document_id)
    except NotFoundError:
        return render_template("error.html", status=404, title="Nicht gefunden",
                               message=f"Es gibt keinen Abschnitt mit der Kennung „{chunk_id}“."), 404
    similar = [{"chunk": other, "document": index_.document(other.document_id), "heading": chunk_heading(other)}
               for other, _score in searcher.similar_chunks(chunk_id)]
    return render_template("chunk.html", item=card(document, chunk), similar=similar)


def anchor(chunk) -> str:
    """Return the fragment of a chunk on its document's page: its id after "#" ("S19-10041#5a" -> "5a")."""
    return "-".join(chunk.chunk_id.partition("#")[2].split()) or chunk.chunk_id


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
