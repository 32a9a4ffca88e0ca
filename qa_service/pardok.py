"""Read the parliament's open-data export (PARDOK XML, one file per Wahlperiode): the answered Anfragen in it.

The export (`https://www.parlament-berlin.de/opendata/pardok-wp19.xml`, documented in
`docs/pardok/Doku_Pardok_XML-Export_v1.1.txt`) lists every Vorgang of a Wahlperiode. An answered Anfrage is a
Vorgang holding a question `Dokument` (DokTyp `SchrAnfr`, in older periods `KlAnfr`) and an answer `Dokument`
(DokTyp `a`, DokTypL `Antwort`) that share one `LokURL`, the combined PDF. A Vorgang is always first listed as
`<VFunktion>delete</VFunktion>` and then again with its current data; one listed only as delete is gone.

The file is tens of MB: it is read as a stream, each Vorgang dropped once read. The DOCTYPE names an external DTD;
expat (xml.etree) never loads external entities, so nothing is fetched.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from .documents import Asker
from .errors import ExportError
from .parsing.metadata import parse_date
from .parties import normalise_party

QUESTION_TYPES = {"SchrAnfr": "Schriftliche Anfrage", "KlAnfr": "Kleine Anfrage"}
# The document id becomes a file name in the corpus: letters, digits, `-` and `_` only.
_DOCUMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_DRUCKSACHE = re.compile(r"^\s*(\d{1,2})\s*/\s*(\d[\d\s]*)$")
_NAMED = re.compile(r"^(?P<name>.*?)\s*\((?P<party>[^()]*)\)\s*$")
_GROUP = re.compile(r"^Fraktion\s+(?:der\s+|des\s+)?(?P<party>.+)$")


@dataclass(frozen=True)
class ExportAnswer:
    """One answered Anfrage as the export describes it."""

    document_id: str
    vorgang: str
    drucksache: str | None
    doc_type: str
    wahlperiode: int | None
    title: str | None
    askers: tuple[Asker, ...]
    asked_on: str | None
    answered_on: str | None
    authority: str | None
    subjects: tuple[str, ...]
    source_url: str

    def sidecar(self) -> dict:
        """Return the sidecar `<id>.json` of this answer: the export's metadata, fields it lacks left out."""
        data = {
            "drucksache": self.drucksache,
            "wahlperiode": self.wahlperiode,
            "doc_type": self.doc_type,
            "title": self.title,
            "askers": [{"name": a.name, "party": a.party} for a in self.askers],
            "asked_on": self.asked_on,
            "answered_on": self.answered_on,
            "authority": self.authority,
            "subjects": list(self.subjects),
            "source_url": self.source_url,
        }
        return {key: value for key, value in data.items() if value not in (None, [])}


@dataclass(frozen=True)
class ExportVorgang:
    """One `Vorgang` record of the export: a delete instruction, or the Vorgang's current answers."""

    vorgang: str
    deleted: bool
    answers: tuple[ExportAnswer, ...] = ()
    unanswered: int = 0
    skipped: tuple[str, ...] = ()


@dataclass
class Export:
    """What an export holds once its deletes are applied."""

    answers: list[ExportAnswer] = field(default_factory=list)
    # Vorgänge listed only as delete: their documents are gone.
    deleted: set[str] = field(default_factory=set)
    # Vorgänge listed with current data: a document of theirs missing from `answers` is gone too.
    current: set[str] = field(default_factory=set)
    unanswered: int = 0
    skipped: list[str] = field(default_factory=list)


def read_export(source) -> Export:
    """Return the answered Anfragen of an export (a path or a binary file object), deletes applied."""
    by_vorgang: dict[str, ExportVorgang] = {}
    deleted: set[str] = set()
    for entry in iter_vorgaenge(source):
        if entry.deleted:
            by_vorgang.pop(entry.vorgang, None)
            deleted.add(entry.vorgang)
        else:
            # A Vorgang listed twice without a delete between keeps its last data.
            by_vorgang[entry.vorgang] = entry
            deleted.discard(entry.vorgang)
    export = Export(deleted=deleted, current=set(by_vorgang))
    seen: set[str] = set()
    for entry in by_vorgang.values():
        export.unanswered += entry.unanswered
        export.skipped += entry.skipped
        for answer in entry.answers:
            if answer.document_id in seen:
                export.skipped.append(f"{entry.vorgang}: {answer.document_id} is listed in another Vorgang too")
                continue
            seen.add(answer.document_id)
            export.answers.append(answer)
    return export


def iter_vorgaenge(source):
    """Yield one ExportVorgang per `Vorgang` of an export (a path or a binary file object), in file order."""
    name = str(source) if isinstance(source, (str, Path)) else getattr(source, "name", "export")
    try:
        events = ET.iterparse(source, events=("start", "end"))
        root = None
        for event, element in events:
            if root is None:
                root = element
                if root.tag != "Export":
                    raise ExportError(f"{name}: not a PARDOK export (root element <{root.tag}>, expected <Export>)")
                continue
            if event == "end" and element.tag == "Vorgang":
                yield _vorgang(element)
                root.clear()  # drop what was read: memory stays flat over a file of tens of MB
        if root is None:
            raise ExportError(f"{name}: empty export")
    except ET.ParseError as exc:
        raise ExportError(f"{name}: not well-formed XML ({exc})") from exc
    except OSError as exc:
        raise ExportError(f"{name}: cannot be read ({exc.strerror or exc})") from exc


def _text(element: ET.Element, tag: str) -> str | None:
    value = element.findtext(tag)
    value = re.sub(r"\s+", " ", value).strip() if value else ""
    return value or None


def _vorgang(element: ET.Element) -> ExportVorgang:
    vnr = _text(element, "VNr") or "(no VNr)"
    if (_text(element, "VFunktion") or "").casefold() == "delete":
        return ExportVorgang(vorgang=vnr, deleted=True)
    documents = element.findall("Dokument")
    answers_by_url = {_text(d, "LokURL"): d for d in documents if _is_answer(d) and _text(d, "LokURL")}
    descriptors = [_text(element, "VSysL")] + [_text(d, ".") for d in element.iterfind("Nebeneintrag/Desk")]
    answers, skipped, unanswered = [], [], 0
    for question in documents:
        kind = _text(question, "DokTyp")
        if kind not in QUESTION_TYPES:
            continue
        url = _text(question, "LokURL")
        answer = answers_by_url.get(url) if url else None
        if answer is None:
            unanswered += 1
            continue
        document_id = _document_id(url)
        if document_id is None:
            skipped.append(f"{vnr}: the PDF address {url!r} does not name a document id")
            continue
        subjects = descriptors + [_text(d, ".") for d in question.iterfind("Desk")]
        drucksache = next(filter(None, (_drucksache(_text(d, tag)) for d in (question, answer)
                                        for tag in ("DokNr", "NrInTyp"))), None)
        wahlperiode = _wahlperiode(_text(question, "Wp") or _text(answer, "Wp"))
        if wahlperiode is None and drucksache:
            wahlperiode = int(drucksache.split("/")[0])  # the Drucksache number starts with the Wahlperiode
        answers.append(ExportAnswer(
            document_id=document_id,
            vorgang=vnr,
            drucksache=drucksache,
            doc_type=QUESTION_TYPES[kind],
            wahlperiode=wahlperiode,
            title=_text(question, "Titel") or _text(answer, "Titel"),
            askers=parse_urheber(_text(question, "Urheber")),
            asked_on=parse_date(_text(question, "DokDat")),
            answered_on=parse_date(_text(answer, "DokDat")),
            authority=_text(answer, "Urheber"),
            subjects=tuple(dict.fromkeys(s for s in subjects if s)),
            source_url=url,
        ))
    return ExportVorgang(vorgang=vnr, deleted=False, answers=tuple(answers), unanswered=unanswered,
                         skipped=tuple(skipped))


def _is_answer(document: ET.Element) -> bool:
    return _text(document, "DokTyp") == "a" or _text(document, "DokTypL") == "Antwort"


def _document_id(url: str) -> str | None:
    """Return the id a PDF address names (`…/SchrAnfr/S19-10006.pdf` -> `S19-10006`), None if it names none."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return None
    path = PurePosixPath(parts.path)
    if path.suffix.lower() != ".pdf" or not _DOCUMENT_ID.match(path.stem):
        return None
    return path.stem


def _drucksache(number: str | None) -> str | None:
    match = _DRUCKSACHE.match(number or "")
    if not match:
        return None
    digits = re.sub(r"\s+", "", match.group(2))
    return f"{int(match.group(1))}/{digits}"


def _wahlperiode(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def parse_urheber(text: str | None) -> tuple[Asker, ...]:
    """Return the askers of an `Urheber` (`Otto, Andreas (Grüne); Helm, Anne (LINKE)`), parties normalised."""
    askers = []
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        match = _NAMED.match(part)
        name, party = (match["name"], match["party"]) if match else (part, None)
        group = _GROUP.match(name)
        if group and party is None:  # `Fraktion der SPD`: the group asked, no member is named
            askers.append(Asker(name=None, party=normalise_party(group["party"])))
            continue
        if "," in name:  # the export writes `Last, First`; the cover sheet and the citation `First Last`
            last, first = (s.strip() for s in name.split(",", 1))
            name = f"{first} {last}".strip()
        askers.append(Asker(name=name or None, party=normalise_party(party)))
    return tuple(askers)
