"""Parse answer documents into per-Frage chunks with citation metadata.

Pipeline: reading (file -> pages) -> cleaning (lines without page furniture) -> footnotes (out of the running
text) -> structure (Frage/Antwort markers -> chunks) -> metadata (cover sheet, letter, closing, sidecar).
"""
from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..documents import Chunk, Document
from ..errors import DocumentReadError
from .cleaning import flattened_lines, is_flattened, page_lines, text_style
from .footnotes import extract_footnotes
from .metadata import extract_metadata, pardok_url, read_sidecar, sidecar_disagreements
from .reading import read_pages
from .structure import RawChunk, build_chunks, find_events

DOCUMENT_SUFFIXES = (".txt", ".pdf")
# Files parsed in worker processes (one per core) from this many on: below it the pool costs more than it saves.
POOL_MIN_FILES = 200

__all__ = ["ParseReport", "find_document_files", "parse_file", "parse_paths", "parse_text"]


@dataclass
class ParseReport:
    """The documents that parsed and one line per file that could not be read."""

    documents: list[Document] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def find_document_files(path: Path) -> list[Path]:
    """Return the document files of a folder (its *.txt and *.pdf, sorted) or the file itself."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES)
    return [path]


def parse_file(path: Path) -> Document:
    """Parse one document file; raise DocumentReadError with one line naming the file and the reason."""
    path = Path(path)
    pages = read_pages(path)
    document = parse_pages(pages, document_id=path.stem, source_file=str(path))
    sidecar = read_sidecar(path)
    if sidecar:
        document = _apply_sidecar(document, sidecar)
    return document


def parse_paths(paths) -> ParseReport:
    """Parse every document file under `paths` (files or folders); unreadable files become failures."""
    report = ParseReport()
    # In the order given: a file to parse, or the failure line of a path that does not exist.
    items: list[Path | str] = []
    for path in map(Path, paths):
        items.extend(find_document_files(path) if path.exists() else [f"{path}: no such file or folder"])
    parsed = iter(_parse_all([item for item in items if isinstance(item, Path)]))
    for item in items:
        document, failure = next(parsed) if isinstance(item, Path) else (None, item)
        if document is not None:
            report.documents.append(document)
        else:
            report.failures.append(failure)
    return report


def _parse_all(files: list[Path]) -> list[tuple[Document | None, str | None]]:
    """Return (document, None) or (None, failure line) of every file, in order; on all cores for many files."""
    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    # Parsing is pure Python on one core (22% of a large build). Workers are forked (spawned ones would re-run
    # the caller's main script), so only from a process without other threads, where forking is safe.
    if (len(files) < POOL_MIN_FILES or workers < 2 or threading.active_count() > 1
            or "fork" not in multiprocessing.get_all_start_methods()):
        return [_parse_or_failure(file) for file in files]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(_parse_or_failure, files, chunksize=32))


def _parse_or_failure(file: Path) -> tuple[Document | None, str | None]:
    try:
        return parse_file(file), None
    except DocumentReadError as exc:
        return None, str(exc)


def parse_text(text: str, document_id: str, source_file: str | None = None) -> Document:
    """Parse a document given as text (form feeds separate pages)."""
    if not text.strip():
        raise DocumentReadError(f"{source_file or document_id}: no text (empty)")
    return parse_pages(text.split("\f"), document_id=document_id, source_file=source_file)


def parse_pages(pages: list[str], document_id: str, source_file: str | None = None) -> Document:
    """Parse a document given as the text of its pages."""
    lines = flattened_lines(pages) if is_flattened(pages) else page_lines(pages)
    style = text_style(lines)
    lines, footnotes = extract_footnotes(lines)
    layout = find_events(lines)
    raw_chunks, warnings = build_chunks(layout, footnotes, style, document_id)
    meta = extract_metadata(layout.preamble, layout.closing, style)
    meta["source_url"] = pardok_url(meta.get("drucksache"), meta.get("doc_type"), meta.get("wahlperiode"))
    meta["askers"] = tuple(meta.get("askers") or ())
    return Document(
        document_id=document_id,
        source_file=source_file,
        page_count=len(pages),
        warnings=tuple(warnings),
        chunks=tuple(_with_ids(raw_chunks, document_id)),
        **meta,
    )


def _with_ids(raw_chunks: list[RawChunk], document_id: str) -> list[Chunk]:
    """Give each chunk its id: `#5a`, `#5+6`, `#vorbemerkung`, `#vorbemerkung-2`, `#text-1` (unique per document)."""
    chunks: list[Chunk] = []
    used: set[str] = set()
    counters = {"vorbemerkung": 0, "text": 0}
    for raw in raw_chunks:
        if raw.kind == "qa":
            label = "+".join(raw.numbers) or "qa"
        elif raw.kind == "vorbemerkung":
            counters["vorbemerkung"] += 1
            n = counters["vorbemerkung"]
            label = "vorbemerkung" if n == 1 else f"vorbemerkung-{n}"
        else:
            counters["text"] += 1
            label = f"text-{counters['text']}"
        candidate, n = label, 1
        while candidate in used:  # a Frage numbered twice: the second keeps its number with a suffix
            n += 1
            candidate = f"{label}-{n}"
        used.add(candidate)
        chunks.append(Chunk(chunk_id=f"{document_id}#{candidate}", document_id=document_id, kind=raw.kind,
                            numbers=tuple(raw.numbers), frage=raw.frage, antwort=raw.antwort,
                            pages=tuple(raw.pages)))
    return chunks


def _apply_sidecar(document: Document, sidecar: dict) -> Document:
    """Return `document` with the sidecar's fields overriding, disagreements as warnings, the PDF address rebuilt."""
    from dataclasses import replace

    values = dict(sidecar)
    if "askers" in values:
        values["askers"] = tuple(values["askers"])
    values["warnings"] = document.warnings + tuple(sidecar_disagreements(document, values))
    updated = replace(document, **values)
    if "source_url" not in sidecar:
        updated = replace(updated, source_url=pardok_url(updated.drucksache, updated.doc_type, updated.wahlperiode))
    return updated
