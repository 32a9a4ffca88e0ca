"""Berlin's twelve Bezirke and their 96 Ortsteile: which districts a question or a document names.

A question about one district ("Wie viele Kitaplätze fehlen in Lichtenberg?") is not answered by an answer about
another ("… im Bezirk Pankow"), however alike the two read to the vectors: the search uses this to say that such a
best hit is no answer (`search.no_answer`). Names are the official ones (Bezirksverwaltungsgesetz, Anlage; the
Ortsteile as the Senate's statistics office lists them); a name is matched as a whole word, capitalised as written,
also as its adjective ("Neuköllner Schulen", "Pankower Ortsteil"), but not in a street's name ("Spandauer Damm" is
in Charlottenburg). Names that are also common words ("Mitte 2022", "ein Buch") count only after "in", "Bezirk",
"Bezirksamt", "Ortsteil" or as "Berlin-Mitte".
"""
from __future__ import annotations

import re
from functools import lru_cache

# Bezirk -> its Ortsteile (the Bezirk's own name parts are Ortsteile too where they are one: Pankow, Spandau …).
BEZIRKE: dict[str, tuple[str, ...]] = {
    "Mitte": ("Mitte", "Moabit", "Hansaviertel", "Tiergarten", "Wedding", "Gesundbrunnen"),
    "Friedrichshain-Kreuzberg": ("Friedrichshain", "Kreuzberg"),
    "Pankow": ("Prenzlauer Berg", "Weißensee", "Blankenburg", "Heinersdorf", "Karow", "Stadtrandsiedlung Malchow",
               "Pankow", "Blankenfelde", "Buch", "Französisch Buchholz", "Niederschönhausen", "Rosenthal",
               "Wilhelmsruh"),
    "Charlottenburg-Wilmersdorf": ("Charlottenburg", "Wilmersdorf", "Schmargendorf", "Grunewald", "Westend",
                                   "Charlottenburg-Nord", "Halensee"),
    "Spandau": ("Spandau", "Haselhorst", "Siemensstadt", "Staaken", "Gatow", "Kladow", "Hakenfelde",
                "Falkenhagener Feld", "Wilhelmstadt"),
    "Steglitz-Zehlendorf": ("Steglitz", "Lichterfelde", "Lankwitz", "Zehlendorf", "Dahlem", "Nikolassee", "Wannsee"),
    "Tempelhof-Schöneberg": ("Schöneberg", "Friedenau", "Tempelhof", "Mariendorf", "Marienfelde", "Lichtenrade"),
    "Neukölln": ("Neukölln", "Britz", "Buckow", "Rudow", "Gropiusstadt"),
    "Treptow-Köpenick": ("Alt-Treptow", "Plänterwald", "Baumschulenweg", "Johannisthal", "Niederschöneweide",
                         "Altglienicke", "Adlershof", "Bohnsdorf", "Oberschöneweide", "Köpenick", "Friedrichshagen",
                         "Rahnsdorf", "Grünau", "Müggelheim", "Schmöckwitz"),
    "Marzahn-Hellersdorf": ("Marzahn", "Biesdorf", "Kaulsdorf", "Mahlsdorf", "Hellersdorf"),
    "Lichtenberg": ("Friedrichsfelde", "Karlshorst", "Lichtenberg", "Falkenberg", "Malchow", "Wartenberg",
                    "Neu-Hohenschönhausen", "Alt-Hohenschönhausen", "Fennpfuhl", "Rummelsburg"),
    "Reinickendorf": ("Reinickendorf", "Tegel", "Konradshöhe", "Heiligensee", "Frohnau", "Hermsdorf",
                      "Waidmannslust", "Lübars", "Wittenau", "Märkisches Viertel", "Borsigwalde"),
}

# Short forms everyone uses for an Ortsteil whose official name is longer.
_SHORT_FORMS = {"Treptow": "Alt-Treptow", "Hohenschönhausen": "Alt-Hohenschönhausen",
                "Malchow": "Stadtrandsiedlung Malchow"}

# Names that are also common German words or surnames: they count only in a place's context.
_AMBIGUOUS = frozenset({"Mitte", "Buch", "Westend", "Rosenthal"})
_PLACE_CONTEXT = r"(?:(?<=Berlin-)|(?<=\bin )|(?<=\bBezirk )|(?<=\bBezirks )|(?<=\bBezirksamt )|(?<=\bOrtsteil ))"
# "Mitte 2022", "Mitte März", "Mitte des Jahres": a time, not the Bezirk.
_NOT_A_TIME = (r"(?!\s+(?:\d|Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember"
               r"|des\b|der\b|nächste|kommende|dieses|diese))")
# An adjective form followed by one of these is a street, square or gate named after the place, elsewhere.
_STREET = (r"(?!\s+(?:Straße|Str\.|Damm|Allee|Weg|Chaussee|Landstraße|Platz|Tor|Brücke|Ufer|Ring|Steig|Pfad"
           r"|Promenade|Markt|Zeile|Gasse))")


# The endings of a name's adjective: Pankower, Neuköllnern, Weißenseers.
_ADJECTIVE = ("ern", "ers", "er", "rn", "rs", "r")
# A name's first word ends at a space or hyphen ("Alt-Treptow", "Prenzlauer Berg").
_WORD = re.compile(r"\w+")


@lru_cache(maxsize=1)
def _names() -> dict[str, frozenset[str]]:
    """Return {every name: the Bezirke it may mean}: Bezirke, their name parts, Ortsteile, short forms."""
    bezirke_of: dict[str, set[str]] = {}
    for bezirk, ortsteile in BEZIRKE.items():
        for name in (bezirk, *bezirk.split("-"), *ortsteile):
            bezirke_of.setdefault(name, set()).add(bezirk)
    for short, official in _SHORT_FORMS.items():
        bezirke_of.setdefault(short, set()).update(bezirke_of[official])
    return {name: frozenset(bezirke) for name, bezirke in bezirke_of.items()}


@lru_cache(maxsize=1)
def _pattern() -> tuple[re.Pattern, dict[str, frozenset[str]]]:
    """Return one regular expression for every name (a named group each) and {group: the Bezirke it may mean}."""
    bezirke_of = _names()
    adjective = "|".join(_ADJECTIVE)
    alternatives, groups = [], {}
    # Longest names first, so "Charlottenburg-Nord" wins over "Charlottenburg" and "Stadtrandsiedlung Malchow" over
    # "Malchow".
    for i, name in enumerate(sorted(bezirke_of, key=len, reverse=True)):
        group = f"n{i}"
        groups[group] = bezirke_of[name]
        body = re.escape(name).replace(r"\ ", r"\s+")
        if name in _AMBIGUOUS:
            alternatives.append(f"{_PLACE_CONTEXT}(?P<{group}>{body}){_NOT_A_TIME}(?![\\w-])")
        else:
            # The name itself, or its adjective (Neuköllner, Weißenseer) unless a street's name follows.
            alternatives.append(f"(?<![\\w-])(?P<{group}>{body})(?:(?![\\w-])|(?:{adjective})(?![\\w-]){_STREET})")
    return re.compile("|".join(alternatives)), groups


@lru_cache(maxsize=1)
def _candidates() -> re.Pattern:
    """Return a regular expression of the first word of every name ("Prenzlauer", "Alt", "Pankow") as a trie.

    Every match of `_pattern()` starts with one of these words, so the full pattern (~110 alternatives, each tried
    in turn) is tried only where one stands. As a trie the scan costs a character class per position: the text of
    a long document is read in a fraction of a millisecond instead of ~30 ms.
    """
    trie: dict = {}
    for word in {_WORD.match(name).group() for name in _names()}:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def branches(node: dict) -> str:
        options = [re.escape(char) + branches(child) for char, child in sorted(node.items()) if char]
        if not options:
            return ""
        body = options[0] if len(options) == 1 else f"(?:{'|'.join(options)})"
        return f"(?:{body})?" if "" in node else body
    return re.compile(branches(trie))


def places_named(text: str) -> list[frozenset[str]]:
    """Return, for each Berlin place `text` names, the Bezirke it may mean (Malchow lies in two), in text order.

    The same as `_pattern().finditer(text)`: a candidate word is all word characters, so no match can start
    inside one, and matches do not overlap.
    """
    pattern, groups = _pattern()
    places, end = [], 0
    for candidate in _candidates().finditer(text):
        if candidate.start() < end:
            continue
        match = pattern.match(text, candidate.start())
        if match:
            places.append(groups[match.lastgroup])
            end = match.end()
    return places


def districts_named(text: str) -> frozenset[str]:
    """Return the Bezirke that `text` names, by their own name or one of their Ortsteile."""
    return frozenset().union(*places_named(text))


def districts_missing(places: list[frozenset[str]], named: frozenset[str]) -> tuple[str, ...]:
    """Return the `places` of a question (each as its Bezirk, or "A / B" where a name means either) that a document
    naming the Bezirke `named` does not name, neither itself nor by an Ortsteil of its Bezirk: the document is about
    somewhere else."""
    return tuple(sorted({" / ".join(sorted(bezirke)) for bezirke in places if not bezirke & named}))
