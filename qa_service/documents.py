"""Document and Chunk: the citation fields every other module passes around.

One shape, written down once. `to_dict()` gives the JSON shape of `qa-service parse --json` and of the API;
`from_dict()` reads it back. In a loaded index a Document's `chunks` is a read-only sequence into the index's store
(`index/store.py`), read when used.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

# What a chunk is: a Frage with its answer, a preliminary remark, or a paragraph of text without Frage markers.
CHUNK_KINDS = ("qa", "vorbemerkung", "text")


@dataclass(frozen=True)
class Asker:
    """One member of parliament who asked; `name` is None when only the party is known."""

    name: str | None
    party: str | None = None


@dataclass(frozen=True)
class Chunk:
    """One Frage with the Senate's answer (or a preliminary remark, or a paragraph of unstructured text).

    `numbers` are the Frage labels as cited ("3", "1.1", "5a"); a joint answer lists every Frage it answers.
    `pages` are 1-based PDF page numbers (form feeds counted) that the chunk's text spans.
    `frage` and `antwort` are the cleaned verbatim text: words unchanged, paragraph breaks kept as "\\n".
    """

    chunk_id: str
    document_id: str
    kind: str
    numbers: tuple[str, ...]
    frage: str
    antwort: str
    pages: tuple[int, ...]

    def to_dict(self) -> dict:
        """Return the JSON shape of this chunk."""
        data = asdict(self)
        data["numbers"] = list(self.numbers)
        data["pages"] = list(self.pages)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Chunk":
        """Build a chunk from its JSON shape."""
        return cls(
            chunk_id=data["chunk_id"],
            document_id=data["document_id"],
            kind=data["kind"],
            numbers=tuple(data.get("numbers") or ()),
            frage=data.get("frage") or "",
            antwort=data.get("antwort") or "",
            pages=tuple(data.get("pages") or ()),
        )


def answers_something(chunk: Chunk) -> bool:
    """Return False for a Frage whose answer is missing (a cut-off document): it is kept in the index and can be
    looked up, but never ranked or listed. Vorbemerkungen and text chunks always count."""
    return chunk.kind != "qa" or bool(chunk.antwort.strip())


@dataclass(frozen=True)
class Document:
    """One answer of the Senate with its citation metadata; a field the document lacks is None, never guessed."""

    document_id: str
    drucksache: str | None = None
    wahlperiode: int | None = None
    doc_type: str | None = None
    title: str | None = None
    askers: tuple[Asker, ...] = ()
    asked_on: str | None = None
    asked_received_on: str | None = None
    answered_on: str | None = None
    answered_received_on: str | None = None
    authority: str | None = None
    signatory: str | None = None
    source_url: str | None = None
    # The export's subject area and descriptors (`Erneuerbare Energien`, `Pankow`), in its order.
    subjects: tuple[str, ...] = ()
    source_file: str | None = None
    page_count: int | None = None
    warnings: tuple[str, ...] = ()
    chunks: tuple[Chunk, ...] = field(default_factory=tuple)

    def metadata(self) -> dict:
        """Return the JSON shape of the document without its chunks."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "chunks"}
        data["askers"] = [asdict(a) for a in self.askers]
        data["subjects"] = list(self.subjects)
        data["warnings"] = list(self.warnings)
        return data

    def to_dict(self) -> dict:
        """Return the JSON shape of the document with its chunks."""
        data = self.metadata()
        data["chunks"] = [c.to_dict() for c in self.chunks]
        return data

    @classmethod
    def from_dict(cls, data: dict, chunks=None) -> "Document":
        """Build a document (and its chunks, if present) from its JSON shape; `chunks` (a sequence), if given,
        instead of those of `data`."""
        values = {k: v for k, v in data.items() if k in _DOCUMENT_FIELDS}
        values["askers"] = tuple(Asker(**a) for a in data.get("askers") or ())
        values["subjects"] = tuple(data.get("subjects") or ())
        values["warnings"] = tuple(data.get("warnings") or ())
        values["chunks"] = chunks if chunks is not None else tuple(Chunk.from_dict(c) for c in data.get("chunks") or ())
        return cls(**values)


_DOCUMENT_FIELDS = frozenset(f.name for f in fields(Document))
