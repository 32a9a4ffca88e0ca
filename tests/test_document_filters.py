"""FilterIndex: the documents a filter allows, by distinct values, exactly as SearchFilters.matches tests each one."""
from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from qa_service.document_filters import FilterIndex
from qa_service.documents import Asker, Document
from qa_service.query import FILTER_NAMES, SearchFilters


def _documents() -> list[Document]:
    """Documents whose metadata covers what filters meet: missing fields, several askers, subjects, spellings."""
    base = [
        Document("S19-1", drucksache="19/1", wahlperiode=19, doc_type="Schriftliche Anfrage",
                 askers=(Asker("Anne Helm", "LINKE"), Asker("Niklas Schrader", "DIE LINKE")),
                 answered_on="2021-11-22", authority="Senatsverwaltung für Inneres und Sport",
                 subjects=("Innere Sicherheit", "Polizei")),
        Document("S19-2", drucksache="19 / 2", wahlperiode=19, doc_type="Schriftliche Anfrage",
                 askers=(Asker("Andreas Otto", "BÜNDNIS 90/DIE GRÜNEN"),), answered_on="2021-01-01",
                 authority="Senatsverwaltung für Bildung, Jugend und Familie", subjects=("Schule",)),
        Document("ka17-3", drucksache="17/3", wahlperiode=17, doc_type="Kleine Anfrage",
                 askers=(Asker("Ülkü Öztürk", None),), answered_on=None, authority=None),
        Document("S18-4", drucksache=None, wahlperiode=18, doc_type="Schriftliche Anfrage", askers=(),
                 answered_on="2019-06-30", authority="Senatsverwaltung für Inneres und Sport"),
    ]
    # Copies with other numbers and dates, so that keys repeat across documents.
    copies = [dataclasses.replace(d, document_id=f"{d.document_id}-{i}", answered_on=f"202{i}-05-0{i + 1}")
              for i, d in enumerate(base)]
    return base + copies


FILTER_VALUES = {
    "drucksache": ["19/1", "19/2", "19 / 1", "17/3", "18/999"],
    "authority": ["inneres", "Bildung", "Senatsverwaltung", "Umwelt"],
    "party": ["LINKE", "Die Linke", "GRÜNE", "SPD"],
    "asker": ["helm", "Öztürk", "ülkü öz", "an", "Nobody"],
    "subject": ["polizei", "Schule", "Poli"],
    "doc_type": ["Kleine Anfrage", "Schriftliche Anfrage"],
    "wahlperiode": [17, 19, 20],
    "answered_from": ["2021-01-01", "2021-11-22", "2030-01-01"],
    "answered_to": ["2021-01-01", "2019-06-30", "2000-01-01"],
}


def _all_filters():
    """Every single filter, and every pair of two filters, with each of their test values."""
    assert set(FILTER_VALUES) == set(FILTER_NAMES)  # a new filter must be tested here
    for name, values in FILTER_VALUES.items():
        for value in values:
            yield SearchFilters(**{name: value})
    for first, second in itertools.combinations(FILTER_NAMES, 2):
        for a, b in itertools.product(FILTER_VALUES[first][:2], FILTER_VALUES[second][:2]):
            yield SearchFilters(**{first: a, second: b})


def test_every_filter_allows_exactly_the_documents_that_match_it():
    documents = _documents()
    index = FilterIndex(documents)
    allowed_somewhere = 0
    for filters in _all_filters():
        expected = np.array([filters.matches(d) for d in documents])
        assert index.passing(filters).tolist() == expected.tolist(), filters
        allowed_somewhere += bool(expected.any()) and not expected.all()
    assert allowed_somewhere > 50  # the filters do separate the documents


def test_no_filter_allows_every_document_and_an_empty_index_allows_none():
    assert FilterIndex(_documents()).passing(SearchFilters()).all()
    assert FilterIndex([]).passing(SearchFilters(drucksache="19/1")).tolist() == []


@pytest.mark.parametrize("filters, expected", [
    (SearchFilters(drucksache="19/2"), {"S19-2", "S19-2-1"}),  # the stored "19 / 2", spaces ignored
    (SearchFilters(party="GRÜNE"), {"S19-2", "S19-2-1"}),  # BÜNDNIS 90/DIE GRÜNEN
    (SearchFilters(answered_to="2020-12-31"), {"S18-4", "S19-1-0"}),  # the undated ka17-3 passes no date filter
])
def test_spellings_and_missing_values_count_as_the_filter_describes(filters, expected):
    documents = _documents()
    passes = FilterIndex(documents).passing(filters)
    assert {d.document_id for d, ok in zip(documents, passes) if ok} == expected


def _stored_documents(path, documents):
    from qa_service.index.store import write_store

    write_store(path, documents)
    return _open_documents(path)


def _open_documents(path):
    from qa_service.index.store import Store, StoreChunks, StoreDocuments

    store = Store(path)
    return StoreDocuments(store, StoreChunks(store))


def test_the_filter_values_a_store_holds_allow_what_the_documents_allow(tmp_path):
    documents = _documents()
    stored = _stored_documents(tmp_path / "store.sqlite", documents)
    from_store = FilterIndex.of_stored(stored.filter_values(), len(stored))
    for filters in _all_filters():
        expected = [filters.matches(d) for d in documents]
        assert from_store.passing(filters).tolist() == expected, filters
    empty = _stored_documents(tmp_path / "empty.sqlite", [])
    assert FilterIndex.of_stored(empty.filter_values(), 0).passing(SearchFilters(party="SPD")).tolist() == []


def test_a_store_without_every_filter_value_gives_none_and_the_documents_are_read(tmp_path):
    import sqlite3

    from qa_service.query import FILTERED_VALUES

    documents = _documents()
    for name, drop in (("old", "DROP TABLE filter_fields"),
                       ("partial", "DELETE FROM filter_fields WHERE field = 'asker'")):
        path = tmp_path / f"{name}.sqlite"
        _stored_documents(path, documents)._store.close()
        connection = sqlite3.connect(path)
        connection.execute(drop)
        connection.commit()
        connection.close()
        assert _open_documents(path).filter_values() is None
    assert set(_stored_documents(tmp_path / "new.sqlite", documents).filter_values()) == set(FILTERED_VALUES)

