"""Citation text and links for one answer, German, ready to paste; the same reference as CSL-JSON and BibTeX.

Built only from what the document states: a field the document lacks is left out, never guessed.
Example: `Antwort des Senats vom 22.11.2021 auf die Schriftliche Anfrage der Abgeordneten Anne Helm und Niklas
Schrader (LINKE), Drucksache 19/10041, „Delikte der EG Quer: …“, Antwort zu Frage 5 a, S. 3, https://…/S19-10041.pdf`
"""
from __future__ import annotations

import re
from datetime import date

from .documents import Asker, Chunk, Document

_LETTER_SUFFIX = re.compile(r"^(\d+(?:\.\d+)*)\.?([a-z])$")


def _iso_date(iso: str | None) -> date | None:
    try:
        return date.fromisoformat(iso) if iso else None
    except ValueError:
        return None


def german_date(iso: str | None) -> str | None:
    """Return an ISO date as "22.11.2021", or None when it is missing or not a date."""
    day = _iso_date(iso)
    return day.strftime("%d.%m.%Y") if day else None


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


def page_url(document: Document, chunk: Chunk) -> str | None:
    """Return the PDF link that opens at the chunk's first page (`…pdf#page=3`, RFC 3778); None without a link."""
    if not document.source_url:
        return None
    url = document.source_url.split("#", 1)[0]
    return f"{url}#page={min(chunk.pages)}" if chunk.pages else url


def citation(document: Document, chunk: Chunk) -> dict:
    """Return `{"text": citation text, "url": PDF link, "page_url": PDF link at the chunk's page}` for `chunk`.

    The text keeps the plain document link: a citation names the document, the page is in "S. 3".
    """
    return {"text": citation_text(document, chunk), "url": document.source_url,
            "page_url": page_url(document, chunk)}


# --- the same reference for reference managers (Zotero, Citavi, BibTeX) ---------------------------------------

PUBLISHER = "Abgeordnetenhaus Berlin"
PUBLISHER_PLACE = "Berlin"
# CSL 1.0.2 Appendix III: "report" is "a technical report, government report, white paper, brief, or similar work
# distributed by an institution"; "legislation" is "a law or resolution enacted by a governing body", which an
# answer to a parliamentary question is not.
CSL_TYPE = "report"
_BIBTEX_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
# What LaTeX reads as markup. Braces become commands, not \{ and \}: BibTeX counts every brace, escaped or not.
_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "{": r"\textbraceleft{}", "}": r"\textbraceright{}",
                  "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "^": r"\textasciicircum{}",
                  "~": r"\textasciitilde{}"}
_BIBTEX_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]+")


def _page_range(pages: tuple[int, ...], dash: str) -> str | None:
    """Return "3", "2{dash}4" for a run of pages, "2, 4" for pages apart; None without pages."""
    pages = sorted(set(pages))
    if not pages:
        return None
    if pages == list(range(pages[0], pages[-1] + 1)):
        return str(pages[0]) if len(pages) == 1 else f"{pages[0]}{dash}{pages[-1]}"
    return ", ".join(str(p) for p in pages)


def csl_item(document: Document, chunk: Chunk) -> dict:
    """Return the chunk's reference as one CSL-JSON item (the answering Senatsverwaltung as author)."""
    item = {"id": chunk.chunk_id, "type": CSL_TYPE, "language": "de", "publisher": PUBLISHER,
            "publisher-place": PUBLISHER_PLACE}
    if document.title:
        item["title"] = " ".join(document.title.split())
    if document.authority:
        # A literal name: an institution has no family and given name to be inverted or abbreviated.
        item["author"] = [{"literal": document.authority}]
    issued = _iso_date(document.answered_on)
    if issued:
        item["issued"] = {"date-parts": [[issued.year, issued.month, issued.day]]}
    if document.doc_type:
        item["genre"] = document.doc_type
    if document.drucksache:
        item["number"] = document.drucksache
    if document.source_url:
        item["URL"] = document.source_url
    pages = _page_range(chunk.pages, "-")
    if pages:
        item["page"] = pages
    if part_phrase(chunk):
        item["section"] = part_phrase(chunk)
    return item


def latex_escape(text: str) -> str:
    """Return `text` with every character LaTeX reads as markup written as a command; whitespace collapsed."""
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in " ".join(text.split()))


def citation_key(chunk: Chunk) -> str:
    """Return the chunk id as a BibTeX key and file name ("S19-10041#5a" -> "S19-10041_5a")."""
    return _BIBTEX_KEY_UNSAFE.sub("_", chunk.chunk_id).strip("_") or "antwort"


def bibtex_entry(document: Document, chunk: Chunk) -> str:
    """Return the chunk's reference as one BibTeX @techreport entry (UTF-8; biblatex reads `date` and `langid`)."""
    lines = []

    def add(name: str, value: str, braced: bool = True) -> None:
        lines.append(f"  {name} = {{{value}}}," if braced else f"  {name} = {value},")

    if document.authority:
        # Double braces: a corporate author, not "Inneres, Senatsverwaltung für".
        add("author", "{" + latex_escape(document.authority) + "}")
    # Double braces keep the German capitalisation that styles would otherwise lowercase.
    title = document.title or (f"Drucksache {document.drucksache}" if document.drucksache else document.document_id)
    add("title", "{" + latex_escape(title) + "}")
    add("institution", latex_escape(PUBLISHER))
    add("address", latex_escape(PUBLISHER_PLACE))
    if document.doc_type:
        add("type", latex_escape(document.doc_type))
    if document.drucksache:
        add("number", latex_escape(document.drucksache))
    issued = _iso_date(document.answered_on)
    if issued:
        add("year", str(issued.year))
        add("month", _BIBTEX_MONTHS[issued.month - 1], braced=False)  # a macro: styles print it in their language
        add("date", issued.isoformat())
    pages = _page_range(chunk.pages, "--")
    if pages:
        add("pages", pages)
    if part_phrase(chunk):
        add("note", latex_escape(part_phrase(chunk)))
    if document.source_url:
        # url is read verbatim; only a brace could end the field early.
        add("url", document.source_url.replace("{", "%7B").replace("}", "%7D"))
    add("langid", "ngerman")
    return f"@techreport{{{citation_key(chunk)},\n" + "\n".join(lines) + "\n}\n"
