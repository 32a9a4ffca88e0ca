import pytest

from qa_service.districts import BEZIRKE, districts_missing, districts_named, places_named


def test_the_gazetteer_has_berlins_twelve_bezirke_and_96_ortsteile():
    assert len(BEZIRKE) == 12
    assert sum(len(ortsteile) for ortsteile in BEZIRKE.values()) == 96


@pytest.mark.parametrize("text, bezirke", [
    ("Wie viele Kitaplätze fehlen in Marzahn-Hellersdorf?", {"Marzahn-Hellersdorf"}),
    ("Wann öffnet das Stadtbad Neukölln?", {"Neukölln"}),
    ("Neuköllner Schulen", {"Neukölln"}),                       # the adjective
    ("Weißenseer Spitze", {"Pankow"}),                          # an Ortsteil's adjective
    ("Sporthalle im Wedding", {"Mitte"}),                       # an Ortsteil gives its Bezirk
    ("Charlottenburg-Nord", {"Charlottenburg-Wilmersdorf"}),
    ("Flughafen Tegel", {"Reinickendorf"}),
    ("Bezirksamt Mitte", {"Mitte"}),
    ("Berlin-Buch", {"Pankow"}),
    ("Malchow", {"Pankow", "Lichtenberg"}),                     # two Ortsteile of that name
    ("Hohenschönhausen", {"Lichtenberg"}),                      # the short form
])
def test_a_place_named_gives_its_bezirk(text, bezirke):
    assert districts_named(text) == bezirke


@pytest.mark.parametrize("text", [
    "Welche Unfälle gab es am Spandauer Damm?",                 # a street named after a place, elsewhere
    "Tegeler Weg",
    "Bis Mitte 2022 soll es fertig sein.",                      # a time
    "in der Mitte des Platzes",
    "Das steht in einem Buch.",
    "Wie viele Menschen leben in Berlin?",
    "Görlitzer Park",                                           # a landmark, not a district's name
])
def test_common_words_streets_and_landmarks_name_no_district(text):
    assert places_named(text) == []


def test_a_document_about_another_district_misses_the_question_s_place():
    asked = places_named("Wie viele Solaranlagen haben Schulen in Spandau?")
    assert districts_missing(asked, districts_named("Solaranlagen auf Dächern im Bezirk Pankow")) == ("Spandau",)
    # The Bezirk answers for its Ortsteile and an Ortsteil for its Bezirk.
    assert districts_missing(asked, districts_named("in Siemensstadt")) == ()
    assert districts_missing(places_named("Kitas in Lübars"), districts_named("Bezirksamt Reinickendorf")) == ()
    # Each place of the question must be named: a document about one of two districts misses the other.
    both = places_named("Vergleich Pankow und Neukölln")
    assert districts_missing(both, districts_named("Pankow")) == ("Neukölln",)
    assert districts_missing(places_named("Malchow"), districts_named("Pankow")) == ()
    assert districts_missing([], districts_named("Pankow")) == ()


def test_the_candidate_scan_finds_exactly_what_the_pattern_finds():
    # The full pattern is tried only where a candidate word stands; on every text of the corpus
    # and every evaluation question it must give exactly what the pattern alone gives.
    import json

    from conftest import CORPUS_DIR, PROJECT_DIR
    from qa_service.districts import _pattern
    from qa_service.parsing import find_document_files, parse_paths

    pattern, groups = _pattern()
    documents = parse_paths(find_document_files(CORPUS_DIR)).documents
    texts = [text for document in documents for chunk in document.chunks
             for text in (chunk.frage, *chunk.antwort.split("\n\n"))]
    for path in sorted((PROJECT_DIR / "eval").rglob("*.jsonl")):
        texts += [json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines() if line]
    texts += ["Berlin-Mitte", "Alt-Treptower Straße", "Prenzlauer Berger Kieze", "Neuköllnern", "in Mitte", "XPankow",
              "Neu-Hohenschönhausen", "Pankow-Pankow", "im Bezirk Mitte März", "Spandau\nSpandauer Damm Spandau"]
    named = 0
    for text in texts:
        expected = [groups[match.lastgroup] for match in pattern.finditer(text)]
        assert places_named(text) == expected, text
        named += bool(expected)
    assert named > 100  # the check saw many texts that do name a place
