"""Citation metadata from the cover sheet, the letter head and the closing; a sidecar JSON completes or overrides it.

Every field is read from the document's own text (or its sidecar); what neither gives stays None. The closing's
date, signer and authority lines come from closing.py; the authority is read here, as in the letter head.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from ..documents import Asker
from ..errors import DocumentReadError
from ..parties import normalise_party
from .cleaning import Line, TextStyle, join_paragraph
from .closing import read_signature
from .vocabulary import AUTHORITY, DATE, INTRO, RECEIVED, continues_authority, parse_date

PARDOK_BASE = "https://pardok.parlament-berlin.de/starweb/adis/citat/VT"
_DOC_TYPE = re.compile(r"\b(Schriftliche|Kleine|Mündliche|Große|Dringliche)\s+Anfrage\b")
SIDECAR_FIELDS = ("drucksache", "wahlperiode", "doc_type", "title", "askers", "asked_on", "asked_received_on",
                  "answered_on", "answered_received_on", "authority", "signatory", "subjects", "source_url")


def normalise_drucksache(wp: str, number: str) -> str:
    """Return a Drucksache number without the spaces of the print layout (`19 /10 041` -> `19/10041`)."""
    digits = re.sub(r"\s+", "", number)
    return f"{int(wp)}/{digits}"


def pardok_url(drucksache: str | None, doc_type: str | None, wahlperiode: int | None) -> str | None:
    """Return the PARDOK PDF address of an answer, or None when Drucksache or type do not determine it."""
    if not drucksache or not doc_type:
        return None
    match = re.match(r"^(\d{1,2})/(\d{1,5})$", drucksache)
    if not match:
        return None
    wp, number = int(match.group(1)), int(match.group(2))
    if wahlperiode is not None and wahlperiode != wp:
        return None
    if doc_type == "Schriftliche Anfrage" and wp == 19:
        return f"{PARDOK_BASE}/19/SchrAnfr/S19-{number:05d}.pdf"
    if doc_type == "Schriftliche Anfrage" and wp in (17, 18):
        return f"{PARDOK_BASE}/{wp}/SchrAnfr/s{wp}-{number:05d}.pdf"
    if doc_type == "Kleine Anfrage" and wp == 17:
        return f"{PARDOK_BASE}/17/KlAnfr/ka17-{number:05d}.pdf"
    return None


# Where the parts of a letter head begin; a converter that flattened the line breaks glued them into one line.
_LETTER_HEAD_PART = re.compile(
    r"\s+(?=(?:Herrn|Frau)\s+Abgeordnete|über\s+(?:den|die)\s+Präsident|über\s+Senatskanzlei|A n t w o r t\b|"
    r"Antwort\s+auf\s+die\b|Im\s+Namen\s+des\s+Senats|_{5,})"
    rf"|(?<=\d{{4}})\s+(?=über\s)|(?<=_{{5}})\s+"
)
_FLATTENED_LINE = 200  # a letter-head line longer than this was flattened


def _unflatten(lines: list[Line]) -> list[Line]:
    """Return letter-head lines split where a flattening converter glued its parts together."""
    out: list[Line] = []
    for line in lines:
        if len(line.text) <= _FLATTENED_LINE:
            out.append(line)
            continue
        out += [Line(part.strip(), line.page) for part in _LETTER_HEAD_PART.split(line.text)
                if part and part.strip() and not re.fullmatch(r"[_\s]+", part)]
    return out


def extract_metadata(preamble: list[Line], closing: list[Line], style: TextStyle) -> dict:
    """Return the metadata fields found in the cover sheet + letter head (`preamble`) and the signature block."""
    lines = _unflatten([l for l in preamble if not l.blank])
    text = "\n".join(l.text for l in lines)
    meta: dict = {}
    match = re.search(r"Drucksache\s+(\d{1,2})\s*/\s*(\d[\d ]{0,7}\d|\d)(?!\d)", text)
    if not match:
        match = re.search(r"Anfrage\s+Nr\.\s*(\d{1,2})\s*/\s*(\d[\d ]{0,7}\d|\d)(?!\d)", text)
    if match:
        meta["drucksache"] = normalise_drucksache(match.group(1), match.group(2))
    match = re.search(r"\b(\d{1,2})\.\s*Wahlperiode", text)
    if match:
        meta["wahlperiode"] = int(match.group(1))
    elif meta.get("drucksache"):
        meta["wahlperiode"] = int(meta["drucksache"].split("/")[0])  # the Drucksache number starts with the WP
    match = _DOC_TYPE.search(text)
    if match:
        meta["doc_type"] = match.group(0).replace("\n", " ")
    meta["title"] = _title(lines, style)
    meta["askers"] = _askers(lines, style)
    match = re.search(rf"(?<!Antwort )vom\s+(?P<date>{DATE})\s*{RECEIVED}", text)
    if match:
        meta["asked_on"], meta["asked_received_on"] = parse_date(match["date"]), parse_date(match["received"])
    else:
        match = re.search(rf"Anfrage\s+Nr\.[^\n]*\n?\s*vom\s+(?P<date>{DATE})", text)
        if match:
            meta["asked_on"] = parse_date(match["date"])
    match = re.search(rf"Antwort\s+vom\s+(?P<date>{DATE})\s*{RECEIVED}", text)
    if match:
        meta["answered_on"], meta["answered_received_on"] = parse_date(match["date"]), parse_date(match["received"])
    meta["authority"] = _authority(lines, style)
    signature = read_signature(closing)
    closing_meta = {"answered_on": signature.answered_on, "answered_received_on": signature.answered_received_on,
                    "signatory": signature.signatory, "authority": _authority(signature.authority_lines, style)}
    for key, value in closing_meta.items():
        if value and not meta.get(key):
            meta[key] = value
    return {k: v for k, v in meta.items() if v not in (None, [], "")}


def _title(lines: list[Line], style: TextStyle) -> str | None:
    texts = [l.text for l in lines]
    for i, text in enumerate(texts):
        match = re.match(r"^zum\s+Thema\s*:\s*(.*)$", text)
        if match:
            parts = [Line(match.group(1), 0)] if match.group(1) else []
            for line in lines[i + 1:]:
                if re.match(r"^und\s+Antwort\s+vom", line.text):
                    break
                parts.append(line)
            title = join_paragraph([p for p in parts if p.text], style)
            return _clean_title(title)
    # WP 17 cover sheet: `vom DATE (Eingang … am DATE) und Antwort`, then the title up to the letter's intro.
    for i, text in enumerate(texts):
        if re.search(r"\)\s*und\s+Antwort$", text):
            parts = []
            for line in lines[i + 1:]:
                if re.match(r"^(?:Im Namen|Namens|Senatsverwaltung|Senatskanzlei)", line.text) or \
                        INTRO.search(line.text):
                    break
                parts.append(line)
            if parts:
                return _clean_title(join_paragraph(parts, style))
    # No cover sheet: the letter says `… Anfrage Nr. 19/10041 vom … über TITLE`.
    for i, text in enumerate(texts):
        if re.match(r"^über\s+(?!den\s+Präsident|die\s+Präsident|Senatskanzlei)", text) and i > 0 and (
                re.search(r"\bvom\b|Anfrage", texts[i - 1])):
            parts = [Line(text[len("über"):].strip(), 0)]
            for line in lines[i + 1:]:
                if re.match(r"^(Im Namen|Namens)", line.text) or INTRO.search(line.text):
                    break
                parts.append(line)
            return _clean_title(join_paragraph(parts, style))
    return None



def _clean_title(title: str) -> str | None:
    title = re.sub(r"\s+", " ", title).strip()
    return title or None


def _run_from(texts: list[str], start: str, stop: str) -> str | None:
    """Return the first line matching `start` joined with the lines after it, up to one matching `stop`."""
    for i, text in enumerate(texts):
        if re.match(start, text):
            parts = [text]
            for following in texts[i + 1:]:
                if re.match(stop, following):
                    break
                parts.append(following)
            return " ".join(parts)
    return None


def _askers(lines: list[Line], style: TextStyle) -> list[Asker]:
    texts = [l.text for l in lines]
    cover = _run_from(texts, r"^(?:des|der)\s+Abgeordneten\b", r"^(?:vom|zum Thema)\b")
    if cover:
        return parse_askers(re.sub(r"^(?:des|der)\s+Abgeordneten\s+", "", cover))
    # No cover sheet: the letter's address (`Herrn Abgeordneten NAME (PARTEI)`).
    address = _run_from(texts, r"^(?:Herrn|Frau)\s+Abgeordnete", r"^(?:über|An\b|den\b|die\b)")
    if address:
        return parse_askers(re.sub(r"\b(?:Herrn|Frau)\s+Abgeordneten?\s+", "", address))
    return []


def parse_askers(text: str) -> list[Asker]:
    """Return the askers of `Anne Helm und Niklas Schrader (LINKE)` or `A (CDU) und B (SPD)`."""
    askers: list[Asker] = []
    for names, party in re.findall(r"([^()]+?)\s*\(([^()]+)\)", text):
        names = re.sub(r"^\s*(?:,|und)\s+", "", names)
        for name in re.split(r"\s*,\s*|\s+und\s+", names):
            name = name.strip()
            if name:
                askers.append(Asker(name=name, party=party.strip()))
    return askers


def _authority(lines: list[Line], style: TextStyle) -> str | None:
    for i, line in enumerate(lines):
        if AUTHORITY.match(line.text):
            parts = [line]
            for following in lines[i + 1:]:
                previous = parts[-1].text
                if continues_authority(previous, following.text):
                    parts.append(following)
                else:
                    break
            return _clean_title(join_paragraph(parts, style))
    return None


def read_sidecar(path: Path) -> dict:
    """Return the metadata of the sidecar `<stem>.json` beside `path` (empty if there is none)."""
    sidecar = path.with_suffix(".json")
    if sidecar == path or not sidecar.is_file():
        return {}
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DocumentReadError(f"{sidecar}: invalid sidecar JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise DocumentReadError(f"{sidecar}: sidecar must be a JSON object")
    unknown = sorted(set(data) - set(SIDECAR_FIELDS))
    if unknown:
        raise DocumentReadError(f"{sidecar}: unknown sidecar field(s) {', '.join(unknown)}; "
                                f"allowed: {', '.join(SIDECAR_FIELDS)}")
    values = dict(data)
    if "askers" in values:
        askers = values["askers"] or []
        if not isinstance(askers, list) or not all(isinstance(a, dict) and set(a) <= {"name", "party"}
                                                    for a in askers):
            raise DocumentReadError(f"{sidecar}: askers must be a list of {{\"name\", \"party\"}} objects")
        values["askers"] = [Asker(name=a.get("name"), party=a.get("party")) for a in askers]
    if "subjects" in values:
        subjects = values["subjects"] or []
        if not isinstance(subjects, list) or not all(isinstance(s, str) for s in subjects):
            raise DocumentReadError(f"{sidecar}: subjects must be a list of strings")
        values["subjects"] = tuple(subjects)
    if "wahlperiode" in values and values["wahlperiode"] is not None and not isinstance(values["wahlperiode"], int):
        raise DocumentReadError(f"{sidecar}: wahlperiode must be an integer")
    for key in ("asked_on", "asked_received_on", "answered_on", "answered_received_on"):
        value = values.get(key)
        if value is not None and not re.match(r"^\d{4}-\d{2}-\d{2}$", str(value)):
            raise DocumentReadError(f"{sidecar}: {key} must be an ISO date YYYY-MM-DD")
    return values


# Fields a sidecar may hold that the cover sheet never gives (the PDF address is derived, not read).
_NOT_ON_COVER = ("source_url", "subjects")


def sidecar_disagreements(document, sidecar: dict) -> list[str]:
    """Return one warning per field where the sidecar and the cover sheet both give a value and they differ."""
    warnings = []
    for key, value in sidecar.items():
        cover = getattr(document, key, None)
        if key in _NOT_ON_COVER or value in (None, "", [], ()) or cover in (None, "", ()):
            continue
        if _comparable(key, value) != _comparable(key, cover):
            warnings.append(f"{document.document_id}: sidecar and cover sheet disagree on {key}: "
                            f"{_shown(value)!r} (sidecar, kept) vs {_shown(cover)!r} (cover sheet)")
    return warnings


# Typography the text layer and the parliament's database write differently: dashes and quote marks.
_TYPOGRAPHY = str.maketrans({"–": "-", "—": "-", "‐": "-", "„": '"', "“": '"', "”": '"', "‚": "'", "‘": "'",
                             "’": "'"})


def _comparable(key: str, value):
    """Return `value` without differences of mere spelling: spaces, dashes, quotes, Drucksache layout, parties."""
    if key == "askers":
        return [(_comparable("name", a.name or ""), normalise_party(a.party)) for a in value]
    if key == "drucksache":
        return re.sub(r"\s+", "", str(value))
    if isinstance(value, str):
        return re.sub(r"\s+", " ", value.translate(_TYPOGRAPHY)).strip()
    return value


def _shown(value) -> str:
    if isinstance(value, (list, tuple)):
        return "; ".join(f"{a.name or ''} ({a.party})" if a.party else (a.name or "") for a in value)
    return str(value)
