"""Compare PDF text extractors by what the parser makes of their text, against reference text files.

    .venv/bin/python scripts/compare_pdf_extractors.py [PDF_DIR] [--reference-dir DIR]

For every `PDF_DIR/<id>.pdf` (default: corpus/) with a reference `DIR/<id>.txt` (default: tests/data/pdf-reference/,
pages separated by form feeds: the text `pdftotext` 22.12 gives), each extractor's pages and the reference are parsed
with the project's parser and compared: documents whose chunk ids are identical; chunks whose Frage and Antwort start
and end (40 characters each) as in the reference, Frage/Antwort and Vorbemerkung chunks apart from the `text` chunks
the parser could not place; metadata fields that agree; parser warnings; median seconds per page. Prints a markdown
table. An extractor whose library is missing is listed as not installed (`pip install ".[pdf-compare]"`);
`pdftotext` is the service's own reader (`qa_service.parsing.reading`).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa_service.parsing import parse_pages, parse_text  # noqa: E402
from qa_service.parsing.reading import read_pages  # noqa: E402

EDGE = 40  # characters compared at the start and at the end of each Frage and Antwort
METADATA_FIELDS = ("title", "drucksache", "askers", "asked_on", "asked_received_on", "answered_on",
                   "answered_received_on", "authority")


def pypdf_pages(path: Path) -> list[str]:
    """Return the pages' text as pypdf gives it."""
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(str(path)).pages]


def pypdfium2_pages(path: Path) -> list[str]:
    """Return the pages' text as pdfium (pypdfium2) gives it."""
    import pypdfium2

    pdf = pypdfium2.PdfDocument(str(path))
    try:
        return [page.get_textpage().get_text_range() for page in pdf]
    finally:
        pdf.close()


def pdfminer_pages(path: Path) -> list[str]:
    """Return the pages' text as pdfminer.six gives it (default layout analysis; it ends every page with \\f)."""
    from pdfminer.high_level import extract_text

    pages = extract_text(str(path)).split("\f")
    return pages[:-1] if len(pages) > 1 and not pages[-1].strip() else pages


def pdfplumber_pages(path: Path) -> list[str]:
    """Return the pages' text as pdfplumber gives it."""
    import pdfplumber

    with pdfplumber.open(str(path)) as pdf:
        return [page.extract_text() or "" for page in pdf.pages]


EXTRACTORS = {
    "pdftotext (poppler)": read_pages,
    "pypdf": pypdf_pages,
    "pypdfium2": pypdfium2_pages,
    "pdfminer.six": pdfminer_pages,
    "pdfplumber": pdfplumber_pages,
}


def _edges(text: str) -> tuple[str, str]:
    return text[:EDGE], text[-EDGE:]


def _chunk_agrees(chunk, reference) -> bool:
    return (_edges(chunk.frage) == _edges(reference.frage)
            and _edges(chunk.antwort) == _edges(reference.antwort))


def _group(chunk) -> str:
    # `qa` and `vorbemerkung` chunks hold the Fragen and answers; `text` chunks are text the parser could not place
    # (e.g. attachment tables after the signature): they are counted apart.
    return "text" if chunk.kind == "text" else "qa"


def measure(extract, pdfs: list[Path], references: dict) -> dict:
    """Return one extractor's counts over `pdfs`, each compared with its parsed reference document."""
    result = {"documents": 0, "same_ids": 0, "fields": 0, "fields_agree": 0, "warnings": 0, "failures": [],
              "seconds_per_page": [], "qa": 0, "qa_agree": 0, "text": 0, "text_agree": 0}
    for pdf in pdfs:
        reference = references[pdf.stem]
        result["documents"] += 1
        result["fields"] += len(METADATA_FIELDS)
        for ref in reference.chunks:
            result[_group(ref)] += 1
        started = time.perf_counter()
        try:
            pages = extract(pdf)
        except Exception as exc:  # noqa: BLE001 - any failure of a library is a result
            result["failures"].append(f"{pdf.name}: {type(exc).__name__}: {exc}")
            continue
        elapsed = time.perf_counter() - started
        result["seconds_per_page"].append(elapsed / max(len(pages), 1))
        pages = [page.replace("\r\n", "\n").replace("\r", "\n") for page in pages]
        document = parse_pages(pages, document_id=pdf.stem, source_file=str(pdf))
        result["warnings"] += len(document.warnings)
        if [c.chunk_id for c in document.chunks] == [c.chunk_id for c in reference.chunks]:
            result["same_ids"] += 1
        by_id = {c.chunk_id: c for c in document.chunks}
        for ref in reference.chunks:
            result[f"{_group(ref)}_agree"] += ref.chunk_id in by_id and _chunk_agrees(by_id[ref.chunk_id], ref)
        result["fields_agree"] += sum(1 for name in METADATA_FIELDS
                                      if getattr(document, name) == getattr(reference, name))
    return result


def _ratio(part: int, whole: int) -> str:
    return f"{part}/{whole} ({part / whole:.0%})" if whole else "-"


def table(results: dict, reference_warnings: int) -> str:
    """Return the markdown table of the measured extractors."""
    lines = [f"| extractor | same chunk ids | Frage/Antwort chunks agree | text chunks agree | metadata fields agree | "
             f"warnings (reference: {reference_warnings}) | s/page (median) |",
             "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        if r is None:
            lines.append(f"| {name} | not installed | | | | | |")
            continue
        seconds = f"{statistics.median(r['seconds_per_page']):.4f}" if r["seconds_per_page"] else "-"
        lines.append(f"| {name} | {_ratio(r['same_ids'], r['documents'])} | "
                     f"{_ratio(r['qa_agree'], r['qa'])} | {_ratio(r['text_agree'], r['text'])} | "
                     f"{_ratio(r['fields_agree'], r['fields'])} | "
                     f"{r['warnings']} | {seconds} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    """Measure every extractor on the PDFs that have a reference text and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pdf_dir", nargs="?", type=Path, default=ROOT / "corpus",
                        help="folder with the PDFs (default: corpus/)")
    parser.add_argument("--reference-dir", type=Path, default=ROOT / "tests" / "data" / "pdf-reference",
                        help="folder with <id>.txt per PDF, pages separated by form feeds "
                             "(default: tests/data/pdf-reference/)")
    args = parser.parse_args(argv)
    pdfs = sorted(p for p in args.pdf_dir.glob("*.pdf") if (args.reference_dir / f"{p.stem}.txt").is_file())
    if not pdfs:
        print(f"error: no PDF in {args.pdf_dir} has a reference text in {args.reference_dir}", file=sys.stderr)
        return 1
    references = {}
    for pdf in pdfs:
        path = args.reference_dir / f"{pdf.stem}.txt"
        references[pdf.stem] = parse_text(path.read_text(encoding="utf-8"), document_id=pdf.stem,
                                          source_file=str(path))
    results = {}
    for name, extract in EXTRACTORS.items():
        try:
            extract(pdfs[0])  # warm-up: imports and first-use setup are not per-page cost
        except ImportError:
            results[name] = None
            continue
        except Exception:  # noqa: BLE001 - a failing document is counted in measure()
            pass
        results[name] = measure(extract, pdfs, references)
    print(f"{len(pdfs)} PDFs, {sum(len(d.chunks) for d in references.values())} reference chunks\n")
    print(table(results, sum(len(d.warnings) for d in references.values())))
    for name, r in results.items():
        for failure in (r or {}).get("failures", []):
            print(f"{name}: failed: {failure}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
