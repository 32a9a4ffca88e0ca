"""Facets of a search: how many of its candidate documents each Senatsverwaltung, party and year has.

Counted over the documents of the search's candidates (`Searcher.search_with_candidates`: the CANDIDATE_POOL best
allowed chunks by relevance), each document once, so a count says how many Anfragen on the topic a facet value
holds, not how many of their Fragen matched. Each value carries the filters that narrow the search to it.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .documents import Document
from .parties import party_key, normalise_party

# Values shown per facet, most frequent first; a search over a large index has dozens of askers' parties at most,
# but a long tail of Senatsverwaltungen renamed over the Wahlperioden.
MAX_VALUES = 10


@dataclass(frozen=True)
class FacetValue:
    """One value of a facet: what is shown, how many candidate documents have it, the filters that select it."""

    label: str
    count: int
    filters: dict[str, str]


@dataclass(frozen=True)
class Facet:
    """One facet: its name (the filter it sets) and German label, values most frequent first."""

    name: str
    label: str
    values: tuple[FacetValue, ...]


def _values(counts: Counter, labels: dict, filters_of) -> tuple[FacetValue, ...]:
    # Most frequent first, ties by label, so the order does not depend on the ranking's ties.
    ordered = sorted(counts.items(), key=lambda item: (-item[1], labels[item[0]]))[:MAX_VALUES]
    return tuple(FacetValue(label=labels[key], count=n, filters=filters_of(key)) for key, n in ordered)


def facets(documents: list[Document]) -> list[Facet]:
    """Return the Senatsverwaltung, party and year facets of the candidate documents (duplicates counted once)."""
    unique = list({d.document_id: d for d in documents}.values())
    authorities = Counter(d.authority for d in unique if d.authority)
    parties: Counter = Counter()
    party_labels: dict[str, str] = {}
    for document in unique:
        keys = {party_key(a.party): normalise_party(a.party) for a in document.askers if a.party}
        party_labels.update(keys)
        parties.update(keys.keys())
    years = Counter(d.answered_on[:4] for d in unique if d.answered_on)
    return [
        Facet("authority", "Senatsverwaltung",
              _values(authorities, {a: a for a in authorities}, lambda a: {"authority": a})),
        Facet("party", "Partei",
              _values(parties, party_labels, lambda key: {"party": party_labels[key]})),
        Facet("year", "Jahr der Antwort",
              tuple(sorted(_values(years, {y: y for y in years},
                                   lambda y: {"answered_from": f"{y}-01-01", "answered_to": f"{y}-12-31"}),
                           key=lambda value: value.label, reverse=True))),
    ]
