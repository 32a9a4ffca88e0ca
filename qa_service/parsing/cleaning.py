"""Clean extracted text without changing a word: page furniture out, lines joined into paragraphs.

Cleaning removes what the PDF adds around the text (page numbers, `Seite N von M`, separator lines), rejoins
letter-spaced words (`A n t w o r t`), normalises whitespace and bullets, and joins lines: a line-break hyphen is
removed only where it splits a word (`Ein-` + `bindung`), a real hyphen stays (`Klimaschutz- und`,
`Marzahn-` + `Hellersdorf`, `Covid-19-` + `Bezug`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .vocabulary import DATE_START, MONTH_WORDS

BULLET = "•"
# Private-use glyphs that Symbol/Wingdings bullets become in a text layer.
_PUA_BULLETS = {"\uf0b7": BULLET, "\uf0a7": BULLET, "\uf0d8": BULLET}
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
# Three or more single letters separated by single spaces: a letter-spaced word (`A n t w o r t`, `K l a p p`).
_LETTER_SPACED = re.compile(r"(?<![^\W\d_])(?:[^\W\d_] ){2,}[^\W\d_](?![^\W\d_])")
_PAGE_NUMBER = re.compile(r"^(?:-\s*)?(\d{1,3})(?:\s*-)?$")
_SEITE_N_VON_M = re.compile(r"^Seite\s+\d{1,3}\s+von\s+\d{1,3}$", re.IGNORECASE)
_SEPARATOR = re.compile(r"^[\s_\-–—=.…*·]{5,}$")
# The running head of pages after the first (WP 17/18 layout), in one line or two.
_RUNNING_HEAD = re.compile(
    r"^(?:Abgeordnetenhaus\s+Berlin\s*[–—-]\s*\d{1,2}\.\s*Wahlperiode(?:\s+Drucksache\s+\d{1,2}\s*/\s*\d[\d ]*)?"
    r"|Drucksache\s+\d{1,2}\s*/\s*\d[\d ]*)$"
)
_RUNNING_HEAD_LINES = 3  # a running head stands among the first few lines of a page (after a page number)
_LETTER = r"[^\W\d_]"
# Words after a line-end hyphen that show the hyphen is real (`Klimaschutz- und`), not a word break.
LIST_WORDS = frozenset({"und", "oder", "bzw.", "bzw", "sowie", "als", "wie", "noch", "bis", "u.", "resp."})
_SENTENCE_END = tuple(".:?!“”\")")
# Abbreviations that end a line without ending a sentence (`gem.` + `§ 13`, `16. Nov.` + `2021`).
_ABBREVIATIONS = frozenset(
    "gem. z.b. bzw. abs. nr. ca. u.a. vgl. s. ggf. d.h. i.v.m. dr. st. str. bzgl. inkl. evtl. usw. o.g. u. z. v. "
    "art. lit. ziff. rd. mio. mrd. tsd. std. min. max. e. bspw. sog. insb. zzgl. abzgl. lfd. ff. f. hrsg. "
    "prof. nr.: i.d.r. v.a. u.ä. m.e. i.s.d. i.s.v. lt.".split()
) | {word.lower() for word in MONTH_WORDS if word.endswith(".")}
# Words after which a sentence always goes on (a short line ending in one is not a heading or table cell).
_CONTINUING_WORDS = frozenset(
    "der die das den dem des ein eine einen einem einer am im zum zur vom beim bis für seit ab zu mit von bei nach "
    "auf an in über unter und oder sowie".split()
)
_NUMERIC_TOKEN = re.compile(r"^[(\[]?[-+–]?\d[\d.,/%:–-]*[)\]]?%?$")
_SOURCE_LINE = re.compile(r"^(?:Quelle|Quellen|Stand)\s*:")
BULLET_STARTS = ("•", "▪", "◦", "●", "■", "➢")
# A numbered or lettered list item (`1. Altstadt Spandau,`, `2) …`, `b) …`); a date (`1. Januar 2025`) is not.
_LIST_ITEM = re.compile(r"^(?:\d{1,2}(?:\.\d{1,2})*[.)]|[a-z]\))\s+\S")
# Where a footnote marker stood: private-use brackets around the footnote number (see footnotes.py).
FOOTNOTE_REF = re.compile("\ue000(\\d+)\ue001")


@dataclass(frozen=True)
class Line:
    """One line of text as extracted, with the 1-based PDF page it is on; `text == ""` is a blank line."""

    text: str
    page: int
    offset: int = 0  # characters of the physical line before `text` (a marker like `Frage 1:` that was cut off)
    indented: bool = False  # the physical line started with whitespace (where a list bullet glyph was lost)

    @property
    def blank(self) -> bool:
        """Return True for a line without text."""
        return not self.text


@dataclass(frozen=True)
class TextStyle:
    """What line joining needs to know about the whole document."""

    width: int  # the typical length of a full line
    hyphenated: frozenset[str]  # `X-y` compounds written with a hyphen inside a line somewhere in the document


def normalise_line(text: str) -> str:
    """Return `text` with bullets, invisible characters and runs of whitespace normalised, letter spacing undone."""
    for glyph, bullet in _PUA_BULLETS.items():
        text = text.replace(glyph, bullet)
    text = text.translate(_INVISIBLE)
    text = _SPACES.sub(" ", text).strip()
    return rejoin_letter_spaced(text)


def rejoin_letter_spaced(text: str) -> str:
    """Return `text` with letter-spaced words joined (`Micha K l a p p` -> `Micha Klapp`)."""
    return _LETTER_SPACED.sub(lambda m: m.group(0).replace(" ", ""), text)


def page_lines(pages: list[str]) -> list[Line]:
    """Return the normalised lines of all pages with page numbers, page furniture removed."""
    raw_pages = [page.split("\n") for page in pages]
    per_page = [[normalise_line(raw) for raw in raws] for raws in raw_pages]
    _drop_page_numbers(per_page)
    _drop_running_heads(per_page)
    lines: list[Line] = []
    for page_no, (raws, texts) in enumerate(zip(raw_pages, per_page), start=1):
        for raw, text in zip(raws, texts):
            if text is None:
                continue
            if _SEITE_N_VON_M.match(text) or _SEPARATOR.match(text):
                continue
            lines.append(Line(text, page_no, indented=bool(text) and raw[:1] in (" ", "\t", "\u00a0")))
    return _squeeze_blanks(lines)


def _drop_page_numbers(per_page: list[list[str | None]]) -> None:
    """Blank out lines that are only a page number at the start or end of a page.

    A number counts as a page number only when it follows the page sequence: its offset to the PDF page index
    is the offset most such lines share (the cover sheet is often unnumbered, so the offset is not always 0).
    """
    candidates = []  # (page index, line index, offset)
    for page_index, texts in enumerate(per_page):
        filled = [i for i, t in enumerate(texts) if t]
        for i in (filled[:1] + filled[-1:]) if filled else []:
            match = _PAGE_NUMBER.match(texts[i])
            if match:
                candidates.append((page_index, i, int(match.group(1)) - (page_index + 1)))
    if not candidates:
        return
    offsets = [c[2] for c in candidates]
    best = max(set(offsets), key=lambda o: (offsets.count(o), -abs(o)))
    if len(per_page) > 1 and offsets.count(best) < 2 and len(candidates) > 1:
        return  # no consistent sequence: these are data, not page numbers
    for page_index, i, offset in candidates:
        if offset == best and offset in (-2, -1, 0):
            per_page[page_index][i] = None


def _drop_running_heads(per_page: list[list[str | None]]) -> None:
    """Blank out the running head (`Abgeordnetenhaus Berlin – 17. Wahlperiode Drucksache 17 / 11 016`) of pages 2+.

    Page 1 keeps its lines: there `Drucksache 19 /10 041` is the cover sheet, where the metadata comes from.
    """
    for texts in per_page[1:]:
        filled = [i for i, t in enumerate(texts) if t]
        for i in filled[:_RUNNING_HEAD_LINES]:
            if _RUNNING_HEAD.match(texts[i]):
                texts[i] = None


def _squeeze_blanks(lines: list[Line]) -> list[Line]:
    out: list[Line] = []
    for line in lines:
        if line.blank and (not out or out[-1].blank):
            continue
        out.append(line)
    while out and out[-1].blank:
        out.pop()
    return out


def is_flattened(pages: list[str]) -> bool:
    """Return True when the text was stored with its line breaks flattened to spaces (very long lines)."""
    lengths = [len(line) for page in pages for line in page.split("\n") if line.strip()]
    return bool(lengths) and (max(lengths) > 600 or sum(lengths) / len(lengths) > 250)


# Markers that start a new segment inside flattened text (their own line in the PDF).
_FLAT_BREAK = re.compile(
    r"\s{3,}"
    r"|\s+(?=(?:Antwort\s+zu|Zu)\s+(?:(?:den\s+)?Fragen?\s+)?\d{1,2}(?:\.\d{1,2})*\.?"
    r"(?:\s*[a-z]\)?\.?)?(?:\s*(?:,|und|bis|sowie)\s*(?:\d{1,2}(?:\.\d{1,2})*\.?)?(?:\s*[a-z]\)?\.?)?)*\s*:)"
    r"|\s+(?=Frage\s+\d{1,2}(?:\.\d{1,2})*\.?(?:\s*[a-z]\)?)?\s*:)"
    r"|\s+(?=Berlin,\s+den\s+\d)"
)
_FLAT_PAGE_HEADING = re.compile(r"^\s*(?:#+\s*)?\d{1,3}(?=\s)")


def flattened_lines(pages: list[str]) -> list[Line]:
    """Return lines for flattened text: split at the converter's paragraph gaps and before Frage/Antwort markers."""
    lines: list[Line] = []
    for page_no, page in enumerate(pages, start=1):
        for raw in page.split("\n"):
            # The converter starts each page with its page number (`## 2   Frage 2:`, `2 Zu 3.:`).
            raw = _FLAT_PAGE_HEADING.sub("", raw, count=1)
            raw = raw.replace("**", "")
            for segment in _FLAT_BREAK.split(raw):
                segment = re.sub(r"^#+\s+", "", segment.strip())
                text = normalise_line(segment)
                if text and not _SEPARATOR.match(text):
                    lines.append(Line(text, page_no))
            lines.append(Line("", page_no))
    return _squeeze_blanks(lines)


def text_style(lines: list[Line]) -> TextStyle:
    """Return the typical full line width and the hyphenated compounds of a document."""
    lengths = sorted(len(line.text) for line in lines if len(line.text) >= 25)
    width = lengths[int(len(lengths) * 0.8)] if lengths else 80
    hyphenated = set()
    for line in lines:
        for match in re.finditer(rf"({_LETTER}+)-({_LETTER}+)", line.text):
            hyphenated.add(match.group(0))
    return TextStyle(width=width, hyphenated=frozenset(hyphenated))


def ends_sentence(text: str) -> bool:
    """Return True when `text` ends like the end of a sentence or heading (not an abbreviation or ordinal)."""
    text = FOOTNOTE_REF.sub("", text)
    if not text.endswith(_SENTENCE_END):
        return False
    last = text.rsplit(" ", 1)[-1].lower()
    if last in _ABBREVIATIONS:
        return False
    if re.search(r"(?:^|\s)\d{1,2}\.$", text):  # `am 31.` + `Dezember`: an ordinal, not a sentence end
        return False
    return True


def is_table_row(text: str, style: TextStyle) -> bool:
    """Return True for a line that looks like a row of a flattened table (short, mostly numbers)."""
    tokens = text.split()
    if not tokens:
        return False
    numeric = sum(1 for t in tokens if _NUMERIC_TOKEN.match(t))
    short = len(text) < 0.75 * style.width
    if numeric >= 2 and numeric / len(tokens) >= 0.4:
        return True
    if short and numeric >= 2 and numeric / len(tokens) >= 0.25:
        return True
    return (short and 2 <= len(tokens) <= 8 and bool(_NUMERIC_TOKEN.match(tokens[-1]))
            and not ends_sentence(text))


def _is_list_item(text: str) -> bool:
    return bool(_LIST_ITEM.match(text)) and not DATE_START.match(text)


def _is_bullet(text: str) -> bool:
    return text.startswith(BULLET_STARTS)


def join_pair(left: str, right: str, style: TextStyle) -> str:
    """Return two pieces of one paragraph joined across a line break, removing only a word-break hyphen."""
    if left.endswith("\u00ad"):  # soft hyphen: always a break
        return left[:-1] + right
    if len(left) >= 2 and left.endswith("-") and not left[-2].isspace():
        before = left[-2]
        if before.isalpha() and right[:1].isalpha() and right[:1].islower():
            first_word = right.split(" ", 1)[0].rstrip(",;:")
            if first_word in LIST_WORDS or first_word.rstrip(".") in LIST_WORDS:
                return left + " " + right
            stem = re.search(rf"{_LETTER}+-$", left)
            head = re.match(rf"{_LETTER}+", right)
            if stem and head and (stem.group(0) + head.group(0)) in style.hyphenated:
                return left + right
            return left[:-1] + right
        # `Covid-19-` + `Bezug`, `Anti-Corona-` + `Maßnahmen`, `„Echttatverdächtigen“-` + `Auswertung`
        return left + right
    return left + " " + right


def split_paragraphs(lines: list[Line], style: TextStyle) -> list[list[Line]]:
    """Return `lines` grouped into paragraphs (blank lines dropped), judged by blank lines and layout."""
    paragraphs: list[list[Line]] = []
    current: list[Line] = []
    blank_before = False
    for line in lines:
        if line.blank:
            blank_before = bool(current)
            continue
        if current and _breaks_between(current[-1], line, blank_before, style):
            paragraphs.append(current)
            current = []
        current.append(line)
        blank_before = False
    if current:
        paragraphs.append(current)
    return paragraphs


def join_paragraph(lines: list[Line], style: TextStyle) -> str:
    """Return the lines of one paragraph joined into one line."""
    text = ""
    for line in lines:
        text = join_pair(text, line.text, style) if text else line.text
    return text


def join_lines(lines: list[Line], style: TextStyle) -> str:
    """Return the text of `lines` as paragraphs separated by "\\n", line breaks inside paragraphs joined."""
    return "\n".join(join_paragraph(p, style) for p in split_paragraphs(lines, style))


def _breaks_between(previous_line: Line, line: Line, blank_before: bool, style: TextStyle) -> bool:
    """Return True when a paragraph ends between the physical lines `previous_line` and `line`."""
    previous, text = previous_line.text, line.text
    starts_lower = text[:1].islower()
    if previous.endswith("-") and not previous.endswith(" -") and starts_lower:
        return False
    if _is_bullet(text) or line.indented:
        return True
    if previous.rsplit(" ", 1)[-1] in _CONTINUING_WORDS and not _is_list_item(text):
        return False  # `… ist für den` + `1. Januar 2025 vorgesehen.`: an article or preposition cannot end a line
    if is_table_row(previous, style) or is_table_row(text, style):
        return True
    if _SOURCE_LINE.match(text):
        return True
    if _is_list_item(text) and previous.endswith((",", ";", ":", ".", "?", "!", "“", "\"")):
        return True  # each item of a list inside an answer stays a line of its own
    length = len(previous) + previous_line.offset
    if ends_sentence(previous) and length < 0.8 * style.width:
        return True
    if starts_lower:
        return False  # a sentence goes on (in two-column text even across a blank line)
    if blank_before and ends_sentence(previous):
        return True
    # A very short line without a sentence end, followed by a capitalised line: a heading or a table cell.
    return length < 0.5 * style.width and (previous[-1:].isalnum() or previous.endswith(")"))
