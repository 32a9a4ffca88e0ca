"""Citation text and link for one answer, German, ready to paste.

Built only from what the document states: a field the document lacks is left out, never guessed.
Example: `Antwort des Senats vom 22.11.2021 auf die Schriftliche Anfrage der Abgeordneten Anne Helm und Niklas
Schrader (LINKE), Drucksache 19/10041, „Delikte der EG Quer: …“, Antwort zu Frage 5 a, S. 3, https://…/S19-10041.pdf`
"""
from __future__ import annotations

import re
from datetime import date

from .documents import Asker, Chunk, Document

_LETTER_SUFFIX = re.compile(r"^(\d+(?:\.\d+)*)\.?([a-z])$")


def german_date(iso: str | None) -> str | None:
    """Return an ISO date as "22.11.2021", or None when it is missing or not a date."""
    if not iso:
        return None
    try:
        return date.fromisoformat(iso).strftime("%d.%m.%Y")
    except ValueError:
        return None


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " und " + items[-1]


def _party_suffix(party: str | None) -> str:
    return f" ({party})" if party else ""


def askers_names(askers: tuple[Asker, ...]) -> str:
    """Return the named askers with their party: "Anne Helm und Niklas Schrader (LINKE)", "A (CDU) und B (SPD)"."""
    named = [a for a in askers if a.name]
    if not named:
        return ""
    # Askers of one party share the party after the last name; of several parties, each gets their own.
    if len({a.party for a in named}) == 1:
        return _join([a.name for a in named]) + _party_suffix(named[0].party)
    return _join([a.name + _party_suffix(a.party) for a in named])


def party_only_askers(askers: tuple[Asker, ...]) -> list[str]:
    """Return the parties of askers known only by their party (no name), each once."""
    return list(dict.fromkeys(a.party for a in askers if not a.name and a.party))


def askers_phrase(askers: tuple[Asker, ...]) -> str:
    """Return who asked, in the genitive: "des Abgeordneten X (P)", "der Abgeordneten A und B (P)", "von Mitgliedern der Fraktion P"; "" when unknown."""
    parts = []
    names = askers_names(askers)
    if names:
        named_count = sum(1 for a in askers if a.name)
        parts.append(("des Abgeordneten " if named_count == 1 else "der Abgeordneten ") + names)
    parties_only = party_only_askers(askers)
    if parties_only:
        noun = "der Fraktion " if len(parties_only) == 1 else "der Fraktionen "
        parts.append("von Mitgliedern " + noun + _join(parties_only))
    return " sowie ".join(parts)


def display_number(number: str) -> str:
    """Return a Frage number as cited in running text: "5a" -> "5 a", "1.1" stays."""
    match = _LETTER_SUFFIX.match(number)
    return f"{match.group(1)} {match.group(2)}" if match else number


def numbers_phrase(numbers: tuple[str, ...]) -> str:
    """Return Frage numbers as cited in running text: ("5a",) -> "5 a", ("6", "7") -> "6 und 7"."""
    return _join([display_number(n) for n in numbers])


def chunk_heading(chunk: Chunk) -> str:
    """Return the heading of a chunk: "Frage 5 a", "Fragen 6 und 7", "Vorbemerkung", "Text"."""
    if chunk.kind == "vorbemerkung":
        return "Vorbemerkung"
    if chunk.kind == "qa" and chunk.numbers:
        noun = "Frage" if len(chunk.numbers) == 1 else "Fragen"
        return f"{noun} {numbers_phrase(chunk.numbers)}"
    return "Text"


def part_phrase(chunk: Chunk) -> str:
    """Return which part of the answer the chunk is: "Antwort zu Frage 5 a", "Antwort zu den Fragen 6 und 7", "Vorbemerkung"."""
    if chunk.kind == "qa" and chunk.numbers:
        return "Antwort zu " + ("den " if len(chunk.numbers) > 1 else "") + chunk_heading(chunk)
    return "Vorbemerkung" if chunk.kind == "vorbemerkung" else ""


def pages_phrase(pages: tuple[int, ...]) -> str:
    """Return "S. 3", "S. 2–3" (a run of pages) or "S. 2, 4" (pages apart); "" without pages."""
    pages = sorted(set(pages))
    if not pages:
        return ""
    if len(pages) > 1 and pages == list(range(pages[0], pages[-1] + 1)):
        return f"S. {pages[0]}–{pages[-1]}"
    return "S. " + ", ".join(str(p) for p in pages)


def citation_text(document: Document, chunk: Chunk) -> str:
    """Return the German citation of `chunk`, ready to paste, built only from fields the document has."""
    head = "Antwort des Senats"
    answered = german_date(document.answered_on)
    if answered:
        head += f" vom {answered}"
    asked = f"auf die {document.doc_type}" if document.doc_type else "auf die Anfrage"
    who = askers_phrase(document.askers)
    if who:
        asked += " " + who
    parts = [f"{head} {asked}"]
    if document.drucksache:
        parts.append(f"Drucksache {document.drucksache}")
    if document.title:
        parts.append("„" + " ".join(document.title.split()) + "“")
    for phrase in (part_phrase(chunk), pages_phrase(chunk.pages)):
        if phrase:
            parts.append(phrase)
    if document.source_url:
        parts.append(document.source_url)
    return ", ".join(parts)


def citation(document: Document, chunk: Chunk) -> dict:
    """Return `{"text": citation text, "url": PDF link or None}` for `chunk`."""
    return {"text": citation_text(document, chunk), "url": document.source_url}
