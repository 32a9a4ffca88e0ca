"""What text represents a chunk: for the embedder (one or several vectors per chunk) and for BM25.

Kept in one place so the choice can be measured and changed without touching the index or the search.
"""
from __future__ import annotations

from .documents import Chunk, Document


def passage_texts(document: Document, chunk: Chunk) -> list[str]:
    """Return the texts embedded for `chunk`; each becomes one vector row pointing at the chunk."""
    return ["\n".join(part for part in (chunk.frage, chunk.antwort) if part)]


def lexical_text(document: Document, chunk: Chunk) -> str:
    """Return the text BM25 indexes for `chunk`."""
    return "\n".join(part for part in (chunk.frage, chunk.antwort) if part)
