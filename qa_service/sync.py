"""Keep the corpus folder in step with the parliament's open-data export: download new and changed answers, remove
deleted ones.

A run reads the export(s), plans (new, to check, deleted), then downloads politely: at most two at once, a pause
between requests, retries with backoff on timeouts, connection errors, 429 and 5xx (honouring Retry-After), none
on other 4xx, and conditional requests so an unchanged answer costs one 304. `requests` (not urllib) because one
Session keeps the connection to the server alive between downloads, and it separates connect and read timeouts.

What a crash may leave: each download goes to `<corpus>/.sync-partial/<id>.pdf` (a subfolder, so no reader of the
corpus ever sees it; emptied at the next start), is checked (`%PDF-`, as long as announced, ends with `%%EOF`, has
a text layer), then its sidecar `<id>.json` and then the PDF are renamed into place. A kill between the two renames
leaves the new sidecar beside the old PDF; the state file still holds the old PDF's validators, so the next run
fetches the PDF again and completes the pair. A new document's PDF never appears without its sidecar.

The state file `<corpus>/.sync-state.json` (written atomically) records per document the PDF address, the
Vorgang, ETag, Last-Modified, length, sha256, when it was fetched and when last checked; the same for each file it
rejected (no text layer, not a PDF), with the reason, so that one is fetched again only once it changed; and per
export URL its validators.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit

from .errors import DocumentReadError, DownloadError, SyncError
from .pardok import ExportAnswer, read_export

PROJECT_URL = "https://github.com/qa-service/qa_service"
STATE_FILE = ".sync-state.json"
PARTIAL_DIR = ".sync-partial"
EXPORT_URL = "https://www.parlament-berlin.de/opendata/pardok-wp{wahlperiode}.xml"
STATE_FORMAT = 1
_CHUNK = 16 * 1024  # bytes read at once; each read waits for all of them, so it is small
_SAVE_EVERY = 5.0  # seconds between state saves during a run: a kill loses at most this much bookkeeping


def export_url(wahlperiode: int) -> str:
    """Return the address of the parliament's export of one Wahlperiode."""
    return EXPORT_URL.format(wahlperiode=wahlperiode)


def user_agent() -> str:
    """Return the User-Agent every request of a sync sends: the project, its version and its address."""
    from . import package_version

    return f"qa-service/{package_version()} (+{PROJECT_URL})"


@dataclass(frozen=True)
class SyncOptions:
    """What to sync and how politely; the defaults suit the parliament's server, tests shorten the waits."""

    sources: tuple[str, ...]
    corpus_dir: Path
    since: str | None = None  # ISO date: only answers given on or after it
    limit: int | None = None
    dry_run: bool = False
    progress: bool = True
    workers: int = 2
    pause: float = 1.0  # seconds between the starts of two requests
    connect_timeout: float = 10.0
    read_timeout: float = 60.0  # longest silence while a response arrives
    download_timeout: float = 600.0  # longest time one file may take, so a trickling response cannot hang a run
    # A known answer whose export metadata is unchanged is asked for again only this many days after its last
    # check: published answers almost never change, and 14,000 conditional requests a day would take four hours.
    recheck_days: float = 30.0
    retries: int = 3
    backoff: float = 2.0  # first wait before a retry; doubles with each attempt
    max_wait: float = 120.0  # cap on a wait, Retry-After included
    sleep: Callable[[float], None] = time.sleep  # tests pass one that records the waits instead


@dataclass(frozen=True)
class Failure:
    """One answer that could not be downloaded, and why."""

    document_id: str
    url: str
    reason: str


@dataclass
class SyncReport:
    """What a sync did (or, in a dry run, would do)."""

    corpus_dir: Path
    dry_run: bool = False
    new: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    failures: list[Failure] = field(default_factory=list)
    # Files rejected by an earlier run (no text layer, not a PDF) that the server says have not changed since.
    rejected: list[Failure] = field(default_factory=list)
    downloaded_bytes: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)

    def summary_line(self) -> str:
        """Return the one-line summary `qa-service sync` ends with."""
        verb = "would sync" if self.dry_run else "synced"
        folder = str(self.corpus_dir).rstrip("/") + "/"
        rejected = f"{len(self.rejected)} rejected before and unchanged, " if self.rejected else ""
        line = (f"{verb} {folder}: {self.new} new, {self.updated} updated, {self.deleted} deleted, "
                f"{self.unchanged} unchanged, {len(self.failures)} failed, {rejected}"
                f"{self.downloaded_bytes / 1e6:.1f} MB, {self.seconds:.1f} s")
        if not self.dry_run and not (self.new or self.updated or self.deleted or self.failures):
            line += "; nothing new, nothing downloaded" if not self.downloaded_bytes else "; nothing new"
        return line


@dataclass(frozen=True)
class _Task:
    answer: ExportAnswer
    known: dict | None  # the state entry when the PDF is on disk: fetch conditionally
    rejected: dict | None = None  # the state entry of a file rejected before: fetch conditionally too


@dataclass(frozen=True)
class _Outcome:
    answer: ExportAnswer
    kind: str  # new | updated | unchanged | failed | rejected (before, and not changed since)
    entry: dict | None = None
    downloaded: int = 0
    reason: str | None = None


def sync(options: SyncOptions) -> SyncReport:
    """Bring the corpus folder in step with the export(s); return what was done."""
    started = time.monotonic()
    corpus = Path(options.corpus_dir)
    report = SyncReport(corpus_dir=corpus, dry_run=options.dry_run)
    _validate(options)
    state = _load_state(corpus)
    if not options.dry_run:
        _prepare(corpus)
    fetcher = _Fetcher(options)
    try:
        answers, deleted_vorgaenge, current_vorgaenge = _read_sources(options, corpus, state, fetcher, report)
        tasks, deletions, fresh = _plan(answers, deleted_vorgaenge, current_vorgaenge, state, corpus, options, report)
        report.unchanged += fresh
        if options.dry_run:
            _describe(tasks, deletions, report)
        else:
            _delete(deletions, state, corpus, report)
            _download(tasks, state, corpus, fetcher, options, report)
    finally:
        fetcher.close()
        report.seconds = time.monotonic() - started
        if not options.dry_run:
            _tidy(corpus)
    return report


def _validate(options: SyncOptions) -> None:
    """Raise SyncError for an option no sync can run with."""
    if not options.sources:
        raise SyncError("nothing to sync: give a --source or a --wahlperiode")
    if options.since is not None:
        try:
            date.fromisoformat(options.since)
        except ValueError:
            raise SyncError(f"--since must be a date YYYY-MM-DD, got {options.since!r}") from None
    if options.limit is not None and options.limit < 0:
        raise SyncError(f"--limit must be at least 0, got {options.limit}")
    for name in ("pause", "connect_timeout", "read_timeout", "download_timeout", "backoff", "max_wait",
                 "recheck_days"):
        if getattr(options, name) < 0:
            raise SyncError(f"{name.replace('_', ' ')} must not be negative, got {getattr(options, name)}")
    for source in options.sources:
        if not _is_url(source) and not Path(source).is_file():
            raise SyncError(f"--source {source}: neither an http(s) address nor a file")


# --- the corpus folder and the state file --------------------------------------------------------------------

def _prepare(corpus: Path) -> None:
    """Create the corpus folder and empty the partial-download folder a killed run may have left."""
    try:
        corpus.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(corpus / PARTIAL_DIR, ignore_errors=True)
        (corpus / PARTIAL_DIR).mkdir()
    except OSError as exc:
        raise SyncError(f"cannot write the corpus folder {corpus}: {exc.strerror or exc}") from exc


def _tidy(corpus: Path) -> None:
    """Remove the partial-download folder once a run has left it empty."""
    try:
        (corpus / PARTIAL_DIR).rmdir()
    except OSError:
        pass  # not empty: a download was interrupted; the next run empties it


def _load_state(corpus: Path) -> dict:
    path = corpus / STATE_FILE
    if not path.is_file():
        return {"format": STATE_FORMAT, "documents": {}, "rejected": {}, "exports": {}}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SyncError(f"{path}: unreadable state file ({exc}); delete it to fetch everything again") from exc
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise SyncError(f"{path}: not a state file of format {STATE_FORMAT}; delete it to fetch everything again")
    state.setdefault("documents", {})
    state.setdefault("rejected", {})
    state.setdefault("exports", {})
    return state


def _save_state(corpus: Path, state: dict) -> None:
    _write_atomically(corpus / STATE_FILE, (json.dumps(state, ensure_ascii=False, indent=1) + "\n").encode())


def _write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a reader sees the old or the new content, never a part."""
    partial = path.parent / PARTIAL_DIR / (path.name + ".tmp")
    partial.parent.mkdir(exist_ok=True)
    with open(partial, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)


def _sidecar_bytes(answer: ExportAnswer) -> bytes:
    return (json.dumps(answer.sidecar(), ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --- reading the exports ---------------------------------------------------------------------------------------

def _is_url(source: str) -> bool:
    return urlsplit(source).scheme in ("http", "https")


def _read_sources(options, corpus, state, fetcher, report):
    """Return the answers of every source (a later source wins for an id), and the deleted and current Vorgänge."""
    answers: dict[str, ExportAnswer] = {}
    deleted: set[str] = set()
    current: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="qa-sync-") as scratch:
        for source in options.sources:
            path = _export_file(source, corpus, state, fetcher, options, Path(scratch), report) \
                if _is_url(source) else Path(source)
            export = read_export(path)
            for answer in export.answers:
                answers[answer.document_id] = answer
            deleted |= export.deleted
            current |= export.current
            report.notes.append(f"export {source}: {len(export.answers)} answered, {export.unanswered} not yet "
                                f"answered, {len(export.deleted)} Vorgänge deleted")
            report.notes += [f"export {source}: skipped {reason}" for reason in export.skipped]
    # A Vorgang deleted in one export and current in another (a later Wahlperiode file) is current.
    return answers, deleted - current, current


def _export_file(url, corpus, state, fetcher, options, scratch: Path, report) -> Path:
    """Return a local copy of the export at `url`, fetched only if it changed since the last run."""
    cached = corpus / (".export-" + hashlib.sha1(url.encode()).hexdigest()[:8] + "-" +
                       (Path(urlsplit(url).path).name or "export.xml"))
    known = state["exports"].get(url) if cached.is_file() else None
    target = scratch / "export.xml" if options.dry_run else corpus / PARTIAL_DIR / cached.name
    try:
        result = fetcher.fetch(url, target, known)
    except DownloadError as exc:
        raise SyncError(f"cannot download the export {url}: {exc}") from exc
    if result is None:
        report.notes.append(f"export {url}: not modified since {known.get('fetched_at')}; using the copy")
        return cached
    report.downloaded_bytes += result["length"]
    if options.dry_run:
        return target
    os.replace(target, cached)
    state["exports"][url] = result
    return cached


# --- planning ---------------------------------------------------------------------------------------------------

def _plan(answers, deleted_vorgaenge, current_vorgaenge, state, corpus, options, report):
    """Return the downloads to make (newest first), the ids to remove, and how many answers need no request yet."""
    documents = state["documents"]
    deletions = sorted(
        doc_id for doc_id, entry in documents.items()
        if doc_id not in answers and (entry.get("vorgang") in deleted_vorgaenge or
                                      entry.get("vorgang") in current_vorgaenge)
    )
    for doc_id in [d for d in state["rejected"] if d not in answers]:
        del state["rejected"][doc_id]  # its Vorgang is gone or lost its answer: nothing to ask again
    selected = [a for a in answers.values()
                if options.since is None or (a.answered_on is not None and a.answered_on >= options.since)]
    selected.sort(key=lambda a: (a.answered_on or "", a.document_id), reverse=True)
    if options.limit is not None:
        selected = selected[:options.limit]
    tasks, fresh, as_text = [], 0, []
    recent = (datetime.now(timezone.utc) - timedelta(days=options.recheck_days)).isoformat(timespec="seconds")
    for answer in selected:
        if (corpus / f"{answer.document_id}.txt").is_file():
            as_text.append(answer.document_id)  # a PDF beside it would give the id twice: the text file stays
            continue
        entry = documents.get(answer.document_id)
        on_disk = (corpus / f"{answer.document_id}.pdf").is_file()
        if entry and on_disk and entry.get("checked_at", "") > recent and _sidecar_is(corpus, answer):
            fresh += 1
            continue
        tasks.append(_Task(answer=answer, known=entry if entry and on_disk else None,
                           rejected=state["rejected"].get(answer.document_id)))
    if as_text:
        report.notes.append(f"kept {len(as_text)} answers the corpus holds as text files, not downloaded: "
                            f"{', '.join(sorted(as_text))}")
    return tasks, deletions, fresh


def _sidecar_is(corpus: Path, answer: ExportAnswer) -> bool:
    """Return whether the sidecar on disk holds what the export now says about `answer`."""
    try:
        return (corpus / f"{answer.document_id}.json").read_bytes() == _sidecar_bytes(answer)
    except OSError:
        return False


def _describe(tasks, deletions, report) -> None:
    for task in tasks:
        action = "check" if task.known else "new"
        report.plan.append(f"{action:<7} {task.answer.document_id:<14} {task.answer.answered_on or '-':<10} "
                           f"{task.answer.source_url}")
        if not task.known:
            report.new += 1
    report.plan += [f"delete  {doc_id}" for doc_id in deletions]
    report.deleted = len(deletions)
    checks = sum(1 for t in tasks if t.known)
    report.notes.append(f"plan: {report.new} new, {checks} to check (conditional request), "
                        f"{report.unchanged} checked recently, {len(deletions)} to delete")


# --- applying ---------------------------------------------------------------------------------------------------

def _delete(deletions, state, corpus, report) -> None:
    for doc_id in deletions:
        for suffix in (".pdf", ".json"):
            (corpus / f"{doc_id}{suffix}").unlink(missing_ok=True)
        del state["documents"][doc_id]
        report.deleted += 1
    if deletions:
        _save_state(corpus, state)


def _download(tasks, state, corpus, fetcher, options, report) -> None:
    from tqdm import tqdm

    last_save = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=max(1, options.workers))
    try:
        with tqdm(total=len(tasks), unit="doc", desc="sync", disable=not options.progress, file=sys.stderr) as bar:
            futures = [pool.submit(_fetch_one, task, corpus, fetcher) for task in tasks]
            for future in as_completed(futures):
                outcome = future.result()
                bar.update(1)
                report.downloaded_bytes += outcome.downloaded
                doc_id = outcome.answer.document_id
                failure = Failure(doc_id, outcome.answer.source_url, outcome.reason or "unknown")
                if outcome.kind in ("failed", "rejected"):
                    (report.failures if outcome.kind == "failed" else report.rejected).append(failure)
                    if outcome.entry is not None:
                        state["rejected"][doc_id] = outcome.entry
                    continue
                setattr(report, outcome.kind, getattr(report, outcome.kind) + 1)
                state["documents"][doc_id] = outcome.entry
                state["rejected"].pop(doc_id, None)
                if time.monotonic() - last_save > _SAVE_EVERY:
                    _save_state(corpus, state)
                    last_save = time.monotonic()
    finally:
        # On Ctrl-C the queued downloads are dropped, the two running ones finish; what is done is recorded.
        pool.shutdown(wait=True, cancel_futures=True)
        _save_state(corpus, state)
    report.failures.sort(key=lambda f: f.document_id)
    report.rejected.sort(key=lambda f: f.document_id)


def _fetch_one(task: _Task, corpus: Path, fetcher: "_Fetcher") -> _Outcome:
    """Download one answer (conditionally when known), check it and put it in place with its sidecar."""
    answer = task.answer
    pdf = corpus / f"{answer.document_id}.pdf"
    sidecar = corpus / f"{answer.document_id}.json"
    partial = corpus / PARTIAL_DIR / pdf.name
    try:
        result = fetcher.fetch(answer.source_url, partial, task.known or task.rejected, check=_check_pdf)
        if result is None and task.known is None:  # rejected before, not changed since
            return _Outcome(answer, "rejected", {**task.rejected, "checked_at": _now()}, reason=task.rejected["reason"])
        metadata = _sidecar_bytes(answer)
        metadata_changed = not sidecar.is_file() or sidecar.read_bytes() != metadata
        if result is None or (task.known and result["sha256"] == task.known.get("sha256")):
            partial.unlink(missing_ok=True)
            entry = {**task.known, **(result or {}), "vorgang": answer.vorgang, "url": answer.source_url,
                     "checked_at": _now()}
            if metadata_changed:
                _write_atomically(sidecar, metadata)
            return _Outcome(answer, "updated" if metadata_changed else "unchanged", entry,
                            downloaded=result["length"] if result else 0)
        # The sidecar first: a new PDF is never in the corpus without its metadata.
        _write_atomically(sidecar, metadata)
        os.replace(partial, pdf)
        entry = {**result, "vorgang": answer.vorgang, "url": answer.source_url, "checked_at": _now()}
        return _Outcome(answer, "updated" if task.known else "new", entry, downloaded=result["length"])
    except _Rejected as exc:
        partial.unlink(missing_ok=True)
        entry = {**exc.entry, "vorgang": answer.vorgang, "reason": str(exc), "checked_at": _now()}
        return _Outcome(answer, "failed", entry, downloaded=exc.entry["length"], reason=str(exc))
    except DownloadError as exc:
        partial.unlink(missing_ok=True)
        return _Outcome(answer, "failed", reason=str(exc))
    except OSError as exc:
        partial.unlink(missing_ok=True)
        return _Outcome(answer, "failed", reason=f"cannot write {exc.filename or corpus}: {exc.strerror or exc}")


def _check_pdf(path: Path, length: int) -> None:
    """Raise DownloadError unless `path` is a whole PDF with a text layer."""
    from .parsing.reading import read_pages

    with open(path, "rb") as handle:
        head = handle.read(16)
        handle.seek(max(0, length - 1024))
        tail = handle.read()
    if not head.startswith(b"%PDF-"):
        raise DownloadError(f"not a PDF (starts with {head!r})")
    if b"%%EOF" not in tail:
        raise DownloadError("incomplete PDF (no %%EOF at its end)")
    try:
        read_pages(path)
    except DocumentReadError as exc:
        raise DownloadError(str(exc).replace(f"{path}: ", "")) from exc


# --- HTTP -------------------------------------------------------------------------------------------------------

class _Fetcher:
    """One HTTP session shared by the download threads: the pause between requests, retries, validators."""

    def __init__(self, options: SyncOptions):
        self.options = options
        self._session = None
        self._lock = threading.Lock()
        self._next_start = 0.0

    def close(self) -> None:
        """Close the connection to the server."""
        if self._session is not None:
            self._session.close()

    def _get_session(self):
        import requests

        with self._lock:
            if self._session is None:
                self._session = requests.Session()
                self._session.headers["User-Agent"] = user_agent()
        return self._session

    def _wait_turn(self) -> None:
        """Sleep until `pause` seconds have passed since the previous request started (of any thread)."""
        with self._lock:
            now = time.monotonic()
            wait = self._next_start - now
            self._next_start = max(now, self._next_start) + self.options.pause
        if wait > 0:
            self.options.sleep(wait)

    def fetch(self, url: str, target: Path, known: dict | None, check=None) -> dict | None:
        """Download `url` to `target` and return its state entry; None when `known` shows it is unchanged."""
        headers = {}
        if known and known.get("etag"):
            headers["If-None-Match"] = known["etag"]
        if known and known.get("last_modified"):
            headers["If-Modified-Since"] = known["last_modified"]
        if known and not headers and known.get("length") is not None:
            # No validator to send: the length is the only sign of a change, and HEAD tells it for free.
            length = self._attempts("HEAD", url, {}, lambda response: response.headers.get("Content-Length"))
            if length == str(known["length"]):
                return None

        def receive(response):
            if response.status_code == 304:
                if not headers:
                    raise DownloadError("HTTP 304 Not Modified to a request that was not conditional")
                return None
            entry = self._receive(response, target)
            if check is not None:
                try:
                    check(target, entry["length"])
                except DownloadError as exc:
                    raise _Rejected(str(exc), entry) from exc
            return entry

        return self._attempts("GET", url, headers, receive)

    def _attempts(self, method: str, url: str, headers: dict, handle):
        """Return `handle(response)`, retrying timeouts, connection errors, 429 and 5xx; DownloadError otherwise."""
        import requests

        options = self.options
        session = self._get_session()
        for attempt in range(options.retries + 1):
            last = attempt == options.retries
            after = f" (after {attempt + 1} attempts)" if attempt else ""
            self._wait_turn()
            response = None
            try:
                response = session.request(method, url, headers=headers, stream=True,
                                           timeout=(options.connect_timeout, options.read_timeout))
                status = response.status_code
                if status == 429 or status >= 500:
                    if last:
                        raise DownloadError(f"HTTP {status} {response.reason}{after}")
                    wait = _retry_after(response.headers.get("Retry-After"))
                    options.sleep(min(wait if wait is not None else self._backoff(attempt), options.max_wait))
                    continue
                if status not in (200, 304):  # 404 and the other 4xx: asking again will not help
                    raise DownloadError(f"HTTP {status} {response.reason}")
                return handle(response)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                    _TooSlow) as exc:
                if last:
                    raise DownloadError(f"{_network_reason(exc)}{after}") from exc
                options.sleep(self._backoff(attempt))
            except requests.RequestException as exc:  # a bad address, a redirect loop: asking again will not help
                raise DownloadError(f"{type(exc).__name__} ({exc})") from exc
            finally:
                if response is not None:
                    response.close()
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _backoff(self, attempt: int) -> float:
        return min(self.options.backoff * 2 ** attempt, self.options.max_wait)

    def _receive(self, response, target: Path) -> dict:
        """Stream the body of `response` into `target`; return the state entry of what arrived."""
        deadline = time.monotonic() + self.options.download_timeout
        digest = hashlib.sha256()
        length = 0
        with open(target, "wb") as out:
            for block in response.iter_content(_CHUNK):
                if time.monotonic() > deadline:
                    raise _TooSlow(f"took longer than {self.options.download_timeout:g} s")
                out.write(block)
                digest.update(block)
                length += len(block)
            out.flush()
            os.fsync(out.fileno())
        announced = response.headers.get("Content-Length")
        if announced and not response.headers.get("Content-Encoding") and announced != str(length):
            raise DownloadError(f"incomplete: {length} of {announced} bytes")
        return {
            "url": response.url,
            "etag": response.headers.get("ETag"),
            "last_modified": response.headers.get("Last-Modified"),
            "length": length,
            "sha256": digest.hexdigest(),
            "fetched_at": _now(),
        }


class _TooSlow(Exception):
    """A response that keeps trickling past the download timeout."""


class _Rejected(DownloadError):
    """A file that arrived but is no usable PDF; `entry` holds its validators, so it is fetched again once changed."""

    def __init__(self, reason: str, entry: dict):
        super().__init__(reason)
        self.entry = entry


def _network_reason(exc: Exception) -> str:
    import requests

    if isinstance(exc, _TooSlow):
        return f"timeout ({exc})"
    if isinstance(exc, requests.Timeout) or "timed out" in str(exc).lower():
        return "timeout"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "connection lost during the download"
    return f"connection error ({type(exc).__name__})"


def _retry_after(value: str | None) -> float | None:
    """Return the seconds a Retry-After header asks to wait (a number or an HTTP date), None if it says nothing."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, (moment - datetime.now(timezone.utc)).total_seconds())
