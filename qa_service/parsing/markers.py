"""Marker lines and the grammar of the Frage labels they carry.

A marker starts a Frage (`Frage 1:`, `1. Wie …`, `1.1 …`, `a) …`), an answer (`Zu 1.:`, `Zu 2. a) bis c):`) or a
Vorbemerkung. A label is how an answer cites a Frage: `5`, `5a`, `1.1`; a sub-question's parent is its label without
the last letter or number (`5a` -> `5`, `1.1.1` -> `1.1`).
"""
from __future__ import annotations

import re

from .vocabulary import MONTH_WORDS

NUMBER = r"\d{1,2}(?:\.\d{1,2}){0,3}"  # `5`, `1.1`, `1.1.2`
_LETTER_PART = r"(?:\s*[a-z](?:\)|\.(?!\d))?)"
_NUMBER_END = r"(?:\.\)|\.|\))?"  # `1.`, `1)`, `1.)`
# `Zu a):` names a sub-question of the Frage in hand (the context); only with the bracket, so `Zu a.` in a
# sentence is not read as a marker.
_LABEL = rf"(?:{NUMBER}{_NUMBER_END}{_LETTER_PART}?|[a-z]\))"
# A range is written `5 bis 7` or `5-7` / `5–7` (hyphen or en dash).
_LABELS = rf"{_LABEL}(?:\s*(?:,|und|bis|[-–]|sowie|u\.|&)\s*(?:{NUMBER}{_NUMBER_END})?{_LETTER_PART}?)*"
ANSWER = re.compile(
    rf"^(?P<head>(?:Antwort\s+)?[Zz]u\s+(?:(?:den\s+)?Fragen?\s+(?:Nr\.\s*)?)?(?P<labels>{_LABELS})\s*:)\s*(?P<rest>.*)$"
)
# `Fage 6:` is a typo in an official answer (S19-10300); a dropped `r` still starts a Frage.
FRAGE = re.compile(rf"^(?P<head>Fr?age\s+(?:Nr\.\s*)?(?P<labels>{_LABEL})\s*:)\s*(?P<rest>.*)$")
# `1. Wie …`, `1.1 …`, and a sub-question numbered with its letter: `1.a. Aufgrund …`, `2.b) Welche …` (S19-10282).
NUMBERED = re.compile(
    rf"^(?P<head>(?P<labels>{NUMBER})(?:\.\)|\.|\))(?=\s|[A-ZÄÖÜ„\"“(])|(?P<labels2>\d{{1,2}}(?:\.\d{{1,2}}){{1,3}})(?=\s)"
    rf"|(?P<sub_number>{NUMBER})\.(?P<sub_letter>[a-z])(?:\.|\))(?=\s))\s*(?P<rest>\S.*)$"
)
LETTER = re.compile(r"^(?P<head>(?P<letter>[a-z])(?:\)|\.))\s+(?P<rest>\S.*)$")
VORBEMERKUNG = re.compile(r"^(?P<head>Vorbemerkung(?:en)?(?:\s+[^:]{1,80}?)?)\s*:\s*(?P<rest>.*)$")


def is_marker(text: str) -> bool:
    """Return True for a line that starts a Frage, an answer or a Vorbemerkung."""
    numbered = NUMBERED.match(text)
    return bool(ANSWER.match(text) or FRAGE.match(text) or VORBEMERKUNG.match(text)
                or (numbered and not is_date(numbered)))


def is_date(numbered: re.Match) -> bool:
    """Return True for a NUMBERED match that is a date at the start of a line (`12. November 2021 …`)."""
    return numbered.group("rest").startswith(MONTH_WORDS)


def numbered_label(numbered: re.Match) -> str:
    """Return the label of a NUMBERED match (`1.1.` -> `1.1`, `1.a.` -> `1a`)."""
    if numbered.group("sub_number"):
        return normalise_label(numbered.group("sub_number"), numbered.group("sub_letter"))
    return normalise_label(numbered.group("labels") or numbered.group("labels2"))


def normalise_label(number: str, letter: str | None = None) -> str:
    """Return a Frage label as cited: `5. a.` -> `5a`, `1.1.` -> `1.1`, `1 a` -> `1a`."""
    number = re.sub(r"\s+", "", number).rstrip(".")
    return number + (letter or "")


def parse_labels(text: str, context: str | None = None) -> list[str]:
    """Return the Frage labels named in an answer marker, ranges expanded (`9. a bis c` -> 9a, 9b, 9c; `5-7`)."""
    tokens = re.findall(rf"({NUMBER})\.?|\b([a-z])\b(?:\)|\.)?|(bis|[-–])", text)
    labels: list[str] = []
    number = context
    pending_range = False
    for num, letter, bis in tokens:
        if bis:
            pending_range = bool(labels)
            continue
        if num:
            number = num
            label = normalise_label(num)
        else:
            if number is None:
                continue
            label = normalise_label(number, letter)
            if labels and labels[-1] == normalise_label(number):
                labels.pop()  # `6. a und b`: the number is the parent of the letters, not an answer of its own
        if pending_range:
            labels.extend(_expand_range(labels[-1], label))
        labels.append(label)
        pending_range = False
    seen = []
    for label in labels:
        if label not in seen:
            seen.append(label)
    return seen


def _expand_range(first: str, last: str) -> list[str]:
    """Return the labels strictly between `first` and `last` (`9a`..`9c` -> [9b], `5`..`8` -> [6, 7])."""
    a, b = re.match(r"^([\d.]+)([a-z]?)$", first), re.match(r"^([\d.]+)([a-z]?)$", last)
    if not a or not b:
        return []
    if a.group(2) and b.group(2) and a.group(1) == b.group(1):
        return [a.group(1) + chr(c) for c in range(ord(a.group(2)) + 1, ord(b.group(2)))]
    head_a, _, tail_a = a.group(1).rpartition(".")
    head_b, _, tail_b = b.group(1).rpartition(".")
    if not a.group(2) and not b.group(2) and head_a == head_b and int(tail_b) - int(tail_a) < 50:
        prefix = head_a + "." if head_a else ""
        return [f"{prefix}{n}" for n in range(int(tail_a) + 1, int(tail_b))]
    return []


def has_letter(label: str) -> bool:
    """Return True for a lettered sub-question's label (`5a`)."""
    return bool(re.search(r"[a-z]$", label))


def without_letter(label: str) -> str:
    """Return a label without its sub-question letter (`5a` -> `5`, `1.1` -> `1.1`)."""
    return re.sub(r"[a-z]$", "", label)


def parent_label(label: str) -> str | None:
    """Return the label of the heading a sub-question belongs to (`5a` -> `5`, `1.1.1` -> `1.1`)."""
    if has_letter(label):
        return label[:-1]
    if "." in label:
        return label.rsplit(".", 1)[0]
    return None


def label_within(label: str, ancestor: str) -> bool:
    """Return True when `label` is a sub-question of `ancestor` (`5a` within `5`, `1.1.1` within `1`)."""
    parent = parent_label(label)
    while parent:
        if parent == ancestor:
            return True
        parent = parent_label(parent)
    return False


def top_number(label: str) -> int:
    """Return the top-level Frage number of a label (`4.2b` -> 4)."""
    return int(re.match(r"\d+", label).group(0))


def expected_next(last: str | None) -> set[str]:
    """Return the labels a Frage after Frage `last` may have (`1.2` -> 2, 1.3, 1.2.1)."""
    if last is None:
        return {"1"}
    base = without_letter(last)
    parts = base.split(".")
    expected = {str(int(parts[0]) + 1), base + ".1"}
    for depth in range(1, len(parts)):
        expected.add(".".join(parts[:depth] + [str(int(parts[depth]) + 1)]))
    return expected


def child_key(label: str) -> int:
    """Return a sub-question's place under its parent (`5c` -> 3, `1.4` -> 4)."""
    if has_letter(label):
        return ord(label[-1]) - ord("a") + 1
    return int(label.rsplit(".", 1)[1])


def child_label(parent: str, key: int, letters: bool) -> str:
    """Return the label of the sub-question at place `key` under `parent`, lettered or numbered."""
    return f"{parent}{chr(ord('a') + key - 1)}" if letters else f"{parent}.{key}"
