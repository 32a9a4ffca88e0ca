"""Find where a pasted sentence occurs in an answer, and which sentences of an answer to highlight.

Matching ignores everything but letters and digits (casefolded): whitespace, line-break hyphenation, quote marks,
dashes and punctuation differ between a PDF's text layer and what people paste, the words do not. An offset map
leads from the normalised text back to the original, so spans always point into the verbatim `antwort`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

# A question is treated as a quote only when it is long enough that an accidental match is implausible.
MIN_QUOTE_CHARS = 32
MIN_QUOTE_WORDS = 5
# Near-verbatim: matching runs must cover this share of the question, inside a stretch of the answer not much longer.
NEAR_COVERAGE = 0.9
NEAR_MAX_STRETCH = 1.25
# Matching runs shorter than this are chance agreement of letters, not quoted text.
NEAR_MIN_RUN = 6

_LETTERS_AND_DIGITS = re.compile(r"[^\W_]+")
_SENTENCE_END = re.compile(r"(?<=[.!?:;])[\"“”»)]*\s+(?=[\"„»(]?[A-ZÄÖÜ0-9])|\n\s*\n")


@dataclass(frozen=True)
class NormalizedText:
    """Casefolded letters and digits of a text, with `offsets[i]` = index in the original of normalised char i."""

    text: str
    offsets: tuple[int, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Return the original (start, end) span of normalised chars start..end (end exclusive)."""
        return self.offsets[start], self.offsets[end - 1] + 1


def normalize(text: str) -> NormalizedText:
    """Return the letters and digits of `text`, casefolded, with their original offsets."""
    chars: list[str] = []
    offsets: list[int] = []
    # Word by word, as `normalized_text` (in Python's re, \w is exactly str.isalnum() plus "_", and casefolding is
    # per character): a search normalises the answers it checks for a near quote, and a loop over every char of
    # them cost a fifth of a search at 490,000 chunks.
    for match in _LETTERS_AND_DIGITS.finditer(text):
        word = match.group()
        folded = word.casefold()
        chars.append(folded)
        if len(folded) == len(word):
            offsets.extend(range(match.start(), match.end()))
        else:  # "ß" -> "ss": both normalised chars point at the one original
            for i, ch in enumerate(word):
                offsets.extend([match.start() + i] * len(ch.casefold()))
    return NormalizedText("".join(chars), tuple(offsets))


def normalized_text(text: str) -> str:
    """Return `normalize(text).text` without the offset map, at a fraction of the cost."""
    # In Python's re, \w is exactly str.isalnum() plus "_", and casefolding is per character.
    return "".join(_LETTERS_AND_DIGITS.findall(text)).casefold()


def looks_like_quote(question: str, normalized: NormalizedText | None = None) -> bool:
    """Return True when `question` (with its `normalize`d form, if already made) is long enough to be a quote."""
    if len(question.split()) < MIN_QUOTE_WORDS:
        return False
    return len((normalized or normalize(question)).text) >= MIN_QUOTE_CHARS


def find_exact(question: NormalizedText, answer: NormalizedText) -> tuple[int, int] | None:
    """Return the original span of the first verbatim occurrence of `question` in `answer`, or None."""
    if not question.text:
        return None
    start = answer.text.find(question.text)
    if start < 0:
        return None
    return answer.span(start, start + len(question.text))


def exact_span(question: NormalizedText, answer: str) -> tuple[int, int] | None:
    """Return `find_exact(question, normalize(answer))` without the offset map of all of `answer`."""
    q = question.text
    if not q:
        return None
    start = normalized_text(answer).find(q)
    if start < 0:
        return None
    last = start + len(q) - 1
    seen = 0  # normalised chars before the current word
    span_start = 0
    # Word by word up to the quote's end (a search spans hundreds of answers): in Python's re, \w is exactly
    # str.isalnum() plus "_", and casefolding is per character, as in `normalize`.
    for match in _LETTERS_AND_DIGITS.finditer(answer):
        length = len(match.group().casefold())
        if seen <= start < seen + length:
            span_start = _original_index(match, start - seen)
        if last < seen + length:
            return span_start, _original_index(match, last - seen) + 1
        seen += length
    return None  # pragma: no cover (the quote was found in the normalised text)


def _original_index(match: re.Match, k: int) -> int:
    """Return the index in the original text of normalised char `k` of the word `match`."""
    word = match.group()
    if len(word.casefold()) == len(word):
        return match.start() + k
    for i, ch in enumerate(word):  # "ß" -> "ss": both normalised chars point at the one original
        k -= len(ch.casefold())
        if k < 0:
            return match.start() + i
    raise ValueError("offset beyond the word")  # pragma: no cover


def find_near(question: NormalizedText, answer: NormalizedText) -> tuple[tuple[int, int], float] | None:
    """Return (original span, coverage) of a near-verbatim occurrence of `question` in `answer`, or None."""
    q = question.text
    if not q or not answer.text:
        return None
    # difflib costs milliseconds per answer; this bound costs microseconds and rules out almost every answer.
    if not may_be_near(q, answer.text):
        return None
    matcher = SequenceMatcher(None, q, answer.text, autojunk=False)
    blocks = [b for b in matcher.get_matching_blocks() if b.size >= NEAR_MIN_RUN]
    if not blocks:
        return None
    # The runs come in order in both texts; the quote is the stretch of the answer (no longer than the window)
    # whose runs cover the most of the question. Runs elsewhere are chance agreement.
    window = int(len(q) * NEAR_MAX_STRETCH)
    best = (0, 0, 0)
    for i, first in enumerate(blocks):
        covered = 0
        end = first.b
        for block in blocks[i:]:
            if block.b + block.size - first.b > window:
                break
            covered += block.size
            end = block.b + block.size
        if covered > best[0]:
            best = (covered, first.b, end)
    covered, start, end = best
    coverage = covered / len(q)
    if coverage < NEAR_COVERAGE:
        return None
    return answer.span(start, end), coverage


def may_be_near(q: str, answer: str) -> bool:
    """Return False when find_near's coverage of `q` in `answer` is certainly below NEAR_COVERAGE: less than that
    share of `q` lies inside NEAR_MIN_RUN-grams found in `answer`.

    Every matching run of NEAR_MIN_RUN or more chars consists of NEAR_MIN_RUN-grams that occur in the answer, so the
    chars covered by such n-grams include every char that difflib's runs can cover. The scan stops as soon as the
    chars left to cover could not reach the share any more (most answers: after a few n-grams). `q` and `answer`
    are normalised texts (`NormalizedText.text`, `normalized_text`): a search asks this before it makes an
    answer's offset map.
    """
    n = NEAR_MIN_RUN
    covered = 0
    reach = 0  # q[:reach] is already counted
    for i in range(len(q) - n + 1):
        if (covered + len(q) - max(reach, i)) / len(q) < NEAR_COVERAGE:
            return False
        if q[i:i + n] in answer:
            covered += i + n - max(reach, i)
            reach = i + n
    return covered / len(q) >= NEAR_COVERAGE


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Return the (start, end) spans of the sentences of `text`, surrounding whitespace excluded."""
    spans = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    result = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            result.append((s, e))
    return result
