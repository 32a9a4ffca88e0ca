#!/usr/bin/env python
"""Write N synthetic answer documents derived from the real ones, for measuring builds and searches at scale.

Document i is a copy of source document i mod (number of sources), in the format of corpus/*.txt (pages separated
by form feeds), with
- a new Drucksache number, `<WP>/<first + i>`, in its text and its file name (`S19-30000.txt`);
- every date moved by the same number of days (a year in the text moves with them), formats kept;
- in the answer part (between `… wie folgt:` and `Berlin, den …`), every number of two or more digits replaced by
  another of as many digits, and a document-specific made-up word inserted after the second to fifth word of the
  first line of four or more words of every paragraph (after a Frage/Antwort marker or a sentence's end), and
  into the title;
so that its passages differ from every other document's (the index embeds each distinct passage text once) while
the parser finds the same Frage/Antwort structure. A source with a sidecar `<stem>.json` (metadata the text lacks)
gets a sidecar with the new number, date and title. Deterministic for a given N, seed and source folder; written
one document at a time. The texts are not the Senate's: use the output for measurements only, never as a corpus.

Example:
  .venv/bin/python scripts/make_scale_corpus.py 3000 /tmp/scale-3000 && \\
      .venv/bin/qa-service build --model hash --corpus /tmp/scale-3000 --index /tmp/index-3000 --quiet
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa_service.errors import QAError  # noqa: E402
from qa_service.parsing import find_document_files, parse_file  # noqa: E402
from qa_service.parsing.reading import read_pages  # noqa: E402

FIRST_NUMBER = 30000
DEFAULT_SEED = 11
MONTHS = ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
          "November", "Dezember")
# Abbreviations seen in the answers' dates (`16. Nov. 2021`, `25. Sep. 2012`), each with the month it stands for.
MONTH_ABBREVIATIONS = {"Jan": 1, "Feb": 2, "Mär": 3, "Mrz": 3, "Apr": 4, "Jun": 6, "Jul": 7, "Aug": 8, "Sep": 9,
                       "Sept": 9, "Okt": 10, "Nov": 11, "Dez": 12}
_MONTH_NAMES = "|".join(sorted([*MONTHS, *MONTH_ABBREVIATIONS], key=len, reverse=True))
# One pattern for everything that changes inside a line, so each character is looked at once: long dates, short
# dates, years, and other numbers (not glued to letters: `Projekt3` is a footnote marker and stays).
_CHANGING = re.compile(
    rf"(?P<long>\b(?P<day>\d{{1,2}})\.\s?(?P<month>{_MONTH_NAMES})(?P<dot>\.?)(?P<gap>\s+)(?P<year>\d{{4}})\b)"
    r"|(?P<short>\b(?P<sday>\d{1,2})\.(?P<smonth>\d{1,2})\.(?P<syear>\d{4})\b)"
    rf"|(?P<dayonly>\b\d{{1,2}}\.\s?(?:{_MONTH_NAMES})\b)"  # its year on the next line: the year moves alone
    r"|(?P<number>(?<!\w)\d{2,}(?!\w))")
_INTRO = re.compile(r"wie folgt\s*:?\s*$")
_CLOSING = re.compile(r"^\s*Berlin,\s+den\b")
# Lines the parser reads as structure: markers (`Frage 1:`, `Antwort zu 1:`, `Zu 1.:`, `1. Wie …`, `a) …`),
# `Vorbemerkung …`, footnotes and page furniture (which start with a digit, or `Seite N von M`).
_STRUCTURE = re.compile(r"^\s*(?:Frage\b|Antwort\b|Zu\b|zu\b|Vorbemerkung|Seite\s+\d|\d|[A-Za-z][.)])")
_PARAGRAPH_END = re.compile(r"[.:!?“”\"]\s*$")
_SYLLABLES = ("ka", "lo", "mi", "ter", "ven", "dra", "sul", "bor", "nix", "pel", "ru", "tan", "gos", "fe", "wil")


@dataclass(frozen=True)
class Source:
    """A real document to copy: its text (pages joined by form feeds), Drucksache, file stem, sidecar JSON or {}."""

    text: str
    drucksache: str
    stem: str
    sidecar: dict

    @property
    def number_pattern(self) -> re.Pattern:
        """Return the pattern of its Drucksache number as printed, spaces allowed anywhere (`19 /10 006`)."""
        wahlperiode, number = self.drucksache.split("/")
        return re.compile(r"\b" + r"\s*".join(wahlperiode) + r"\s*/\s*" + r"\s*".join(number) + r"\b")


def load_sources(folder: Path) -> list[Source]:
    """Return the text documents of `folder` that have a Drucksache number, in file order.

    PDFs are left out: their text layer lays out cover sheets and attachment tables differently, and the rewriting
    below (a new number in the cover sheet, a distinct word in every paragraph) is written for the text layout.
    """
    if not folder.exists():
        raise QAError(f"{folder}: no such file or folder")
    sources = []
    for path in find_document_files(folder):
        if path.suffix.lower() != ".txt":
            continue
        document = parse_file(path)
        if not document.drucksache or not re.fullmatch(r"\d+/\d+", document.drucksache):
            continue
        sidecar = path.with_suffix(".json")
        sources.append(Source(text="\f".join(read_pages(path)), drucksache=document.drucksache, stem=path.stem,
                              sidecar=json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}))
    if not sources:
        raise QAError(f"{folder}: no document with a Drucksache number to copy")
    return sources


def made_up_word(rng: random.Random, number: int) -> str:
    """Return a word no answer contains, ending in `number`: it makes a document's lines its own."""
    return "".join(rng.choice(_SYLLABLES) for _ in range(3)).capitalize() + str(number)


def _with_word(line: str, word: str, after: int = 2) -> str:
    """Return `line` with `word` inserted after its first `after` words (at most after all but the last)."""
    pieces = re.split(r"(\s+)", line)  # word, space, word, …; a leading space gives an empty first word
    words = [i for i in range(0, len(pieces), 2) if pieces[i]]
    if len(words) < 2:
        return line
    at = words[min(after, len(words) - 1)]
    return "".join(pieces[:at]) + f"{word} " + "".join(pieces[at:])


def _shift_date(day: int, month: int, year: int, days: int) -> date | None:
    try:
        return date(year, month, day) + timedelta(days=days)
    except ValueError:  # not a date after all (`31.2.2020` in a table): leave it
        return None


def _changer(rng: random.Random, days: int, body: bool):
    """Return the re.sub callback that moves dates and years by `days` and, in the body, replaces numbers."""
    years = round(days / 365.25)

    def change(match: re.Match) -> str:
        if match.group("long"):
            month_name = match.group("month")
            month = MONTHS.index(month_name) + 1 if month_name in MONTHS else MONTH_ABBREVIATIONS[month_name]
            moved = _shift_date(int(match.group("day")), month, int(match.group("year")), days)
            if moved is None:
                return match.group(0)
            name = MONTHS[moved.month - 1] if month_name in MONTHS else MONTHS[moved.month - 1][:3]
            day = f"{moved.day:02d}" if len(match.group("day")) == 2 else str(moved.day)
            space = match.group(0)[len(match.group("day")) + 1:match.start("month") - match.start()]
            return f"{day}.{space}{name}{match.group('dot')}{match.group('gap')}{moved.year}"
        if match.group("short"):
            moved = _shift_date(int(match.group("sday")), int(match.group("smonth")), int(match.group("syear")),
                                days)
            if moved is None:
                return match.group(0)
            day = f"{moved.day:02d}" if len(match.group("sday")) == 2 else str(moved.day)
            month = f"{moved.month:02d}" if len(match.group("smonth")) == 2 else str(moved.month)
            return f"{day}.{month}.{moved.year}"
        if match.group("dayonly"):
            return match.group(0)
        number = match.group("number")
        if len(number) == 4 and number[:2] in ("19", "20"):  # a year: it moves with the dates
            return str(int(number) + years)
        if not body:
            return number
        return str(rng.randint(10 ** (len(number) - 1), 10 ** len(number) - 1))

    return change


def synthetic_text(source: Source, new_number: int, rng: random.Random) -> tuple[str, str, int]:
    """Return (text, word, days) of a copy of `source` numbered `new_number`: see the module's description."""
    wahlperiode = source.drucksache.split("/")[0]
    days = rng.randint(-365, 1100)
    word = made_up_word(rng, new_number)
    placeholder = "\x00"  # keeps the new Drucksache number out of the number replacement
    text = source.number_pattern.sub(placeholder, source.text)
    lines = text.split("\n")
    intro = next((i for i, line in enumerate(lines) if _INTRO.search(line)), -1)
    closing = next((i for i in range(intro + 1, len(lines)) if _CLOSING.match(lines[i])), len(lines))
    in_preamble, in_body = _changer(rng, days, body=False), _changer(rng, days, body=True)
    out = []
    starts_paragraph, paragraphs = True, 0
    for i, line in enumerate(lines):
        body = intro < i < closing
        # A page break is a form feed inside a line: each page's part of the line is judged on its own.
        parts = line.split("\f")
        for p, part in enumerate(parts):
            # Marker numbers (`Zu 12.:`) and footnote numbers stay: only dates and years move in structure lines.
            running = body and not _STRUCTURE.match(part)
            part = _CHANGING.sub(in_body if running else in_preamble, part)
            # The word goes into the first long line of each paragraph (after a marker or a sentence's end).
            # Its place moves from paragraph to paragraph: a paragraph that a document repeats differs too.
            if running and starts_paragraph and len(part.split()) >= 4:
                part = _with_word(part, word, after=2 + paragraphs % 4)
                paragraphs += 1
                starts_paragraph = False
            if part.strip() and (not running or _PARAGRAPH_END.search(part)):
                starts_paragraph = True
            parts[p] = part
        if i > 0 and re.match(r"^\s*zum\s+Thema\s*:\s*$", lines[i - 1]):  # the cover sheet's title
            parts[0] = _with_word(parts[0], word)
        out.append("\f".join(parts))
    return "\n".join(out).replace(placeholder, f"{wahlperiode}/{new_number}"), word, days


def write_corpus(n: int, out: Path, source_dir: Path, seed: int = DEFAULT_SEED, first: int = FIRST_NUMBER) -> int:
    """Write `n` synthetic documents (and sidecars where the source has one) into `out`; return how many."""
    sources = load_sources(source_dir)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        source = sources[i % len(sources)]
        rng = random.Random(f"{seed}:{i}")  # a str seed is hashed with sha512, not Python's salted hash()
        new_number = first + i
        text, word, days = synthetic_text(source, new_number, rng)
        stem = re.sub(r"\d+$", str(new_number), source.stem)
        (out / f"{stem}.txt").write_text(text, encoding="utf-8")
        if source.sidecar:
            sidecar = {k: v for k, v in source.sidecar.items() if k != "source_url"}  # rebuilt from the number
            sidecar["drucksache"] = f"{source.drucksache.split('/')[0]}/{new_number}"
            if sidecar.get("title"):
                sidecar["title"] = _with_word(sidecar["title"], word)
            if sidecar.get("answered_on"):
                sidecar["answered_on"] = (date.fromisoformat(sidecar["answered_on"]) +
                                          timedelta(days=days)).isoformat()
            (out / f"{stem}.json").write_text(json.dumps(sidecar, ensure_ascii=False, indent=2) + "\n",
                                              encoding="utf-8")
    return n


def main(argv=None) -> int:
    """Parse the arguments, write the corpus, print one line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Example:\n  " + __doc__.split("Example:\n  ")[1])
    parser.add_argument("n", type=int, metavar="N", help="number of documents to write")
    parser.add_argument("out", type=Path, metavar="OUT", help="folder to write them into (created if missing)")
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parent.parent / "corpus",
                        help="folder of real documents to copy (default: the project's corpus/)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("N must be at least 1")
    try:
        written = write_corpus(args.n, args.out, args.source, seed=args.seed)
    except QAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {written} documents into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
