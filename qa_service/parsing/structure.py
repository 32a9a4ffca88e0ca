"""Frage/Antwort markers -> chunks: one chunk per answer, carrying the Fragen it answers.

Two marker families occur: `Frage N:` … `Antwort zu N:` and `N. <question>` … `Zu N.:`. Sub-questions
(`1.1.Welche…`, `a) …`, `a. …`) are questions of their own whose parent heading or stem is repeated in `frage`.
A numbered line only counts as a question when the numbering expects it or an answer marker names it later, so a
date (`12. November`) or a list inside an answer is not mistaken for a Frage.

A `vorbemerkung` chunk holds its heading in `frage` and, for the Senate's remark, the remark in `antwort`; a
remark of the asker (`Vorbemerkung des Abgeordneten`) is part of the question and goes into `frage`.

What a marker line looks like is in markers.py, where the signature block ends in closing.py.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .cleaning import Line, TextStyle, split_paragraphs, join_paragraph
from .closing import is_signature_block, signature_block, split_glued_closings
from .footnotes import Footnote, footnote_pages, render_with_footnotes
from .markers import (ANSWER, FRAGE, LETTER, NUMBERED, VORBEMERKUNG, child_key, child_label, expected_next, has_letter,
                      is_date, label_within, normalise_label, numbered_label, parent_label, parse_labels, top_number,
                      without_letter)
from .vocabulary import CLOSING_START, INTRO

_ASKER_REMARK = re.compile(r"\b(?:des|der)\s+(?:Abgeordneten|Fragestellers|Fragestellerin|Fragesteller)", re.I)
TEXT_CHUNK_CHARS = 1200


# --- events -------------------------------------------------------------------------------------------------

@dataclass
class Event:
    """A marker and the lines that follow it up to the next marker."""

    kind: str  # "question", "answer", "vorbemerkung"
    labels: list[str]
    head: str
    index: int
    lines: list[Line] = field(default_factory=list)
    answered: bool = False  # for questions: an answer (or a parent's answer) carries this question

    @property
    def page(self) -> int:
        return self.lines[0].page if self.lines else 0


@dataclass
class Layout:
    """Where the parts of a document are: letter head before `body`, the closing after it."""

    preamble: list[Line]
    unplaced: list[Line]  # text between the letter's intro and the first marker
    events: list[Event]
    closing: list[Line]  # the final signature block, else the last one cut from between the Fragen
    trailing: list[Line]  # text after the signature block
    intro_found: bool


def find_events(lines: list[Line]) -> Layout:
    """Return the document's layout: preamble, Frage/Antwort/Vorbemerkung events, closing."""
    return _Scanner(split_glued_closings(lines)).scan()


class _Scanner:
    """One read of a document's lines, top to bottom, into events: one method per kind of marker line.

    A first pass finds what the scan needs to know ahead: where the letter head ends, where the final closing
    starts and which Fragen the answer markers name. The scan then remembers how the Fragen so far were numbered.
    """

    def __init__(self, lines: list[Line]):
        self.lines = lines
        self.answers = _answer_lines(lines)  # label -> the lines of the answer markers naming it
        self.uses_frage_markers = any(FRAGE.match(line.text) for line in lines)  # then `1. …` lines are text
        self.intro = _intro_line(lines)  # the letter's `… wie folgt:`; None in an excerpt without letter head
        self.start = self.intro + 1 if self.intro is not None else 0
        self.closing_at = self._closing_line()
        self.events: list[Event] = []
        self.unplaced: list[Line] = []  # text before the first marker
        self.inner_closings: list[list[Line]] = []  # signature blocks between the Fragen (excerpts joining two parts)
        self.seen_question = False
        self.last_question: str | None = None  # the label of the latest Frage
        self.parent: str | None = None  # the number that letter lines (`a) …`) and `Zu a):` belong to
        self.last_letter: dict[str, str] = {}  # number -> the letter of its latest sub-question

    def scan(self) -> Layout:
        """Return the layout of the document, reading each line between the letter head and the closing once."""
        i = self.start
        while i < self.closing_at:
            i = self._read(i)
        closing, trailing = signature_block(self.lines[self.closing_at:])
        if not any(not l.blank for l in closing) and self.inner_closings:
            # An excerpt that ends before its own closing: the block cut from between the Fragen names date and signer.
            closing = self.inner_closings[-1]
        return Layout(preamble=self.lines[:self.start], unplaced=self.unplaced, events=self.events, closing=closing,
                      trailing=trailing, intro_found=self.intro is not None)

    def _read(self, i: int) -> int:
        """Read line i into the events; return the index of the next line to read."""
        line = self.lines[i]
        if not line.blank:
            block = self._inner_closing(i)
            if block:
                # Not the Senate's words about this Frage: cut it, like the final one, and go on with the text after.
                self.inner_closings.append(block)
                return i + len(block)
            if any(read(i) for read in (self._answer, self._frage, self._vorbemerkung, self._numbered, self._letter)):
                return i + 1
        (self.events[-1].lines if self.events else self.unplaced).append(line)  # text of the marker before it
        return i + 1

    def _inner_closing(self, i: int) -> list[Line]:
        """Return the whole signature block that starts at line i, else []."""
        if not CLOSING_START.match(self.lines[i].text):
            return []
        block, _ = signature_block(self.lines[i:self.closing_at])
        return block if is_signature_block(block) else []

    def _answer(self, i: int) -> bool:
        """Read `Zu 2.:`, `Antwort zu Frage 3 a) und b):`; a bare letter (`Zu a):`) belongs to the number in hand."""
        match = ANSWER.match(self.lines[i].text)
        if not match:
            return False
        labels = parse_labels(match.group("labels"), self.parent)
        self._add("answer", labels, match, i)
        if labels:
            self.parent = without_letter(labels[0])
        return True

    def _frage(self, i: int) -> bool:
        """Read `Frage 1:`, `Frage 2 a):`."""
        match = FRAGE.match(self.lines[i].text)
        if not match:
            return False
        label = (parse_labels(match.group("labels")) or [normalise_label(match.group("labels"))])[0]
        self._add_question(label, match, i)
        self.parent = without_letter(label)
        return True

    def _vorbemerkung(self, i: int) -> bool:
        """Read `Vorbemerkung der Verwaltung:` before the first Frage; later the word is text of an answer."""
        match = VORBEMERKUNG.match(self.lines[i].text)
        if not match or self.seen_question or self._in_answer():
            return False
        self._add("vorbemerkung", [], match, i)
        return True

    def _numbered(self, i: int) -> bool:
        """Read `1. Wie viele …`, `1.1 …` when it is a Frage; where `Frage N:` marks the Fragen, it is text."""
        match = None if self.uses_frage_markers else NUMBERED.match(self.lines[i].text)
        if not match or is_date(match):
            return False
        label = numbered_label(match)
        if not self._is_numbered_question(label, i):
            return False
        self._add_question(label, match, i)
        self.parent = without_letter(label)
        if has_letter(label):  # `1.a.`: a following `b) …` is the next sub-question of 1
            self.last_letter[self.parent] = label[-1]
        return True

    def _is_numbered_question(self, label: str, i: int) -> bool:
        """Return True when the numbered line i is Frage `label`, not a count or list item of an answer."""
        answer_at = self._answered_after(label, i)
        if answer_at is not None:
            # The Frage is the last line numbered `label` before its answer: `2. Quartal …` or a list item `3. …` in
            # an earlier answer is not, even when other Fragen and answers stand between it and the real Frage.
            return not any(self._numbered_as(label, j) for j in range(i + 1, min(answer_at, self.closing_at)))
        # Inside an answer an expected number may start a list; a Frage asks something.
        asks = "?" in " ".join(self.lines[j].text for j in range(i, min(i + 3, self.closing_at)))
        if label not in expected_next(self.last_question):
            # An excerpt (no letter head) may start at any Frage: its first numbered line that asks something is one.
            return self.intro is None and not self.seen_question and not self._in_answer() and asks
        return not self._in_answer() or asks

    def _numbered_as(self, label: str, j: int) -> bool:
        """Return True when line j is numbered `label` (and is no date)."""
        match = NUMBERED.match(self.lines[j].text)
        return bool(match) and numbered_label(match) == label and not is_date(match)

    def _letter(self, i: int) -> bool:
        """Read `a) …` as a sub-question of the number in hand, when an answer names it or it is the next letter."""
        match = LETTER.match(self.lines[i].text)
        if not match:
            return False
        letter = match.group("letter")
        owner = self.parent or _owner_from_answers(letter, self.answers)
        if owner is None:
            return False
        label = owner + letter
        previous = self.last_letter.get(owner)
        next_letter = letter == (chr(ord(previous) + 1) if previous else "a")
        named_later = self._answered_after(label, i) is not None
        if not (named_later or (next_letter and not self._in_answer() and self.seen_question)):
            return False
        self._add_question(label, match, i)
        self.last_letter[owner] = letter
        return True

    def _add(self, kind: str, labels: list[str], match: re.Match, i: int) -> None:
        self.events.append(Event(kind, labels, match.group("head"), i, _rest(match, self.lines[i])))

    def _add_question(self, label: str, match: re.Match, i: int) -> None:
        self._add("question", [label], match, i)
        self.last_question, self.seen_question = label, True

    def _in_answer(self) -> bool:
        return bool(self.events) and self.events[-1].kind == "answer"

    def _answered_after(self, label: str, i: int) -> int | None:
        """Return the line of the first answer marker after line i naming `label` or a sub-question of it."""
        found = [j for named, indices in self.answers.items() if named == label or label_within(named, label)
                 for j in indices if j > i]
        return min(found) if found else None

    def _closing_line(self) -> int:
        """Return where the final signature block starts: the first `Berlin, den …` after the last answer marker."""
        last_answer = max((i for indices in self.answers.values() for i in indices), default=-1)
        return next((i for i in range(max(self.start, last_answer + 1), len(self.lines))
                     if CLOSING_START.match(self.lines[i].text)), len(self.lines))


def _answer_lines(lines: list[Line]) -> dict[str, list[int]]:
    """Return, for each label the answer markers name, the lines of those markers."""
    answers: dict[str, list[int]] = {}
    context = None  # the number in hand, for answers naming only a letter (`Zu a):`)
    for i, line in enumerate(lines):
        match = ANSWER.match(line.text)
        if match:
            for label in parse_labels(match.group("labels"), context):
                answers.setdefault(label, []).append(i)
                context = without_letter(label)
            continue
        frage = FRAGE.match(line.text)
        if frage:
            named = parse_labels(frage.group("labels"))
        else:
            numbered = NUMBERED.match(line.text)
            named = [numbered_label(numbered)] if numbered else []
        context = without_letter(named[0]) if named else context
    return answers


def _intro_line(lines: list[Line]) -> int | None:
    """Return the line of the letter's `… beantworte ich Ihre Anfrage wie folgt:`, which ends the letter head."""
    first_marker = next((i for i, line in enumerate(lines) if ANSWER.match(line.text) or FRAGE.match(line.text)
                         or VORBEMERKUNG.match(line.text)), len(lines))
    # a later `wie folgt` is text
    return next((i for i, line in enumerate(lines[:first_marker]) if INTRO.search(line.text)), None)


def _rest(match: re.Match, line: Line) -> list[Line]:
    rest = match.group("rest").strip()
    return [Line(rest, line.page, offset=line.offset + match.start("rest"))] if rest else []


def _owner_from_answers(letter: str, answers: dict) -> str | None:
    owners = {label[:-1] for label in answers if label.endswith(letter) and label[:-1][-1:].isdigit()}
    return owners.pop() if len(owners) == 1 else None


# --- chunks -------------------------------------------------------------------------------------------------

@dataclass
class RawChunk:
    """A chunk before it gets its id: kind, labels, text, pages, and where it starts in the document."""

    kind: str
    numbers: list[str]
    frage: str
    antwort: str
    pages: list[int]
    order: float
    parts: list[Event] = field(default_factory=list, repr=False)  # the questions whose text is in `frage`


def build_chunks(layout: Layout, footnotes: dict[int, Footnote], style: TextStyle, document_id: str
                 ) -> tuple[list[RawChunk], list[str]]:
    """Return the chunks of a document and the warnings about its numbering and unplaced text."""
    warnings: list[str] = []
    questions = [e for e in layout.events if e.kind == "question"]
    if not questions:
        found = [e for e in layout.events if e.kind == "answer"]
        reason = (f"{len(found)} answer markers but no Frage markers" if found
                  else "no Frage/Antwort structure recognised")
        body = layout.unplaced + [l for e in layout.events for l in (_head_line(e), *e.lines)]
        chunks = text_chunks(body, footnotes, style, order=0)
        warnings.append(f"{document_id}: {reason}; kept as {len(chunks)} text chunks")
        chunks += _trailing_chunks(layout, footnotes, style, document_id, warnings)
        return chunks, warnings

    chunks: list[RawChunk] = []
    if any(not l.blank for l in layout.unplaced):
        page = next(l.page for l in layout.unplaced if not l.blank)
        warnings.append(f"{document_id} page {page}: text before the first Frage could not be placed; "
                        f"kept as a text chunk")
        chunks += text_chunks(layout.unplaced, footnotes, style, order=-1)

    seen_labels: dict[str, Event] = {}
    for event in questions:
        label = event.labels[0]
        if label in seen_labels:
            warnings.append(f"{document_id} page {event.page or _first_page(event)}: Frage {label} appears twice")
        seen_labels[label] = event

    for event in layout.events:
        if event.kind == "vorbemerkung":
            chunks.append(_vorbemerkung_chunk(event, footnotes, style))
        elif event.kind == "answer":
            chunks.append(_answer_chunk(event, questions, footnotes, style, document_id, warnings))

    # Sub-questions answered with their parent (`Zu 4.:` for 4a and 4b) join the parent's chunk; a heading whose
    # sub-questions are answered is in each of their chunks.
    covered = [q for q in questions if not q.answered and (
        _answered_ancestor(q, questions) is not None
        or any(_is_descendant(other, q) and other.answered for other in questions))]
    _merge_unanswered_descendants(chunks, questions, footnotes, style)
    for question in covered:
        question.answered = True
    for question in questions:
        if not question.answered:
            warnings.append(f"{document_id} page {_first_page(question)}: Frage {question.labels[0]} has no answer")
            parts = _with_ancestors([question], questions)
            chunks.append(RawChunk("qa", [question.labels[0]], _frage_text(parts, footnotes, style), "",
                                   _pages(parts, footnotes), question.index))

    warnings += numbering_warnings(questions, layout, document_id)
    chunks += _trailing_chunks(layout, footnotes, style, document_id, warnings)
    chunks.sort(key=lambda c: c.order)
    return chunks, warnings


def _head_line(event: Event) -> Line:
    page = event.lines[0].page if event.lines else 1
    return Line(event.head, page)


def _first_page(event: Event) -> int:
    return event.lines[0].page if event.lines else 0


def _trailing_chunks(layout, footnotes, style, document_id, warnings) -> list[RawChunk]:
    if not layout.trailing:
        return []
    warnings.append(f"{document_id} page {layout.trailing[0].page}: text after the signature could not be placed; "
                    f"kept as a text chunk")
    return text_chunks(layout.trailing, footnotes, style, order=10**9)


def _vorbemerkung_chunk(event: Event, footnotes, style) -> RawChunk:
    text = render_with_footnotes(event.lines, footnotes, style)
    pages = sorted({l.page for l in event.lines} | footnote_pages(event.lines, footnotes)) or [_first_page(event)]
    head = event.head.strip()
    if _ASKER_REMARK.search(head):
        frage = head + ("\n" + text if text else "")
        return RawChunk("vorbemerkung", [], frage, "", pages, event.index)
    return RawChunk("vorbemerkung", [], head, text, pages, event.index)


def _answer_chunk(event: Event, questions: list[Event], footnotes, style, document_id, warnings) -> RawChunk:
    matched: list[Event] = []
    for label in event.labels:
        question = _question_for(label, event.index, questions)
        if question is None:
            warnings.append(f"{document_id} page {_first_page(event)}: answer to Frage {label} without a Frage")
            continue
        if question.answered and question not in matched and question.labels[0] == label:
            warnings.append(f"{document_id} page {_first_page(event)}: Frage {label} is answered twice")
        question.answered = True
        if question not in matched:
            matched.append(question)
    parts = _with_ancestors(matched, questions)
    frage = _frage_text(parts, footnotes, style)
    antwort = render_with_footnotes(event.lines, footnotes, style)
    pages = _pages(parts, footnotes) | {l.page for l in event.lines} | footnote_pages(event.lines, footnotes)
    if not pages:
        pages = {_first_page(event)}
    order = min([q.index for q in matched] + [event.index])
    return RawChunk("qa", list(event.labels), frage, antwort, sorted(p for p in pages if p), order, parts)


def _question_for(label: str, before: int, questions: list[Event]) -> Event | None:
    """Return the question an answer marker's label refers to (the latest one before the answer)."""
    candidates = [q for q in questions if q.labels[0] == label and q.index < before]
    unanswered = [q for q in candidates if not q.answered]
    if unanswered:
        return unanswered[-1]
    if candidates:
        return candidates[-1]
    ancestor = parent_label(label)
    while ancestor:  # `Zu 4. a):` where the Frage lists a) and b) inside its text: the Frage is 4
        candidates = [q for q in questions if q.labels[0] == ancestor and q.index < before]
        if candidates:
            return candidates[-1]
        ancestor = parent_label(ancestor)
    later = [q for q in questions if q.labels[0] == label]
    return later[0] if later else None


def _is_descendant(question: Event, ancestor: Event) -> bool:
    return question.index >= ancestor.index and label_within(question.labels[0], ancestor.labels[0])


def _ancestors(question: Event, questions: list[Event]) -> list[Event]:
    found = []
    parent = parent_label(question.labels[0])
    while parent:
        candidates = [q for q in questions if q.labels[0] == parent and q.index < question.index]
        if candidates:
            found.insert(0, candidates[-1])
        parent = parent_label(parent)
    return found


def _with_ancestors(matched: list[Event], questions: list[Event]) -> list[Event]:
    parts: list[Event] = []
    for question in matched:
        for part in _ancestors(question, questions) + [question]:
            if part not in parts:
                parts.append(part)
    return sorted(parts, key=lambda q: q.index)


def _answered_ancestor(question: Event, questions: list[Event]) -> Event | None:
    for ancestor in reversed(_ancestors(question, questions)):
        if ancestor.answered and not any(
                _is_descendant(other, ancestor) and other.answered and other is not question
                and not _is_descendant(question, other) for other in questions):
            return ancestor
    return None


def _merge_unanswered_descendants(chunks: list[RawChunk], questions: list[Event], footnotes, style) -> None:
    """Add sub-questions that have no answer of their own to the chunk that answers their parent."""
    for chunk in chunks:
        parts = chunk.parts
        if not parts:
            continue
        extra = [q for q in questions if q not in parts and any(_is_descendant(q, p) for p in parts)
                 and not any(q in c.parts for c in chunks if c is not chunk)
                 and _answered_ancestor(q, questions) is not None]
        if extra:
            all_parts = sorted(parts + extra, key=lambda q: q.index)
            chunk.frage = _frage_text(all_parts, footnotes, style)
            chunk.pages = sorted(set(chunk.pages) | _pages(extra, footnotes))
            chunk.parts = all_parts


def _frage_text(parts: list[Event], footnotes, style) -> str:
    if len(parts) == 1:
        return render_with_footnotes(parts[0].lines, footnotes, style)
    texts = []
    for part in parts:
        body = render_with_footnotes(part.lines, footnotes, style)
        texts.append(f"{part.head} {body}".strip())
    return "\n".join(texts)


def _pages(parts: list[Event], footnotes) -> set[int]:
    pages: set[int] = set()
    for part in parts:
        pages |= {l.page for l in part.lines if not l.blank}
        pages |= footnote_pages(part.lines, footnotes)
    return pages


def text_chunks(lines: list[Line], footnotes, style: TextStyle, order: int) -> list[RawChunk]:
    """Return `lines` as paragraph-sized chunks of kind `text`."""
    chunks: list[RawChunk] = []
    group: list[list[Line]] = []
    size = 0
    paragraphs = split_paragraphs(lines, style)
    for paragraph in paragraphs:
        length = len(join_paragraph(paragraph, style))
        if group and size + length > TEXT_CHUNK_CHARS:
            chunks.append(_text_chunk(group, footnotes, style, order + len(chunks) / 1000))
            group, size = [], 0
        group.append(paragraph)
        size += length
    if group:
        chunks.append(_text_chunk(group, footnotes, style, order + len(chunks) / 1000))
    return chunks


def _text_chunk(group: list[list[Line]], footnotes, style, order: float) -> RawChunk:
    lines = [line for paragraph in group for line in paragraph]
    text = render_with_footnotes(lines, footnotes, style)
    pages = sorted({l.page for l in lines} | footnote_pages(lines, footnotes))
    return RawChunk("text", [], "", text, pages, order)


# --- numbering checks ---------------------------------------------------------------------------------------

def numbering_warnings(questions: list[Event], layout: Layout, document_id: str) -> list[str]:
    """Return warnings for gaps in the numbering of the Fragen (top level, sub-numbers and letters)."""
    warnings: list[str] = []
    labels = [q.labels[0] for q in questions]
    answer_labels = [l for e in layout.events if e.kind == "answer" for l in e.labels]
    tops = sorted({top_number(l) for l in labels + answer_labels})
    if tops:
        first = 1 if layout.intro_found else tops[0]
        expected = list(range(first, tops[-1] + 1))
        for number in expected:
            if number not in tops:
                after = next((q for q in questions if top_number(q.labels[0]) > number), None)
                page = _first_page(after) if after else 0
                warnings.append(f"{document_id} page {page}: Frage {number} is missing "
                                f"(the numbering jumps over it)")
    children: dict[str, list[str]] = {}
    for label in labels:
        parent = parent_label(label)
        if parent is not None and label not in children.get(parent, []):
            children.setdefault(parent, []).append(label)
    for parent, kids in children.items():
        letters = has_letter(kids[0])
        keys = sorted(child_key(k) for k in kids)
        for previous, current in zip(keys, keys[1:]):
            if current - previous > 1:
                warnings.append(f"{document_id}: sub-questions of Frage {parent} skip from "
                                f"{child_label(parent, previous, letters)} to {child_label(parent, current, letters)}")
    return warnings
