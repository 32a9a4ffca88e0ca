"""The words of the Senate's letters that several parsing steps look for, each written once.

Months and dates, the intro's `wie folgt`, the closing's `Berlin, den …` and `In Vertretung`, the answering
authority, and the Abgeordnetenhaus's stamp `(Eingang beim Abgeordnetenhaus am …)`.
"""
from __future__ import annotations

import re

# Each month in full and abbreviated (`16. Nov. 2021`); its number is its place in the list.
_MONTHS = (("Januar", "Jan"), ("Februar", "Feb"), ("März", "Mär", "Mrz"), ("April", "Apr"), ("Mai",),
           ("Juni", "Jun"), ("Juli", "Jul"), ("August", "Aug"), ("September", "Sep", "Sept"), ("Oktober", "Okt"),
           ("November", "Nov"), ("Dezember", "Dez"))
MONTH_NUMBERS = {spelling.lower(): number for number, spellings in enumerate(_MONTHS, start=1)
                 for spelling in spellings}
# How a month follows a day: its name, or an abbreviation with its dot.
MONTH_WORDS = (tuple(name for name, *_ in _MONTHS)
               + tuple(f"{abbreviation}." for _, *abbreviations in _MONTHS for abbreviation in abbreviations))
# A line that starts with a date (`12. November 2021 …`) rather than a numbered Frage or list item.
DATE_START = re.compile(rf"^\d{{1,2}}\.\s+(?:{'|'.join(map(re.escape, MONTH_WORDS))})")
# `04. November 2021`, `16. Nov. 2021`, `12.11.2021`
_MONTH_NAME = r"[A-Za-zÄäÖöÜü]+"
DATE = rf"\d{{1,2}}\.\s*(?:\d{{1,2}}\.|{_MONTH_NAME}\.?)\s*\d{{4}}"
_DATE_PARTS = re.compile(rf"\d+|{_MONTH_NAME}")  # day, month, year

# The letter's `… beantworte ich Ihre Anfrage wie folgt:` ends the letter head.
INTRO = re.compile(r"wie\s+folgt")

# The signature block opens with place and date.
_CLOSING_PLACE = r"^Berlin,\s*(?:den\s+)?"
CLOSING_START = re.compile(rf"{_CLOSING_PLACE}\d")
CLOSING_DATE = re.compile(rf"{_CLOSING_PLACE}(?P<date>{DATE})\s*")
SIGNATURE_LEAD = re.compile(r"^(?:In Vertretung|Im Auftrag|Mit freundlichen Grüßen|i\.\s?V\.|i\.\s?A\.)", re.I)

# The answering authority, as the letter head and the end of the signature block name it.
_AUTHORITY_NAMES = r"Senatsverwaltung|Senatskanzlei|Der Regierende|Die Regierende"
AUTHORITY = re.compile(rf"^(?:{_AUTHORITY_NAMES})\b")
# Flattened text glues the authority to the signer's name: `… Dr. Silke Karcher Senatsverwaltung für …`.
GLUED_AUTHORITY = re.compile(rf"\s(?:{_AUTHORITY_NAMES})\b")
# A signature block may also end in the signer's own office (`Senatorin für …`, `Bezirksamt Mitte`, `Der Senat`):
# finding where the block ends needs these, but the `authority` field is read with AUTHORITY only, because the
# letter head is read with the same reader and there a line `Der Senat …` or `Senator …` is a sentence.
SIGNATURE_AUTHORITY = re.compile(rf"^(?:{_AUTHORITY_NAMES}|Senator|Bezirksamt|Der Senat|Die Senatorin)")

_RECEIVED_WORDS = r"Eingang\s+beim\s+Abgeordnetenhaus"
RECEIVED_START = re.compile(rf"^\(?{_RECEIVED_WORDS}")
RECEIVED = rf"\(\s*{_RECEIVED_WORDS}\s+am\s+(?P<received>{DATE})\s*\)"


def parse_date(text: str | None) -> str | None:
    """Return a German date (`04. November 2021`, `16. Nov. 2021`, `12.11.2021`) as ISO `YYYY-MM-DD`, else None."""
    match = re.match(rf"\s*{DATE}", text or "")
    if not match:
        return None
    day, month, year = _DATE_PARTS.findall(match.group(0))
    number = int(month) if month.isdigit() else MONTH_NUMBERS.get(month.lower())
    if not number or not 1 <= int(day) <= 31 or not 1 <= number <= 12:
        return None
    return f"{int(year):04d}-{number:02d}-{int(day):02d}"


def continues_authority(previous: str, text: str) -> bool:
    """Return True when line `text` goes on with the authority's name that line `previous` is part of."""
    return previous.endswith(("für", ",", "und")) or bool(re.match(r"^(?:und|Umwelt)\b", text))
