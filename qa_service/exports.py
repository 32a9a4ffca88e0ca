"""Downloads: a search's results as CSV or JSON, one answer's citation as CSL-JSON or BibTeX.

`GET /api/ask.csv` and `GET /api/ask.json` take the parameters of `GET /api/ask` (same validator, same results);
`GET /api/chunks/<chunk_id>/citation.csl.json` and `…/citation.bib` are for reference managers such as Zotero.
Every download is an attachment with a filename; errors are the API's JSON errors.
"""
from __future__ import annotations

import csv
import io
import json
import re
import unicodedata

from flask import Blueprint, current_app, request, url_for

from .api import ApiError
from .citation import bibtex_entry, citation_key, csl_item
from .errors import NotFoundError, QAError
from .payloads import results_payload
from .query import parse_ask_parameters, shown
from .searcher_slot import get_searcher

bp = Blueprint("exports", __name__)

CSV_COLUMNS = ("rank", "score", "chunk_id", "drucksache", "title", "numbers", "pages", "answered_on", "authority",
               "askers", "frage", "antwort", "citation", "url", "page_url")
CSL_MEDIA_TYPE = "application/vnd.citationstyles.csl+json"
BIBTEX_MEDIA_TYPE = "application/x-bibtex"
# Lists inside one CSV cell (Frage numbers, pages, askers).
LIST_SEPARATOR = "; "
_FILENAME_CHARS = 50
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"})


def filename_slug(text: str) -> str:
    """Return `text` as a short ASCII file name part: "Solaranlagen in Pankow?" -> "solaranlagen-in-pankow"."""
    ascii_text = unicodedata.normalize("NFKD", text.translate(_UMLAUTS)).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:_FILENAME_CHARS].rstrip("-") or "suche"


def _attachment(body, mimetype: str, filename: str):
    response = current_app.response_class(body, content_type=f"{mimetype}; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _askers(askers: list[dict]) -> str:
    return LIST_SEPARATOR.join(
        f"{a['name']} ({a['party']})" if a["name"] and a["party"] else a["name"] or f"Fraktion {a['party']}"
        for a in askers if a["name"] or a["party"])


def csv_row(result: dict) -> dict:
    """Return one CSV row of a result of `results_payload` (its values, lists joined by "; ")."""
    document, cite = result["document"], result["citation"]
    return {
        "rank": result["rank"], "score": result["score"], "chunk_id": result["chunk_id"],
        "drucksache": document["drucksache"] or "", "title": document["title"] or "",
        "numbers": LIST_SEPARATOR.join(result["numbers"]),
        "pages": LIST_SEPARATOR.join(str(p) for p in result["pages"]),
        "answered_on": document["answered_on"] or "", "authority": document["authority"] or "",
        "askers": _askers(document["askers"]), "frage": result["frage"], "antwort": result["antwort"],
        "citation": cite["text"], "url": cite["url"] or "", "page_url": cite["page_url"] or "",
    }


def results_csv(payload: dict) -> str:
    """Return the results of `results_payload` as CSV text: a header row, then one row per result.

    RFC 4180 (comma, CRLF, quoted cells with line breaks), and the answer verbatim in its cell.
    """
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(csv_row(result) for result in payload["results"])
    return out.getvalue()


def _searcher():
    try:
        return get_searcher()
    except QAError as exc:
        raise ApiError(503, "not_ready", f"The search service is not available: {exc}") from exc


def _results():
    ask = parse_ask_parameters(request.args.to_dict(flat=False), current_app.config["QA_SETTINGS"])
    payload = results_payload(ask.question, _searcher().search_request(ask), ask.mode)
    return payload, "senatsantworten-" + filename_slug(ask.question)


def _chunk_and_document(chunk_id: str):
    index = _searcher().index
    try:
        chunk = index.chunk(chunk_id)
        return chunk, index.document(chunk.document_id)
    except NotFoundError as exc:
        raise ApiError(404, "not_found", f"No chunk with id '{shown(chunk_id)}'") from exc


# --- routes -------------------------------------------------------------------------------------------------

@bp.get("/api/ask.csv")
def ask_csv():
    """Download the results of /api/ask?q=… as CSV (UTF-8 with a byte order mark, so that Excel reads umlauts)."""
    payload, name = _results()
    # Excel takes a CSV without a BOM for Windows-1252 and garbles every umlaut; csv, pandas and R skip the BOM
    # when read as utf-8-sig / UTF-8-BOM.
    return _attachment("\ufeff" + results_csv(payload), "text/csv", name + ".csv")


@bp.get("/api/ask.json")
def ask_json():
    """Download the results of /api/ask?q=… as JSON: the API's shape without the timing."""
    payload, name = _results()
    return _attachment(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", "application/json", name + ".json")


@bp.get("/api/chunks/<chunk_id>/citation.csl.json")
def chunk_csl(chunk_id: str):
    """Download one chunk's citation as CSL-JSON (a list with one item, as reference managers import it)."""
    chunk, document = _chunk_and_document(chunk_id)
    body = json.dumps([csl_item(document, chunk)], ensure_ascii=False, indent=2) + "\n"
    return _attachment(body, CSL_MEDIA_TYPE, citation_key(chunk) + ".csl.json")


@bp.get("/api/chunks/<chunk_id>/citation.bib")
def chunk_bibtex(chunk_id: str):
    """Download one chunk's citation as a BibTeX entry."""
    chunk, document = _chunk_and_document(chunk_id)
    return _attachment(bibtex_entry(document, chunk), BIBTEX_MEDIA_TYPE, citation_key(chunk) + ".bib")


@bp.app_template_global()
def export_url(values, file_format: str) -> str:
    """Return the download URL ("csv" or "json") of the results of a search form's values (filled fields only)."""
    params = {name: str(value).strip() for name, value in values.items() if str(value or "").strip()}
    return url_for(f"exports.ask_{file_format}", **params)
