"""Cleaning keeps every word: line-break hyphens, letter spacing, whitespace, bullets, page furniture, footnotes."""
from __future__ import annotations

import pytest

from qa_service.parsing import parse_text
from qa_service.parsing.cleaning import (Line, TextStyle, join_lines, join_pair, normalise_line, page_lines,
                                         rejoin_letter_spaced)

STYLE = TextStyle(width=90, hyphenated=frozenset())


@pytest.mark.parametrize("left, right, joined", [
    ("unter Ein-", "bindung lokaler Akteure", "unter Einbindung lokaler Akteure"),
    ("parallel zum Sport-", "hallenbetrieb in 2022", "parallel zum Sporthallenbetrieb in 2022"),
    ("des Berliner Klimaschutz-", "und Energiewendegesetzes", "des Berliner Klimaschutz- und Energiewendegesetzes"),
    ("Fach-", "oder Hausärzte", "Fach- oder Hausärzte"),
    ("Schul-", "bzw. Berufsabschluss", "Schul- bzw. Berufsabschluss"),
    ("den Bezirk Marzahn-", "Hellersdorf um Stellungnahme", "den Bezirk Marzahn-Hellersdorf um Stellungnahme"),
    ("Fallmerkmal „Covid-19-", "Bezug“ versehen", "Fallmerkmal „Covid-19-Bezug“ versehen"),
    ("der Anti-Corona-", "Maßnahmen verübt", "der Anti-Corona-Maßnahmen verübt"),
    ("Polizei-", "Managementsystem Ressourcendatenbank", "Polizei-Managementsystem Ressourcendatenbank"),
    ("Eine „Echttatverdächtigen“-", "Auswertung, wie", "Eine „Echttatverdächtigen“-Auswertung, wie"),
    ("schule-im-umfeld/nationaler-bil-", "dungsbericht-mehr", "schule-im-umfeld/nationaler-bildungsbericht-mehr"),
    ("in den Jahren 2014-", "2025 gesamt", "in den Jahren 2014-2025 gesamt"),
    ("von Pflanzenöl -", "höchstwahrscheinlich Olivenöl", "von Pflanzenöl - höchstwahrscheinlich Olivenöl"),
    ("ganz normal", "weiter", "ganz normal weiter"),
])
def test_line_break_hyphen_is_removed_only_where_it_splits_a_word(left, right, joined):
    assert join_pair(left, right, STYLE) == joined


def test_hyphen_stays_when_the_hyphenated_form_occurs_elsewhere_in_the_document():
    style = TextStyle(width=90, hyphenated=frozenset({"E-scooter"}))
    assert join_pair("ein E-", "scooter lag im Kanal", style) == "ein E-scooter lag im Kanal"
    assert join_pair("ein E-", "scooter lag im Kanal", STYLE) == "ein Escooter lag im Kanal"


def test_document_level_hyphenated_form_is_seen_by_the_parser():
    text = ("Im Namen des Senats von Berlin beantworte ich Ihre Schriftliche Anfrage wie folgt:\n"
            "Frage 1:\nWarum liegen E-Scooter-Akkus und Lade-\nkabel im Wasser? Wer zahlt die Lade-kabel-Entsorgung?\n"
            "Antwort zu 1:\nNiemand.\n")
    frage = parse_text(text, "X").chunks[0].frage
    assert "Lade-kabel im Wasser?" in frage


def test_letter_spaced_words_are_rejoined():
    assert rejoin_letter_spaced("A n t w o r t") == "Antwort"
    assert rejoin_letter_spaced("Micha K l a p p") == "Micha Klapp"
    assert rejoin_letter_spaced("Zu 6. a und b:") == "Zu 6. a und b:"
    assert rejoin_letter_spaced("Jahr A 21 A 23") == "Jahr A 21 A 23"


def test_whitespace_and_private_use_bullets_are_normalised():
    assert normalise_line("\uf0b7  einfacher\u00a0Diebstahl \t") == "• einfacher Diebstahl"
    assert normalise_line("Zwei\u200bWörter   mit  Lücken") == "ZweiWörter mit Lücken"


def test_bullet_items_keep_their_own_lines():
    lines = [Line(t, 1) for t in ("aufgeschlüsselt nach Straftatengruppen:", "• einfacher Diebstahl",
                                  "• Rohheitsdelikte")]
    assert join_lines(lines, STYLE) == "aufgeschlüsselt nach Straftatengruppen:\n• einfacher Diebstahl\n" \
                                       "• Rohheitsdelikte"


def test_paragraph_breaks_by_layout_and_blank_lines():
    long_line = "Dies ist eine lange Zeile, die fast die ganze Breite der Seite einnimmt, wie im Fließtext"
    lines = [Line(long_line, 1), Line("und endet hier.", 1), Line("Neuer Absatz beginnt.", 1)]
    assert join_lines(lines, TextStyle(width=len(long_line), hyphenated=frozenset())) == \
        f"{long_line} und endet hier.\nNeuer Absatz beginnt."
    # two-column text: a blank line inside a sentence is no paragraph break
    lines = [Line("In der ersten Phase des Umsetzungs-", 1), Line("", 1), Line("prozesses der Stadtentwicklung wurden", 1),
             Line("Grundsteine gelegt.", 1), Line("", 1), Line("Den Bezirken werden Mittel gegeben.", 1)]
    assert join_lines(lines, TextStyle(width=40, hyphenated=frozenset())) == \
        "In der ersten Phase des Umsetzungsprozesses der Stadtentwicklung wurden Grundsteine gelegt.\nDen Bezirken werden Mittel gegeben."


def test_abbreviation_at_line_end_does_not_end_the_paragraph():
    lines = [Line("Berufsorientierung gem.", 1), Line("§ 13 Abs. 2 SGB VIII, das auf einem Vertrag beruht.", 1)]
    assert join_lines(lines, STYLE) == "Berufsorientierung gem. § 13 Abs. 2 SGB VIII, das auf einem Vertrag beruht."


def test_page_numbers_and_seite_n_von_m_and_separators_are_removed_but_numbers_in_text_stay():
    pages = ["Deckblatt\nDrucksache 19/1",
             "Text auf Seite zwei\n24\n-------------------------\n1",
             "2\nText auf Seite drei\nSeite 2 von 3",
             "Mehr Text\n42\n3"]
    texts = [(line.text, line.page) for line in page_lines(pages)]
    assert texts == [("Deckblatt", 1), ("Drucksache 19/1", 1), ("Text auf Seite zwei", 2), ("24", 2),
                     ("Text auf Seite drei", 3), ("Mehr Text", 4), ("42", 4)]


def _letter(body: str) -> str:
    return ("Drucksache 19 /12 345\nSchriftliche Anfrage\n19. Wahlperiode\nSchriftliche Anfrage\n"
            "des Abgeordneten Max Muster (SPD)\nvom 01. März 2022 (Eingang beim Abgeordnetenhaus am 02. März 2022)\n"
            "zum Thema:\nTestthema\nund Antwort vom 15. März 2022 (Eingang beim Abgeordnetenhaus am 16. Mär. 2022)\f"
            "Senatsverwaltung für Finanzen\nHerrn Abgeordneten Max Muster (SPD)\nA n t w o r t\n"
            "auf die Schriftliche Anfrage Nr. 19/12345\nvom 01. März 2022\nüber Testthema\n"
            "Im Namen des Senats von Berlin beantworte ich Ihre Schriftliche Anfrage wie folgt:\n"
            f"{body}\nBerlin, den 15. März 2022\nIn Vertretung\nMicha K l a p p\nSenatsverwaltung für Finanzen\n")


def test_footnote_marker_removed_and_text_appended_only_when_both_halves_exist():
    body = ("1. Wie viele Projekte gibt es?\nZu 1.:\nEs gibt ein Projekt3 und 24 PV-Anlagen nach § 19. Die Zahl\n"
            "stammt aus dem Bericht.“1\n"
            "1 Bericht des Senats, 2021, https://www.berlin.de/sen/bericht-\nteil-zwei.pdf\f"
            "2. Und NO2 im Jahr 2020?\nZu 2.:\nDer NO2-Wert sank.")
    doc = parse_text(_letter(body), "S19-12345")
    first, second = doc.chunks
    assert first.antwort == ("Es gibt ein Projekt3 und 24 PV-Anlagen nach § 19. Die Zahl stammt aus dem Bericht.“\n"
                             "[1] Bericht des Senats, 2021, https://www.berlin.de/sen/berichtteil-zwei.pdf")
    assert first.pages == (2,)
    assert second.frage == "Und NO2 im Jahr 2020?"
    assert second.antwort == "Der NO2-Wert sank."
    assert doc.signatory == "Micha Klapp"
    assert doc.warnings == ()
