"""Variants of real Berlin answers the shipped corpus does not show: WP 17/18 layouts, marker styles, defects.

Each file in tests/data/variants is a short answer written in the layout of the corpus `.txt` files (text layer
of the PDF: form feeds, page numbers, cover sheet, letter, closing). The tests pin what a journalist needs from
each: one chunk per Frage with the right numbers, the verbatim text, the citation metadata, warnings for defects.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from qa_service.documents import Asker
from qa_service.parsing import parse_file, parse_paths, parse_text

VARIANTS = Path(__file__).resolve().parent / "data" / "variants"
PARDOK = "https://pardok.parlament-berlin.de/starweb/adis/citat/VT"
ALL_VARIANTS = sorted(p.name for p in VARIANTS.glob("*.txt"))


def parse(name: str):
    return parse_file(VARIANTS / name)


def ids(doc) -> list[str]:
    return [c.chunk_id.split("#", 1)[1] for c in doc.chunks]


def chunk(doc, label: str):
    return next(c for c in doc.chunks if c.chunk_id == f"{doc.document_id}#{label}")


def chunk_text(doc) -> str:
    return "\n".join(c.frage + "\n" + c.antwort for c in doc.chunks)


# --- WP 18 Schriftliche Anfrage: `Frage N: …` / `Antwort zu N: …` on one line -------------------------------

def test_wp18_metadata_and_pardok_url():
    doc = parse("s18-12345.txt")
    assert doc.drucksache == "18/12345"
    assert doc.wahlperiode == 18
    assert doc.doc_type == "Schriftliche Anfrage"
    assert doc.title == "Baumfällungen für den Radschnellweg entlang der Wuhle in Marzahn-Hellersdorf"
    assert doc.askers == (Asker("Dr. Turgut Altuğ", "GRÜNE"), Asker("Silke Gebel", "GRÜNE"))
    assert (doc.asked_on, doc.asked_received_on) == ("2017-11-14", "2017-11-15")
    assert (doc.answered_on, doc.answered_received_on) == ("2017-11-29", "2017-12-01")
    assert doc.authority == "Senatsverwaltung für Umwelt, Verkehr und Klimaschutz"
    assert doc.signatory == "Stefan Tidow"
    assert doc.source_url == f"{PARDOK}/18/SchrAnfr/s18-12345.pdf"
    assert doc.page_count == 3
    assert doc.warnings == ()


def test_wp18_markers_with_text_on_the_marker_line():
    doc = parse("s18-12345.txt")
    assert ids(doc) == ["vorbemerkung", "1", "2", "3", "4", "5+6"]
    first = chunk(doc, "1")
    assert first.frage == ("Wie viele Bäume sollen für den geplanten Radschnellweg entlang der Wuhle gefällt "
                           "werden?")
    assert first.antwort.startswith("Nach derzeitigem Planungsstand sind 42 Bäume betroffen.")
    # `Marzahn-` + `Hellersdorf` at a line end: a real hyphen, kept
    assert first.antwort.endswith("Flächen des Bezirksamts Marzahn-Hellersdorf, die übrigen auf Flächen der "
                                  "Berliner Wasserbetriebe.")
    assert chunk(doc, "vorbemerkung").antwort.endswith("das Bezirksamt Marzahn-Hellersdorf um Stellungnahme "
                                                       "gebeten, die in der Antwort wiedergegeben wird.")
    joint = chunk(doc, "5+6")
    assert joint.numbers == ("5", "6")
    assert joint.frage == ("Frage 5: Wie hoch sind die Kosten für Fällung und Ersatzpflanzung?\n"
                           "Frage 6: Aus welchen Mitteln werden sie finanziert?")
    assert joint.antwort.startswith("Die Kosten werden auf rund 310.000 Euro geschätzt.")
    assert joint.antwort.endswith("„Verbesserung der regionalen Wirtschaftsstruktur“ finanziert.")
    assert joint.pages == (3,)


def test_wp18_cleaning_keeps_real_hyphens_and_joins_word_breaks():
    doc = parse("s18-12345.txt")
    assert chunk(doc, "3").frage == ("Inwieweit wurden die Belange des Klimaschutz- und Artenschutzes in der "
                                     "Abwägung berücksichtigt?")
    assert chunk(doc, "3").antwort == ("Die Belange wurden im Rahmen der landschaftspflegerischen Begleitplanung "
                                       "geprüft. Für die betroffenen Fledermausquartiere werden vor Beginn der "
                                       "Arbeiten Ersatzquartiere geschaffen.")


def test_private_use_bullets_become_plain_bullets_one_item_per_line():
    antwort = chunk(parse("s18-12345.txt"), "2").antwort
    assert "\uf0b7" not in antwort
    assert "\n• 38 Bäume entlang der Wuhle zwischen Landsberger Allee und Eisenacher Straße,\n" \
           "• 24 Bäume im Wuhletal-Park,\n• die Ausgleichsabgabe" in antwort


def test_date_at_a_line_start_inside_an_answer_stays_in_the_answer():
    doc = parse("s18-12345.txt")
    assert chunk(doc, "4").antwort == ("Die Fällarbeiten sind für den Zeitraum 1. Oktober 2018 bis 28. Februar "
                                       "2019 vorgesehen, also außerhalb der Brutzeit.")


# --- WP 17: cover on the first page, title after `und Antwort`, two-column text, running head --------------

def test_wp17_schriftliche_anfrage_metadata():
    doc = parse("s17-11016.txt")
    assert doc.drucksache == "17/11016"
    assert doc.wahlperiode == 17
    assert doc.doc_type == "Schriftliche Anfrage"
    assert doc.title == "Sanierungsstau in den Berliner Bädern"
    assert doc.askers == (Asker("Andreas Baum", "PIRATEN"),)
    assert (doc.asked_on, doc.asked_received_on) == ("2012-09-03", "2012-09-04")
    assert (doc.answered_on, doc.answered_received_on) == ("2012-09-20", "2012-09-25")
    assert doc.authority == "Senatsverwaltung für Inneres und Sport"
    assert doc.signatory == "Andreas Statzkowski"
    assert doc.source_url == f"{PARDOK}/17/SchrAnfr/s17-11016.pdf"
    assert doc.warnings == ()


def test_wp17_running_head_and_page_numbers_are_not_text():
    doc = parse("s17-11016.txt")
    assert ids(doc) == ["1", "2", "3"]
    assert chunk(doc, "2").antwort == ("Wegen technischer Mängel vorübergehend geschlossen waren das Stadtbad "
                                       "Neukölln, das Kombibad Seestraße und das Sommerbad Kreuzberg.")
    assert chunk(doc, "1").frage == ("Wie hoch schätzt der Senat den Sanierungsbedarf der Hallen- und Sommerbäder "
                                     "der Berliner Bäder-Betriebe (BBB)?")
    assert chunk(doc, "2").frage == ("Welche Bäder mussten 2011 und 2012 wegen technischer Mängel vorübergehend "
                                     "geschlossen werden?")
    # `Bä-` + `der-Betrieben`: a word break inside a hyphenated compound
    assert chunk(doc, "3").antwort == ("Im Doppelhaushalt 2012/2013 stehen den Berliner Bäder-Betrieben für "
                                       "Sanierungsmaßnahmen jährlich 5 Mio. € aus dem Sondervermögen Infrastruktur "
                                       "der Wachsenden Stadt zur Verfügung.")
    assert chunk(doc, "3").pages == (2,)
    assert "Wahlperiode" not in chunk_text(doc) and "Drucksache" not in chunk_text(doc)


def test_wp17_kleine_anfrage_with_cover_sheet():
    doc = parse("ka17-11234.txt")
    assert doc.drucksache == "17/11234"
    assert doc.doc_type == "Kleine Anfrage"
    assert doc.wahlperiode == 17
    assert doc.title == "Mietentwicklung in den Wohnungen der städtischen Wohnungsbaugesellschaften"
    assert doc.askers == (Asker("Katrin Lompscher", "LINKE"), Asker("Dr. Gabriele Hiller", "LINKE"))
    assert (doc.answered_on, doc.answered_received_on) == ("2012-10-23", "2012-10-26")
    assert doc.signatory == "Ephraim Gothe"
    assert doc.authority == "Senatsverwaltung für Stadtentwicklung und Umwelt"
    assert doc.source_url == f"{PARDOK}/17/KlAnfr/ka17-11234.pdf"
    assert ids(doc) == ["1", "2+3"]
    assert chunk(doc, "1").frage.startswith("Wie hat sich die durchschnittliche Nettokaltmiete in den Beständen")
    assert chunk(doc, "2+3").frage == ("Frage 2: In wie vielen Fällen wurde 2012 eine Mieterhöhung nach § 558 BGB "
                                       "verlangt?\nFrage 3: Wie viele dieser Mieterhöhungen wurden zurückgenommen?")
    assert chunk(doc, "2+3").antwort.endswith("in der für die Beantwortung einer Kleinen Anfrage zur Verfügung "
                                              "stehenden Zeit nicht möglich.")
    assert doc.warnings == ()


# --- WP 19, numbered family: glued sub-numbers, two Vorbemerkungen, lists inside answers -------------------

def test_two_vorbemerkungen_of_the_senate_and_of_the_bvg():
    doc = parse("S19-11201.txt")
    first, second = doc.chunks[0], doc.chunks[1]
    assert (first.chunk_id, first.kind, first.frage) == ("S19-11201#vorbemerkung", "vorbemerkung",
                                                         "Vorbemerkung der Verwaltung")
    assert first.antwort.startswith("Die Schriftliche Anfrage betrifft Sachverhalte")
    assert first.antwort.endswith("an den entsprechend gekennzeichneten Stellen wiedergegeben.")
    assert (second.chunk_id, second.kind, second.frage) == ("S19-11201#vorbemerkung-2", "vorbemerkung",
                                                            "Vorbemerkung der BVG")
    assert second.antwort == "„Die BVG betreibt im Bezirk Spandau 13 U-Bahnhöfe der Linien U2 und U7.“"


def test_numbered_list_inside_an_answer_does_not_become_fragen():
    doc = parse("S19-11201.txt")
    assert ids(doc) == ["vorbemerkung", "vorbemerkung-2", "1", "2+2.1", "2.2", "3+4+5", "6", "6.1", "6.2"]
    assert chunk(doc, "1").antwort == ("Die BVG teilt hierzu mit:\n„Nicht stufenlos erreichbar sind derzeit "
                                       "folgende U-Bahnhöfe:\n1. Altstadt Spandau (U7),\n2. Zitadelle (U7),\n"
                                       "3. Haselhorst (U7).\nAlle übrigen U-Bahnhöfe in Spandau verfügen über "
                                       "mindestens einen Aufzug.“")
    assert doc.warnings == ()


def test_glued_sub_numbers_and_joint_answer_keep_the_parent_stem():
    doc = parse("S19-11201.txt")
    joint = chunk(doc, "2+2.1")
    assert joint.numbers == ("2", "2.1")
    assert joint.frage == ("2. Wann werden die in der Antwort zu 1. genannten Bahnhöfe barrierefrei ausgebaut?\n"
                           "2.1. Welche Kosten sind dafür veranschlagt?")
    assert joint.antwort.endswith("Veranschlagt sind insgesamt 9,6 Mio. Euro.“")
    sub = chunk(doc, "2.2")
    assert sub.frage == ("2. Wann werden die in der Antwort zu 1. genannten Bahnhöfe barrierefrei ausgebaut?\n"
                         "2.2. Aus welchen Mitteln werden die Kosten getragen?")
    assert sub.antwort.startswith("Die Kosten werden aus dem Verkehrsvertrag")
    assert sub.pages == (2, 3)


def test_range_answer_lists_every_frage_and_keeps_table_rows_and_bullets():
    joint = chunk(parse("S19-11201.txt"), "3+4+5")
    assert joint.numbers == ("3", "4", "5")
    assert joint.frage.startswith("3. Wie oft waren Aufzüge auf Spandauer U-Bahnhöfen im Jahr 2021 außer Betrieb?\n"
                                  "4. Wie lange dauerten die Ausfälle durchschnittlich?\n5. Welche Maßnahmen")
    assert "\nZeitraum Ausfälle Ausfalltage\n1. Halbjahr 2021 9 34\n2. Halbjahr 2021 8 49\n" in joint.antwort
    assert joint.antwort.endswith("• die Wartungsverträge um Reaktionszeiten ergänzt.“")


def test_see_above_answer_is_kept_verbatim_and_date_line_stays_in_answer():
    doc = parse("S19-11201.txt")
    assert chunk(doc, "6").antwort == "Ja."
    assert chunk(doc, "6.1").antwort == "Die Inbetriebnahme ist für den 1. Januar 2025 vorgesehen."
    assert chunk(doc, "6.2").frage == ("6. Ist ein zusätzlicher Zugang zum U-Bahnhof Rathaus Spandau geplant?\n"
                                       "6.2. Wenn nein, warum nicht?")
    assert chunk(doc, "6.2").antwort == "siehe oben"


def test_closing_with_numeric_date_and_authority_with_a_real_hyphen():
    doc = parse("S19-11201.txt")
    assert doc.answered_on == "2022-03-14"
    assert doc.signatory == "Dr. Meike Niedbal"
    assert doc.authority == "Senatsverwaltung für Umwelt, Mobilität, Verbraucher- und Klimaschutz"
    assert doc.askers == (Asker("Johannes Kraft", "CDU"),)
    assert doc.source_url == f"{PARDOK}/19/SchrAnfr/S19-11201.pdf"
    assert "Niedbal" not in chunk_text(doc) and "Berlin, den" not in chunk_text(doc)


# --- WP 19, lettered sub-questions, footnotes ------------------------------------------------------------------

def test_lettered_sub_questions_answered_one_by_one_in_three_marker_styles():
    doc = parse("S19-11202.txt")
    assert ids(doc) == ["vorbemerkung", "1a", "1b", "1c", "2a+2b", "3a+3b+3c"]
    assert chunk(doc, "1a").frage == "1. Wie viele Schulplätze fehlen im Schuljahr 2022/2023\na) an Grundschulen,"
    assert chunk(doc, "1b").frage == ("1. Wie viele Schulplätze fehlen im Schuljahr 2022/2023\n"
                                      "b) an Integrierten Sekundarschulen,")
    assert chunk(doc, "1c").frage.endswith("\nc) an Gymnasien?")
    assert chunk(doc, "1b").antwort == "An Integrierten Sekundarschulen fehlen rechnerisch 2.130 Plätze."
    assert doc.warnings == ()


def test_lettered_joint_answers_and_ranges_expand():
    doc = parse("S19-11202.txt")
    assert chunk(doc, "2a+2b").numbers == ("2a", "2b")
    assert chunk(doc, "2a+2b").frage == ("2. Welche Schulneubauten werden im Schuljahr 2022/2023 fertiggestellt\n"
                                         "a) im Bezirk Pankow,\nb) im Bezirk Treptow-Köpenick?")
    third = chunk(doc, "3a+3b+3c")
    assert third.numbers == ("3a", "3b", "3c")
    assert third.frage.endswith("c) als Lehrkräfte ohne volle Lehrbefähigung eingestellt?")
    assert third.antwort.endswith("Belastbare Zahlen liegen voraussichtlich im August 2022 vor.")
    assert third.pages == (3,)


def test_footnote_markers_leave_the_words_and_footnote_texts_follow_their_chunk():
    doc = parse("S19-11202.txt")
    remark = chunk(doc, "vorbemerkung")
    assert remark.frage == "Vorbemerkung"
    assert remark.antwort == ("Die Angaben beruhen auf der Schulplatzprognose der Senatsverwaltung für Bildung, "
                              "Jugend und Familie und dem Schulverzeichnis mit Stand vom 1. Februar 2022.\n"
                              "[1] https://www.bildung.berlin.de/Schulverzeichnis/")
    antwort = chunk(doc, "2a+2b").antwort
    assert "Schulbauoffensive werden folgende Schulen fertiggestellt:" in antwort
    assert "Pankow 03G45 Grundschule Pasewalker Straße 576" in antwort
    assert antwort.endswith("\n[2] Vgl. die Antwort auf die Schriftliche Anfrage Drucksache 19/10553.")
    # each footnote text is in exactly one chunk, never inside another answer
    assert sum("Schulverzeichnis/" in c.antwort for c in doc.chunks) == 1
    assert "Seite" not in chunk_text(doc)


def test_two_askers_of_different_parties():
    doc = parse("S19-11202.txt")
    assert doc.askers == (Asker("Marianne Burkert-Eulitz", "GRÜNE"), Asker("Franziska Brychcy", "LINKE"))
    assert doc.signatory == "Dr. Torsten Kühne"
    assert doc.authority == "Senatsverwaltung für Bildung, Jugend und Familie"


# --- defects: gap, duplicate, Frage without answer, answer without Frage ---------------------------------------

def test_answer_marker_styles_without_dot_with_frage_alone_and_with_text():
    doc = parse("S19-10513.txt")
    assert chunk(doc, "1").antwort == ("Im Bezirk Friedrichshain-Kreuzberg sind 5.873 Lebensmittelbetriebe "
                                       "registriert.")
    assert chunk(doc, "2").antwort == "Im Jahr 2021 wurden 2.104 Betriebe mindestens einmal kontrolliert."
    assert chunk(doc, "3").antwort.startswith("Bei 612 Kontrollen wurden Mängel festgestellt")
    assert chunk(doc, "5").antwort == "Vierzehn Betriebe wurden vorübergehend geschlossen."


def test_defects_are_warned_with_document_and_page_and_no_text_is_lost():
    doc = parse("S19-10513.txt")
    assert ids(doc) == ["1", "2", "3", "5", "6", "6-2", "7", "8", "9"]
    assert set(doc.warnings) == {
        "S19-10513 page 2: Frage 4 is missing (the numbering jumps over it)",
        "S19-10513 page 3: Frage 6 appears twice",
        "S19-10513 page 3: Frage 7 has no answer",
        "S19-10513 page 3: answer to Frage 9 without a Frage",
    }
    assert chunk(doc, "6").antwort == "Im Bezirk sind 21 Lebensmittelkontrolleurinnen und -kontrolleure tätig."
    assert chunk(doc, "6-2").numbers == ("6",)
    assert chunk(doc, "6-2").frage == "Wie viele Stellen sind derzeit unbesetzt?"
    assert chunk(doc, "6-2").antwort == "Derzeit sind vier Stellen unbesetzt."
    assert chunk(doc, "7").frage == "Plant der Senat, die Ergebnisse der Kontrollen zu veröffentlichen?"
    assert chunk(doc, "7").antwort == ""
    assert chunk(doc, "8").antwort == "Ein Zeitpunkt steht noch nicht fest."
    assert chunk(doc, "9").frage == ""
    assert chunk(doc, "9").antwort.startswith("Ergänzend wird auf die Antwort")


def test_letter_spaced_signatory_is_rejoined():
    doc = parse("S19-10513.txt")
    assert doc.signatory == "Micha Klapp"
    assert doc.answered_on == "2022-01-12"
    assert doc.answered_received_on == "2022-01-14"
    assert doc.authority == "Senatsverwaltung für Justiz, Vielfalt und Antidiskriminierung"
    assert "Klapp" not in chunk_text(doc)


def test_unstructured_answer_becomes_text_chunks_with_a_warning_and_full_metadata():
    doc = parse("S19-10999.txt")
    assert [c.kind for c in doc.chunks] == ["text"]
    assert doc.warnings == ("S19-10999: no Frage/Antwort structure recognised; kept as 1 text chunks",)
    text = doc.chunks[0].antwort
    assert text.startswith("Die Fragen werden wegen ihres Sachzusammenhangs gemeinsam beantwortet.")
    assert text.endswith("im Rahmen seiner Zuständigkeit entscheiden.")
    assert doc.title == "Zukunft des Areals am Spreeufer in Treptow"
    assert doc.signatory == "Wenke Christoph"
    assert "In Vertretung" not in text and "Im Namen des Senats" not in text


# --- every variant: no page furniture, no letter, no word lost ---------------------------------------------

_FURNITURE = [
    re.compile(r"(?m)^\d{1,3}$"),  # a page number on a line of its own
    re.compile(r"Seite \d+ von \d+"),
    re.compile(r"[-_.]{5,}"),  # separator lines
    re.compile(r"\bA n t w o r t\b|beantworte ich Ihre|über Senatskanzlei|Eingang beim Abgeordnetenhaus"),
    re.compile(r"In Vertretung|Berlin, den"),
    re.compile("[\uf0b7\ue000\ue001\f]"),
]


@pytest.mark.parametrize("name", ALL_VARIANTS)
def test_no_cover_letter_signature_or_page_furniture_in_any_chunk(name):
    doc = parse(name)
    for c in doc.chunks:
        for pattern in _FURNITURE:
            assert not pattern.search(c.frage + "\n" + c.antwort), (c.chunk_id, pattern.pattern)


def _inner_words(text: str) -> list[str]:
    """Words that are whole inside their line (not at a line end, where hyphenation may join them)."""
    words = []
    for line in text.split("\n"):
        tokens = line.split()
        words += [re.sub(r"^\W+|\W+$", "", re.sub(r"(?<=[^\W\d])\d{1,2}$", "", t)) for t in tokens[1:-1]]
    return [w for w in words if len(w) > 2 and not re.fullmatch(r"\d[\d.]*", w)]


@pytest.mark.parametrize("name", ALL_VARIANTS)
def test_every_word_of_the_answer_body_is_in_a_chunk(name):
    raw = (VARIANTS / name).read_text(encoding="utf-8")
    body = raw[raw.index("wie folgt:") + len("wie folgt:"):raw.rindex("Berlin, den")]
    # answer markers (`Zu 3. a bis c:`) become chunk numbers; the running head is page furniture
    body = re.sub(r"(?m)^(?:Antwort\s+)?[Zz]u\s+[^:\n]{1,30}:|^\f?Abgeordnetenhaus Berlin – .*$|^Seite .*$", "", body)
    text = chunk_text(parse(name))
    missing = [w for w in _inner_words(body) if w not in text]
    assert [w for w in missing if w not in ("Frage", "Antwort")] == []


@pytest.mark.parametrize("name", ALL_VARIANTS)
def test_chunk_ids_are_unique_and_numbers_are_normalised(name):
    doc = parse(name)
    assert len({c.chunk_id for c in doc.chunks}) == len(doc.chunks)
    for c in doc.chunks:
        for number in c.numbers:
            assert re.fullmatch(r"\d{1,2}(?:\.\d{1,2})*[a-z]?", number), (c.chunk_id, number)
        assert c.pages and all(1 <= p <= doc.page_count for p in c.pages)


def test_folder_of_variants_parses_without_failures():
    report = parse_paths([VARIANTS])
    assert report.failures == []
    assert sorted(d.document_id for d in report.documents) == sorted(Path(n).stem for n in ALL_VARIANTS)


# --- the same answer as a PDF text layer -------------------------------------------------------------------

def test_variant_as_pdf_gives_the_same_chunks_pages_and_metadata(tmp_path):
    from test_parsing_files import _pdf  # the minimal PDF writer of the file tests (Helvetica, one line per Tj)

    text = (VARIANTS / "S19-11202.txt").read_text(encoding="utf-8").rstrip("\n")
    pdf = tmp_path / "S19-11202.pdf"
    pdf.write_bytes(_pdf(text.split("\f")))
    from_pdf, from_text = parse_file(pdf), parse("S19-11202.txt")
    assert from_pdf.page_count == 3
    assert [(c.chunk_id, c.frage, c.antwort, c.pages) for c in from_pdf.chunks] == \
           [(c.chunk_id, c.frage, c.antwort, c.pages) for c in from_text.chunks]
    meta = lambda d: {k: v for k, v in d.metadata().items() if k != "source_file"}  # noqa: E731
    assert meta(from_pdf) == meta(from_text)


# --- marker styles seen in other answers, in a minimal letter ----------------------------------------------

INTRO = "Im Namen des Senats von Berlin beantworte ich Ihre Schriftliche Anfrage wie folgt:\n"
CLOSING = "\nBerlin, den 22. November 2021\nIn Vertretung\nTorsten Akmann\nSenatsverwaltung für Inneres und Sport\n"


@pytest.mark.parametrize("body, expected", [
    ("1. Wie viele Fälle gab es\na) 2020,\nb) 2021?\nZu 1. a:\nZehn.\nZu 1. b:\nElf.",
     [("1a", "Zehn."), ("1b", "Elf.")]),
    ("1. Wie viele Personen waren\na) Männer,\nb) Frauen?\nZu a):\nZehn.\nZu b):\nElf.\n2. Warum?\nZu 2.:\nDarum.",
     [("1a", "Zehn."), ("1b", "Elf."), ("2", "Darum.")]),
    ("1) Wie viele?\nZu 1):\nZwei.\n2) Wann?\nZu 2):\nHeute.", [("1", "Zwei."), ("2", "Heute.")]),
    ("1.) Wer?\nZu 1.):\nDer Bezirk.\n2.) Wo?\nZu 2.):\nIn Mitte.", [("1", "Der Bezirk."), ("2", "In Mitte.")]),
    ("1. A?\n2. B?\n3. C?\n4. D?\nZu 1.:\nJa.\nZu den Fragen 2 bis 4:\nNein.", [("1", "Ja."), ("2+3+4", "Nein.")]),
    ("Frage 1: A?\nFrage 2: B?\nZu Frage 1 und 2:\nBeides.", [("1+2", "Beides.")]),
    ("1. A?\n2. B?\n3. C?\nZu 3.:\nC.\n4. D?\nZu 1., 2. und 4.:\nABD.", [("1+2+4", "ABD."), ("3", "C.")]),
])
def test_answer_marker_styles(body, expected):
    doc = parse_text_doc(body)
    assert [(i, c.antwort) for i, c in zip(ids(doc), doc.chunks)] == expected
    assert doc.warnings == ()


def parse_text_doc(body: str):
    return parse_text(INTRO + body + CLOSING, "T19-1")


def test_list_in_an_answer_numbered_like_later_fragen_stays_in_the_answer():
    doc = parse_text_doc("1. Welche Bahnhöfe sind betroffen?\nZu 1.:\nFolgende:\n1. Altstadt,\n2. Zitadelle,\n"
                         "3. Haselhorst.\n2. Wann wird gebaut?\nZu 2.:\n2024.\n3. Was kostet es?\nZu 3.:\nViel.")
    assert ids(doc) == ["1", "2", "3"]
    assert doc.chunks[0].antwort == "Folgende:\n1. Altstadt,\n2. Zitadelle,\n3. Haselhorst."
    assert doc.chunks[2].frage == "Was kostet es?"
    assert doc.warnings == ()
