"""Party names as the documents spell them: one key per party, so "GRÜNE", "Grüne" and "BÜNDNIS 90/DIE GRÜNEN" match.

Cover sheets write the parliament's short forms ("(GRÜNE)", "(LINKE)"); the export and sidecars write full names
("Die Linke"). Filters, facets and browse pages compare `party_key`s and show `party_name`s.
"""
from __future__ import annotations

import re
import unicodedata

# The parties of the Abgeordnetenhaus in the Wahlperioden the form offers, as the cover sheets write them.
KNOWN_PARTIES = ("CDU", "SPD", "GRÜNE", "LINKE", "AfD", "FDP", "PIRATEN")
# Spelling (casefolded, spaces around "/" removed) -> how the service shows the party: the cover sheets' short form.
_CANONICAL = {
    **{p.casefold(): p for p in KNOWN_PARTIES},
    "die grünen": "GRÜNE",
    "bündnis 90/die grünen": "GRÜNE",
    "b90/grüne": "GRÜNE",
    "b90/die grünen": "GRÜNE",
    "die linke": "LINKE",
    "die linke.": "LINKE",
    "piratenpartei": "PIRATEN",
}


def _spelling(name: str) -> str:
    text = unicodedata.normalize("NFC", name).casefold()
    text = re.sub(r"\s*/\s*", "/", text)
    return " ".join(text.split())


def party_name(name: str | None) -> str | None:
    """Return how the service shows a party: its short form when the spelling is a known variant, else as given."""
    if name is None or not name.strip():
        return None
    return _CANONICAL.get(_spelling(name), " ".join(unicodedata.normalize("NFC", name).split()))


def party_key(name: str | None) -> str | None:
    """Return the key under which spellings of one party compare equal (None for no party)."""
    shown = party_name(name)
    return _spelling(shown) if shown else None
