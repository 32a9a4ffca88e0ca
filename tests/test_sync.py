"""`qa-service sync` against a local HTTP server: what lands in the corpus, deletions, conditional requests,
failures kept apart, an interrupted sync, dry runs, and `--build`."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from qa_service.citation import citation_text
from qa_service.cli import main
from qa_service.errors import SyncError
from qa_service.parsing import parse_file
from qa_service.sync import PARTIAL_DIR, STATE_FILE, SyncOptions, _retry_after, sync, user_agent

DATA = Path(__file__).parent / "data"
PROJECT_DIR = Path(__file__).resolve().parent.parent
PARDOK = "https://pardok.parlament-berlin.de/starweb/adis/citat/VT"
PDF = {name: (DATA / "pdf" / f"{name}.pdf").read_bytes() for name in ("S19-10268", "S19-10281", "S19-10290")}
# Answers of the test exports without a PDF of their own are served another real PDF.
PDF["S19-10275"] = PDF["S19-10281"]
for _name in ("S19-20500", "S19-20429", "S19-20206", "S19-20207", "S19-20408"):
    PDF[_name] = PDF["S19-10268"]
LAST_MODIFIED = formatdate(1639000000, usegmt=True)


class Site:
    """What the test server serves: exports, PDFs and per-document misbehaviour; it logs every request."""

    def __init__(self):
        self.exports: dict[str, bytes] = {}
        self.pdfs = dict(PDF)
        self.behaviour: dict[str, str] = {}
        self.log: list[tuple[str, str, int, dict]] = []  # method, path, status, request headers; once answered
        self.arrivals: list[str] = []  # the path of every request, as it arrives
        self.lock = threading.Lock()
        self.base = ""

    def export(self, name: str, file: str) -> str:
        """Serve tests/data/pardok/`file` at /opendata/`name`, its PDF addresses pointing here; return its URL."""
        text = (DATA / "pardok" / file).read_text(encoding="utf-8").replace(PARDOK, f"{self.base}/citat/VT")
        self.exports[name] = text.encode("utf-8")
        return f"{self.base}/opendata/{name}"

    def pdf_requests(self, status: int | None = None, name: str = "") -> list:
        with self.lock:
            return [e for e in self.log if e[1].endswith(".pdf") and name in e[1] and
                    (status is None or e[2] == status)]

    def times_asked(self, name: str) -> int:
        with self.lock:
            return sum(1 for path in self.arrivals if name in path)


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # a client that hung up on a slow response: expected
        pass


class Handler(BaseHTTPRequestHandler):
    site: Site

    def log_message(self, *args):  # quiet test output
        pass

    def do_HEAD(self):
        self.do_GET(body=False)

    def do_GET(self, body: bool = True):
        site = self.site
        name = self.path.rsplit("/", 1)[-1]
        stem = name.rsplit(".", 1)[0]
        with site.lock:
            asked_before = site.arrivals.count(self.path)
            site.arrivals.append(self.path)
        behaviour = site.behaviour.get(stem, "")
        if self.path.startswith("/opendata/") and name in site.exports:
            status = self._serve(site.exports[name], "application/xml", body)
        elif self.path.endswith(".pdf") and stem in site.pdfs:
            status = self._misbehave(behaviour, asked_before, site.pdfs[stem], body)
        else:
            status = self._send(404, b"not found", "text/plain", body)
        with site.lock:
            site.log.append((self.command, self.path, status, dict(self.headers)))

    def _misbehave(self, behaviour, asked_before, data, body) -> int:
        if behaviour == "404":
            return self._send(404, b"<html>Not Found</html>", "text/html", body)
        if behaviour == "500-once" and not asked_before:
            return self._send(500, b"<html>Internal Server Error</html>", "text/html", body)
        if behaviour.startswith("429-once") and not asked_before:
            return self._send(429, b"slow down", "text/plain", body, {"Retry-After": behaviour.split(":")[1]})
        if behaviour == "html":
            return self._send(200, b"<!DOCTYPE html><html><body>Fehler 503</body></html>", "application/pdf", body)
        if behaviour == "no-eof":
            return self._send(200, data[:len(data) // 2], "application/pdf", body)
        if behaviour == "cut":  # announces the whole file, sends half, hangs up
            self.send_response(200)
            self.send_header("Content-Type", "application/pdf")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:len(data) // 2])
            self.close_connection = True
            return 200
        if behaviour == "slow":  # says nothing for longer than the client's read timeout
            time.sleep(2.0)
            return self._send(200, data, "application/pdf", body)
        if behaviour == "trickle":  # 17 KB at once (more than the client reads at once), then 1 KB every 0.5 s
            self.send_response(200)
            self.send_header("Content-Type", "application/pdf")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            for start in [0] + list(range(17 * 1024, len(data), 1024)):
                self.wfile.write(data[start:max(start + 1024, 17 * 1024)])
                self.wfile.flush()
                time.sleep(0.5)
            return 200
        if behaviour == "plain":  # no validators, no conditional requests
            return self._send(200, data, "application/pdf", body)
        if behaviour == "no-304":  # validators, but a conditional request still gets the whole file
            return self._send(200, data, "application/pdf", body, {"ETag": '"v1"'})
        return self._serve(data, "application/pdf", body)

    def _serve(self, data: bytes, content_type: str, body: bool) -> int:
        """Serve `data` with an ETag and Last-Modified, answering a matching conditional request with 304."""
        etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return 304
        return self._send(200, data, content_type, body, {"ETag": etag, "Last-Modified": LAST_MODIFIED})

    def _send(self, status, data, content_type, body, headers=None) -> int:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(data)
        return status


@pytest.fixture
def site():
    """A local HTTP server on 127.0.0.1 (a free port) serving a fresh Site."""
    state = Site()
    handler = type("SiteHandler", (Handler,), {"site": state})
    server = QuietServer(("127.0.0.1", 0), handler)
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def options(corpus: Path, *sources: str, waits: list | None = None, **overrides) -> SyncOptions:
    """Return sync options with short timeouts and no real waiting; every wait asked for lands in `waits`."""
    values = dict(sources=sources, corpus_dir=corpus, progress=False, pause=0.0, connect_timeout=2.0,
                  read_timeout=0.5, download_timeout=10.0, retries=2, backoff=0.01, max_wait=5.0, recheck_days=0,
                  sleep=(waits.append if waits is not None else lambda seconds: None))
    values.update(overrides)
    return SyncOptions(**values)


def documents_in(corpus: Path) -> list[str]:
    return sorted(p.name for p in corpus.iterdir() if p.suffix in (".pdf", ".json") and not p.name.startswith("."))


def test_first_sync_puts_each_answer_and_its_export_metadata_in_the_corpus(site, tmp_path):
    corpus = tmp_path / "corpus"
    report = sync(options(corpus, site.export("pardok-wp19.xml", "export-wp19.xml")))
    assert (report.new, report.updated, report.deleted, report.failures) == (3, 0, 0, [])
    assert documents_in(corpus) == ["S19-10268.json", "S19-10268.pdf", "S19-10281.json", "S19-10281.pdf",
                                    "S19-10290.json", "S19-10290.pdf"]
    assert (corpus / "S19-10268.pdf").read_bytes() == PDF["S19-10268"]
    assert not (corpus / PARTIAL_DIR).exists()
    sidecar = json.loads((corpus / "S19-10290.json").read_text(encoding="utf-8"))
    assert sidecar == {
        "drucksache": "19/10290", "wahlperiode": 19, "doc_type": "Schriftliche Anfrage",
        "title": "Scheinvaterschaft und Ankerkinder – Präventionsmaßnahmen zur missbräuchlichen Anerkennung der "
                 "Vaterschaft",
        "askers": [{"name": "Tommy Tabor", "party": "AfD"}, {"name": "Gunnar Lindemann", "party": "AfD"}],
        "asked_on": "2021-12-02", "answered_on": "2021-12-15",
        "authority": "Senatsverwaltung für Bildung, Jugend und Familie", "subjects": ["Familie", "Vaterschaft"],
        "source_url": f"{site.base}/citat/VT/19/SchrAnfr/S19-10290.pdf",
    }
    document = parse_file(corpus / "S19-10290.pdf")
    assert citation_text(document, document.chunks[1]).startswith(
        "Antwort des Senats vom 15.12.2021 auf die Schriftliche Anfrage der Abgeordneten Tommy Tabor und Gunnar "
        "Lindemann (AfD), Drucksache 19/10290, „Scheinvaterschaft und Ankerkinder – Präventionsmaßnahmen")
    assert citation_text(document, document.chunks[1]).endswith(f"{site.base}/citat/VT/19/SchrAnfr/S19-10290.pdf")


def test_state_file_records_address_validators_length_hash_and_time(site, tmp_path):
    corpus = tmp_path / "corpus"
    sync(options(corpus, site.export("pardok-wp19.xml", "export-wp19.xml")))
    state = json.loads((corpus / STATE_FILE).read_text(encoding="utf-8"))
    entry = state["documents"]["S19-10281"]
    assert entry["url"] == f"{site.base}/citat/VT/19/SchrAnfr/S19-10281.pdf"
    assert entry["etag"].startswith('"') and entry["last_modified"] == LAST_MODIFIED
    assert entry["length"] == len(PDF["S19-10281"])
    assert entry["sha256"] == hashlib.sha256(PDF["S19-10281"]).hexdigest()
    assert entry["fetched_at"].endswith("+00:00") and entry["checked_at"] >= entry["fetched_at"]
    assert entry["vorgang"] == "V-400002"
    assert f"{site.base}/opendata/pardok-wp19.xml" in state["exports"]


def test_requests_name_the_project_in_the_user_agent(site, tmp_path):
    sync(options(tmp_path / "corpus", site.export("pardok-wp19.xml", "export-wp19.xml")))
    agents = {e[3].get("User-Agent") for e in site.log}
    assert agents == {user_agent()} and "qa-service/" in user_agent() and "+http" in user_agent()


def test_second_run_downloads_nothing_and_says_so(site, tmp_path):
    corpus = tmp_path / "corpus"
    url = site.export("pardok-wp19.xml", "export-wp19.xml")
    sync(options(corpus, url))
    before = len(site.log)
    report = sync(options(corpus, url))
    second = site.log[before:]
    assert [e[2] for e in second] == [304] * 4  # the export and the three PDFs: conditional requests, all 304
    assert all("If-None-Match" in e[3] and "If-Modified-Since" in e[3] for e in second)
    assert (report.new, report.updated, report.unchanged, report.downloaded_bytes) == (0, 0, 3, 0)
    assert report.summary_line().endswith("nothing new, nothing downloaded")


def test_recently_checked_answers_cost_no_request_unless_their_metadata_changed(site, tmp_path):
    corpus = tmp_path / "corpus"
    url = site.export("pardok-wp19.xml", "export-wp19.xml")
    sync(options(corpus, url))
    asked = len(site.pdf_requests())
    report = sync(options(corpus, url, recheck_days=30))
    assert len(site.pdf_requests()) == asked and report.unchanged == 3
    site.exports["pardok-wp19.xml"] = site.exports["pardok-wp19.xml"].replace(b"Krankenhaus", b"Klinik")
    report = sync(options(corpus, url, recheck_days=30))
    assert [e[1].rsplit("/", 1)[1] for e in site.pdf_requests()[asked:]] == ["S19-10268.pdf"]
    assert (report.updated, report.unchanged) == (1, 2)


def test_without_validators_the_length_decides_and_costs_one_head_request(site, tmp_path):
    corpus = tmp_path / "corpus"
    url = site.export("pardok-wp19.xml", "export-wp19.xml")
    site.behaviour["S19-10281"] = "plain"
    sync(options(corpus, url))
    report = sync(options(corpus, url))
    assert [e[0] for e in site.pdf_requests(name="S19-10281")] == ["GET", "HEAD"]
    assert report.unchanged == 3 and report.downloaded_bytes == 0
    site.pdfs["S19-10281"] = PDF["S19-10290"]  # another length
    report = sync(options(corpus, url))
    assert report.updated == 1 and (corpus / "S19-10281.pdf").read_bytes() == PDF["S19-10290"]


def test_a_whole_file_sent_again_unchanged_counts_as_unchanged(site, tmp_path):
    corpus = tmp_path / "corpus"
    url = site.export("pardok-wp19.xml", "export-wp19.xml")
    site.behaviour["S19-10281"] = "no-304"
    sync(options(corpus, url))
    report = sync(options(corpus, url))
    assert (report.updated, report.unchanged) == (0, 3)
    assert report.downloaded_bytes == len(PDF["S19-10281"]) and report.summary_line().endswith("; nothing new")


def test_changed_pdf_and_changed_metadata_are_updated(site, tmp_path):
    corpus = tmp_path / "corpus"
    url = site.export("pardok-wp19.xml", "export-wp19.xml")
    sync(options(corpus, url))
    site.pdfs["S19-10281"] = PDF["S19-10290"]  # the parliament replaced the PDF: a new ETag
    site.exports["pardok-wp19.xml"] = site.exports["pardok-wp19.xml"].replace(
        b"Covid19-Patienten aus dem Ausland Teil 2", b"Covid-19-Patienten aus dem Ausland (Teil 2)")
    report = sync(options(corpus, url))
    assert (report.new, report.updated, report.unchanged) == (0, 2, 1)
    assert (corpus / "S19-10281.pdf").read_bytes() == PDF["S19-10290"]
    assert json.loads((corpus / "S19-10268.json").read_text(encoding="utf-8"))["title"] == \
        "Covid-19-Patienten aus dem Ausland (Teil 2)"
    assert [e[2] for e in site.pdf_requests(name="S19-10268")] == [200, 304]  # metadata only: not downloaded


def test_deleted_vorgang_loses_its_pdf_and_sidecar(site, tmp_path):
    corpus = tmp_path / "corpus"
    url = site.export("pardok-wp19.xml", "export-wp19-day1.xml")
    sync(options(corpus, url))
    assert "S19-10275.pdf" in documents_in(corpus)
    site.export("pardok-wp19.xml", "export-wp19.xml")  # the next day: V-400006 stays only as delete
    report = sync(options(corpus, url))
    assert report.deleted == 1
    assert "S19-10275.pdf" not in documents_in(corpus) and "S19-10275.json" not in documents_in(corpus)
    assert "S19-10275" not in json.loads((corpus / STATE_FILE).read_text(encoding="utf-8"))["documents"]
    assert "S19-10281.pdf" in documents_in(corpus)


def test_failures_are_reported_with_reason_and_the_other_answers_kept(site, tmp_path):
    corpus = tmp_path / "corpus"
    site.behaviour.update({"S19-20404": "404", "S19-20500": "500-once", "S19-20429": "429-once:1",
                           "S19-20206": "cut", "S19-20207": "no-eof", "S19-20200": "html", "S19-20408": "slow"})
    site.pdfs["S19-20404"] = site.pdfs["S19-20200"] = b"unused"
    waits: list[float] = []
    report = sync(options(corpus, site.export("pardok-wp19.xml", "export-wp19-failures.xml"), waits=waits))
    reasons = {f.document_id: f.reason for f in report.failures}
    assert reasons == {
        "S19-20200": "not a PDF (starts with b'<!DOCTYPE html><')",
        "S19-20206": "connection lost during the download (after 3 attempts)",
        "S19-20207": "incomplete PDF (no %%EOF at its end)",
        "S19-20404": "HTTP 404 Not Found",
        "S19-20408": "timeout (after 3 attempts)",
    }
    assert all(f.url == f"{site.base}/citat/VT/19/SchrAnfr/{f.document_id}.pdf" for f in report.failures)
    assert report.new == 3  # S19-10268, and the 500 and the 429 on their second attempt
    assert documents_in(corpus) == sorted(f"{n}.{s}" for n in ("S19-10268", "S19-20429", "S19-20500")
                                          for s in ("json", "pdf"))
    assert not (corpus / PARTIAL_DIR).exists()
    assert site.times_asked("S19-20404") == 1  # no retry on 404
    assert site.times_asked("S19-20500") == 2 and site.times_asked("S19-20408") == 3
    assert 1.0 in waits  # Retry-After: 1 honoured
    assert sorted(json.loads((corpus / STATE_FILE).read_text(encoding="utf-8"))["documents"]) == \
        ["S19-10268", "S19-20429", "S19-20500"]


def _pdf_without_text() -> bytes:
    import io

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_pdf_without_text_fails_once_then_is_asked_for_only_conditionally(site, tmp_path):
    corpus = tmp_path / "corpus"
    url = site.export("pardok-wp19.xml", "export-wp19.xml")
    site.pdfs["S19-10281"] = _pdf_without_text()  # a scan: no text layer
    report = sync(options(corpus, url))
    assert [(f.document_id, f.reason) for f in report.failures] == \
        [("S19-10281", "PDF has no text layer (scanned image?); run OCR first")]
    assert not (corpus / "S19-10281.pdf").exists() and not (corpus / "S19-10281.json").exists()
    report = sync(options(corpus, url))
    assert report.failures == [] and [f.document_id for f in report.rejected] == ["S19-10281"]
    assert site.pdf_requests(name="S19-10281")[-1][2] == 304
    assert ", 2 unchanged, 0 failed, 1 rejected before and unchanged, 0.0 MB" in report.summary_line()
    site.pdfs["S19-10281"] = PDF["S19-10281"]  # the parliament replaced the scan
    report = sync(options(corpus, url))
    assert report.new == 1 and report.rejected == [] and (corpus / "S19-10281.pdf").is_file()
    assert json.loads((corpus / STATE_FILE).read_text(encoding="utf-8"))["rejected"] == {}


def test_retry_after_is_capped(site, tmp_path):
    site.behaviour["S19-20429"] = "429-once:3600"
    waits: list[float] = []
    sync(options(tmp_path / "corpus", site.export("pardok-wp19.xml", "export-wp19-failures.xml"), waits=waits,
                 max_wait=5.0))
    assert 5.0 in waits and max(waits) <= 5.0


def test_retry_after_reads_seconds_and_http_dates():
    assert _retry_after("120") == 120.0
    assert 50 < _retry_after(formatdate(time.time() + 60, usegmt=True)) <= 60
    assert _retry_after(formatdate(time.time() - 60, usegmt=True)) == 0.0
    assert _retry_after("soon") is None and _retry_after(None) is None


def test_dry_run_prints_the_plan_and_touches_nothing(site, tmp_path):
    corpus = tmp_path / "corpus"
    report = sync(options(corpus, site.export("pardok-wp19.xml", "export-wp19.xml"), dry_run=True))
    assert not corpus.exists()
    assert site.pdf_requests() == []
    assert [line.split()[:2] for line in report.plan] == [["new", "S19-10290"], ["new", "S19-10268"],
                                                          ["new", "S19-10281"]]
    assert report.summary_line().startswith(f"would sync {corpus}/: 3 new, 0 updated, 0 deleted")


def test_dry_run_after_a_sync_plans_checks_and_deletions_only(site, tmp_path):
    corpus = tmp_path / "corpus"
    url = site.export("pardok-wp19.xml", "export-wp19-day1.xml")
    sync(options(corpus, url))
    snapshot = {p.name: p.read_bytes() for p in corpus.iterdir()}
    site.export("pardok-wp19.xml", "export-wp19.xml")
    report = sync(options(corpus, url, dry_run=True))
    assert {p.name: p.read_bytes() for p in corpus.iterdir()} == snapshot
    assert "delete  S19-10275" in report.plan and any(line.startswith("check   S19-10281") for line in report.plan)


def test_since_and_limit_choose_the_newest_answers(site, tmp_path):
    corpus = tmp_path / "corpus"
    url = site.export("pardok-wp19.xml", "export-wp19.xml")
    report = sync(options(corpus, url, since="2021-12-10", limit=1))
    assert report.new == 1 and documents_in(corpus) == ["S19-10290.json", "S19-10290.pdf"]
    report = sync(options(corpus, url, since="2021-12-10"))
    assert report.new == 1 and report.unchanged == 1 and "S19-10281.pdf" not in documents_in(corpus)


def test_a_local_export_file_and_several_sources(site, tmp_path):
    corpus = tmp_path / "corpus"
    local = tmp_path / "export.xml"
    local.write_text((DATA / "pardok" / "export-wp19-day1.xml").read_text(encoding="utf-8").replace(
        PARDOK, f"{site.base}/citat/VT"), encoding="utf-8")
    report = sync(options(corpus, str(local), site.export("pardok-wp19.xml", "export-wp19.xml")))
    # V-400006 is current in the first source: the delete in the second does not remove it
    assert report.new == 4 and "S19-10275.pdf" in documents_in(corpus)


def test_an_answer_the_corpus_holds_as_text_is_not_downloaded_beside_it(site, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "S19-10281.txt").write_text("Drucksache 19 / 10 281\n", encoding="utf-8")
    report = sync(options(corpus, site.export("pardok-wp19.xml", "export-wp19.xml")))
    assert report.new == 2 and not (corpus / "S19-10281.pdf").exists() and not site.pdf_requests(name="S19-10281")
    assert "kept 1 answers the corpus holds as text files, not downloaded: S19-10281" in report.notes


def test_leftovers_of_an_interrupted_run_are_removed_at_the_start(site, tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / PARTIAL_DIR).mkdir(parents=True)
    (corpus / PARTIAL_DIR / "S19-10268.pdf").write_bytes(PDF["S19-10268"][:500])
    sync(options(corpus, site.export("pardok-wp19.xml", "export-wp19.xml")))
    assert not (corpus / PARTIAL_DIR).exists() and (corpus / "S19-10268.pdf").read_bytes() == PDF["S19-10268"]


@pytest.mark.parametrize("overrides, message", [
    ({"since": "13.12.2021"}, r"--since must be a date YYYY-MM-DD, got '13.12.2021'"),
    ({"limit": -1}, "--limit must be at least 0"),
    ({"sources": ("no-such-export.xml",)}, "--source no-such-export.xml: neither an http"),
    ({"sources": ()}, "nothing to sync"),
])
def test_bad_options_are_named_errors(tmp_path, overrides, message):
    values = dict(sources=(str(DATA / "pardok" / "export-wp19.xml"),), corpus_dir=tmp_path, progress=False)
    values.update(overrides)
    with pytest.raises(SyncError, match=message):
        sync(SyncOptions(**values))


def test_export_that_cannot_be_downloaded_is_a_named_error(site, tmp_path):
    with pytest.raises(SyncError, match=r"cannot download the export .*/opendata/pardok-wp11.xml: HTTP 404"):
        sync(options(tmp_path, f"{site.base}/opendata/pardok-wp11.xml"))


def test_cli_exit_codes_summary_and_failure_lines(site, tmp_path, capsys):
    corpus = tmp_path / "corpus"
    code = main(["sync", "--source", site.export("pardok-wp19.xml", "export-wp19.xml"), "--corpus", str(corpus),
                 "--pause", "0", "--quiet", "--recheck-days", "0"])
    out = capsys.readouterr().out
    assert code == 0 and f"synced {corpus}/: 3 new, 0 updated, 0 deleted, 0 unchanged, 0 failed" in out
    failing = ("S19-20404", "S19-20500", "S19-20429", "S19-20206", "S19-20207", "S19-20408", "S19-20200")
    site.behaviour.update({name: "404" for name in failing})
    site.pdfs["S19-20404"] = site.pdfs["S19-20200"] = b"unused"
    code = main(["sync", "--source", site.export("failures.xml", "export-wp19-failures.xml"), "--corpus",
                 str(corpus), "--pause", "0", "--quiet", "--recheck-days", "0"])
    captured = capsys.readouterr()
    assert code == 1
    assert f"failed: S19-20404 {site.base}/citat/VT/19/SchrAnfr/S19-20404.pdf: HTTP 404 Not Found" in captured.err
    # S19-10268 is listed here too, with other subjects: its sidecar is updated, its PDF was not modified
    assert ", 1 updated, 0 deleted, 0 unchanged, 7 failed," in captured.out


def test_cli_bad_since_is_one_line_and_exit_1(tmp_path, capsys):
    code = main(["sync", "--source", str(DATA / "pardok" / "export-wp19.xml"), "--corpus", str(tmp_path),
                 "--since", "gestern"])
    assert code == 1 and capsys.readouterr().err == "error: --since must be a date YYYY-MM-DD, got 'gestern'\n"


def test_sync_help_names_every_option_and_ends_with_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["sync", "--help"])
    text = capsys.readouterr().out
    for flag in ("--wahlperiode", "--source", "--corpus", "--since", "--limit", "--dry-run", "--build"):
        assert flag in text
    assert text.rstrip().splitlines()[-2:] == ["Example:", "  qa-service sync --wahlperiode 19 --since 2024-01-01 "
                                                           "--build"]


def _cli(*args: str, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(PROJECT_DIR), HF_HUB_OFFLINE="1")
    return subprocess.Popen([sys.executable, "-m", "qa_service.cli", "sync", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def test_sync_killed_mid_download_leaves_no_partial_file_and_the_next_run_completes(site, tmp_path):
    corpus = tmp_path / "corpus"
    url = site.export("pardok-wp19.xml", "export-wp19.xml")
    site.behaviour["S19-10290"] = "trickle"
    process = _cli("--source", url, "--corpus", str(corpus), "--pause", "0", "--quiet")
    partial = corpus / PARTIAL_DIR / "S19-10290.pdf"
    deadline = time.monotonic() + 30
    while not (partial.is_file() and partial.stat().st_size > 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert partial.is_file(), "the download never started"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 0 < partial.stat().st_size < len(PDF["S19-10290"])
    # where a reader of the corpus looks, only whole PDFs, each with its sidecar: the other downloads may be done
    present = [p for p in corpus.glob("*.pdf")]
    assert "S19-10290.pdf" not in [p.name for p in present]
    assert all(p.read_bytes() == PDF[p.stem] and p.with_suffix(".json").is_file() for p in present)
    site.behaviour.clear()
    process = _cli("--source", url, "--corpus", str(corpus), "--pause", "0", "--quiet")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "3 new" in out.decode()
    assert documents_in(corpus) == ["S19-10268.json", "S19-10268.pdf", "S19-10281.json", "S19-10281.pdf",
                                    "S19-10290.json", "S19-10290.pdf"]
    assert (corpus / "S19-10290.pdf").read_bytes() == PDF["S19-10290"]
    assert not (corpus / PARTIAL_DIR).exists()


def test_ctrl_c_keeps_what_is_done_and_leaves_no_partial_file(site, tmp_path):
    corpus = tmp_path / "corpus"
    site.behaviour["S19-10290"] = "trickle"
    process = _cli("--source", site.export("pardok-wp19.xml", "export-wp19.xml"), "--corpus", str(corpus),
                   "--pause", "0", "--quiet")
    partial = corpus / PARTIAL_DIR / "S19-10290.pdf"
    deadline = time.monotonic() + 30
    while not (partial.is_file() and partial.stat().st_size > 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130 and err.decode().strip().endswith("interrupted")
    # the running download finished and was put in place whole; the state file records what is there
    state = json.loads((corpus / STATE_FILE).read_text(encoding="utf-8"))
    assert all((corpus / f"{doc_id}.pdf").read_bytes() == PDF[doc_id] for doc_id in state["documents"])
    assert not (corpus / PARTIAL_DIR).exists() or not any((corpus / PARTIAL_DIR).iterdir())


def _indexed(index: Path) -> dict:
    from qa_service.index import load_index

    return dict(load_index(index).documents)


def test_the_next_build_indexes_new_answers_with_export_metadata_and_drops_deleted_ones(site, tmp_path,
                                                                                         fake_embedder):
    from conftest import make_settings
    from qa_service.index import build_index

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    settings = make_settings(corpus, index)
    url = site.export("pardok-wp19.xml", "export-wp19-day1.xml")
    sync(options(corpus, url))
    build_index(settings, progress=False, embedder=fake_embedder)
    assert sorted(_indexed(index)) == ["S19-10275", "S19-10281"]
    site.export("pardok-wp19.xml", "export-wp19.xml")
    sync(options(corpus, url))
    build_index(settings, progress=False, embedder=fake_embedder)
    documents = _indexed(index)
    assert sorted(documents) == ["S19-10268", "S19-10281", "S19-10290"]
    document = documents["S19-10290"]
    assert document.subjects == ("Familie", "Vaterschaft")
    assert citation_text(document, document.chunks[1]).startswith(
        "Antwort des Senats vom 15.12.2021 auf die Schriftliche Anfrage der Abgeordneten Tommy Tabor und Gunnar "
        "Lindemann (AfD), Drucksache 19/10290")


@pytest.mark.slow
def test_sync_build_indexes_the_answers_with_the_exports_metadata(site, tmp_path, capsys):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    code = main(["sync", "--source", site.export("pardok-wp19.xml", "export-wp19.xml"), "--corpus", str(corpus),
                 "--index", str(index), "--pause", "0", "--quiet", "--build"])
    out = capsys.readouterr().out
    assert code == 0 and f"built {index}" in out and "3 documents" in out
    document = _indexed(index)["S19-10281"]
    assert document.subjects == ("Wohnungswesen", "Heizung", "Reinickendorf", "Wohnungsunternehmen")
    assert citation_text(document, document.chunks[-1]).startswith(
        "Antwort des Senats vom 09.12.2021 auf die Schriftliche Anfrage des Abgeordneten Niklas Schenker (LINKE), "
        "Drucksache 19/10281, „Heizungsausfall in Siedlung der Deutsche Wohnen in Reinickendorf“")


@pytest.mark.slow
def test_a_running_server_serves_what_sync_build_brings_without_a_restart(site, tmp_path, capsys):
    import requests

    from web_fixtures import start_server, stop_server

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    url = site.export("pardok-wp19.xml", "export-wp19-day1.xml")
    sync_build = ["sync", "--source", url, "--corpus", str(corpus), "--index", str(index), "--pause", "0",
                  "--quiet", "--build"]
    assert main(sync_build) == 0
    process, base_url = start_server(index, tmp_path / "serve.log")
    try:
        assert requests.get(f"{base_url}/api/documents/S19-10290", timeout=10).status_code == 404
        site.export("pardok-wp19.xml", "export-wp19.xml")  # the next day's export: S19-10290 is answered
        assert main(sync_build) == 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if requests.get(f"{base_url}/api/documents/S19-10290", timeout=10).status_code == 200:
                break
            time.sleep(0.5)
        document = requests.get(f"{base_url}/api/documents/S19-10290", timeout=10).json()
        assert document["subjects"] == ["Familie", "Vaterschaft"]
        assert process.poll() is None  # served by the same process
    finally:
        stop_server(process)
    capsys.readouterr()
