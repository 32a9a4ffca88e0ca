"""FilterIndex: which documents pass a `SearchFilters`, by testing each distinct metadata value once.

Testing every document for every new filter cost ~0.1 s at 60,000 documents (a Drucksache filter walked all of
their metadata in Python). Here each filter's document values are kept once, normalised as its test compares them
(`query.FILTER_TESTS`): a filter of equal keys (Drucksache, party, subject, type, Wahlperiode) is one dictionary
lookup, a substring or date filter tests each distinct value (a few hundred Senatsverwaltungen, names or dates), and
numpy spreads the result over the documents. The result is exactly `SearchFilters.matches` of every document.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .documents import Document
from .query import FILTER_TESTS, FilterTest, SearchFilters


class _Column:
    """The normalised values of every document that one or more filters read: distinct keys, per document the ids
    of its keys."""

    def __init__(self, test: FilterTest, documents: Iterable[Document]):
        self.ids: dict[object, int] = {}
        key_ids: list[int] = []
        counts: list[int] = []
        for document in documents:
            keys = [test.key(value) for value in test.values(document)]
            key_ids.extend(self.ids.setdefault(key, len(self.ids)) for key in keys)
            counts.append(len(keys))
        self.keys = list(self.ids)
        self.key_ids = np.asarray(key_ids, dtype=np.int64)
        # The document of each (document, key) pair: documents with no value (no askers, no subjects) have none.
        self.document_of_pair = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        self.n_documents = len(counts)

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
        self.n_documents = len(documents)
        # Filters that read the same values alike share a column (answered_from and answered_to).
        columns: dict[tuple, _Column] = {}
        self._columns: dict[str, _Column] = {}
        for name, test in FILTER_TESTS.items():
            read = (test.values, test.key)
            if read not in columns:
                columns[read] = _Column(test, documents)
            self._columns[name] = columns[read]

    def passing(self, filters: SearchFilters) -> np.ndarray:
        """Return the mask of the documents (by ordinal) that every filter set in `filters` allows."""
        passes = np.ones(self.n_documents, dtype=bool)
        for name in filters.active():
            passes &= self._columns[name].passing(name, filters)
        return passes
