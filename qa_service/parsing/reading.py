"""Read a document file into pages of text: a text file split at form feeds, or a PDF's text layer (pdftotext).

Text without form feeds may come from a PDF-to-markdown converter that marks each page start with a heading holding
the page's printed number (`## 2   Frage 2: …`); such a heading is read as a page break.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from ..errors import DocumentReadError

PDF_SUFFIX = ".pdf"
# Generous: the 83-page answer in the corpus takes well under a second.
PDFTOTEXT_TIMEOUT_SECONDS = 60
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
    return _without_trailing_empty_page(text.split("\f") if "\f" in text else converter_pages(text))


def _without_trailing_empty_page(pages: list[str]) -> list[str]:
    # A trailing form feed ends the last page; it does not open an empty one.
    return pages[:-1] if len(pages) > 1 and not pages[-1].strip() else pages


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
    # poppler's pdftotext, measured best of five extractors (README, "Reading PDFs"): its default mode keeps the
    # reading order and line breaks the parser was built on; it ends every page with a form feed.
    binary = shutil.which("pdftotext")
    if binary is None:
        raise DocumentReadError(f"{path}: cannot read PDF files: pdftotext is missing (apt-get install poppler-utils)")
    try:
        # The absolute path: a file name starting with "-" must not read as an option.
        result = subprocess.run([binary, "-enc", "UTF-8", str(path.absolute()), "-"], capture_output=True,
                                timeout=PDFTOTEXT_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired as exc:
        raise DocumentReadError(f"{path}: pdftotext took longer than {PDFTOTEXT_TIMEOUT_SECONDS} s") from exc
    except OSError as exc:
        raise DocumentReadError(f"{path}: cannot run pdftotext ({exc.strerror or exc})") from exc
    if result.returncode != 0:
        stderr = result.stderr.decode("utf-8", "replace")
        if "password" in stderr.lower():
            raise DocumentReadError(f"{path}: encrypted PDF (it needs a password)")
        reason = next((line.strip() for line in stderr.splitlines() if line.strip()),
                      f"pdftotext exit status {result.returncode}")
        raise DocumentReadError(f"{path}: not a readable PDF ({reason})")
    try:
        text = result.stdout.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentReadError(f"{path}: pdftotext gave invalid UTF-8 (at offset {exc.start})") from exc
    pages = _without_trailing_empty_page(text.replace("\r\n", "\n").replace("\r", "\n").split("\f"))
    if not any(page.strip() for page in pages):
        raise DocumentReadError(f"{path}: PDF has no text layer (scanned image?); run OCR first")
    return pages
