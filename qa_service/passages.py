"""What text represents a chunk: for the embedder (one or several vectors per chunk) and for BM25.

Kept in one place so the choice can be measured and changed without touching the index or the search
(`scripts/tune_search.py` compares the alternatives). Only what is embedded or indexed changes here; what is shown
and quoted is always the chunk's verbatim text.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from .documents import Chunk, Document


class Passage(NamedTuple):
    """One embedded text of a chunk (one vector row) and which side of the model embeds it."""

    text: str
    # The title + Frage view is a question, so it is embedded as the user's question is (e5's "query: " prefix, as
    # its authors advise for matching a text to a text of its own kind): question against question instead of
    # question against passage. On the development set that lifted hybrid R@1 on the tuning part from .798 to .807
    # and on the report part from .804 to .835, at no cost (README "Evaluation").
    as_question: bool = False

# Standard sentences of the Senate's answers that say nothing about the topic ("the Senate asked the district for
# a statement"). They recur in thousands of answers; left in, they pull every answer that has them towards any
# question about responsibility or districts. Matched on whitespace-collapsed text, case ignored.
BOILERPLATE = tuple(re.compile(pattern, re.IGNORECASE) for pattern in (
    r"betrifft Sachverhalte, die der Senat nicht .{0,60}eigener Zuständigkeit und Kenntnis beantworten kann",
    r"\bgleichwohl bemüht, Ihnen eine Antwort",
    r"\bum (eine )?Stellungnahme gebeten\b",
    r"\b(Sie|Diese|Die Stellungnahme|Die Antwort) (wird|werden|ist|sind) .{0,60}wiedergegeben\W*$",
    r"\bin eigener Verantwortung erstellt und dem Senat übermittelt",
    r"^Im Namen des Senats von Berlin beantworte ich",
))

_SENTENCE = re.compile(r"(?<=[.!?:])\s+(?=[„\"(]?[A-ZÄÖÜ0-9])")
_LINE_HYPHEN = re.compile(r"(?<=\w)-\s*\n\s*(?=[a-zäöüß])")


def _sentences(text: str) -> list[str]:
    text = _LINE_HYPHEN.sub("", text)
    return [s for s in _SENTENCE.split(" ".join(text.split())) if s]


def is_boilerplate(sentence: str) -> bool:
    """Return True when `sentence` is one of the Senate's standard sentences that carry no topic."""
    flat = " ".join(_LINE_HYPHEN.sub("", sentence).split())
    return any(pattern.search(flat) for pattern in BOILERPLATE)


def without_boilerplate(text: str) -> str:
    """Return `text` (whitespace collapsed) without its standard boilerplate sentences."""
    return " ".join(s for s in _sentences(text) if not is_boilerplate(s))


def _content(text: str) -> str:
    # A text that is nothing but boilerplate (a Vorbemerkung saying the district was asked) keeps it: then it is
    # what the chunk is about, and a question about who answered should find it.
    return without_boilerplate(text) or text.strip()


def passage_texts(document: Document, chunk: Chunk) -> list[Passage]:
    """Return the texts embedded for `chunk`; each becomes one vector row pointing at the chunk.

    Three views: title + Frage + Antwort, title + Frage (embedded as a question), and the Antwort alone. The title
    puts a terse Frage ("Wie viele davon …?") in its topic; the Antwort alone matches questions about one of its
    details. The search scores a chunk by its best view plus the mean of its views (scripts/tune_views.py measured
    the alternatives). A text that two views share is embedded once, as the first of them.
    """
    both, frage, antwort = passage_views(document, chunk)
    views = {}
    for text, as_question in ((both, False), (frage, True), (antwort, False)):
        if text.strip():
            views.setdefault(text, Passage(text, as_question))
    return list(views.values()) or [Passage(" ".join((document.title or "").split()) or chunk.chunk_id)]


def passage_views(document: Document, chunk: Chunk) -> tuple[str, str, str]:
    """Return the three views of `chunk` (title + Frage + Antwort, title + Frage, Antwort), empty ones included."""
    title = " ".join((document.title or "").split())
    frage, antwort = _content(chunk.frage), _content(chunk.antwort)
    both = "\n".join(p for p in (frage, antwort) if p)
    return (f"{title}\n{both}" if title else both, f"{title}\n{frage}" if title and frage else frage, antwort)


def lexical_text(document: Document, chunk: Chunk) -> str:
    """Return the text BM25 indexes for `chunk`: Frage, Antwort and the document's citation fields.

    Title, Drucksache, askers and their parties, the answering Senatsverwaltung and its signatory, the kind of Anfrage and the year
    of the answer are added to every chunk, so that a keyword query or a journalist's sentence naming them ("die
    Anfrage der Linken 2012", "19/10041") reaches the document's chunks; within a document Frage and Antwort decide.
    """
    parts = [_content(chunk.frage), _content(chunk.antwort), document.title or ""]
    # "Drucksache" goes with the number into every chunk, so that the word itself scores nothing.
    parts.append(f"Drucksache {document.drucksache}" if document.drucksache else "")
    parts.extend(a.name for a in document.askers if a.name)
    parts.extend(dict.fromkeys(a.party for a in document.askers if a.party))
    parts.append(document.authority or "")
    parts.append(document.signatory or "")
    parts.append(document.doc_type or "")
    parts.append((document.answered_on or "")[:4])
    return "\n".join(p for p in parts if p)
