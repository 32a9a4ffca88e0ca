"""Read a document file into pages of text: a text file split at form feeds, or a PDF's text layer."""
from __future__ import annotations

from pathlib import Path

from ..errors import DocumentReadError

PDF_SUFFIX = ".pdf"


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
    pages = text.split("\f")
    # A trailing form feed ends the last page; it does not open an empty one.
    if len(pages) > 1 and not pages[-1].strip():
        pages.pop()
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
