"""The signature block that closes an answer: where it ends, and the date, signer and authority it names.

A block reads `Berlin, den <date>`, an optional lead (`In Vertretung`), the signer, the authority (over one or more
lines) and sometimes the stamp `(Eingang beim Abgeordnetenhaus am …)`. Flattened text has it all in one line.
A whole block can also stand between the Fragen, where an excerpt joins two parts of an answer.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .cleaning import Line
from .markers import NUMBER, is_marker
from .vocabulary import (AUTHORITY, CLOSING_DATE, CLOSING_START, DATE_START, GLUED_AUTHORITY, RECEIVED,
                         RECEIVED_START, SIGNATURE_AUTHORITY, SIGNATURE_LEAD, continues_authority, parse_date)

# A numbered Frage glued to the end of a flattened signature line (`… Klimaschutz 2. Wie wirkt …`).
_GLUED_QUESTION = re.compile(rf"\s(?={NUMBER}\.\s+[A-ZÄÖÜ„])")
_NAME_WORDS = 8  # a longer line after the date or lead is no signer's name
_SIGNATORY_WORDS = 6  # … and the signatory field takes at most this many words
_AUTHORITY_LINE = 60  # a longer line after the authority is text, not the authority going on
# What signature_block has read so far.
_NOTHING, _DATE, _LEAD, _NAME, _AUTHORITY, _STAMP = range(6)


@dataclass(frozen=True)
class Signature:
    """What a signature block names; the authority is left as lines, for metadata to read like the letter head's."""

    answered_on: str | None
    answered_received_on: str | None
    signatory: str | None
    authority_lines: list[Line]


def split_glued_closings(lines: list[Line]) -> list[Line]:
    """Return `lines` with a numbered Frage that follows a flattened signature line in the same line split off."""
    out: list[Line] = []
    for line in lines:
        authority = GLUED_AUTHORITY.search(line.text) if CLOSING_START.match(line.text) else None
        glued = _GLUED_QUESTION.search(line.text, authority.end()) if authority else None
        if glued and not DATE_START.match(line.text[glued.end():]):
            out.append(Line(line.text[:glued.start()], line.page, line.offset, line.indented))
            out.append(Line(line.text[glued.end():], line.page, line.offset + glued.end()))
        else:
            out.append(line)
    return out


def signature_block(lines: list[Line]) -> tuple[list[Line], list[Line]]:
    """Return the signature block at the start of `lines` (date, name, authority, Eingang) and the text after it."""
    if not lines:
        return [], []
    filled = [i for i, line in enumerate(lines) if not line.blank]
    end = 0  # index after the last line of the signature block
    glued_authority_ends = False
    read = _NOTHING
    for i in filled:
        text = lines[i].text
        if read == _AUTHORITY and glued_authority_ends and not RECEIVED_START.match(text):
            break  # the authority was the end of a flattened signature line: what follows is text
        glued = GLUED_AUTHORITY.search(text)
        if read == _NOTHING:
            read, end = _DATE, i + 1
        elif is_marker(text):
            break  # the next Frage or answer: the signature block ended before it
        elif RECEIVED_START.match(text):
            read, end = _STAMP, i + 1
        elif read == _DATE and SIGNATURE_LEAD.match(text):
            read, end = _LEAD, i + 1
        elif read in (_DATE, _LEAD) and not SIGNATURE_AUTHORITY.match(text) and len(text.split()) <= _NAME_WORDS:
            read, end = _NAME, i + 1
        elif read in (_DATE, _LEAD, _NAME) and SIGNATURE_AUTHORITY.match(text):
            read, end = _AUTHORITY, i + 1
        elif read == _AUTHORITY and len(text) < _AUTHORITY_LINE and (
                not text.endswith((".", "?", ":")) or continues_authority(lines[end - 1].text, text)
                or text[:1].islower()):
            end = i + 1  # a short line goes on with the authority unless it ends like a sentence of its own
        else:
            break
        if glued and end == i + 1:
            read = _AUTHORITY
            glued_authority_ends = not text.endswith((",", "für", "und", "-"))
    return lines[:end], [line for line in lines[end:] if not line.blank]


def is_signature_block(block: list[Line]) -> bool:
    """Return True for `Berlin, den <date>` + `In Vertretung`/`Im Auftrag` + name + authority (a whole closing)."""
    texts = [l.text for l in block if not l.blank]
    if not texts:
        return False
    date = CLOSING_DATE.match(texts[0])
    if not date:
        return False
    after_date = ([texts[0][date.end():]] if texts[0][date.end():] else []) + texts[1:]
    return (bool(after_date) and bool(SIGNATURE_LEAD.match(after_date[0]))
            and any(SIGNATURE_AUTHORITY.match(t) or GLUED_AUTHORITY.search(t) for t in after_date))


def read_signature(block: list[Line]) -> Signature:
    """Return the date, Eingang date, signer and authority lines of a signature block (None where it has none)."""
    lines = [l for l in block if not l.blank and not re.match(r"^[.…_\s]+$", l.text)]
    if not lines:
        return Signature(None, None, None, [])
    answered_on = answered_received_on = signatory = None
    rest = lines[1:]
    match = CLOSING_DATE.match(lines[0].text)
    if match:
        answered_on = parse_date(match["date"])
        # flattened text: `Berlin, den 25. November 2021 In Vertretung Martin Matz Senatsverwaltung …` in one line
        rest = _remainder(lines[0], match.end()) + rest
    for line in lines:
        match = re.search(RECEIVED, line.text)
        if match:
            answered_received_on = parse_date(match["received"])
    match = SIGNATURE_LEAD.match(rest[0].text) if rest else None
    if match:
        rest = _remainder(rest[0], match.end()) + rest[1:]
    if rest and not AUTHORITY.match(rest[0].text) and not rest[0].text.startswith("("):
        authority = GLUED_AUTHORITY.search(rest[0].text)
        name = rest[0].text[:authority.start() if authority else None].strip()
        if name and len(name.split()) <= _SIGNATORY_WORDS:
            signatory = name
        rest = _remainder(rest[0], len(name)) + rest[1:]
    return Signature(answered_on, answered_received_on, signatory, rest)


def _remainder(line: Line, start: int) -> list[Line]:
    """Return the text of `line` after `start` as a line of its own (none if nothing follows)."""
    text = line.text[start:].strip()
    return [Line(text, line.page)] if text else []
