"""What the browse pages show, computed once per loaded index: documents newest first per Senatsverwaltung and per
party, and the references between documents ("Nachfrage zur Schriftlichen Anfrage Drs. 18/28 747").

No Flask here: `browse.py` keeps one Catalog per index in the app's extensions.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .documents import Document
from .parties import party_key, normalise_party

# A Drucksache as the texts cite one: "Drs. 18/3901", "Drucksache 19/10041", "Schriftliche Anfrage Nr. 19/10041",
# with the spaces of the cover sheets inside the number ("19 /10 041", "18/28 747"). Wahlperiode 1-2 digits, number
# either grouped (up to 2 digits, a space, 3 digits) or up to 5 digits, never running into a following number.
REFERENCE = re.compile(
    r"(?:\bDrs\.|\bDrucksachen?(?:-Nr\.)?|\bAnfragen?\s+Nr\.)\s*"
    r"(?P<wp>[0-9]{1,2})\s?/\s?(?P<number>[0-9]{1,2}\s[0-9]{3}(?![0-9])|[0-9]{1,5}(?![0-9]))",
    re.ASCII)


def drucksache_key(text: str | None) -> str | None:
    """Return a Drucksache number without spaces ("19 /10 041" -> "19/10041"), None for none."""
    return re.sub(r"\s+", "", text) if text else None


def referenced_drucksachen(text: str) -> list[str]:
    """Return the Drucksachen `text` cites, spaces removed, in order of first mention."""
    found = (f"{m['wp']}/{m['number'].replace(' ', '')}" for m in REFERENCE.finditer(text))
    return list(dict.fromkeys(found))


def cited_by(document: Document) -> list[str]:
    """Return the Drucksachen `document` cites in its title, Fragen and answers (not its own), in order of first
    mention: what the build stores (`store.sqlite`'s citations) and the catalog shows."""
    texts = [document.title or ""] + [part for c in document.chunks for part in (c.frage, c.antwort)]
    own = drucksache_key(document.drucksache)
    return [d for d in referenced_drucksachen("\n".join(texts)) if d != own]


def _newest_first(documents) -> list[Document]:
    # By answer date, newest first; undated last; ties by Drucksache so the order is stable between loads.
    dated = sorted(documents, key=lambda d: (d.drucksache or "", d.document_id))
    return sorted(dated, key=lambda d: d.answered_on or "", reverse=True)


@dataclass
class Catalog:
    """Documents by Senatsverwaltung and party (newest first) and references both ways, for one index."""

    by_authority: dict[str, list[Document]] = field(default_factory=dict)
    by_party: dict[str, list[Document]] = field(default_factory=dict)
    party_names: dict[str, str] = field(default_factory=dict)
    # document id -> Drucksachen it cites (other than its own), and which of them are in the index.
    references: dict[str, list[str]] = field(default_factory=dict)
    by_drucksache: dict[str, Document] = field(default_factory=dict)
    follow_ups: dict[str, list[Document]] = field(default_factory=dict)

    def documents_of_party(self, party: str) -> list[Document]:
        """Return the documents whose askers include `party` (any spelling), newest first."""
        return self.by_party.get(party_key(party) or "", [])


def build_catalog(documents, citations: dict[str, list[str]] | None = None) -> Catalog:
    """Return the Catalog of `documents` (an index's documents with their chunks); `citations` ({document id:
    `cited_by` it}, stored by the build) spares reading every text, without it they are read once."""
    documents = list(documents)
    catalog = Catalog()
    authorities: dict[str, list[Document]] = {}
    parties: dict[str, list[Document]] = {}
    for document in documents:
        if document.authority:
            authorities.setdefault(document.authority, []).append(document)
        for key, name in {party_key(a.party): normalise_party(a.party) for a in document.askers if a.party}.items():
            parties.setdefault(key, []).append(document)
            catalog.party_names.setdefault(key, name)
        if document.drucksache:
            catalog.by_drucksache[drucksache_key(document.drucksache)] = document
    catalog.by_authority = {name: _newest_first(docs) for name, docs in sorted(authorities.items())}
    catalog.by_party = {key: _newest_first(docs) for key, docs in sorted(parties.items())}

    follow_ups: dict[str, list[Document]] = {}
    for document in documents:
        cited = cited_by(document) if citations is None else citations.get(document.document_id, [])
        if cited:
            catalog.references[document.document_id] = cited
        for number in cited:
            target = catalog.by_drucksache.get(number)
            if target is not None and target.document_id != document.document_id:
                follow_ups.setdefault(target.document_id, []).append(document)
    catalog.follow_ups = {doc_id: _newest_first(docs) for doc_id, docs in follow_ups.items()}
    return catalog
