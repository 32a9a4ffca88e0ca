"""Read a document file into pages of text: a text file split at form feeds, or a PDF's text layer.

Text without form feeds may come from a PDF-to-markdown converter that marks each page start with a heading holding
the page's printed number (`## 2   Frage 2: …`); such a heading is read as a page break.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import DocumentReadError

PDF_SUFFIX = ".pdf"
# The converter's page heading: a markdown heading that is only a page number, followed by the converter's wide gap
# (or the line end). `## 3 Ergebnisse` (one space) is a section heading, not a page.
_CONVERTER_PAGE = re.compile(r"^#{1,6}[ \t]+(\d{1,3})(?:[ \t]{2,}|[ \t]*$)", re.MULTILINE)


def read_pages(path: Path) -> list[str]:
    """Return the pages of `path` as text (1 page = 1 list item); raise DocumentReadError if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise DocumentReadError(f"{path}: not a file")
    if path.suffix.lower() == PDF_SUFFIX:
        pages = _read_pdf_pages(path)
    else:
        pages = _read_text_pages(path)
    if not any(page.strip() for page in pages):
        raise DocumentReadError(f"{path}: no text (empty file)")
    return pages


def _read_text_pages(path: Path) -> list[str]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentReadError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if not data.strip():
        raise DocumentReadError(f"{path}: empty file")
    if b"\x00" in data:
        raise DocumentReadError(f"{path}: binary file, not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentReadError(f"{path}: not UTF-8 text (invalid byte at offset {exc.start})") from exc
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    pages = text.split("\f") if "\f" in text else converter_pages(text)
    # A trailing form feed ends the last page; it does not open an empty one.
    if len(pages) > 1 and not pages[-1].strip():
        pages.pop()
    return pages


def converter_pages(text: str) -> list[str]:
    """Split converter markdown at its page headings (`## N`): printed page N is PDF page N + 1, after the cover.

    Printed numbers start on the page after the unnumbered cover sheet (`## 1` is PDF page 2, checked against the
    form feeds of the same document as text). A heading counts only while the numbers rise, so a stray `## 2` further
    on is text. Pages the excerpt lacks stay empty, so list position + 1 is the PDF page; the heading itself is page
    furniture and is not kept. Text without such headings is one page.
    """
    pages = [""]
    position = 0
    for match in _CONVERTER_PAGE.finditer(text):
        page_index = int(match.group(1))  # 0-based PDF page index = printed number
        if page_index < len(pages):
            continue  # not rising: not a page heading
        pages[-1] += text[position:match.start()]
        pages += [""] * (page_index - len(pages)) + [""]
        position = match.end()
    pages[-1] += text[position:]
    return pages


def _read_pdf_pages(path: Path) -> list[str]:
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError as exc:  # pypdf is a declared dependency; say so if it is missing
        raise DocumentReadError(f"{path}: cannot read PDF files (pypdf is not installed)") from exc
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            try:
                reader.decrypt("")
            except Exception as exc:  # noqa: BLE001 - any failure means: encrypted, cannot read
                raise DocumentReadError(f"{path}: encrypted PDF") from exc
        pages = [(page.extract_text() or "") for page in reader.pages]
    except DocumentReadError:
        raise
    except (PdfReadError, OSError, ValueError, KeyError, TypeError) as exc:
        raise DocumentReadError(f"{path}: not a readable PDF ({exc})") from exc
    if not pages:
        raise DocumentReadError(f"{path}: PDF has no pages")
    if not any(page.strip() for page in pages):
        raise DocumentReadError(f"{path}: PDF has no text layer (scanned image?); run OCR first")
    return [page.replace("\r\n", "\n").replace("\r", "\n") for page in pages]
