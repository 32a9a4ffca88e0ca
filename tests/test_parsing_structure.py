"""Frage/Antwort markers -> chunks: both marker families, sub-questions, joint answers, numbering warnings."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from qa_service.parsing import parse_file, parse_text
from qa_service.parsing.structure import normalise_label, parse_labels

DATA = Path(__file__).resolve().parent / "data"
CORPUS = Path(__file__).resolve().parents[1] / "corpus"
INTRO = "Im Namen des Senats von Berlin beantworte ich Ihre Schriftliche Anfrage wie folgt:\n"
CLOSING = "\nBerlin, den 22. November 2021\nIn Vertretung\nTorsten Akmann\nSenatsverwaltung für Inneres und Sport\n"


def parse_body(body: str, document_id: str = "T19-1"):
    return parse_text(INTRO + body + CLOSING, document_id)


def ids(doc):
    return [c.chunk_id.split("#")[1] for c in doc.chunks]


@pytest.mark.parametrize("marker, labels", [
    ("6 und 7", ["6", "7"]),
    ("2. und 2.1.", ["2", "2.1"]),
    ("6. a und b", ["6a", "6b"]),
    ("9. a bis c", ["9a", "9b", "9c"]),
    ("1.1 und 1.1.1", ["1.1", "1.1.1"]),
    ("5. a.", ["5a"]),
    ("1. b", ["1b"]),
    ("1 a", ["1a"]),
    ("den Fragen 6, 7, 8 und 10", ["6", "7", "8", "10"]),
    ("5. bis 7.", ["5", "6", "7"]),
])
def test_answer_marker_labels_are_normalised_and_ranges_expanded(marker, labels):
    assert parse_labels(marker) == labels


def test_label_normalisation():
    assert normalise_label("5.", "a") == "5a"
    assert normalise_label("1.1.") == "1.1"
    assert normalise_label("1 ", "a") == "1a"


def test_frage_antwort_family_with_text_on_the_marker_line_and_joint_answer():
    doc = parse_body("Frage 5: Wer räumt auf?\nAntwort zu 5: Das Bezirksamt.\nFrage 6:\nWie oft?\nFrage 7:\n"
                     "Wie teuer?\nAntwort zu 6 und 7:\nDazu liegen keine Daten vor.\nFrage 8: Warum?\n"
                     "Antwort zu 8: Siehe Antwort zu 6.")
    assert ids(doc) == ["5", "6+7", "8"]
    joint = doc.chunks[1]
    assert joint.numbers == ("6", "7")
    assert joint.frage == "Frage 6: Wie oft?\nFrage 7: Wie teuer?"
    assert joint.antwort == "Dazu liegen keine Daten vor."
    assert doc.chunks[0].frage == "Wer räumt auf?" and doc.chunks[0].antwort == "Das Bezirksamt."
    assert doc.chunks[2].antwort == "Siehe Antwort zu 6."
    assert [w for w in doc.warnings if "Frage 1 " in w]  # numbering starts at 5: 1 to 4 are missing


def test_numbered_family_with_sub_numbers_glued_and_a_reference_answer():
    doc = parse_body("1. Wie ist der Stand?\nZu 1.:\nGut.\n2. Welche Gebäude gibt es?\n2.1.Welche davon sind "
                     "Schulen?\nZu 2. und 2.1.:\nZwölf, davon drei Schulen.\n2.2.Welche sind Sporthallen?\n"
                     "Zu 2.2.: siehe oben")
    assert ids(doc) == ["1", "2+2.1", "2.2"]
    assert doc.chunks[1].frage == "2. Welche Gebäude gibt es?\n2.1. Welche davon sind Schulen?"
    assert doc.chunks[2].frage == "2. Welche Gebäude gibt es?\n2.2. Welche sind Sporthallen?"
    assert doc.chunks[2].antwort == "siehe oben"
    assert doc.warnings == ()


def test_letter_sub_questions_answered_separately_keep_the_stem():
    doc = parse_body("1. Wie viele Einsätze gab es\na) bei Tag,\nb) bei Nacht,\nc) am Wochenende?\n"
                     "Zu 1. a und b:\nJe 10.\nZu 1. c:\nKeine.\n2. Welche Kosten entstanden für\na) Personal,\n"
                     "b) Material,\nc) Fahrzeuge?\nZu 2. a bis c:\nInsgesamt 5.000 Euro.")
    assert ids(doc) == ["1a+1b", "1c", "2a+2b+2c"]
    assert doc.chunks[0].frage == "1. Wie viele Einsätze gab es\na) bei Tag,\nb) bei Nacht,"
    assert doc.chunks[1].frage == "1. Wie viele Einsätze gab es\nc) am Wochenende?"
    assert doc.chunks[2].numbers == ("2a", "2b", "2c")
    assert doc.chunks[2].frage.startswith("2. Welche Kosten entstanden für\na) Personal,")
    assert doc.warnings == ()


def test_sub_questions_answered_with_their_parent_stay_in_the_parent_chunk():
    doc = parse_body("1. Welche Fortbildungen gab es\na) für Führungskräfte und\nb) für Mitarbeitende?\nZu 1.:\n"
                     "Zwei Seminare.")
    assert ids(doc) == ["1"]
    assert doc.chunks[0].frage == "1. Welche Fortbildungen gab es\na) für Führungskräfte und\nb) für Mitarbeitende?"
    assert doc.warnings == ()


def test_date_or_list_at_line_start_inside_an_answer_is_not_a_frage():
    doc = parse_body("1. Wie viele Taten gab es?\nZu 1.:\nEine Recherche ergab, dass zum\n12. November 2021 mehr als "
                     "50.000 Taten erfasst waren. Gründe:\n2. Quartal mit den meisten Taten.\n"
                     "2. Wer ermittelt?\nZu 2.:\nDie Polizei.")
    assert ids(doc) == ["1", "2"]
    assert "12. November 2021 mehr als 50.000" in doc.chunks[0].antwort
    assert "2. Quartal mit den meisten Taten." in doc.chunks[0].antwort
    assert doc.warnings == ()


def test_vorbemerkungen_get_their_own_chunks():
    doc = parse_body("Vorbemerkung der Verwaltung:\nDer Senat fragte den Bezirk.\nVorbemerkung des Abgeordneten: "
                     "Es gibt ein Problem.\nFrage 1:\nWarum?\nAntwort zu 1:\nDarum.")
    assert ids(doc) == ["vorbemerkung", "vorbemerkung-2", "1"]
    assert [c.kind for c in doc.chunks] == ["vorbemerkung", "vorbemerkung", "qa"]
    assert doc.chunks[0].frage == "Vorbemerkung der Verwaltung"
    assert doc.chunks[0].antwort == "Der Senat fragte den Bezirk."
    assert doc.chunks[1].frage == "Vorbemerkung des Abgeordneten\nEs gibt ein Problem."


def test_gap_duplicate_missing_answer_and_orphan_answer_are_warned_and_text_kept():
    doc = parse_body("Frage 1:\nA?\nAntwort zu 1:\na.\nFrage 3:\nC?\nAntwort zu 3:\nc.\nFrage 3:\nC noch mal?\n"
                     "Antwort zu 3:\nc noch mal.\nFrage 4:\nD?\nAntwort zu 5:\ne.", document_id="W19-9")
    assert ids(doc) == ["1", "3", "3-2", "4", "5"]
    assert doc.chunks[2].frage == "C noch mal?" and doc.chunks[2].antwort == "c noch mal."
    assert doc.chunks[3].frage == "D?" and doc.chunks[3].antwort == ""
    assert doc.chunks[4].frage == "" and doc.chunks[4].antwort == "e."
    warnings = "\n".join(doc.warnings)
    assert "W19-9 page 1: Frage 2 is missing" in warnings
    assert "W19-9 page 1: Frage 3 appears twice" in warnings
    assert "W19-9 page 1: Frage 4 has no answer" in warnings
    assert "W19-9 page 1: answer to Frage 5 without a Frage" in warnings


def test_text_before_the_first_frage_is_kept_with_a_warning():
    doc = parse_body("Ein Absatz ohne Überschrift.\nFrage 1:\nWarum?\nAntwort zu 1:\nDarum.", document_id="U19-1")
    assert ids(doc) == ["text-1", "1"]
    assert doc.chunks[0].kind == "text" and doc.chunks[0].antwort == "Ein Absatz ohne Überschrift."
    assert doc.warnings == ("U19-1 page 1: text before the first Frage could not be placed; kept as a text chunk",)


def test_document_without_structure_becomes_text_chunks_with_a_warning():
    paragraphs = [f"Absatz {n}: " + "Ein Satz mit Inhalt. " * 20 for n in range(1, 5)]
    doc = parse_text("\n\n".join(paragraphs), "N-1")
    assert [c.kind for c in doc.chunks] == ["text"] * len(doc.chunks)
    assert ids(doc) == [f"text-{n}" for n in range(1, len(doc.chunks) + 1)]
    assert len(doc.chunks) >= 2
    text = "\n".join(c.antwort for c in doc.chunks)
    for paragraph in paragraphs:
        assert paragraph.strip() in text
    assert doc.warnings == (f"N-1: no Frage/Antwort structure recognised; kept as {len(doc.chunks)} text chunks",)


def test_signature_block_ends_the_last_answer_and_gives_signatory():
    doc = parse_body("Frage 1:\nWarum?\nAntwort zu 1:\nDarum.")
    assert doc.chunks[-1].antwort == "Darum."
    assert doc.signatory == "Torsten Akmann"
    assert doc.authority == "Senatsverwaltung für Inneres und Sport"
    assert doc.answered_on == "2021-11-22"


def test_text_after_the_signature_is_kept_with_a_warning():
    doc = parse_text(INTRO + "Frage 1:\nWarum?\nAntwort zu 1:\nDarum." + CLOSING +
                     "Anlage 1: Tabelle der Einsätze mit vielen Zeilen und Zahlen.\n", "A-1")
    assert ids(doc) == ["1", "text-1"]
    assert doc.chunks[1].antwort == "Anlage 1: Tabelle der Einsätze mit vielen Zeilen und Zahlen."
    assert any("text after the signature" in w for w in doc.warnings)


# --- the flattened fixtures (tests/data/partial) -----------------------------------------------------------

@pytest.mark.parametrize("name, expected_ids", [
    ("S19-10006", ["vorbemerkung", "1", "2", "3", "4", "5", "6"]),
    ("S19-10011", ["1", "2", "3", "4", "5"]),
    ("S19-10028", ["5+6", "7"]),
    ("S19-10980", ["7+8", "9"]),
    ("S19-10035", ["text-1", "2"]),
    ("S19-10997", ["5"]),
    ("S19-11394", ["2", "3", "13", "14"]),
    ("S19-11461", ["text-1", "2", "3", "4"]),
    ("S19-11512", ["1.1+1.1.1"]),
    ("S19-15212", ["6+7", "8", "9"]),
    ("S19-15431", ["3.1", "4", "4.1"]),
    ("S19-17442", ["1c", "1a", "1b", "2", "11", "12"]),
])
def test_flattened_fixtures_split_into_their_fragen(name, expected_ids):
    doc = parse_file(DATA / "partial" / f"{name}.md")
    assert ids(doc) == expected_ids


def test_flattened_inline_markers_separate_frage_and_antwort():
    doc = parse_file(DATA / "partial" / "S19-15212.md")
    chunk = doc.chunks[1]
    assert chunk.frage.startswith("RTL News berichtet folgendes: „Auch die Umweltverwaltung holt")
    assert chunk.frage.endswith("die betreffenden Einsatzzahlen.")
    assert chunk.antwort == "Eine Statistik der Einsätze wird nicht geführt. Im Übrigen siehe Antwort zu 6."
    assert doc.chunks[0].antwort.endswith("Umbauten an den Gewässerreinigungsschiffen.")
    assert "S19-15212 page 6: answer to Frage 6 without a Frage" in doc.warnings
    assert "S19-15212 page 6: Frage 9 has no answer" in doc.warnings


def test_flattened_joint_numbered_answer_keeps_both_fragen():
    doc = parse_file(DATA / "partial" / "S19-10028.md")
    joint = doc.chunks[0]
    assert joint.numbers == ("5", "6")
    assert joint.frage.startswith("5. Wie stellt sich die Zahl der Hausärzte")
    assert "\n6. Wie stellt sich die Zahl der Hausärzte/grundversorgenden Fachärzte im Verhältnis zur " \
           "Einwohnerzahl im Ortsteil Adlershof dar?" in joint.frage
    assert joint.antwort.startswith("Die bundesweit gültige Bedarfsplanungsrichtlinie")


@pytest.mark.parametrize("name, expected_pages", [
    # `## N` is the printed page number, N + 1 the PDF page (the cover is unnumbered)
    ("S19-11394", {"2": (7,), "3": (7,), "13": (8,), "14": (8,)}),
    ("S19-15212", {"6+7": (6,), "8": (6,), "9": (6,)}),
    ("S19-17442", {"1c": (3, 4), "1a": (3, 4), "1b": (4,), "2": (4,), "11": (7,), "12": (7,)}),
    ("S19-11461", {"text-1": (3,), "2": (3,), "3": (3,), "4": (3,)}),
    ("S19-10035", {"text-1": (1,), "2": (1,)}),  # no `## N` heading: the page is unknown, the first is said
])
def test_flattened_fixtures_take_pages_from_the_converter_page_headings(name, expected_pages):
    doc = parse_file(DATA / "partial" / f"{name}.md")
    assert {label: c.pages for label, c in zip(ids(doc), doc.chunks)} == expected_pages


def test_flattened_signature_block_between_two_parts_is_in_no_chunk():
    doc = parse_file(DATA / "partial" / "S19-11394.md")
    assert ids(doc) == ["2", "3", "13", "14"]
    assert doc.chunks[1].antwort.endswith("Die Fortschreibung des Luftreinhalteplans inklusive "
                                          "Öffentlichkeitsbeteiligung ist bis Ende 2022/Anfang 2023 geplant.")
    assert doc.chunks[2].frage == ("Welche (weiteren) Maßnahmen sind geplant, um die Feinstaubbelastung in Berlin "
                                   "zu reduzieren?")
    text = _chunk_text(doc)
    for closing_part in ("Berlin, den", "24.02.2022", "11.04.2022", "In Vertretung", "Karcher", "Senatsverwaltung"):
        assert closing_part not in text
    assert (doc.answered_on, doc.signatory) == ("2022-04-11", "Dr. Silke Karcher")
    assert doc.warnings[0] == "S19-11394 page 7: answer to Frage 2 without a Frage"


def _write(tmp_path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


FILLER = "Die Antwort füllt eine lange Zeile mit Text, wie es ein Umbruch der Seite nicht anders kennt. " * 3


def test_flattened_signature_block_glued_to_the_next_frage_keeps_the_frage(tmp_path):
    path = _write(tmp_path, "X19-1.md", "## 4   1. Wie viele Bäume wurden gepflanzt?   Zu 1.: " + FILLER +
                  "Berlin, den 25. November 2021 In Vertretung Martin Matz Senatsverwaltung für Gesundheit, Pflege "
                  "und Gleichstellung 2. Wie viele Bäume wurden gefällt?   Zu 2.: Keine." + "\n")
    doc = parse_file(path)
    assert ids(doc) == ["1", "2"]
    assert doc.chunks[0].antwort == FILLER.strip()
    assert (doc.chunks[1].frage, doc.chunks[1].antwort) == ("Wie viele Bäume wurden gefällt?", "Keine.")
    assert [c.pages for c in doc.chunks] == [(5,), (5,)]
    assert "Matz" not in _chunk_text(doc)
    # the excerpt ends before its own closing: the cut one still names date, signer and authority
    assert (doc.answered_on, doc.signatory, doc.authority) == (
        "2021-11-25", "Martin Matz", "Senatsverwaltung für Gesundheit, Pflege und Gleichstellung")
    assert doc.warnings == ()


def test_signature_block_between_fragen_in_page_text_is_cut_but_a_date_in_an_answer_stays():
    doc = parse_body("Frage 1:\nWarum?\nAntwort zu 1:\nDer Brief war datiert:\nBerlin, den 3. Mai 2021\n"
                     "und kam spät.\nBerlin, den 12. Oktober 2021\nIm Auftrag\nErika Muster\nSenatsverwaltung für\n"
                     "Inneres und Sport\n\fFrage 2:\nWieso?\nAntwort zu 2:\nDeshalb.")
    assert ids(doc) == ["1", "2"]
    assert doc.chunks[0].antwort == "Der Brief war datiert:\nBerlin, den 3. Mai 2021\nund kam spät."
    assert (doc.chunks[1].frage, doc.chunks[1].antwort) == ("Wieso?", "Deshalb.")
    assert [c.pages for c in doc.chunks] == [(1,), (2,)]
    assert (doc.answered_on, doc.signatory) == ("2021-11-22", "Torsten Akmann")  # the final closing
    assert doc.warnings == ()


@pytest.mark.parametrize("name, label, page, frage_start", [
    ("S19-10035", "2", 1, "Wie wirkt der Berliner Senat auf die Kassenärztliche Vereinigung hin"),
    ("S19-15212", "9", 6, "Liegen seitens der Berliner Senatsverwaltung"),
    ("S19-17442", "2", 4, "Welche Erkenntnisse hat der Senat in Bezug auf die Lärmbelastung entlang der A100?"),
    ("S19-10028", "7", 1, "Gibt es Erkenntnisse dazu, dass einzelne Ärzte"),
])
def test_trailing_frage_without_answer_is_a_qa_chunk_with_a_warning(name, label, page, frage_start):
    doc = parse_file(DATA / "partial" / f"{name}.md")
    chunk = next(c for c in doc.chunks if c.chunk_id == f"{name}#{label}")
    assert (chunk.kind, chunk.numbers, chunk.antwort, chunk.pages) == ("qa", (label,), "", (page,))
    assert chunk.frage.startswith(frage_start) and chunk.frage.endswith("?")
    assert f"{name} page {page}: Frage {label} has no answer" in doc.warnings


def test_excerpt_starting_mid_answer_keeps_the_leading_text_and_the_last_frage():
    doc = parse_file(DATA / "partial" / "S19-10035.md")
    assert [(c.chunk_id, c.kind) for c in doc.chunks] == [("S19-10035#text-1", "text"), ("S19-10035#2", "qa")]
    assert doc.chunks[0].antwort.startswith("Planungsbereich III umfasst den Bezirk: Treptow-Köpenick")
    assert doc.chunks[0].antwort.endswith("Eigeneinrichtungen betreiben zu wollen.")
    assert doc.chunks[1].frage == ("Wie wirkt der Berliner Senat auf die Kassenärztliche Vereinigung hin, damit "
                                   "sich mehr Fach- und Hausärzte in Hohenschönhausen ansiedeln können?")
    assert doc.warnings == ("S19-10035 page 1: text before the first Frage could not be placed; kept as a text chunk",
                            "S19-10035 page 1: Frage 2 has no answer")


def test_numbered_question_inside_an_excerpt_answer_is_not_a_frage(tmp_path):
    path = _write(tmp_path, "X19-2.md", "3. Was kostet das?   Zu 3.: " + FILLER +
                  "Offen ist:   5. Wie geht es weiter? Das prüft der Senat.\n")
    doc = parse_file(path)
    assert ids(doc) == ["3"]
    assert doc.chunks[0].antwort.endswith("Offen ist:\n5. Wie geht es weiter? Das prüft der Senat.")


def test_flattened_page_number_before_a_marker_is_not_text():
    doc = parse_file(DATA / "partial" / "S19-10011.md")
    assert doc.chunks[2].frage.endswith("(Aufstellung erbeten.)")
    assert doc.chunks[2].antwort.startswith("In beiden Einrichtungen erfolgen gerichtliche Obduktionen")


# --- nothing is lost ---------------------------------------------------------------------------------------

def _inner_words(text: str) -> list[str]:
    """Words that are whole inside their line (not at a line end, where hyphenation may join them)."""
    words = []
    for line in text.split("\n"):
        tokens = line.split()
        # a footnote marker glued to a word (`Projekt3`, `werden.“1`) is not part of the word
        words += [re.sub(r"^\W+|\W+$", "", re.sub(r"(?<=\D)\d{1,2}$", "", t)) for t in tokens[1:-1]]
    return [w for w in words if len(w) > 2 and not w.isdigit()]


def _chunk_text(doc) -> str:
    return "\n".join(c.frage + "\n" + c.antwort for c in doc.chunks)


def test_other_parliament_document_does_not_crash_and_loses_no_word():
    path = DATA / "other" / "saarland-15-1284.txt"
    doc = parse_file(path)
    assert doc.chunks and all(c.kind == "text" for c in doc.chunks)
    assert doc.warnings == (f"saarland-15-1284: 6 answer markers but no Frage markers; kept as "
                            f"{len(doc.chunks)} text chunks",)
    text = _chunk_text(doc)
    missing = [w for w in _inner_words(path.read_text(encoding="utf-8")) if w not in text]
    assert missing == []


@pytest.mark.parametrize("name", ["S19-10006", "S19-10041", "S19-10048", "S19-21969", "S19-25521", "ka17-10866"])
def test_corpus_answer_bodies_lose_no_word(name):
    raw = (CORPUS / f"{name}.txt").read_text(encoding="utf-8")
    body = raw[raw.index("wie folgt:") + len("wie folgt:"):raw.rindex("Berlin, den")]
    text = _chunk_text(parse_file(CORPUS / f"{name}.txt"))
    missing = [w for w in _inner_words(body) if w not in text and not re.fullmatch(r"\d[\d.]*", w)]
    # marker words (`Frage`, `Antwort`, `Zu`) are labels of the chunks, not lost text
    assert [w for w in missing if w not in ("Frage", "Antwort", "zu", "Zu")] == []


def test_a_joint_answer_may_name_its_range_with_a_dash():
    from qa_service.parsing.markers import ANSWER, parse_labels

    for marker in ("Antwort zu den Fragen 5-7:", "Antwort zu den Fragen 5–7:", "Zu 5. - 7.:"):
        match = ANSWER.match(marker)
        assert match, marker
        assert parse_labels(match.group("labels")) == ["5", "6", "7"], marker


def test_a_frage_marker_with_a_dropped_r_still_starts_a_frage():
    # S19-10300 writes `Fage 6:`: without it, Frage 6's text would be read as part of the answer to Frage 5.
    from qa_service.parsing.markers import FRAGE

    assert FRAGE.match("Fage 6:").group("labels") == "6"
    assert not FRAGE.match("Frag 6:") and not FRAGE.match("Fragen 6:")


def test_a_sub_question_numbered_with_its_letter_is_a_frage_not_text_of_the_answer_before():
    # S19-10282 writes `1.a. Aufgrund …` / `Zu 1.a.:`; read as text, each sub-question ended the answer before it
    # and its chunk showed only the parent Frage.
    doc = parse_body("1. Welche Orte gibt es?\nZu 1.:\nSieben.\n1.a. Aufgrund welcher Delikte?\nZu 1.a.:\n"
                     "Diebstahl.\n1.b) Wie groß sind sie?\nZu 1.b):\nKlein.\nc) Seit wann?\nZu 1.c.:\nSeit 2020.\n"
                     "2. Was hat sich geändert?\nZu 2.:\nNichts.")
    assert ids(doc) == ["1", "1a", "1b", "1c", "2"]
    assert doc.chunks[0].antwort == "Sieben."
    assert doc.chunks[1].frage == "1. Welche Orte gibt es?\n1.a. Aufgrund welcher Delikte?"
    assert doc.chunks[1].antwort == "Diebstahl."
    assert doc.chunks[2].frage == "1. Welche Orte gibt es?\n1.b) Wie groß sind sie?"
    assert doc.chunks[3].frage == "1. Welche Orte gibt es?\nc) Seit wann?"
    assert doc.warnings == ()
    # In an answer, `1.a.` followed by text that no answer marker names stays text of that answer.
    listed = parse_body("1. Welche Schritte folgen?\nZu 1.:\nDiese:\n1.a. Planung.\n1.b. Bau.\n2. Wann?\nZu 2.:\n2024.")
    assert ids(listed) == ["1", "2"]
    assert listed.chunks[0].antwort == "Diese:\n1.a. Planung.\n1.b. Bau."
