"""The question as the service receives it (`AskRequest`, validated once by `parse_ask`) and as the ranker sees it
(`Query`, analysed once).

Every surface (JSON API, URL parameters, web form, CLI, evaluation, the library's `Searcher.search`) turns its input
into an `AskRequest` through `parse_ask`, so limits and error codes are the same everywhere; the OpenAPI schema and
the web form are derived from the same fields. Errors are `InvalidQueryError` with the offending `field` and a
machine-readable `code`; the API shows `code` and the message, the web page a German text for the code.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from functools import cached_property

from .config import Settings
from .districts import places_named
from .documents import Document
from .errors import InvalidQueryError
from .lexical import NGRAM_MARK, analyze_words, named_nouns, words
from .parsing.markers import parse_labels
from .parties import party_key
from .quotes import NormalizedText, looks_like_quote, normalize

MODES = ("hybrid", "semantic", "keyword")
DEFAULT_MODE = "hybrid"
# relevance: best match first; date: the search's candidates newest answer first. The candidates are the best
# allowed chunks by relevance, deep enough to hold every answer on the topic of a specific question; the result
# page's facets count them too.
SORTS = ("relevance", "date")
CANDIDATE_POOL = 200
DEFAULT_SORT = "relevance"
DOC_TYPES = ("Schriftliche Anfrage", "Kleine Anfrage")
# Short enough for any real filter value; longer strings are certainly not a Drucksache or a Senatsverwaltung.
MAX_FILTER_CHARS = 200
MIN_WAHLPERIODE, MAX_WAHLPERIODE = 1, 99
# ASCII only: str.isdigit() and \d accept "²" and other Unicode digits that int() then refuses or misreads.
_INTEGER = re.compile(r"[0-9]{1,6}", re.ASCII)
# Exactly YYYY-MM-DD: date.fromisoformat alone also takes week dates (2021-W01-1) and 20210101.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
# How a name the caller sent is shown in an error message: printable, never a lone surrogate, never long.
_SHOWN_NAME_CHARS = 40

ASK_FIELDS = ("question", "top_k", "mode", "sort", "filters")


def _compact(value: str | None) -> str:
    return re.sub(r"\s+", "", value or "")


def _folded(value: str | None) -> str:
    return " ".join(unicodedata.normalize("NFC", value or "").casefold().split())


@dataclass(frozen=True)
class SearchFilters:
    """Restrict results to documents with these metadata values (None = no restriction).

    Each field's metadata says how it is read (`kind`) and described (OpenAPI, web form): the one place where a
    filter is defined. Build one from caller input with `parse_filters`.
    """

    drucksache: str | None = field(default=None, metadata={
        "kind": "text", "example": "19/10041", "label": "Drucksache",
        "description": "the Drucksache number; spaces are ignored"})
    authority: str | None = field(default=None, metadata={
        "kind": "text", "example": "Inneres", "label": "Senatsverwaltung",
        "description": "part of the answering Senatsverwaltung's name, case ignored"})
    party: str | None = field(default=None, metadata={
        "kind": "party", "example": "GRÜNE", "label": "Partei",
        "description": "an asker's party; spellings of one party are the same (GRÜNE = BÜNDNIS 90/DIE GRÜNEN, "
                       "LINKE = Die Linke), case ignored"})
    asker: str | None = field(default=None, metadata={
        "kind": "text", "example": "Schrader", "label": "Fragesteller*in",
        "description": "part of an asker's name, case ignored"})
    subject: str | None = field(default=None, metadata={
        "kind": "text", "example": "Schule", "label": "Sachgebiet",
        "description": "one of the document's subjects (descriptors of the parliament's export), case ignored"})
    doc_type: str | None = field(default=None, metadata={
        "kind": "choice", "choices": DOC_TYPES, "example": "Schriftliche Anfrage", "label": "Art der Anfrage",
        "description": "the type of the Anfrage"})
    wahlperiode: int | None = field(default=None, metadata={
        "kind": "wahlperiode", "example": 19, "label": "Wahlperiode",
        "description": "the Wahlperiode (electoral term) of the Anfrage"})
    answered_from: str | None = field(default=None, metadata={
        "kind": "date", "example": "2021-01-01", "label": "Antwort von",
        "description": "answered on or after this date (YYYY-MM-DD)"})
    answered_to: str | None = field(default=None, metadata={
        "kind": "date", "example": "2021-12-31", "label": "Antwort bis",
        "description": "answered on or before this date (YYYY-MM-DD); not before answered_from"})

    def is_empty(self) -> bool:
        """Return True when no filter is set."""
        return all(getattr(self, name) is None for name in FILTER_NAMES)

    def active(self) -> tuple[str, ...]:
        """Return the names of the filters that are set."""
        return tuple(name for name in FILTER_NAMES if getattr(self, name) is not None)

    def wanted_key(self, name: str):
        """Return the value of filter `name` as its test compares it (see FILTER_TESTS)."""
        return self._wanted_keys[name]

    @cached_property
    def _wanted_keys(self) -> dict[str, object]:
        # Normalised once: feeds and MCP listings call `matches` for every document.
        return {name: FILTER_TESTS[name].key(getattr(self, name)) for name in self.active()}

    def matches(self, document: Document) -> bool:
        """Return True when `document` passes every filter that is set: one of its values for each (FILTER_TESTS)."""
        for name, wanted in self._wanted_keys.items():
            test = FILTER_TESTS[name]
            if not any(test.passes(wanted, test.key(value)) for value in test.values(document)):
                return False
        return True


def _answered_on(document: Document) -> tuple:
    return (document.answered_on,)


def _unchanged(value):
    return value


# The document values the filters read, by name: the build stores them (store.sqlite, table filter_values) so that a
# process tests each distinct value without reading every document's metadata; several values for askers and subjects.
# A name stands for what it reads: reading something else needs a new name, or stored indexes would give old values.
FILTERED_VALUES: dict[str, Callable[[Document], tuple]] = {
    "drucksache": lambda d: (d.drucksache,),
    "authority": lambda d: (d.authority,),
    "party": lambda d: tuple(a.party for a in d.askers),
    "asker": lambda d: tuple(a.name for a in d.askers),
    "subject": lambda d: tuple(d.subjects),
    "doc_type": lambda d: (d.doc_type,),
    "wahlperiode": lambda d: (d.wahlperiode,),
    "answered_on": _answered_on,
}


@dataclass(frozen=True)
class FilterTest:
    """How one filter tests a document: the values it reads (`field`, a name of FILTERED_VALUES), how a value and the
    filter's value are normalised alike (`key`), and whether a normalised value passes (`compare`; None: equal)."""

    field: str
    key: Callable[[object], object]
    compare: Callable[[object, object], bool] | None = None

    def values(self, document: Document) -> tuple:
        """Return the document's values this filter reads."""
        return FILTERED_VALUES[self.field](document)

    def passes(self, wanted, key) -> bool:
        """Return True when a document value's `key` passes the filter's `wanted` key."""
        return wanted == key if self.compare is None else self.compare(wanted, key)


# One test per filter (`SearchFilters.matches`; `document_filters.FilterIndex` tests each distinct value once).
FILTER_TESTS: dict[str, FilterTest] = {
    "drucksache": FilterTest("drucksache", _compact),
    "authority": FilterTest("authority", lambda v: (v or "").casefold(), lambda wanted, key: wanted in key),
    "party": FilterTest("party", party_key),
    "asker": FilterTest("asker", _folded, lambda wanted, key: wanted in key),
    "subject": FilterTest("subject", _folded),
    "doc_type": FilterTest("doc_type", _unchanged),
    "wahlperiode": FilterTest("wahlperiode", _unchanged),
    # Undated answers pass no date filter.
    "answered_from": FilterTest("answered_on", _unchanged, lambda wanted, key: bool(key) and key >= wanted),
    "answered_to": FilterTest("answered_on", _unchanged, lambda wanted, key: bool(key) and key <= wanted),
}


FILTER_FIELDS = tuple(fields(SearchFilters))
FILTER_NAMES = tuple(f.name for f in FILTER_FIELDS)
# Parameters of GET /api/ask (and the web form): the question as `q`, the filters flat beside it.
URL_PARAMETERS = ("q", "top_k", "mode", "sort") + FILTER_NAMES


@dataclass(frozen=True)
class AskRequest:
    """One validated question: NFC-normalised text, how many answers, which ranking, which filters, which order."""

    question: str
    top_k: int = 5
    mode: str = DEFAULT_MODE
    filters: SearchFilters = field(default_factory=SearchFilters)
    sort: str = DEFAULT_SORT


def shown(name) -> str:
    """Return a caller's field name as it can safely appear in a message (escaped, shortened)."""
    text = str(name).encode("utf-8", "backslashreplace").decode("utf-8")
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return text if len(text) <= _SHOWN_NAME_CHARS else text[:_SHOWN_NAME_CHARS - 1] + "…"


def _is_valid_text(value: str) -> bool:
    # Python strings may hold lone surrogates (from JSON "\ud800"), which no encoder or tokenizer can take.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_question(value, max_chars: int) -> str:
    """Return the question NFC-normalised and stripped, or raise InvalidQueryError for a missing or bad one."""
    if value is None:
        raise InvalidQueryError("Give a question: 'question' in the JSON body, 'q' in the URL",
                                code="missing_question", field="question")
    if not isinstance(value, str):
        raise InvalidQueryError("The question must be a string", code="invalid_question", field="question")
    if not _is_valid_text(value):
        raise InvalidQueryError("The question is not valid Unicode text", code="invalid_question", field="question")
    # NFC: a question typed with decomposed umlauts (u + U+0308) must read like the documents' precomposed ones.
    question = unicodedata.normalize("NFC", value).strip()
    if not question:
        raise InvalidQueryError("The question is empty", code="missing_question", field="question")
    if len(question) > max_chars:
        raise InvalidQueryError(f"The question has {len(question)} characters; at most {max_chars} are allowed",
                                code="question_too_long", field="question")
    return question


def _integer(value, strings: bool):
    """Return `value` as an int when it is one (or, from a URL, ASCII digits), else None."""
    if strings and isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    # bool is an int in Python, but `true` is not a number.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def parse_top_k(value, settings: Settings, strings: bool = False) -> int:
    """Return top_k as an int in 1..max_top_k (the default when None), or raise InvalidQueryError."""
    if value is None:
        return settings.default_top_k
    number = _integer(value, strings)
    if number is None or not 1 <= number <= settings.max_top_k:
        raise InvalidQueryError(f"top_k must be an integer from 1 to {settings.max_top_k}", code="invalid_top_k",
                                field="top_k")
    return number


def _choice(value, name: str, choices: tuple[str, ...], default: str, code: str) -> str:
    if value is None:
        return default
    if not isinstance(value, str) or value not in choices:
        raise InvalidQueryError(f"unknown {name} {shown(value)!r}; {name} must be one of: {', '.join(choices)}",
                                code=code, field=name)
    return value


def parse_mode(value) -> str:
    """Return the ranking mode (default "hybrid"), or raise InvalidQueryError for an unknown one."""
    return _choice(value, "mode", MODES, DEFAULT_MODE, "invalid_mode")


def parse_sort(value) -> str:
    """Return the order of the results (default "relevance"), or raise InvalidQueryError for an unknown one."""
    return _choice(value, "sort", SORTS, DEFAULT_SORT, "invalid_sort")


def _parse_filter(spec, value, strings: bool):
    name, kind = spec.name, spec.metadata["kind"]
    if kind == "date":
        if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
            raise InvalidQueryError(f"{name} must be a date like 2021-12-31", code="invalid_date", field=name)
        try:
            date.fromisoformat(value)
        except ValueError:
            raise InvalidQueryError(f"{name} is not a valid date: {value}", code="invalid_date", field=name) from None
        return value
    if kind == "wahlperiode":
        number = _integer(value, strings)
        if number is None or not MIN_WAHLPERIODE <= number <= MAX_WAHLPERIODE:
            raise InvalidQueryError(f"{name} must be an integer from {MIN_WAHLPERIODE} to {MAX_WAHLPERIODE}",
                                    code="invalid_filter", field=name)
        return number
    if kind == "choice":
        choices = spec.metadata["choices"]
        if not isinstance(value, str) or value not in choices:
            raise InvalidQueryError(f"{name} must be one of: {', '.join(choices)}", code="invalid_filter", field=name)
        return value
    if not isinstance(value, str) or not value.strip():
        raise InvalidQueryError(f"{name} must be a non-empty string", code="invalid_filter", field=name)
    if len(value) > MAX_FILTER_CHARS:
        raise InvalidQueryError(f"{name} is longer than {MAX_FILTER_CHARS} characters", code="invalid_filter",
                                field=name)
    if not _is_valid_text(value):
        raise InvalidQueryError(f"{name} is not valid Unicode text", code="invalid_filter", field=name)
    return unicodedata.normalize("NFC", value).strip()


def parse_filters(raw, strings: bool = False) -> SearchFilters:
    """Return SearchFilters from a mapping of filter names to values (None = not set), or raise InvalidQueryError."""
    if raw is None:
        return SearchFilters()
    if isinstance(raw, SearchFilters):
        raw = {name: getattr(raw, name) for name in FILTER_NAMES}
    if not isinstance(raw, Mapping):
        raise InvalidQueryError("filters must be a JSON object", code="invalid_filter", field="filters")
    unknown = sorted(shown(name) for name in raw if name not in FILTER_NAMES)
    if unknown:
        raise InvalidQueryError(f"Unknown filter: {', '.join(unknown)}; known filters: {', '.join(FILTER_NAMES)}",
                                code="unknown_filter", field="filters")
    values = {spec.name: _parse_filter(spec, raw[spec.name], strings)
              for spec in FILTER_FIELDS if raw.get(spec.name) is not None}
    if values.get("answered_from") and values.get("answered_to") and values["answered_from"] > values["answered_to"]:
        raise InvalidQueryError("answered_from is after answered_to", code="invalid_filter", field="answered_from")
    return SearchFilters(**values)


def parse_ask(body, settings: Settings | None = None) -> AskRequest:
    """Return the AskRequest of a JSON-shaped mapping {"question", "top_k", "mode", "sort", "filters"}, or raise
    InvalidQueryError naming the field and the code."""
    settings = settings or Settings()
    if not isinstance(body, Mapping):
        raise InvalidQueryError("The request body must be a JSON object", code="invalid_json")
    unknown = sorted(shown(name) for name in body if name not in ASK_FIELDS)
    if unknown:
        raise InvalidQueryError(f"Unknown field: {', '.join(unknown)}; known fields: {', '.join(ASK_FIELDS)}",
                                code="unknown_field")
    return AskRequest(question=parse_question(body.get("question"), settings.max_question_chars),
                      top_k=parse_top_k(body.get("top_k"), settings),
                      mode=parse_mode(body.get("mode")),
                      filters=parse_filters(body.get("filters")),
                      sort=parse_sort(body.get("sort")))


def parse_ask_parameters(args, settings: Settings | None = None) -> AskRequest:
    """Return the AskRequest of URL parameters (`q`, `top_k`, `mode`, `sort`, the filters flat), or raise
    InvalidQueryError.

    `args` is a mapping of names to lists of values (a werkzeug MultiDict's `to_dict(flat=False)`).
    """
    settings = settings or Settings()
    unknown = sorted(shown(name) for name in args if name not in URL_PARAMETERS)
    if unknown:
        raise InvalidQueryError(f"Unknown parameter: {', '.join(unknown)}; known: {', '.join(URL_PARAMETERS)}",
                                code="unknown_parameter")
    repeated = sorted(name for name, values in args.items() if len(values) > 1)
    if repeated:
        raise InvalidQueryError(f"Give each parameter once: {', '.join(repeated)}", code="invalid_parameter",
                                field=repeated[0])
    flat = {name: values[0] for name, values in args.items() if values}
    return AskRequest(question=parse_question(flat.get("q"), settings.max_question_chars),
                      top_k=parse_top_k(flat.get("top_k"), settings, strings=True),
                      mode=parse_mode(flat.get("mode")),
                      filters=parse_filters({n: flat[n] for n in FILTER_NAMES if n in flat}, strings=True),
                      sort=parse_sort(flat.get("sort")))


# --- the question as the ranker sees it -------------------------------------------------------------------------

@dataclass(frozen=True)
class FrageReference:
    """A Frage that a question cites by Drucksache and number: `Drs. 19/10048 Frage 2`, `Drucksache 19/10041, …,
    Antwort zu Frage 5 a` (the service's own citation pasted back), `Kleine Anfrage 17/10866, Fragen 3 und 4`."""

    drucksache: str  # "19/10048", as the documents and the Drucksache filter write it
    labels: tuple[str, ...]  # the Frage labels as chunks cite them: ("2",), ("5a",), ("3", "4")


# A Drucksache number `19/10048` (Wahlperiode / number), not part of a date (`24./25.`) or a year range (`2012/13`).
_DRUCKSACHE = re.compile(r"(?<![\d/.])(\d{1,2})\s?/\s?(\d{1,6})(?![\d/])")
# A Frage label in running text: `2`, `1.1`, `5 a`, `5a)`; a letter only when no other letter follows (`2 am` is 2).
_CITED_LABEL = r"\d{1,2}(?:\.\d{1,2}){0,3}\.?(?:\s?[a-z]\)?(?![\wäöüß]))?"
_CITED_LETTER = r"[a-z]\)?(?![\wäöüß])"
_CITED_FRAGE = re.compile(
    rf"\b(?:Fragen?|Antworten?\s+zu(?:\s+den)?)\s+(?:Nr\.\s*)?"
    rf"(?P<labels>{_CITED_LABEL}(?:\s*(?:,|und|bis|sowie|[-–])\s*(?:{_CITED_LABEL}|{_CITED_LETTER}))*)")


def frage_reference(text: str) -> FrageReference | None:
    """Return the Frage `text` cites by Drucksache and Frage number, or None unless it names both."""
    drucksache, frage = _DRUCKSACHE.search(text), _CITED_FRAGE.search(text)
    if not drucksache or not frage:
        return None
    labels = tuple(parse_labels(frage.group("labels")))
    return FrageReference(f"{drucksache.group(1)}/{drucksache.group(2)}", labels) if labels else None


@dataclass(frozen=True)
class Query:
    """A question analysed once, for BM25, quote matching and highlighting alike."""

    text: str  # NFC-normalised, stripped: what is encoded and shown
    words: tuple[str, ...]  # casefolded words and numbers, stopwords kept
    tokens: tuple[str, ...]  # BM25 tokens: stems of the non-stopwords plus n-grams from inside long words
    normalized: NormalizedText  # letters and digits only, for quote matching
    reference: FrageReference | None = None  # the Frage the question cites by Drucksache and number, if any
    # The Berlin places the question names, each as the Bezirke it may mean (districts.places_named).
    places: tuple[frozenset[str], ...] = ()
    # The nouns and names a German question names, each with its BM25 stems (lexical.named_nouns).
    nouns: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def stems(self) -> tuple[str, ...]:
        """Return the distinct word stems of the question (no n-grams), in question order."""
        return tuple(dict.fromkeys(t for t in self.tokens if not t.startswith(NGRAM_MARK)))

    @property
    def word_count(self) -> int:
        """Return how many words and numbers the question has."""
        return len(self.words)

    @property
    def is_quote(self) -> bool:
        """Return True when the question is long enough to be looked up as a verbatim quote."""
        return looks_like_quote(self.text, self.normalized)


def analyse(question: str) -> Query:
    """Return the Query of a question (NFC-normalised and stripped here too, for callers outside parse_ask)."""
    text = unicodedata.normalize("NFC", question).strip()
    question_words = tuple(words(text))
    return Query(text=text, words=question_words, tokens=tuple(analyze_words(question_words)),
                 normalized=normalize(text), reference=frage_reference(text), places=tuple(places_named(text)),
                 nouns=named_nouns(text))
