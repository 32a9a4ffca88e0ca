"""The parliament's export: answered Anfragen with their metadata, deletes applied, streamed, never fetching the DTD."""
from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from qa_service.documents import Asker
from qa_service.errors import ExportError
from qa_service.pardok import iter_vorgaenge, parse_urheber, read_export
from qa_service.parsing import parse_file
from qa_service.parties import normalise_party

DATA = Path(__file__).parent / "data"
EXPORT = DATA / "pardok" / "export-wp19.xml"
PARDOK = "https://pardok.parlament-berlin.de/starweb/adis/citat/VT"


def _by_id(export):
    return {a.document_id: a for a in export.answers}


def test_answered_anfragen_carry_the_exports_metadata():
    answers = _by_id(read_export(EXPORT))
    assert sorted(answers) == ["S19-10268", "S19-10281", "S19-10290"]
    answer = answers["S19-10268"]
    assert answer.drucksache == "19/10268"
    assert answer.doc_type == "Schriftliche Anfrage"
    assert answer.wahlperiode == 19
    assert answer.title == "Covid19-Patienten aus dem Ausland Teil 2"
    assert answer.askers == (Asker("Gunnar Lindemann", "AfD"),)
    assert (answer.asked_on, answer.answered_on) == ("2021-12-01", "2021-12-13")
    assert answer.authority == "Senatsverwaltung für Gesundheit, Pflege und Gleichstellung"
    assert answer.source_url == f"{PARDOK}/19/SchrAnfr/S19-10268.pdf"
    assert answer.vorgang == "V-400001"


def test_subjects_are_subject_area_then_descriptors_once_each_in_order():
    answer = _by_id(read_export(EXPORT))["S19-10268"]
    # VSysL, the Nebeneintrag descriptors, then the question's own (Covid-19 is in both: kept once)
    assert answer.subjects == ("Gesundheitswesen", "Covid-19", "Krankenhaus", "Patient")


def test_two_askers_in_one_urheber_and_party_spellings_become_one():
    answer = _by_id(read_export(EXPORT))["S19-10290"]
    assert answer.askers == (Asker("Tommy Tabor", "AfD"), Asker("Gunnar Lindemann", "AfD"))  # `AFD` in the export
    assert _by_id(read_export(EXPORT))["S19-10281"].askers == (Asker("Niklas Schenker", "LINKE"),)  # `Linke`


def test_kleine_anfrage_of_an_older_period_and_a_fraktion_as_asker():
    answers = _by_id(read_export(DATA / "pardok" / "export-wp17.xml"))
    assert answers["ka17-10866"].doc_type == "Kleine Anfrage"
    assert answers["ka17-10866"].wahlperiode == 17
    assert answers["ka17-10866"].askers == (Asker(None, "LINKE"),)  # `Fraktion Die Linke`
    assert answers["ka17-10900"].askers == (Asker("Andreas Otto", "GRÜNE"), Asker("Joachim Esser", "GRÜNE"))


def test_fields_only_the_answer_or_the_number_gives_are_taken_from_there():
    xml = ("<Export><Vorgang><VNr>V-1</VNr>"
           "<Dokument><DokTyp>SchrAnfr</DokTyp><LokURL>https://x.example/S19-1.pdf</LokURL></Dokument>"
           "<Dokument><DokTyp>a</DokTyp><NrInTyp>19/1</NrInTyp><LokURL>https://x.example/S19-1.pdf</LokURL>"
           "</Dokument></Vorgang></Export>")
    (answer,) = read_export(io.BytesIO(xml.encode())).answers
    assert (answer.drucksache, answer.wahlperiode, answer.title, answer.askers) == ("19/1", 19, None, ())
    assert "title" not in answer.sidecar() and "askers" not in answer.sidecar()


def test_an_address_that_names_no_document_is_skipped_with_a_reason():
    xml = ("<Export><Vorgang><VNr>V-2</VNr>"
           "<Dokument><DokTyp>SchrAnfr</DokTyp><LokURL>file:///etc/passwd.pdf</LokURL></Dokument>"
           "<Dokument><DokTyp>a</DokTyp><LokURL>file:///etc/passwd.pdf</LokURL></Dokument></Vorgang></Export>")
    export = read_export(io.BytesIO(xml.encode()))
    assert export.answers == [] and export.skipped == ["V-2: the PDF address 'file:///etc/passwd.pdf' does not "
                                                       "name a document id"]


def test_unanswered_question_is_skipped_and_counted():
    export = read_export(EXPORT)
    assert "S19-10999" not in _by_id(export)
    assert export.unanswered == 1


def test_delete_then_readd_keeps_the_vorgang_and_delete_alone_removes_it():
    export = read_export(EXPORT)
    assert export.deleted == {"V-400006"}
    assert {"V-400001", "V-400002", "V-351039"} <= export.current
    assert "V-400006" not in export.current


def test_stream_yields_the_delete_before_the_readd():
    entries = [(e.vorgang, e.deleted) for e in iter_vorgaenge(EXPORT)]
    assert entries[:2] == [("V-400001", True), ("V-400001", False)]
    assert ("V-400006", True) in entries


def test_other_types_of_vorgang_and_document_give_no_answer():
    export = read_export(DATA / "pardok" / "pardok_export_sample_wp19.xml")
    assert export.answers == [] and export.current == {"V-351039"}


def test_a_file_object_reads_like_a_path():
    with open(EXPORT, "rb") as handle:
        assert _by_id(read_export(handle)).keys() == _by_id(read_export(EXPORT)).keys()


def test_the_external_dtd_is_never_fetched(tmp_path):
    # a DTD that defines an entity: were it loaded, `&leak;` would expand; unloaded, expat rejects the entity
    (tmp_path / "export.dtd").write_text('<!ENTITY leak "from the DTD">', encoding="utf-8")
    xml = (f'<?xml version="1.0"?><!DOCTYPE Export SYSTEM "{(tmp_path / "export.dtd").as_uri()}">'
           '<Export><Vorgang><VNr>V-1</VNr><VSysL>&leak;</VSysL></Vorgang></Export>')
    with pytest.raises(ExportError, match="undefined entity"):
        read_export(io.BytesIO(xml.encode()))


@pytest.mark.parametrize("content, message", [
    (b"", "not well-formed XML"),
    (b"<Export><Vorgang>", "not well-formed XML"),
    (b"<html><body>Wartungsarbeiten</body></html>", r"not a PARDOK export \(root element <html>"),
])
def test_bad_export_is_a_named_error(content, message):
    with pytest.raises(ExportError, match=message):
        read_export(io.BytesIO(content))


def test_missing_export_file_is_a_named_error(tmp_path):
    with pytest.raises(ExportError, match="cannot be read"):
        read_export(tmp_path / "missing.xml")


@pytest.mark.parametrize("urheber, askers", [
    ("Otto, Andreas (Grüne)", [("Andreas Otto", "GRÜNE")]),
    ("Otto, Andreas (GRÜNE); Gebel, Silke (BÜNDNIS 90/DIE GRÜNEN)", [("Andreas Otto", "GRÜNE"),
                                                                     ("Silke Gebel", "GRÜNE")]),
    ("Helm, Anne (Die Linke);Schrader, Niklas (LINKE)", [("Anne Helm", "LINKE"), ("Niklas Schrader", "LINKE")]),
    ("Juhnke, Dr. Robbin (CDU)", [("Dr. Robbin Juhnke", "CDU")]),
    ("Fraktion der SPD", [(None, "SPD")]),
    ("Wild, Andreas (fraktionslos)", [("Andreas Wild", "fraktionslos")]),
    ("Unbekannt, Jemand (Neue Partei)", [("Jemand Unbekannt", "Neue Partei")]),
    ("", []),
])
def test_urheber_becomes_askers_first_name_first(urheber, askers):
    assert parse_urheber(urheber) == tuple(Asker(n, p) for n, p in askers)


@pytest.mark.parametrize("spelling", ["Grüne", "GRÜNE", "BÜNDNIS 90/DIE GRÜNEN", "Bündnis 90 / Die Grünen",
                                      "B90/Grüne"])
def test_green_spellings_are_one_party(spelling):
    assert normalise_party(spelling) == "GRÜNE"


def test_sidecar_of_an_answer_holds_only_sidecar_fields_and_parses(tmp_path):
    from qa_service.parsing.metadata import SIDECAR_FIELDS

    answer = _by_id(read_export(EXPORT))["S19-10268"]
    assert set(answer.sidecar()) <= set(SIDECAR_FIELDS)
    shutil.copy(DATA / "pdf" / "S19-10268.pdf", tmp_path)
    (tmp_path / "S19-10268.json").write_text(json.dumps(answer.sidecar()), encoding="utf-8")
    document = parse_file(tmp_path / "S19-10268.pdf")
    assert document.subjects == answer.subjects
    assert document.source_url == answer.source_url
    assert document.warnings == ()  # the export and this cover sheet agree


def test_export_wins_over_the_cover_sheet_and_a_disagreement_is_a_warning(tmp_path):
    answer = _by_id(read_export(EXPORT))["S19-10290"]
    shutil.copy(DATA / "pdf" / "S19-10290.pdf", tmp_path)
    (tmp_path / "S19-10290.json").write_text(json.dumps(answer.sidecar()), encoding="utf-8")
    document = parse_file(tmp_path / "S19-10290.pdf")
    assert document.askers == answer.askers and document.title == answer.title
    disagreements = [w for w in document.warnings if "disagree" in w]
    assert len(disagreements) == 2
    assert any("on title: 'Scheinvaterschaft und Ankerkinder – Prä" in w for w in disagreements)
    assert any("on askers: 'Tommy Tabor (AfD); Gunnar Lindemann (AfD)' (sidecar, kept) vs 'Tommy Tabor (AfD)' "
               "(cover sheet)" in w for w in disagreements)


def test_spelling_differences_are_no_disagreement(tmp_path):
    shutil.copy(DATA / "pdf" / "S19-10281.pdf", tmp_path)  # cover sheet: `Niklas Schenker (LINKE)`, `19 / 10 281`
    sidecar = {"drucksache": "19/10281", "askers": [{"name": "Niklas  Schenker", "party": "Die Linke"}],
               "authority": "Senatsverwaltung für  Stadtentwicklung und Wohnen", "subjects": ["Heizung"],
               "title": "Heizungsausfall in Siedlung der Deutsche  Wohnen in Reinickendorf"}
    (tmp_path / "S19-10281.json").write_text(json.dumps(sidecar), encoding="utf-8")
    document = parse_file(tmp_path / "S19-10281.pdf")
    assert not [w for w in document.warnings if "disagree" in w]
    assert document.subjects == ("Heizung",)


def test_sidecar_subjects_must_be_a_list_of_strings(tmp_path):
    from qa_service.errors import DocumentReadError

    shutil.copy(DATA / "pdf" / "S19-10281.pdf", tmp_path)
    (tmp_path / "S19-10281.json").write_text(json.dumps({"subjects": "Heizung"}), encoding="utf-8")
    with pytest.raises(DocumentReadError, match="subjects must be a list of strings"):
        parse_file(tmp_path / "S19-10281.pdf")
