"""Files: which files a folder holds, PDF text layers (pdftotext), unreadable files, sidecars, the `parse` command."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from qa_service.cli import main
from qa_service.errors import DocumentReadError
from qa_service.parsing import find_document_files, parse_file, parse_paths

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
PDF_DATA = Path(__file__).resolve().parent / "data" / "pdf"  # made with pypdf: RC4 encrypted, owner password set


def _pdf(pages: list[str | None]) -> bytes:
    """Return a minimal PDF; each page shows its text lines in Helvetica (None: a page without text)."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", None,
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"]
    kids = []
    for text in pages:
        if text is None:
            stream = b""
        else:
            body = ["BT /F1 11 Tf 14 TL 50 780 Td"]
            for line in text.split("\n"):
                escaped = line.encode("cp1252").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
                body.append("(" + escaped.decode("latin-1") + ") Tj T*")
            body.append("ET")
            stream = "\n".join(body).encode("latin-1")
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode("latin-1") + stream + b"\nendstream")
        content_ref = len(objects)
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents {content_ref} 0 R "
                       f"/Resources << /Font << /F1 3 0 R >> >> >>")
        kids.append(len(objects))
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>"
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        data = obj if isinstance(obj, bytes) else obj.encode("latin-1")
        out += f"{number} 0 obj\n".encode() + data + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_folder_gives_its_txt_and_pdf_files_sorted_and_nothing_else(tmp_path):
    for name in ("b.txt", "a.pdf", "README.md", "a.json", "c.TXT"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    assert [p.name for p in find_document_files(tmp_path)] == ["a.pdf", "b.txt", "c.TXT"]
    assert find_document_files(tmp_path / "README.md") == [tmp_path / "README.md"]


def test_pdf_text_layer_is_read_page_by_page(tmp_path):
    path = tmp_path / "S19-12345.pdf"
    path.write_bytes(_pdf([
        "Drucksache 19 /12 345\nSchriftliche Anfrage\n19. Wahlperiode",
        "Im Namen des Senats von Berlin beantworte ich Ihre Schriftliche Anfrage wie folgt:\nFrage 1:\n"
        "Wie viele Bäume gibt es?\nAntwort zu 1:\nEs gibt 430.000 Straßenbäume.",
        "Frage 2:\nWie viele werden gefällt?\nAntwort zu 2:\nDazu liegen keine Daten vor.\n"
        "Berlin, den 12.11.2021\nIn Vertretung\nStefan Tidow\nSenatsverwaltung für Umwelt"]))
    doc = parse_file(path)
    assert [c.chunk_id for c in doc.chunks] == ["S19-12345#1", "S19-12345#2"]
    assert doc.chunks[0].antwort == "Es gibt 430.000 Straßenbäume."
    assert doc.chunks[1].pages == (3,)
    assert doc.page_count == 3
    assert doc.drucksache == "19/12345"
    assert doc.source_file == str(path)


@pytest.mark.parametrize("name, content, reason", [
    ("empty.txt", b"", "empty"),
    ("blank.txt", b" \n\n\f \n", "empty"),
    ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    ("latin1.txt", "Frage 1: Wie groß?".encode("latin-1"), "not UTF-8"),
    ("broken.pdf", b"%PDF-1.4\nthis is not a pdf", "not a readable PDF"),
    ("scan.pdf", None, "no text layer"),
])
def test_unreadable_file_raises_one_line_naming_file_and_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(_pdf([None, None]) if content is None else content)
    with pytest.raises(DocumentReadError) as info:
        parse_file(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path)) and reason in message


def test_pdf_that_needs_a_password_is_named_encrypted():
    path = PDF_DATA / "needs-password.pdf"
    with pytest.raises(DocumentReadError) as info:
        parse_file(path)
    assert str(info.value) == f"{path}: encrypted PDF (it needs a password)"


def test_pdf_that_forbids_copying_but_opens_without_password_is_read():
    doc = parse_file(PDF_DATA / "no-copying.pdf")
    assert doc.page_count == 2
    assert doc.chunks[-1].chunk_id == "no-copying#1"
    assert doc.chunks[-1].antwort == "Es gibt 430.000 Straßenbäume."


def test_missing_pdftotext_names_the_package_to_install(tmp_path, monkeypatch):
    path = tmp_path / "S19-12345.pdf"
    path.write_bytes(_pdf(["Frage 1:\nWie viele?"]))
    monkeypatch.setenv("PATH", str(tmp_path))  # no pdftotext on this PATH
    with pytest.raises(DocumentReadError) as info:
        parse_file(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path)) and "apt-get install poppler-utils" in message


def test_pdf_whose_name_starts_with_a_dash_is_read_as_a_file(tmp_path, monkeypatch):
    (tmp_path / "-v.pdf").write_bytes(_pdf(["Frage 1:\nWie viele?\nAntwort zu 1:\nDrei."]))
    monkeypatch.chdir(tmp_path)
    assert parse_file(Path("-v.pdf")).chunks[0].antwort == "Drei."


def test_unreadable_files_are_reported_and_the_others_still_parse(tmp_path):
    shutil.copy(CORPUS / "S19-10048.txt", tmp_path)
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00\x01")
    (tmp_path / "empty.txt").write_bytes(b"")
    report = parse_paths([tmp_path, tmp_path / "missing.txt"])
    assert [d.document_id for d in report.documents] == ["S19-10048"]
    assert len(report.failures) == 3
    assert any("bad.txt" in f for f in report.failures)
    assert any("empty.txt" in f for f in report.failures)
    assert any("missing.txt" in f and "no such file" in f for f in report.failures)


def test_converter_page_headings_are_page_breaks_while_they_rise(tmp_path):
    from qa_service.parsing.reading import read_pages

    path = tmp_path / "X19-1.md"
    path.write_text("Deckblatt\n\n## 2   Seite drei\n\n## 3 Ergebnisse\n\n## 1   kein Seitenwechsel\n\n"
                    "## 4\nSeite fünf\n", encoding="utf-8")
    pages = read_pages(path)
    assert len(pages) == 5 and pages[1] == ""  # printed page 1 is not in the excerpt
    assert pages[0].strip() == "Deckblatt"
    assert pages[2] == "Seite drei\n\n## 3 Ergebnisse\n\n## 1   kein Seitenwechsel\n\n"
    assert pages[4].strip() == "Seite fünf"


def test_form_feeds_win_over_converter_page_headings(tmp_path):
    from qa_service.parsing.reading import read_pages

    path = tmp_path / "X19-2.txt"
    path.write_text("Erste Seite\n## 5   Text\fZweite Seite\n", encoding="utf-8")
    assert read_pages(path) == ["Erste Seite\n## 5   Text", "Zweite Seite\n"]


def test_sidecar_completes_and_overrides_metadata(tmp_path):
    shutil.copy(CORPUS / "ka17-10866.txt", tmp_path)
    doc = parse_file(tmp_path / "ka17-10866.txt")
    assert (doc.drucksache, doc.title, doc.askers, doc.source_url) == (None, None, (), None)
    assert doc.answered_on == "2012-09-12" and doc.signatory == "Ephraim Gothe"
    (tmp_path / "ka17-10866.json").write_text(json.dumps({
        "drucksache": "17/10866", "wahlperiode": 17, "doc_type": "Kleine Anfrage",
        "askers": [{"name": None, "party": "Die Linke"}]}), encoding="utf-8")
    doc = parse_file(tmp_path / "ka17-10866.txt")
    assert doc.drucksache == "17/10866"
    assert doc.askers[0].name is None and doc.askers[0].party == "Die Linke"
    assert doc.source_url == "https://pardok.parlament-berlin.de/starweb/adis/citat/VT/17/KlAnfr/ka17-10866.pdf"


@pytest.mark.parametrize("sidecar, reason", [
    ("{not json", "invalid sidecar JSON"),
    ('{"titel": "x"}', "unknown sidecar field"),
    ('{"answered_on": "12.09.2012"}', "ISO date"),
    ('{"askers": ["Die Linke"]}', "askers must be"),
])
def test_invalid_sidecar_is_a_clear_error(tmp_path, sidecar, reason):
    shutil.copy(CORPUS / "S19-10048.txt", tmp_path)
    (tmp_path / "S19-10048.json").write_text(sidecar, encoding="utf-8")
    with pytest.raises(DocumentReadError, match=reason):
        parse_file(tmp_path / "S19-10048.txt")


def test_cli_parse_json_prints_one_document_per_line(capsys):
    assert main(["parse", str(CORPUS / "S19-10041.txt"), "--json"]) == 0
    lines = capsys.readouterr().out.strip().split("\n")
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert data["document_id"] == "S19-10041" and data["drucksache"] == "19/10041"
    assert [c["chunk_id"] for c in data["chunks"]][4:6] == ["S19-10041#5a", "S19-10041#5b"]
    assert data["chunks"][4]["pages"] == [4, 5]


def test_cli_parse_names_unreadable_files_on_stderr_and_exits_non_zero(tmp_path, capsys):
    shutil.copy(CORPUS / "S19-10006.txt", tmp_path)
    (tmp_path / "broken.txt").write_bytes(b"\x00\x01binary")
    assert main(["parse", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == f"error: {tmp_path / 'broken.txt'}: binary file, not text"
    assert "S19-10006" in captured.out and "19/10006" in captured.out and "7 chunks" in captured.out
    assert "1 documents, 7 chunks, 0 warnings, 1 unreadable" in captured.out


def test_parsing_in_worker_processes_keeps_the_order_of_documents_and_failures(tmp_path, monkeypatch):
    import qa_service.parsing as parsing

    for name in ("S19-10048.txt", "S19-10006.txt", "S19-10041.txt"):
        shutil.copy(CORPUS / name, tmp_path)
    (tmp_path / "S19-10040.txt").write_bytes(b"")
    paths = [tmp_path / "missing.txt", tmp_path, CORPUS / "S19-10048.txt", tmp_path / "gone"]
    serial = parse_paths(paths)
    monkeypatch.setattr(parsing, "POOL_MIN_FILES", 1)
    pooled = parse_paths(paths)
    assert [d.document_id for d in pooled.documents] == ["S19-10006", "S19-10041", "S19-10048", "S19-10048"]
    assert pooled.documents == serial.documents
    assert pooled.failures == serial.failures and len(pooled.failures) == 3
    assert "missing.txt" in pooled.failures[0] and "S19-10040" in pooled.failures[1] and "gone" in pooled.failures[2]
