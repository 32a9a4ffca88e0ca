"""FilterIndex: which documents pass a `SearchFilters`, by testing each distinct metadata value once.

Testing every document for every new filter cost ~0.1 s at 60,000 documents (a Drucksache filter walked all of
their metadata in Python). Here each filter's document values are kept once, normalised as its test compares them
(`query.FILTER_TESTS`): a filter of equal keys (Drucksache, party, subject, type, Wahlperiode) is one dictionary
lookup, a substring or date filter tests each distinct value (a few hundred Senatsverwaltungen, names or dates), and
numpy spreads the result over the documents. The result is exactly `SearchFilters.matches` of every document.
The build stores each document's values (`query.FILTERED_VALUES`), so a loaded index makes the columns without
reading any document's metadata.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .documents import Document
from .query import FILTER_TESTS, FilterTest, SearchFilters


class _Column:
    """The normalised values of every document that one or more filters read: distinct keys, per (document, value)
    pair the id of its key and the document's ordinal."""

    def __init__(self, keys: list, key_ids: np.ndarray, document_of_pair: np.ndarray, n_documents: int):
        self.keys = keys
        self.ids: dict[object, int] = {key: i for i, key in enumerate(keys)}
        self.key_ids = key_ids
        # Documents with no value (no askers, no subjects) have no pair.
        self.document_of_pair = document_of_pair
        self.n_documents = n_documents

    @classmethod
    def of_documents(cls, test: FilterTest, documents: tuple[Document, ...]) -> "_Column":
        """Read the column from every document's metadata."""
        ids: dict[object, int] = {}
        key_ids: list[int] = []
        counts: list[int] = []
        for document in documents:
            keys = [test.key(value) for value in test.values(document)]
            key_ids.extend(ids.setdefault(key, len(ids)) for key in keys)
            counts.append(len(keys))
        return cls(list(ids), np.asarray(key_ids, dtype=np.int64),
                   np.repeat(np.arange(len(counts), dtype=np.int64), counts), len(counts))

    @classmethod
    def of_stored(cls, test: FilterTest, stored: list[tuple[object, np.ndarray]], n_documents: int) -> "_Column":
        """Make the column from the stored (value, ordinals of the documents holding it) pairs: each distinct value is
        normalised once, no document is read."""
        ids: dict[object, int] = {}
        value_ids = [ids.setdefault(test.key(value), len(ids)) for value, _ in stored]
        counts = [len(ordinals) for _, ordinals in stored]
        document_of_pair = (np.concatenate([ordinals for _, ordinals in stored]).astype(np.int64) if stored
                            else np.zeros(0, dtype=np.int64))
        return cls(list(ids), np.repeat(np.asarray(value_ids, dtype=np.int64), counts), document_of_pair,
                   n_documents)

    def passing(self, name: str, filters: SearchFilters) -> np.ndarray:
        """Return the mask of the documents with a value that passes filter `name` of `filters`."""
        test, wanted = FILTER_TESTS[name], filters.wanted_key(name)
        if test.compare is None:
            key_passes = np.zeros(len(self.keys), dtype=bool)
            if wanted in self.ids:
                key_passes[self.ids[wanted]] = True
        else:
            key_passes = np.fromiter((test.passes(wanted, key) for key in self.keys), dtype=bool,
                                     count=len(self.keys))
        passes = np.zeros(self.n_documents, dtype=bool)
        passes[self.document_of_pair[key_passes[self.key_ids]]] = True
        return passes


class FilterIndex:
    """The documents (in ordinal order) that pass a filter, from one pass over their metadata at construction."""

    def __init__(self, documents: Iterable[Document]):
        documents = tuple(documents)
        self._make(len(documents), lambda test: _Column.of_documents(test, documents))

    @classmethod
    def of_stored(cls, stored: dict[str, list[tuple[object, np.ndarray]]], n_documents: int) -> "FilterIndex":
        """Return the FilterIndex of `n_documents` documents from the values the build stored: {FILTERED_VALUES
        name: [(value, ordinals of the documents holding it)]} (`StoreDocuments.filter_values`)."""
        index = cls.__new__(cls)
        index._make(n_documents, lambda test: _Column.of_stored(test, stored[test.field], n_documents))
        return index

    def _make(self, n_documents: int, column_of) -> None:
        self.n_documents = n_documents
        # Filters that read the same values alike share a column (answered_from and answered_to).
        columns: dict[tuple, _Column] = {}
        self._columns: dict[str, _Column] = {}
        for name, test in FILTER_TESTS.items():
            read = (test.field, test.key)
            if read not in columns:
                columns[read] = column_of(test)
            self._columns[name] = columns[read]

    def passing(self, filters: SearchFilters) -> np.ndarray:
        """Return the mask of the documents (by ordinal) that every filter set in `filters` allows."""
        passes = np.ones(self.n_documents, dtype=bool)
        for name in filters.active():
            passes &= self._columns[name].passing(name, filters)
        return passes
