"""The shipped corpus, pinned: chunk ids and kinds, pages, exact text at the edges, metadata, warnings.

The 11 PDFs are read with pdftotext; each must give exactly the document its reference text gives
(tests/data/pdf-reference/, the text of poppler's pdftotext 22.12 for the same PDF).
"""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from qa_service.documents import Asker
from qa_service.parsing import parse_file, parse_paths

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
PARTIAL = Path(__file__).resolve().parent / "data" / "partial"
PDF_REFERENCE = Path(__file__).resolve().parent / "data" / "pdf-reference"

EXPECTED_CHUNKS = {
    "S19-10006": [("vorbemerkung", "vorbemerkung", (2,)), ("1", "qa", (2,)), ("2", "qa", (3,)), ("3", "qa", (3,)),
                  ("4", "qa", (3,)), ("5", "qa", (3,)), ("6", "qa", (3, 4))],
    "S19-10041": [("1", "qa", (2, 3, 4)), ("2", "qa", (4,)), ("3", "qa", (4,)), ("4", "qa", (4,)),
                  ("5a", "qa", (4, 5)), ("5b", "qa", (4, 5)), ("5c", "qa", (4, 5)), ("5d", "qa", (4, 5)),
                  ("6", "qa", (5,))],
    "S19-10048": [("vorbemerkung", "vorbemerkung", (2,)), ("1", "qa", (2,)), ("2", "qa", (2, 3)), ("3", "qa", (3,)),
                  ("4", "qa", (3,))],
    "S19-21969": [("vorbemerkung", "vorbemerkung", (2, 3)), ("1", "qa", (3,)), ("2", "qa", (3,)), ("3", "qa", (4,)),
                  ("4", "qa", (4,)), ("5", "qa", (4,)), ("6", "qa", (5,)), ("7", "qa", (5,)), ("8", "qa", (5, 6))],
    "S19-25521": [("vorbemerkung", "vorbemerkung", (2,)), ("1", "qa", (2, 3)), ("2", "qa", (3, 4, 5)),
                  ("3", "qa", (5, 6, 7, 8)), ("4", "qa", (8, 9, 10)), ("5", "qa", (10,)), ("6", "qa", (10, 11)),
                  ("7", "qa", (11,)), ("8", "qa", (11,))],
    "ka17-10866": [(str(n), "qa", (1,)) for n in range(1, 11)],
}

# The official PDFs: chunk labels in order (joint answers `1+5+7`, sub-answers `1a`, two Vorbemerkungen).
EXPECTED_PDF_LABELS = {
    "S19-10268": ["vorbemerkung", "1", "2", "3", "4"],
    "S19-10270": ["vorbemerkung", "1", "2", "3", "4", "5", "6", "7"],
    "S19-10276": ["vorbemerkung", "vorbemerkung-2", "1", "2", "3"],
    "S19-10279": ["vorbemerkung", "1+5+7", "2", "2a", "2b", "3+4", "6"],
    # `Antwort zu 6:` stands empty before `Antwort zu den Fragen 5-7:`: the joint answer holds the text.
    "S19-10281": ["vorbemerkung", "1", "2", "3", "4", "5+6+7", "6"],
    "S19-10282": ["1", "1a", "1b", "1c", "2", "2a", "2b", "2c", "2d", "3", "4", "5", "6", "7", "8", "9", "10"],
    "S19-10290": ["1+6+11", "2+3+4+5", "7", "8", "9", "10", "12", "13"],
    "S19-10295": ["1+3", "2", "4", "5", "6", "7"],
    "S19-10296": ["1+3", "2", "4", "5", "6", "7"],
    "S19-10300": ["1", "2", "3", "4", "5", "6", "7", "8"],
    # the three-page answer, then 117 text chunks: the attachment tables after the signature
    "S19-14497": ["vorbemerkung", "1", "2", "3", "4", "5", "6"] + [f"text-{n}" for n in range(1, 118)],
}
# What these PDFs make the parser warn about (their reference text gives the same): S19-10281 answers Frage 6 once
# with an empty `Antwort zu 6:` and once jointly (`Antwort zu den Fragen 5-7:`).
PDF_DEFECTS = {
    "S19-10281": ("S19-10281 page 3: Frage 6 is answered twice",),
}
CLEAN_DOCUMENTS = sorted(set(EXPECTED_CHUNKS) | set(EXPECTED_PDF_LABELS) - set(PDF_DEFECTS) - {"S19-14497"})


@pytest.fixture(scope="module")
def corpus():
    report = parse_paths([CORPUS])
    assert report.failures == []
    return {doc.document_id: doc for doc in report.documents}


def _chunk(corpus, chunk_id):
    document_id = chunk_id.split("#")[0]
    return next(c for c in corpus[document_id].chunks if c.chunk_id == chunk_id)


def test_corpus_folder_gives_every_txt_and_pdf_document_once(corpus):
    assert sorted(corpus) == sorted(EXPECTED_CHUNKS | EXPECTED_PDF_LABELS)
    assert len(corpus) == 17
    assert sum(len(doc.chunks) for doc in corpus.values()) == 49 + 201
    assert {Path(doc.source_file).suffix for doc in corpus.values() if doc.document_id in EXPECTED_PDF_LABELS} \
        == {".pdf"}


@pytest.mark.parametrize("document_id", sorted(EXPECTED_CHUNKS))
def test_chunk_ids_kinds_and_pages_are_pinned(corpus, document_id):
    doc = corpus[document_id]
    got = [(c.chunk_id, c.kind, c.pages) for c in doc.chunks]
    assert got == [(f"{document_id}#{label}", kind, pages) for label, kind, pages in EXPECTED_CHUNKS[document_id]]


@pytest.mark.parametrize("document_id", sorted(EXPECTED_PDF_LABELS))
def test_pdf_chunk_labels_are_pinned(corpus, document_id):
    got = [c.chunk_id for c in corpus[document_id].chunks]
    assert got == [f"{document_id}#{label}" for label in EXPECTED_PDF_LABELS[document_id]]


@pytest.mark.parametrize("document_id", sorted(EXPECTED_PDF_LABELS))
def test_pdf_gives_the_document_of_its_reference_text(corpus, document_id):
    reference = parse_file(PDF_REFERENCE / f"{document_id}.txt")
    doc = corpus[document_id]
    assert doc.chunks == reference.chunks  # ids, kinds, numbers, pages and every character of Frage and Antwort
    assert replace(doc, source_file=None) == replace(reference, source_file=None)


@pytest.mark.parametrize("document_id", sorted(PDF_DEFECTS))
def test_known_parser_defects_on_the_pdfs_are_warned(corpus, document_id):
    assert corpus[document_id].warnings == PDF_DEFECTS[document_id]


def test_attachment_tables_after_the_signature_are_text_chunks_with_one_warning(corpus):
    doc = corpus["S19-14497"]
    assert doc.warnings == ("S19-14497 page 5: text after the signature could not be placed; kept as a text chunk",)
    text_chunks = [c for c in doc.chunks if c.kind == "text"]
    assert len(text_chunks) == 117
    assert all(c.antwort.strip() and min(c.pages) >= 5 for c in text_chunks)
    assert text_chunks[0].antwort.startswith("Anlage 1 „Einzelauflistung der Verwaltungsleistung pro Behörde“")
    assert max(text_chunks[-1].pages) == doc.page_count == 83


@pytest.mark.parametrize("document_id", CLEAN_DOCUMENTS)
def test_clean_corpus_documents_have_no_warnings_and_no_empty_chunk(corpus, document_id):
    doc = corpus[document_id]
    assert doc.warnings == ()
    for chunk in doc.chunks:
        assert chunk.frage.strip(), chunk.chunk_id
        if chunk.kind == "qa":
            assert chunk.antwort.strip(), chunk.chunk_id
            assert chunk.numbers


@pytest.mark.parametrize("chunk_id, frage_start, frage_end, antwort_start, antwort_end", [
    ("S19-10006#1", "Wie ist der Arbeitsstand bei der Umsetzung der Forderung aus dem § 19 des Berliner Klimaschutz- "
     "und Energiewendegesetzes", "im Bezirk Pankow?", "Das Bezirksamt Pankow teilt hierzu mit:\n„Bei allen Maßnahmen",
     "so dass mit der Bauabnahme auch die PV-Anlage in Betrieb genommen ist.“"),
    ("S19-10006#6", "Welcher Anteil der o.g. Dachflächen soll jeweils in den Jahren 2022/2023/2024",
     "mit Solaranlagen belegt werden?", "Das Bezirksamt Pankow teilt hierzu mit:\n„Im Bezirk wurden 2021 Verträge "
     "über die Errichtung von 24 PV-Anlagen", "Parallel dazu werden weitere geeignete Dachflächen eruiert.“"),
    ("S19-10041#2", "Wie viele Delikte, die mutmaßlich durch Querdenker*innen oder Gegner*innen der "
     "Anti-Corona-Maßnahmen verübt wurden", "z.B. weil zeitlich vor ihrer Einsetzung, erfasst?",
     "Sachverhalte, die in einem Zusammenhang mit der Covid-19-Pandemie stehen, müssen seit März 2020",
     "(siehe Antwort zu Frage 1), bei der Polizei Berlin erfasst waren."),
    ("S19-10041#5b", "5. Welchen Stand und welche Erkenntnisse haben die Ermittlungen wegen\n"
     "b. des Herbeiführens einer Explosion", "vor dem Sitz der Leibniz-Gemeinschaft am 25. Oktober 2020,",
     "Das Verfahren zum Herbeiführen einer Explosion vor dem Sitz der Leibniz-Gemeinschaft am 25. Oktober 2020",
     "ebenfalls aus den in der Antwort zu 5. a. genannten Gründen derzeit nicht mitgeteilt werden können."),
    ("S19-10048#2", "Aus welchem Grund verzögert sich die Fertigstellung nochmals",
     "welche Mehrkosten entstehen dem Land hierdurch?", "Im Bauprozess haben zwei der beauftragten Firmen "
     "unerwartet Insolvenz angemeldet. Diese Bauleistungen mussten neu ausgeschrieben und vergeben werden. "
     "Pandemiebedingt", "bauseits keine Mehrkosten im Rahmen der bestätigten Kosten der Baumaßnahme."),
    # Sub-questions numbered `1.a.` (S19-10282) are Fragen of their own, not the end of the answer before them.
    ("S19-10282#1", "Welche so genannten „kriminalitätsbelasteten Orte“", "für notwendig erachtet?",
     "Die aktuell sieben", "veröffentlicht und einsehbar."),
    ("S19-10282#2a", "2. Wie haben sich die kbOen jeweils in den Jahren seit 2020 verändert?",
     "2.a. Welche kbOen sind aus welchen genauen Gründen zusätzlich definiert worden?",
     "Seit dem Jahr 2020 wurde kein zusätzlicher kbO definiert.",
     "Seit dem Jahr 2020 wurde kein zusätzlicher kbO definiert."),
    ("S19-21969#2", "Wie viele Schüler haben an dem Projekt teilgenommen?",
     "Wie viele Schüler sind von welchen Unternehmen übernommen worden?",
     "Im Rahmen des aus dem ESF geförderten Projekts nahmen insgesamt 137 junge Menschen teil.",
     "während des Projekts Praktika absolvierten, wurde nicht erfasst."),
    ("S19-21969#8", "Inwieweit erübrigt sich für den Senat", "ohne Schul- und Berufsabschluss aus Nicht EU-Ländern?",
     "Zentrales Ziel ist die allumfassende Weichenstellung",
     "mit Migrations-/Fluchthintergrund, die keinen Schulabschluss aufweisen, sind der Jugendhilfe keine "
     "Anwerbungen bekannt."),
    ("S19-25521#5", "Wie viele Polizeieinsätze standen in Verbindung mit Flüchtlingsunterkünften",
     "Bitte getrennt nach Funkwageneinsätzen und Dienstgruppeneinsätzen.",
     "Daten im Sinne der Fragestellung sind seitens der Polizei Berlin", "im automatisierten Verfahren nicht "
     "recherchierbar."),
    ("ka17-10866#1", "Wie schätzt der Senat den gegenwärtigen Planungs- und Umsetzungsstand",
     "Welche Bemessungskriterien werden hierfür zugrunde gelegt?",
     "In der ersten Phase des Umsetzungsprozesses der Sozialraumorientierung 2009-2011",
     "Formate des gegenseitigen Austausches und der Information."),
    ("ka17-10866#10", "Inwieweit wird nach Auffassung des Senates die Sozialraumorientierung „durch eine angemessen "
     "ausgestattete Budget- und Programmpolitik unterstützt“", "„Planungs- und Gestaltungsraum“ zu entwickeln?",
     "Der Senat unterstützt u.a. elf der zwölf Bezirke über die Programme der Städtebauförderung.",
     "die dem Anspruch einer sozialraumorientierten Strategie gerecht werden müssen."),
])
def test_frage_and_antwort_start_and_end_exactly(corpus, chunk_id, frage_start, frage_end, antwort_start,
                                                 antwort_end):
    chunk = _chunk(corpus, chunk_id)
    assert chunk.frage.startswith(frage_start)
    assert chunk.frage.endswith(frage_end)
    assert chunk.antwort.startswith(antwort_start)
    assert chunk.antwort.endswith(antwort_end)


def test_vorbemerkung_of_the_administration_keeps_heading_in_frage_and_text_in_antwort(corpus):
    chunk = _chunk(corpus, "S19-10048#vorbemerkung")
    assert chunk.frage == "Vorbemerkungen der Verwaltung"
    assert chunk.antwort.startswith("Gemäß § 109 Schulgesetz von Berlin obliegt es den bezirklichen Schulträgern")
    # a paragraph break of the letter is kept, the hyphenated `wiedergege-\nben.` is joined
    assert "sowie die Einrichtung von Klassen.\nDie schriftliche Anfrage betrifft" in chunk.antwort
    assert chunk.antwort.endswith("den Bezirk Marzahn-Hellersdorf um Stellungnahme gebeten. "
                                  "Sie wird nachfolgend wiedergegeben.")


def test_vorbemerkung_of_the_asker_is_question_text_with_its_footnotes(corpus):
    chunk = _chunk(corpus, "S19-21969#vorbemerkung")
    assert chunk.antwort == ""
    assert chunk.frage.startswith("Vorbemerkung des Abgeordneten\n„2022 verließen 52.300 Jugendliche")
    assert "nicht mitgezählt werden.“\nDie Senatsverwaltung für Wirtschaft" in chunk.frage
    assert "Was aber sollen die jährlich rund 50.000 Schulabgänger/-innen ohne" in chunk.frage
    assert "Ein Hoffnungsschimmer funkelt seit einigen Jahren in Berlin“.\n[1] Nationaler Bildungsbericht 2024" \
        in chunk.frage
    assert chunk.frage.endswith(
        "[1] Nationaler Bildungsbericht 2024: Mehr Schulabbrecher und Fachkräftemangel, Deutsches Schulportal der "
        "Robert Bosch Stiftung, 19.06.2024, https://deutsches-schulportal.de/schule-im-umfeld/"
        "nationaler-bildungsbericht-mehr-schulabbrecher-und-fachkraeftemangel/\n"
        "[2] https://www.berlin.de/sen/wirtschaft/gruenden-und-foerdern/europaeische-strukturfonds/"
        "esf-foerderperiode-2014-2020/projektbeispiele/best-practice-projekte-2014-2020/artikel.681367.php")


def test_footnote_moves_to_the_frage_that_references_it_and_leaves_the_answer_it_interrupted(corpus):
    frage_1 = _chunk(corpus, "S19-21969#1").frage
    assert "in welcher Höhe wird das Projekt augenblicklich gefördert?" in frage_1
    assert frage_1.endswith("\n[3] Seinerzeit gefördert durch: ESF – berufsvorbereitendes ESF-Programm „Bildung "
                            "und lebenslanges Lernen“.")
    antwort_2 = _chunk(corpus, "S19-21969#2").antwort
    assert "Seinerzeit" not in antwort_2 and "https://" not in antwort_2


def test_numbers_that_are_not_footnote_markers_stay(corpus):
    frage_1 = _chunk(corpus, "S19-10006#1").frage
    assert "§ 19 des Berliner" in frage_1 and "31. Dezember 2024" in frage_1
    assert "24 PV-Anlagen" in _chunk(corpus, "S19-10006#6").antwort
    assert "(Laufzeit 10.2.2016 bis 30.06.2018)" in _chunk(corpus, "S19-21969#1").frage


def test_page_furniture_cover_letter_and_signature_are_in_no_chunk(corpus):
    for doc in corpus.values():
        for chunk in doc.chunks:
            text = chunk.frage + "\n" + chunk.antwort
            for needle in ("Seite ", "Berlin, den", "In Vertretung", "Im Namen des Senats", "über Senatskanzlei",
                           "_____", "-----", "Eingang beim Abgeordnetenhaus"):
                assert needle not in text, (chunk.chunk_id, needle)
            # the cover sheet's spaced `Drucksache 19 /10 041`; a question may cite `Drucksache 19/10164`
            assert not re.search(r"Drucksache \d+ /", text), chunk.chunk_id
            if doc.document_id not in EXPECTED_CHUNKS:
                continue  # pdftotext gives the PDFs' tables column by column: a number alone on a line is a cell
            for paragraph in text.split("\n"):
                assert not re.fullmatch(r"\d{1,2}", paragraph.strip()), (chunk.chunk_id, paragraph)
    assert "Torsten Akmann" not in _chunk(corpus, "S19-10041#6").antwort


def test_tables_stay_row_by_row(corpus):
    antwort = _chunk(corpus, "S19-25521#4").antwort
    assert "\nJahr A 21 A 23\n2014 25.897 15.114\n2015 25.024 14.510\n" in antwort
    assert "\ngesamt 329.001 196.384\nQuelle: DWH PELZ, Stand: 17. März 2026\n" in antwort
    antwort_1 = _chunk(corpus, "S19-10041#1").antwort
    assert "\nOrdnungswidrigkeiten 170\nStraftaten 1.364\n" in antwort_1


def test_list_items_of_a_question_stay_on_their_own_lines(corpus):
    frage = _chunk(corpus, "S19-25521#1").frage
    assert frage.endswith("aufgeschlüsselt nach Straftatengruppen:\neinfacher Diebstahl\nRohheitsdelikte\n"
                          "schwerer Diebstahl (Einbruch)\nSexualdelikte\nStraftaten gegen das Leben\n"
                          "Vermögensdelikte\nsonstige Straftaten")


def test_line_break_hyphens_in_the_corpus(corpus):
    text = "\n".join(c.frage + "\n" + c.antwort for d in corpus.values() for c in d.chunks)
    for joined in ("Einbindung", "Sporthallenbetrieb", "Umsetzungsprozesses", "Stadtentwicklung", "Chancengleichheit",
                   "angemeldet", "Baumaßnahme", "rechnen?", "Lernen“"):
        assert joined in text, joined
    for kept in ("Klimaschutz- und", "Anti-Corona-Maßnahmen", "Covid-19-Bezug", "Leibniz-Gemeinschaft",
                 "„Echttatverdächtigen“-Auswertung", "Polizei-Managementsystem", "Schutz- und Asylberechtigte",
                 "Planungs- und Umsetzungsstand", "Fortbildungen"):
        assert kept in text, kept
    for broken in ("Ein- bindung", "Sport- hallenbetrieb", "Anti-Corona- Maßnahmen", "Covid-19- Bezug",
                   "Klimaschutzund"):
        assert broken not in text, broken


EXPECTED_METADATA = {
    "S19-10006": dict(drucksache="19/10006", wahlperiode=19, doc_type="Schriftliche Anfrage",
                      title="Wann kommen die Solaranlagen nach Pankow?", askers=(Asker("Andreas Otto", "GRÜNE"),),
                      asked_on="2021-11-04", asked_received_on="2021-11-04", answered_on="2021-11-12",
                      answered_received_on="2021-11-16",
                      authority="Senatsverwaltung für Umwelt, Verkehr und Klimaschutz", signatory="Stefan Tidow",
                      page_count=4),
    "S19-10041": dict(drucksache="19/10041", wahlperiode=19, doc_type="Schriftliche Anfrage",
                      title="Delikte der EG Quer: Straftaten & Ordnungswidrigkeiten von Querdenker*innen & "
                            "Gegner*innen der Anti-Corona-Maßnahmen",
                      askers=(Asker("Anne Helm", "LINKE"), Asker("Niklas Schrader", "LINKE")),
                      asked_on="2021-11-08", asked_received_on="2021-11-09", answered_on="2021-11-22",
                      answered_received_on="2021-11-23", authority="Senatsverwaltung für Inneres und Sport",
                      signatory="Torsten Akmann", page_count=5),
    "S19-10048": dict(drucksache="19/10048", wahlperiode=19, doc_type="Schriftliche Anfrage",
                      title="Neubau der Turnhalle an der Grundschule an der Wuhle",
                      askers=(Asker("Alexander J. Herrmann", "CDU"),), asked_on="2021-11-08",
                      asked_received_on="2021-11-10", answered_on="2021-11-22", answered_received_on="2021-11-23",
                      authority="Senatsverwaltung für Bildung, Jugend und Familie", signatory="Beate Stoffers",
                      page_count=3),
    "S19-21969": dict(drucksache="19/21969", wahlperiode=19, doc_type="Schriftliche Anfrage",
                      title="Schulabbruch, Ausbildung, EU-Förderung und demographische Bedeutung",
                      askers=(Asker("Dr. Hugh Bronson", "AfD"),), asked_on="2025-03-12",
                      asked_received_on="2025-03-13", answered_on="2025-03-25", answered_received_on="2025-03-28",
                      authority="Senatsverwaltung für Bildung, Jugend und Familie", signatory="Falko Liecke",
                      page_count=6),
    "S19-25521": dict(drucksache="19/25521", wahlperiode=19, doc_type="Schriftliche Anfrage",
                      title="Spandau: Kriminalitätsentwicklung in Spandau seit 2014",
                      askers=(Asker("Tommy Tabor", "AfD"),), asked_on="2026-03-10", asked_received_on="2026-03-16",
                      answered_on="2026-03-29", answered_received_on="2026-03-30",
                      authority="Senatsverwaltung für Inneres und Sport", signatory="Franziska Becker",
                      page_count=11),
    # No cover sheet: Drucksache, type, title and the fraction come from the sidecar; the rest from the letter.
    "ka17-10866": dict(drucksache="17/10866", wahlperiode=17, doc_type="Kleine Anfrage",
                       title="Umsetzung der Sozialraumorientierung", askers=(Asker(None, "Die Linke"),),
                       asked_on=None, asked_received_on=None, answered_on="2012-09-12",
                       answered_received_on="2012-09-25",
                       authority="Senatsverwaltung für Stadtentwicklung und Umwelt", signatory="Ephraim Gothe",
                       page_count=1),
    # The official PDFs. The signature of S19-10281 and S19-10300 is only the first name in the text layer.
    "S19-10268": dict(drucksache="19/10268", wahlperiode=19, doc_type="Schriftliche Anfrage",
                      title="Covid19-Patienten aus dem Ausland Teil 2", askers=(Asker("Gunnar Lindemann", "AfD"),),
                      asked_on="2021-12-01", asked_received_on="2021-12-02", answered_on="2021-12-13",
                      answered_received_on="2021-12-14",
                      authority="Senatsverwaltung für Gesundheit, Pflege und Gleichstellung", signatory="Martin Matz",
                      page_count=3),
    "S19-10270": dict(drucksache="19/10270", wahlperiode=19, doc_type="Schriftliche Anfrage",
                      title="Schulen & Internet", askers=(Asker("Dirk Stettner", "CDU"),), asked_on="2021-11-30",
                      asked_received_on="2021-12-02", answered_on="2021-12-15", answered_received_on="2021-12-16",
                      authority="Senatsverwaltung für Bildung, Jugend und Familie", signatory="Beate Stoffers",
                      page_count=4),
    "S19-10276": dict(drucksache="19/10276", wahlperiode=19, doc_type="Schriftliche Anfrage",
                      title="Halteverbot auf der Berliner Straße im Pankower Ortsteil Französisch Buchholz",
                      askers=(Asker("Johannes Kraft", "CDU"),), asked_on="2021-12-01", asked_received_on="2021-12-02",
                      answered_on="2021-12-10", answered_received_on="2021-12-14",
                      authority="Senatsverwaltung für Umwelt, Verkehr und Klimaschutz", signatory="Ingmar Streese",
                      page_count=3),
    "S19-10279": dict(drucksache="19/10279", wahlperiode=19, doc_type="Schriftliche Anfrage",
                      title="Pop-Up-Querungshilfen nur für neu eröffnete soziale Einrichtungen?",
                      askers=(Asker("Johannes Kraft", "CDU"),), asked_on="2021-12-01", asked_received_on="2021-12-02",
                      answered_on="2021-12-14", answered_received_on="2021-12-15",
                      authority="Senatsverwaltung für Umwelt, Verkehr und Klimaschutz", signatory="Ingmar Streese",
                      page_count=4),
    "S19-10281": dict(drucksache="19/10281", wahlperiode=19, doc_type="Schriftliche Anfrage",
                      title="Heizungsausfall in Siedlung der Deutsche Wohnen in Reinickendorf",
                      askers=(Asker("Niklas Schenker", "LINKE"),), asked_on="2021-12-01",
                      asked_received_on="2021-12-02", answered_on="2021-12-09", answered_received_on="2021-12-10",
                      authority="Senatsverwaltung für Stadtentwicklung und Wohnen", signatory="Christoph",
                      page_count=3),
    "S19-10282": dict(drucksache="19/10282", wahlperiode=19, doc_type="Schriftliche Anfrage",
                      title="Kriminalitätsbelastete Orte in Berlin – Stand 2021",
                      askers=(Asker("Niklas Schrader", "LINKE"), Asker("Anne Helm", "LINKE")),
                      asked_on="2021-12-01", asked_received_on="2021-12-02", answered_on="2021-12-14",
                      answered_received_on="2021-12-15", authority="Senatsverwaltung für Inneres und Sport",
                      signatory="Torsten Akmann", page_count=17),
    "S19-10290": dict(drucksache="19/10290", wahlperiode=19, doc_type="Schriftliche Anfrage",
                      title="Scheinvaterschaft und Ankerkinder: – Präventionsmaßnahmen zur missbräuchlichen "
                            "Anerkennung der Vaterschaft",
                      askers=(Asker("Tommy Tabor", "AfD"),), asked_on="2021-12-02", asked_received_on="2021-12-02",
                      answered_on="2021-12-15", answered_received_on="2021-12-16",
                      authority="Senatsverwaltung für Bildung, Jugend und Familie", signatory="Sigrid Klebba",
                      page_count=4),
    "S19-10295": dict(drucksache="19/10295", wahlperiode=19, doc_type="Schriftliche Anfrage",
                      title="Asylanträge von Staatsbürgern aus dem Vietnam",
                      askers=(Asker("Gunnar Lindemann", "AfD"),), asked_on="2021-12-02", asked_received_on="2021-12-03",
                      answered_on="2021-12-13", answered_received_on="2021-12-14",
                      authority="Senatsverwaltung für Integration, Arbeit und Soziales", signatory="Daniel Tietze",
                      page_count=4),
    "S19-10296": dict(drucksache="19/10296", wahlperiode=19, doc_type="Schriftliche Anfrage",
                      title="Asylanträge von Staatsbürgern aus dem Georgien",
                      askers=(Asker("Gunnar Lindemann", "AfD"),), asked_on="2021-12-02", asked_received_on="2021-12-03",
                      answered_on="2021-12-13", answered_received_on="2021-12-14",
                      authority="Senatsverwaltung für Integration, Arbeit und Soziales", signatory="Daniel Tietze",
                      page_count=4),
    "S19-10300": dict(drucksache="19/10300", wahlperiode=19, doc_type="Schriftliche Anfrage",
                      title="Partizipative Grundlagenermittlung für das Masterverfahren Hermannplatz",
                      askers=(Asker("Dr. Susanna Kahlefeld", "GRÜNE"),), asked_on="2021-11-23",
                      asked_received_on="2021-12-03", answered_on="2021-12-09", answered_received_on="2021-12-10",
                      authority="Senatsverwaltung für Stadtentwicklung und Wohnen", signatory="Christoph",
                      page_count=5),
    "S19-14497": dict(drucksache="19/14497", wahlperiode=19, doc_type="Schriftliche Anfrage",
                      title="Faxe dicke! – Faxerfordernisse in der Berliner Verwaltung",
                      askers=(Asker("Roman-Francesco Rogat", "FDP"),), asked_on="2023-01-05",
                      asked_received_on="2023-01-10", answered_on="2023-01-27", answered_received_on="2023-01-30",
                      authority="Senatsverwaltung für Inneres, Digitalisierung und Sport",
                      signatory="Dr. Ralf Kleindiek", page_count=83),
}


@pytest.mark.parametrize("document_id", sorted(EXPECTED_METADATA))
def test_metadata_is_pinned(corpus, document_id):
    doc = corpus[document_id]
    for key, value in EXPECTED_METADATA[document_id].items():
        assert getattr(doc, key) == value, key


@pytest.mark.parametrize("document_id, url", [
    ("S19-10041", "https://pardok.parlament-berlin.de/starweb/adis/citat/VT/19/SchrAnfr/S19-10041.pdf"),
    ("S19-25521", "https://pardok.parlament-berlin.de/starweb/adis/citat/VT/19/SchrAnfr/S19-25521.pdf"),
    ("S19-14497", "https://pardok.parlament-berlin.de/starweb/adis/citat/VT/19/SchrAnfr/S19-14497.pdf"),
    ("ka17-10866", "https://pardok.parlament-berlin.de/starweb/adis/citat/VT/17/KlAnfr/ka17-10866.pdf"),
])
def test_source_url_is_the_pardok_pdf(corpus, document_id, url):
    assert corpus[document_id].source_url == url


def test_json_shape_round_trips(corpus):
    from qa_service.documents import Document

    doc = corpus["S19-10041"]
    data = doc.to_dict()
    assert data["chunks"][4]["chunk_id"] == "S19-10041#5a"
    assert data["chunks"][4]["numbers"] == ["5a"]
    assert data["source_file"].endswith("S19-10041.txt")
    assert Document.from_dict(data) == doc


def test_markdown_fixture_and_corpus_text_give_the_same_fragen():
    text_doc = parse_file(CORPUS / "S19-10006.txt")
    md_doc = parse_file(PARTIAL / "S19-10006.md")

    def letters(s):  # the converter glued hyphens (`Klimaschutzund`) and spaces (`§19`): compare the words' letters
        return re.sub(r"[\W_]+", "", s)

    assert [c.chunk_id for c in md_doc.chunks] == [c.chunk_id for c in text_doc.chunks]
    for md_chunk, text_chunk in zip(md_doc.chunks, text_doc.chunks):
        assert letters(md_chunk.frage) == letters(text_chunk.frage)
        assert letters(md_chunk.antwort) == letters(text_chunk.antwort)
        # the converter's `## N` page headings give the pages the form feeds give
        assert md_chunk.pages == text_chunk.pages, md_chunk.chunk_id
    assert md_doc.page_count == text_doc.page_count == 4
    assert md_doc.drucksache == "19/10006" and md_doc.signatory == "Stefan Tidow"
    assert md_doc.warnings == ()
