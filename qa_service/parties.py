"""Party names: one spelling per party, whichever spelling a source uses.

The parliament's export writes `Grüne`, the cover sheets `GRÜNE`, older documents `BÜNDNIS 90/DIE GRÜNEN`; a
citation and a filter need one. The spelling kept is the one of the WP 19 cover sheets, which most documents use.
"""
from __future__ import annotations

import re

# Keys are casefolded with spaces, hyphens and apostrophes removed; a spelling not listed is kept as given.
_SPELLINGS = {
    "GRÜNE": ("grüne", "grünen", "diegrünen", "bündnis90/diegrünen", "bündnis90/grüne", "b90/grüne",
              "b90/diegrünen", "bü90/grüne"),
    "LINKE": ("linke", "dielinke", "fraktiondielinke", "linkspartei", "linkspartei.pds"),
    "AfD": ("afd", "alternativefürdeutschland"),
    "CDU": ("cdu",),
    "SPD": ("spd",),
    "FDP": ("fdp", "f.d.p."),
    "PIRATEN": ("piraten", "piratenpartei", "piratenfraktion"),
    "BSW": ("bsw",),
    "fraktionslos": ("fraktionslos", "parteilos"),
}
_CANONICAL = {key: party for party, keys in _SPELLINGS.items() for key in keys}


def _key(party: str) -> str:
    return re.sub(r"[\s\-'’]", "", party.casefold())


def normalise_party(party: str | None) -> str | None:
    """Return the one spelling of a party (`Grüne`, `BÜNDNIS 90/DIE GRÜNEN` -> `GRÜNE`); unknown ones as given."""
    if party is None:
        return None
    cleaned = re.sub(r"\s+", " ", party).strip()
    if not cleaned:
        return None
    return _CANONICAL.get(_key(cleaned), cleaned)
