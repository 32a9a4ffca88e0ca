"""Footnotes: take footnote texts out of the running text and mark where they were referenced.

A footnote is only recognised when both halves exist: a marker glued to the end of a word (`Projekt3`,
`werden.“1`, `Berlin“.2`) and, at the bottom of the same or a later page, a line starting with that number
(`1 Nationaler Bildungsbericht …`), numbered in sequence through the document. A number that is not proven to be
a footnote marker this way (`§ 19`, `24 PV-Anlagen`, `NO2`) is never touched.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .cleaning import FOOTNOTE_REF, Line, TextStyle, join_lines

# A footnote text block starts no more than this many lines above the end of its page.
_MAX_FOOTNOTE_LINES = 14
# Digits glued to a word of two or more letters (not an all-caps code like NO2 or A100), or to a closing quote
# or bracket, optionally after a full stop: `Projekt3`, `werden.“1`, `Berlin“.2`.
_MARKER = re.compile(
    r"(?:(?<=[^\W\d_]{2})(?<![A-ZÄÖÜ]{2})|(?<=[“”\"’)])|(?<=[“”\"’)]\.))([1-9]\d?)(?=[\s,;:.)]|$)"
)


@dataclass(frozen=True)
class Footnote:
    """The text of one footnote (its lines, number not included)."""

    number: int
    lines: tuple[Line, ...]


def extract_footnotes(lines: list[Line]) -> tuple[list[Line], dict[int, Footnote]]:
    """Return the lines without footnote texts (markers replaced by references) and the footnotes by number."""
    lines = list(lines)
    footnotes: dict[int, Footnote] = {}
    markers: dict[int, tuple[int, int]] = {}  # number -> (line index, offset) of its marker
    removed: set[int] = set()
    expected = 1
    for page in sorted({line.page for line in lines}):
        indices = [i for i, line in enumerate(lines) if line.page == page]
        start = _block_start(lines, indices, expected)
        if start is None:
            continue
        number, note_lines, note_indices = None, [], []
        for i in [i for i in indices if i >= start and not lines[i].blank]:
            match = re.match(r"^(\d{1,2})\s+(\S.*)$", lines[i].text)
            if match and int(match.group(1)) == expected:
                marker = _find_marker(lines, start, expected)
                if marker is None:
                    break  # not proven a footnote: this line and the rest stay in the running text
                if number is not None:
                    footnotes[number] = Footnote(number, tuple(note_lines))
                    removed.update(note_indices)
                markers[expected] = marker
                number, note_lines, note_indices = expected, [Line(match.group(2), page)], [i]
                expected += 1
            else:
                note_lines.append(lines[i])
                note_indices.append(i)
        if number is not None:
            footnotes[number] = Footnote(number, tuple(note_lines))
            removed.update(note_indices)
    for number, (i, offset) in markers.items():
        text = lines[i].text
        digits = len(str(number))
        lines[i] = Line(f"{text[:offset]}\ue000{number}\ue001{text[offset + digits:]}", lines[i].page)
    return [line for i, line in enumerate(lines) if i not in removed], footnotes


def _block_start(lines: list[Line], indices: list[int], number: int) -> int | None:
    """Return the index where the footnote texts of a page begin, or None when the page has none."""
    filled = [i for i in indices if not lines[i].blank]
    for position, i in enumerate(filled):
        if len(filled) - position > _MAX_FOOTNOTE_LINES:
            continue
        if not re.match(rf"^{number}\s+\S", lines[i].text):
            continue
        if _find_marker(lines, i, number) is not None:
            return i
    return None


def _find_marker(lines: list[Line], before: int, number: int) -> tuple[int, int] | None:
    """Return (line index, char offset) of the last marker `number` before line `before`, at most a page back."""
    page = lines[before].page
    for i in range(before - 1, -1, -1):
        if lines[i].page < page - 1:
            break
        hits = [m for m in _MARKER.finditer(lines[i].text) if int(m.group(1)) == number]
        if hits:
            return i, hits[-1].start(1)
    return None


def render_with_footnotes(lines: list[Line], footnotes: dict[int, Footnote], style: TextStyle) -> str:
    """Return the joined text of `lines` with footnote markers removed and their texts appended as `[n] …`."""
    text = join_lines(lines, style)
    numbers = [int(n) for n in FOOTNOTE_REF.findall(text)]
    text = FOOTNOTE_REF.sub("", text)
    notes = [f"[{n}] {join_lines(list(footnotes[n].lines), style).replace(chr(10), ' ')}"
             for n in numbers if n in footnotes]
    return "\n".join([text] + notes) if notes else text


def footnote_pages(lines: list[Line], footnotes: dict[int, Footnote]) -> set[int]:
    """Return the pages of the footnote texts referenced in `lines`."""
    pages: set[int] = set()
    for line in lines:
        for n in FOOTNOTE_REF.findall(line.text):
            note = footnotes.get(int(n))
            if note:
                pages.update(l.page for l in note.lines)
    return pages
