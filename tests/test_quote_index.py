"""QuoteIndex: the fingerprint lookup finds exactly what a scan of every answer with the exact matcher finds."""

import json
import mmap
import random
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from conftest import CORPUS_DIR, FakeEmbedder
from qa_service import quote_index
from qa_service.documents import Chunk, Document
from qa_service.errors import IndexInvalidError
from qa_service.index import assemble, load_index
from qa_service.parsing import find_document_files, parse_paths
from qa_service.query import analyse
from qa_service.quote_index import SPAN, QuoteIndex
from qa_service.quotes import (MIN_QUOTE_CHARS, exact_span, find_exact, find_near, looks_like_quote, normalize,
                               normalized_text)
from qa_service.search import Searcher

_SENTENCE = re.compile(r"[^.!?;:\n]+(?:[.!?;:](?=\s)|$)")


@pytest.fixture(scope="module")
def corpus_searcher():
    documents = parse_paths(find_document_files(CORPUS_DIR)).documents
    embedder = FakeEmbedder()
    return Searcher(assemble(documents, embedder), embedder)


@lru_cache(maxsize=None)
def normalized_answer(antwort: str):
    return normalize(antwort)


def scan(searcher, question, allowed):
    """Return the chunk positions a scan of every allowed answer with find_exact finds `question` in."""
    q = normalize(question)
    return [pos for pos in np.flatnonzero(allowed).tolist()
            if find_exact(q, normalized_answer(searcher.index.chunks[pos].antwort))]


def pasted(text: str, rng: random.Random) -> str:
    """Return `text` as someone might paste it: other spacing, quote marks, case, punctuation, line-end hyphens."""
    words = text.split()
    out = []
    for word in words:
        word = word.replace("„", '"').replace("“", '"').replace("”", '"').replace("–", "-")
        if len(word) > 8 and word.isalpha() and rng.random() < 0.3:
            cut = rng.randrange(3, len(word) - 3)
            word = word[:cut] + "-\n" + word[cut:]  # copied from a PDF line end
        if rng.random() < 0.2:
            word = word.rstrip(",;:") + rng.choice(["", ",", " -", ";"])
        if rng.random() < 0.1:
            word = word.upper()
        out.append(word)
    return rng.choice([" ", "  ", "\n", " \t"]).join(out)


def quotes_from_answers(chunks, rng):
    """Return sentences and sub-sentences (of 5 to 12 words) cut from real answers, long enough to be quotes."""
    found = []
    for chunk in chunks:
        for sentence in _SENTENCE.findall(chunk.antwort):
            words = sentence.split()
            if len(words) >= 5:
                found.append(" ".join(words))
            if len(words) >= 8:
                start = rng.randrange(0, len(words) - 5)
                found.append(" ".join(words[start:start + rng.randrange(5, 13)]))
    return [q for q in found if looks_like_quote(q)]


# --- the winnowing guarantee ------------------------------------------------------------------------------------

def test_every_fingerprint_of_a_quote_is_a_fingerprint_of_an_answer_holding_it(corpus_searcher):
    rng = random.Random(5)
    answers = [normalized_text(c.antwort) for c in corpus_searcher.index.chunks]
    answers = [a for a in answers if len(a) >= 200]
    checked = 0
    for answer in answers:
        held = set(quote_index._window_minima(quote_index._codes(answer)).tolist())
        for length in (MIN_QUOTE_CHARS, SPAN + 1, 47, 120):
            start = rng.randrange(0, len(answer) - length)
            quote = set(quote_index._window_minima(quote_index._codes(answer[start:start + length])).tolist())
            assert quote and quote <= held
            checked += 1
    assert checked > 500


def test_the_shortest_quote_has_a_fingerprint():
    assert SPAN <= MIN_QUOTE_CHARS
    assert len(quote_index._window_minima(quote_index._codes("a" * MIN_QUOTE_CHARS))) == 1
    assert len(quote_index._window_minima(quote_index._codes("a" * (MIN_QUOTE_CHARS - 1)))) == 0


def test_fingerprints_are_sorted_distinct_per_chunk_and_the_same_in_any_batches(corpus_searcher, monkeypatch):
    answers = [c.antwort for c in corpus_searcher.index.chunks]
    whole = QuoteIndex.build(answers)
    hashes, chunks = np.asarray(whole._hashes), np.asarray(whole._chunks)
    assert len(hashes) and np.all(hashes[1:] >= hashes[:-1])
    same = hashes[1:] == hashes[:-1]
    assert np.all(chunks[1:][same] > chunks[:-1][same])  # ascending within a hash, each pair once
    expected = {(h, i) for i, a in enumerate(answers)
                for h in quote_index._window_minima(quote_index._codes(normalized_text(a))).tolist()}
    assert set(zip(hashes.tolist(), chunks.tolist())) == expected
    # Small batches: a window across two answers must never become a fingerprint.
    monkeypatch.setattr(quote_index, "BATCH_CHARS", 500)
    batched = QuoteIndex.build(answers)
    assert np.array_equal(batched._hashes, hashes) and np.array_equal(batched._chunks, chunks)


def test_the_hash_is_the_documented_stable_64_bit_hash():
    # Recomputed with Python integers: numpy's wrapping uint64 arithmetic must give exactly this, in every process
    # (a salted or platform-dependent hash would make a saved index useless).
    def reference(kgram: str) -> int:
        mask = 2**64 - 1
        h = 0
        for ch in kgram:
            h = (h * 31 + ord(ch)) & mask
        h ^= h >> 30
        h = (h * 0xBF58476D1CE4E5B9) & mask
        h ^= h >> 27
        h = (h * 0x94D049BB133111EB) & mask
        return h ^ (h >> 31)

    text = "sporthallenbau2024für1000€ßzüge"
    k = quote_index.KGRAM
    expected = [reference(text[i:i + k]) for i in range(len(text) - k + 1)]
    assert quote_index._kgram_hashes(quote_index._codes(text)).tolist() == expected


# --- the lookup equals a scan -----------------------------------------------------------------------------------

def test_lookup_finds_exactly_what_a_scan_finds_for_pasted_sentences_of_real_answers(corpus_searcher):
    rng = random.Random(11)
    chunks = corpus_searcher.index.chunks
    quotes = quotes_from_answers(chunks, rng)
    allowed = np.ones(len(chunks), dtype=bool)
    repeated = 0
    for text in quotes[::3]:
        question = pasted(text, rng)
        found = corpus_searcher.quote_matches(analyse(question), allowed)
        expected = scan(corpus_searcher, question, allowed)
        assert expected, question  # cut from an answer: at least that one holds it
        assert sorted(found) == expected, question
        q = normalize(question)
        assert all(found[pos] == (find_exact(q, normalized_answer(chunks[pos].antwort)), 1.0) for pos in found)
        repeated += len(expected) > 1
    assert len(quotes[::3]) > 300
    assert repeated > 10  # sentences repeated across answers (boilerplate) are all found


def test_a_filter_leaves_only_the_allowed_answers_holding_the_quote(corpus_searcher):
    rng = random.Random(3)
    chunks = corpus_searcher.index.chunks
    everywhere = np.ones(len(chunks), dtype=bool)
    checked = 0
    for text in quotes_from_answers(chunks, rng):
        found = scan(corpus_searcher, text, everywhere)
        if len(found) < 2:
            continue
        # The document of the first answer holding it is filtered out.
        allowed = np.array([c.document_id != chunks[found[0]].document_id for c in chunks])
        matches = corpus_searcher.quote_matches(analyse(text), allowed)
        assert all(allowed[pos] for pos in matches)
        # With every verbatim occurrence filtered out, near-verbatim ones (coverage < 1) may be all there is.
        exact = sorted(pos for pos, (_, coverage) in matches.items() if coverage == 1.0)
        assert exact == scan(corpus_searcher, text, allowed)
        assert corpus_searcher.quote_matches(analyse(text), np.zeros(len(chunks), dtype=bool)) == {}
        checked += 1
    assert checked > 10


def test_a_near_quote_with_a_word_changed_is_still_found(corpus_searcher):
    rng = random.Random(7)
    chunks = corpus_searcher.index.chunks
    allowed = np.ones(len(chunks), dtype=bool)
    checked = 0
    for pos, chunk in enumerate(chunks):
        for sentence in _SENTENCE.findall(chunk.antwort):
            words = sentence.split()
            if len(normalized_text(sentence)) < 120 or len(words) < 12:
                continue
            i = rng.randrange(2, len(words) - 2)
            if not 3 <= len(words[i]) <= 8 or not words[i].isalpha():
                continue
            words[i] = words[i][::-1] + "x"
            question = " ".join(words)
            q = normalize(question)
            if scan(corpus_searcher, question, allowed):
                continue  # the changed sentence happens to be verbatim elsewhere
            near_scan = [p for p in range(len(chunks)) if find_near(q, normalized_answer(chunks[p].antwort))]
            if pos not in near_scan:
                continue  # too much changed for the near matcher itself (e.g. a similar sentence just before)
            found = corpus_searcher.quote_matches(analyse(question), allowed)
            assert sorted(found) == near_scan, question
            assert all(0.9 <= coverage < 1.0 for _, coverage in found.values())
            checked += 1
    assert checked > 30


def test_a_quote_across_a_line_end_hyphen_a_thousands_dot_or_an_apostrophe_matches_either_way():
    # Word shingles would break here: "Sport-\nhallen" is two words, "Sporthallen" one; the matcher sees neither.
    def doc(doc_id, antwort):
        return Document(doc_id, drucksache=f"19/{doc_id[-1]}", wahlperiode=19, doc_type="Schriftliche Anfrage",
                        title="Sporthallen", chunks=(Chunk(f"{doc_id}#1", doc_id, "qa", ("1",), "Frage?", antwort,
                                                           (2,)),))

    documents = [doc("S19-1", "Im Bezirk wurden 1.000 neue Sport-\nhallen gebaut, das geht's nicht ohne Geld."),
                 doc("S19-2", "Im Bezirk wurden 1000 neue Sporthallen gebaut, das gehts nicht ohne Geld."),
                 doc("S19-3", "Im Bezirk wurden 1000 neue Turnhallen gebaut, das geht nicht ohne Geld.")]
    embedder = FakeEmbedder()
    searcher = Searcher(assemble(documents, embedder), embedder)
    allowed = np.ones(3, dtype=bool)
    for question in ("wurden 1.000 neue Sport-\nhallen gebaut, das geht's nicht",
                     "wurden 1000 neue Sporthallen gebaut, das gehts nicht",
                     "WURDEN 1 000 NEUE SPORT- HALLEN GEBAUT – DAS GEHT’S NICHT"):
        found = searcher.quote_matches(analyse(question), allowed)
        assert sorted(found) == scan(searcher, question, allowed) == [0, 1], question


# --- empty, saved, damaged --------------------------------------------------------------------------------------

def test_an_index_of_no_chunks_finds_nothing_and_survives_saving(tmp_path):
    empty = QuoteIndex.build([])
    quote = normalized_text("ein langer Satz mit genug Wörtern darin, der nirgends steht")
    assert empty.n_chunks == 0 and empty.n_entries == 0
    assert len(empty.candidates(quote, np.zeros(0, dtype=bool))) == 0
    assert len(empty.ranked(quote, np.zeros(0, dtype=bool), 20)) == 0
    empty.save(tmp_path / "quotes")
    loaded = QuoteIndex.load(tmp_path / "quotes", 0)
    assert loaded.n_entries == 0 and len(loaded.candidates(quote, np.zeros(0, dtype=bool))) == 0


def test_answers_too_short_for_a_quote_give_no_candidates(tmp_path):
    index = QuoteIndex.build(["Ja.", "", "Nein, das ist nicht bekannt."])
    assert index.n_entries == 0
    assert len(index.candidates(normalized_text("Nein, das ist nicht bekannt."), np.ones(3, dtype=bool))) == 0


def test_a_saved_index_is_memory_mapped_and_finds_the_same(tiny_index, fake_embedder):
    index = load_index(tiny_index)
    # Plain arrays over the mapped file, not copies in memory.
    assert isinstance(index.quotes._hashes.base, np.memmap) and isinstance(index.quotes._chunks.base, np.memmap)
    assert isinstance(index.quotes._texts, mmap.mmap)
    searcher = Searcher(index, fake_embedder)
    allowed = np.ones(len(index.chunks), dtype=bool)
    rng = random.Random(2)
    for text in quotes_from_answers(index.chunks, rng)[::25]:
        assert sorted(searcher.quote_matches(analyse(text), allowed)) == scan(searcher, text, allowed)


def _rewrite_manifest(index_dir: Path, change):
    manifest = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))
    change(manifest["files"])
    (index_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "quotes" / "hashes.npy").unlink(), "hashes.npy is missing"),
    (lambda d: (d / "quotes" / "chunks.npy").write_bytes(b"\x93NUMPY broken"), "chunks.npy is corrupted"),
    (lambda d: (d / "quotes" / "meta.json").write_text("{", encoding="utf-8"), "meta.json is corrupted"),
    (lambda d: (d / "quotes" / "texts.bin").write_bytes(b"x" * (d / "quotes" / "texts.bin").stat().st_size),
     "texts.bin is corrupted (checksum mismatch)"),
])
def test_a_damaged_or_missing_quote_file_is_an_invalid_index(tiny_index, damage, message):
    damage(tiny_index)
    with pytest.raises(IndexInvalidError, match=re.escape(message) + ".*qa-service build --rebuild"):
        load_index(tiny_index)


def test_an_index_without_a_quote_index_says_to_rebuild(tiny_index):
    # An index written before quote indexes existed: its manifest lists no quotes/ files.
    import shutil

    shutil.rmtree(tiny_index / "quotes")
    _rewrite_manifest(tiny_index, lambda files: [files.pop(n) for n in list(files) if n.startswith("quotes/")])
    with pytest.raises(IndexInvalidError, match="quote index .* missing or unreadable.*qa-service build --rebuild"):
        load_index(tiny_index)


def test_a_quote_index_of_other_parameters_or_another_chunk_count_is_refused(tmp_path):
    index = QuoteIndex.build(["Im Bezirk wurden 1000 neue Sporthallen gebaut, das geht nicht ohne Geld."])
    index.save(tmp_path / "quotes")
    with pytest.raises(IndexInvalidError, match="does not fit the index .*--rebuild"):
        QuoteIndex.load(tmp_path / "quotes", 2)
    meta = json.loads((tmp_path / "quotes" / "meta.json").read_text(encoding="utf-8"))
    (tmp_path / "quotes" / "meta.json").write_text(json.dumps({**meta, "kgram": 8}), encoding="utf-8")
    with pytest.raises(IndexInvalidError, match="other fingerprints.*--rebuild"):
        QuoteIndex.load(tmp_path / "quotes", 1)


def test_a_near_quote_among_many_nearly_alike_answers_is_found_by_its_rare_word():
    # 60 answers alike but for one made-up word. For some, the quote's fingerprints tie on all answers (no
    # fingerprint of the quote covers its rare word), and only BM25, which weighs the rare word, tells the answer.
    def antwort(i):
        return (f"Beispielhafte Ansätze gibt es in vielfältiger Weise und W{i * 7919} in allen Bezirken. "
                "Besonders hervorzuheben sind die strukturellen Grundlagen der Zusammenarbeit.")

    def quote(i):
        return f"Beispielhafte Ansätze gibt es in vielfältiger Weise und W{i * 7919} in nellax Bezirken."

    documents = [Document(f"S19-{i}", drucksache=f"19/{i}", wahlperiode=19, doc_type="Schriftliche Anfrage",
                          title="Ansätze", chunks=(Chunk(f"S19-{i}#1", f"S19-{i}", "qa", ("1",), "Frage?",
                                                         antwort(i), (2,)),))
                 for i in range(60)]
    embedder = FakeEmbedder()
    searcher = Searcher(assemble(documents, embedder), embedder)
    everywhere = np.ones(60, dtype=bool)
    tied = [i for i in range(60) if i not in searcher.index.quotes.ranked(normalized_text(quote(i)), everywhere, 20)]
    assert len(tied) > 5
    for i in tied:
        hit = searcher.search(quote(i), top_k=1)[0]
        assert (hit.chunk.chunk_id, hit.match) == (f"S19-{i}#1", "exact"), i


def test_a_quote_that_very_many_answers_hold_gives_a_bounded_number_of_them(monkeypatch):
    from qa_service import search

    sentence = "Die Daten können der folgenden Tabelle entnommen werden, sie sind vorläufig."
    documents = [Document(f"S19-{i}", drucksache=f"19/{i}", wahlperiode=19, doc_type="Schriftliche Anfrage",
                          title="Daten", chunks=(Chunk(f"S19-{i}#1", f"S19-{i}", "qa", ("1",), "Frage?",
                                                       f"Antwort {i}. {sentence}", (2,)),))
                 for i in range(6)]
    embedder = FakeEmbedder()
    searcher = Searcher(assemble(documents, embedder), embedder)
    everywhere = np.ones(6, dtype=bool)
    assert sorted(searcher.quote_matches(analyse(sentence), everywhere)) == [0, 1, 2, 3, 4, 5]
    monkeypatch.setattr(search, "QUOTE_MAX_MATCHES", 4)
    assert sorted(searcher.quote_matches(analyse(sentence), everywhere)) == [0, 1, 2, 3]


def test_a_unique_sentence_is_found_among_many_answers_sharing_its_common_phrase(monkeypatch):
    from qa_service import search

    def antwort(i):
        return f"Das Bezirksamt Bezirk{i * 7919} teilt hierzu Folgendes mit: es liegen keine Daten vor."

    documents = [Document(f"S19-{i}", drucksache=f"19/{i}", wahlperiode=19, doc_type="Schriftliche Anfrage",
                          title="Daten", chunks=(Chunk(f"S19-{i}#1", f"S19-{i}", "qa", ("1",), "Frage?", antwort(i),
                                                       (2,)),))
                 for i in range(80)]
    embedder = FakeEmbedder()
    searcher = Searcher(assemble(documents, embedder), embedder)
    everywhere = np.ones(80, dtype=bool)
    monkeypatch.setattr(search, "QUOTE_MAX_MATCHES", 1)
    crowded = 0
    for i in range(80):
        quote = normalized_text(antwort(i))
        crowded += len(searcher.index.quotes.candidates(quote, everywhere)) > 1
        assert sorted(searcher.quote_matches(analyse(antwort(i)), everywhere)) == [i]
    assert crowded > 10  # the fingerprints alone do not tell these answers apart: the stored texts do


def test_exact_span_gives_the_span_find_exact_gives_also_where_casefolding_changes_lengths():
    rng = random.Random(4)
    texts = ["".join(rng.choice("aßẞİΣςﬁŉ_-1²½ \n\u0308Ä.,b") for _ in range(120)) for _ in range(300)]
    texts.append("Die Straße in der Sport-\nhallen stehen, 1.000 „Maßnahmen“.")
    for text in texts:
        answer = normalize(text)
        for _ in range(5):
            start = rng.randrange(0, len(answer.text) - 1)
            question = normalize(answer.text[start:start + rng.randrange(1, 40)].upper())
            assert exact_span(question, text) == find_exact(question, answer), (text, question.text)
    assert exact_span(normalize("steht nicht darin"), texts[-1]) is None


def test_normalize_is_its_definition_char_by_char_also_where_casefolding_changes_lengths(corpus_searcher):
    def by_char(text):  # every alphanumeric char, casefolded, each folded char pointing at its original
        pairs = [(folded, i) for i, ch in enumerate(text) if ch.isalnum() for folded in ch.casefold()]
        return "".join(c for c, _ in pairs), tuple(i for _, i in pairs)

    rng = random.Random(6)
    texts = ["".join(rng.choice("aßẞİΣςﬁŉ_-1²½ \n\u0308Ä.,bé") for _ in range(rng.randrange(0, 200)))
             for _ in range(500)]
    texts += [chunk.antwort for chunk in corpus_searcher.index.chunks]
    for text in texts:
        normalized = normalize(text)
        assert (normalized.text, normalized.offsets) == by_char(text), text
        assert normalized.text == normalized_text(text)


def test_the_stored_normalised_answers_are_those_the_matcher_normalises(corpus_searcher):
    quotes = corpus_searcher.index.quotes
    assert [quotes.normalized_answer(pos) for pos in range(quotes.n_chunks)] == [
        normalize(chunk.antwort).text for chunk in corpus_searcher.index.chunks]


def test_the_near_quote_bound_stops_early_but_decides_as_the_full_count_of_covered_chars():
    import random

    from qa_service.quotes import NEAR_COVERAGE, NEAR_MIN_RUN, may_be_near

    def covered_share(q, answer):  # every char of q inside an n-gram that occurs in the answer, counted once
        inside = set()
        for i in range(len(q) - NEAR_MIN_RUN + 1):
            if q[i:i + NEAR_MIN_RUN] in answer:
                inside.update(range(i, i + NEAR_MIN_RUN))
        return len(inside) / len(q)

    rng = random.Random(5)
    answer = "".join(rng.choice("abcde") for _ in range(3000))
    decided = {True: 0, False: 0}
    for _ in range(400):
        start = rng.randrange(0, 2900)
        q = list(answer[start:start + rng.randrange(5, 90)])
        for _ in range(rng.randrange(0, 6)):  # a few changed letters: some quotes still pass, most do not
            q[rng.randrange(len(q))] = rng.choice("abcdexyz")
        q = "".join(q)
        expected = covered_share(q, answer) >= NEAR_COVERAGE
        assert may_be_near(q, answer) == expected, q
        decided[expected] += 1
    assert min(decided.values()) > 40
