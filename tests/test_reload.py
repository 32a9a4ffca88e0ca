"""A served index is replaced by a rebuilt one without a restart; a broken rebuild keeps the old one."""
from __future__ import annotations

import shutil

from qa_service.index import build_index, load_index
from qa_service.search import Searcher
from qa_service.searcher_slot import SearcherSlot

from conftest import PROJECT_DIR, make_settings

EXTRA = PROJECT_DIR / "tests" / "data" / "variants" / "s18-12345.txt"


def _slot(settings, embedder) -> SearcherSlot:
    return SearcherSlot(settings, opener=lambda s, previous: Searcher(load_index(s.index_dir), embedder))


def test_a_rebuilt_index_is_switched_to_and_requests_on_the_old_one_finish(tiny_index, corpus_copy, fake_embedder):
    settings = make_settings(corpus_copy, tiny_index)
    slot = _slot(settings, fake_embedder)
    old = slot.get()
    assert not slot.reload_if_changed()  # nothing changed yet
    shutil.copy(EXTRA, corpus_copy / EXTRA.name)
    build_index(settings, progress=False, embedder=fake_embedder)
    assert slot.reload_if_changed()
    new = slot.get()
    assert new is not old and len(new.index.documents) == len(old.index.documents) + 1
    # A request that took the old searcher before the switch still gets its answers.
    assert old.search("Solaranlagen Pankow", top_k=1)[0].document.document_id == "S19-10006"
    assert not slot.reload_if_changed()


def test_an_index_that_cannot_be_loaded_keeps_the_old_one(tiny_index, corpus_copy, fake_embedder, caplog):
    settings = make_settings(corpus_copy, tiny_index)
    slot = _slot(settings, fake_embedder)
    old = slot.get()
    shutil.copy(EXTRA, corpus_copy / EXTRA.name)
    build_index(settings, progress=False, embedder=fake_embedder)
    (tiny_index / "store.sqlite").write_text("damaged\n", encoding="utf-8")
    assert not slot.reload_if_changed()
    assert slot.get() is old
    assert "cannot be loaded" in caplog.text
    assert not slot.reload_if_changed()  # not retried until the folder changes again


def test_a_served_searchers_filter_index_is_built_ahead_and_then_used(tiny_index, fake_embedder):
    from qa_service.searcher_slot import prepare_in_background

    searcher = Searcher(load_index(tiny_index), fake_embedder)
    prepare_in_background(searcher).join(timeout=60)
    built = searcher._filter_index
    assert built is not None and built.n_documents == len(searcher.index.documents)
    hits = searcher.search("Solaranlagen", top_k=3, filters={"drucksache": "19/10006"})
    assert hits and {h.document.drucksache for h in hits} == {"19/10006"}
    assert searcher.filter_index() is built  # the filtered search used the one built ahead
