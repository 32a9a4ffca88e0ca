"""Party names: one spelling per party, whichever spelling a source uses.

The parliament's export writes `Grüne`, the cover sheets `GRÜNE`, older documents `BÜNDNIS 90/DIE GRÜNEN`, sidecars
`Die Linke`; a citation, a filter, a facet and a browse page need one. The spelling kept is the one of the WP 19
cover sheets, which most documents use. Filters compare `party_key`s and pages show `normalise_party`.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Keys are casefolded with spaces, hyphens, apostrophes and a final full stop removed; a spelling not listed is
# kept as given.
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
# The parties of the Abgeordnetenhaus in the Wahlperioden the web form offers, as the cover sheets write them.
KNOWN_PARTIES = ("CDU", "SPD", "GRÜNE", "LINKE", "AfD", "FDP", "PIRATEN")


def _key(party: str) -> str:
    text = unicodedata.normalize("NFC", party).casefold()
    return re.sub(r"[\s\-'’]", "", text).rstrip(".") or text


def normalise_party(party: str | None) -> str | None:
    """Return the one spelling of a party (`Grüne`, `BÜNDNIS 90/DIE GRÜNEN` -> `GRÜNE`); unknown ones as given."""
    if party is None:
        return None
    cleaned = " ".join(unicodedata.normalize("NFC", party).split())
    if not cleaned:
        return None
    return _CANONICAL.get(_key(cleaned), cleaned)


# Memoised: a party filter compares the keys of every asker of every document (60,000 documents: seconds
# uncached), and an archive holds a few hundred spellings at most.
@lru_cache(maxsize=4096)
def party_key(party: str | None) -> str | None:
    """Return the key under which spellings of one party compare equal (None for no party)."""
    shown = normalise_party(party)
    return _key(shown) if shown else None
