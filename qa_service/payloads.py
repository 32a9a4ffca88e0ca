"""The JSON shapes the service answers with, written once: a search result, a results page, a document, a chunk.

Used by the HTTP API, `qa-service ask --json` and every other JSON surface; `openapi.py` describes the same shapes.
Local details (the source file's path, parser warnings) never leave the service.
"""
from __future__ import annotations

from .citation import citation
from .documents import Chunk, Document

# Document fields that stay inside the service: where the file lies on this machine, and what the parser noticed.
_PRIVATE_FIELDS = ("source_file", "warnings")


def document_metadata(document: Document) -> dict:
    """Return the document's public metadata (no local path, no parser warnings)."""
    data = document.metadata()
    for name in _PRIVATE_FIELDS:
        data.pop(name, None)
    return data


def public_metadata(document: Document) -> dict:
    """Return the document's public metadata with its number of chunks: an entry of /api/documents."""
    data = document_metadata(document)
    data["chunk_count"] = len(document.chunks)
    return data


def chunk_payload(document: Document, chunk: Chunk) -> dict:
    """Return one chunk with its citation."""
    data = chunk.to_dict()
    data["citation"] = citation(document, chunk)
    return data


def chunk_with_document(document: Document, chunk: Chunk) -> dict:
    """Return one chunk with its citation and its document's metadata: /api/chunks/<id>."""
    data = chunk_payload(document, chunk)
    data["document"] = public_metadata(document)
    return data


def document_with_chunks(document: Document) -> dict:
    """Return one document's metadata with all its chunks in order: /api/documents/<id>."""
    data = public_metadata(document)
    data["chunks"] = [chunk_payload(document, chunk) for chunk in document.chunks]
    return data


def hit_payload(hit) -> dict:
    """Return the JSON shape of one search hit (a `qa_service.search.Hit`)."""
    return {
        "rank": hit.rank,
        "score": round(float(hit.score), 4),
        "chunk_id": hit.chunk.chunk_id,
        "document_id": hit.chunk.document_id,
        "numbers": list(hit.chunk.numbers),
        "kind": hit.chunk.kind,
        "frage": hit.chunk.frage,
        "antwort": hit.chunk.antwort,
        "pages": list(hit.chunk.pages),
        "match": hit.match,
        "quote_span": list(hit.quote_span) if hit.quote_span else None,
        "highlight": [list(span) for span in hit.highlight],
        "document": document_metadata(hit.document),
        "citation": citation(hit.document, hit.chunk),
    }


def results_payload(question: str, hits: list, mode: str) -> dict:
    """Return `{"question", "mode", "no_answer", "results"}`: the answer of `POST /api/ask` and `ask --json`."""
    from .search import no_answer

    return {"question": question, "mode": mode, "no_answer": no_answer(hits),
            "results": [hit_payload(hit) for hit in hits]}


def health_payload(index) -> dict:
    """Return what /healthz says about the index being served."""
    return {
        "status": "ok",
        "documents": len(index.documents),
        "chunks": len(index.chunks),
        "model": index.model_id,
        "built_at": index.manifest.get("built_at"),
    }
