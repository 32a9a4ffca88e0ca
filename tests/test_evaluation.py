"""Evaluation: metrics on hand-computed rankings, the query-file loader, the shipped set, and `qa-service eval`."""
from __future__ import annotations

import json
import shutil
import math
import re
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from qa_service.cli import EXIT_NO_INDEX, main
from qa_service.errors import InvalidQueryError
from qa_service.evaluation import (
    Query, evaluate_file, evaluate_rankings, format_report, load_queries, mrr_at, ndcg_at, ranked_ids, recall_at,
)

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "eval" / "questions.jsonl"
DEV = ROOT / "eval" / "dev"
CORPUS = ROOT / "corpus"


# --- metrics --------------------------------------------------------------------------------------------------

def test_recall_with_one_relevant_is_hit_at_k():
    ranked = ["x", "y", "a", "z"]
    assert recall_at(ranked, ["a"], 1) == 0.0
    assert recall_at(ranked, ["a"], 2) == 0.0
    assert recall_at(ranked, ["a"], 3) == 1.0
    assert recall_at(ranked, ["a"], 5) == 1.0


def test_recall_with_several_relevant_counts_the_fraction_capped_at_k():
    assert recall_at(["x", "a", "y"], ["a", "b"], 5) == 0.5
    assert recall_at(["b", "x", "a"], ["a", "b"], 5) == 1.0
    # Either of two equally good answers at rank 1 is a full answer: the denominator is min(k, |relevant|).
    assert recall_at(["b", "x", "a"], ["a", "b"], 1) == 1.0
    assert recall_at(["x", "a", "b"], ["a", "b", "c"], 2) == 0.5


def test_metrics_are_zero_without_a_hit_or_ranking():
    for ranked in (["x", "y", "z"], []):
        assert recall_at(ranked, ["a"], 5) == 0.0
        assert mrr_at(ranked, ["a"]) == 0.0
        assert ndcg_at(ranked, ["a"]) == 0.0


def test_mrr_is_reciprocal_rank_of_first_relevant_within_k():
    assert mrr_at(["a", "b"], ["a"]) == 1.0
    assert mrr_at(["x", "y", "a", "b"], ["b", "a"]) == pytest.approx(1 / 3)
    ranked = [f"x{i}" for i in range(10)] + ["a"]
    assert mrr_at(ranked, ["a"], k=10) == 0.0
    assert mrr_at(ranked, ["a"], k=11) == pytest.approx(1 / 11)


def test_ndcg_uses_binary_gains_and_the_ideal_ordering():
    assert ndcg_at(["a", "x"], ["a"]) == 1.0
    assert ndcg_at(["x", "y", "a"], ["a"]) == pytest.approx(0.5)  # 1/log2(4) over 1
    expected = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert ndcg_at(["a", "x", "b"], ["a", "b"]) == pytest.approx(expected)
    assert ndcg_at(["b", "a", "x"], ["a", "b"]) == 1.0


def test_a_chunk_listed_twice_counts_once():
    ranked = ["a", "a", "x"]
    assert recall_at(ranked, ["a", "b"], 5) == 0.5
    assert ndcg_at(ranked, ["a", "b"]) == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_scored_results_are_ranked_by_score_with_ties_broken_by_id():
    assert ranked_ids({"b": 1.0, "a": 1.0, "c": 2.0}) == ["c", "a", "b"]
    assert ranked_ids(["z", "a"]) == ["z", "a"]
    assert mrr_at(ranked_ids({"b": 0.5, "a": 0.5}), ["b"]) == 0.5


@pytest.mark.parametrize("k", [0, -1, 1.5])
def test_a_cut_off_below_one_is_rejected(k):
    with pytest.raises(ValueError, match="cut-off k"):
        recall_at(["a"], ["a"], k)


def _query(qid, relevant, group):
    return Query(query_id=qid, question=f"question {qid}", relevant=tuple(relevant), group=group, line=1)


def test_evaluate_rankings_averages_overall_and_per_group_and_lists_misses():
    queries = [_query("q1", ["a"], "g1"), _query("q2", ["b"], "g1"), _query("q3", ["c"], "g2")]
    rankings = {"q1": ["a", "x"], "q2": ["x", "b"]}  # q3 has no ranking: a complete miss
    result = evaluate_rankings(queries, rankings)
    assert result["overall"] == {"n": 3, "recall@1": pytest.approx(1 / 3, abs=1e-4),
                                 "recall@5": pytest.approx(2 / 3, abs=1e-4),
                                 "mrr@10": pytest.approx(0.5, abs=1e-4),
                                 "ndcg@10": pytest.approx((1 + 1 / math.log2(3)) / 3, abs=1e-4)}
    assert result["groups"]["g1"]["n"] == 2
    assert result["groups"]["g1"]["recall@1"] == 0.5
    assert result["groups"]["g2"]["recall@5"] == 0.0
    assert [(m["id"], m["rank"]) for m in result["misses_at_1"]] == [("q2", 2), ("q3", None)]


# --- the query file -------------------------------------------------------------------------------------------

def _write(tmp_path, *lines) -> Path:
    path = tmp_path / "queries.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_queries_reads_ids_groups_and_defaults(tmp_path):
    path = _write(tmp_path,
                  '{"id": "a1", "question": " Wie viele? ", "relevant": ["S19-1#1", "S19-1#2"], "group": "kw"}',
                  "",
                  '{"question": "Zweite Frage", "relevant": "S19-1#3"}')
    queries = load_queries(path)
    assert queries[0] == Query("a1", "Wie viele?", ("S19-1#1", "S19-1#2"), "kw", 1)
    assert queries[1] == Query("line3", "Zweite Frage", ("S19-1#3",), "ungrouped", 3)


@pytest.mark.parametrize(("lines", "message"), [
    (['{"question": "ok", "relevant": ["a#1"]}', '{"question": "x", "relevant": ['], r":2: not valid JSON"),
    (['["a list"]'], r":1: expected a JSON object"),
    (['{"question": "  ", "relevant": ["a#1"]}'], r':1: "question" must be a non-empty string'),
    (['{"relevant": ["a#1"]}'], r':1: "question" must be a non-empty string'),
    (['{"question": "q"}'], r':1: "relevant" must be a non-empty list'),
    (['{"question": "q", "relevant": []}'], r':1: "relevant" must be a non-empty list'),
    (['{"question": "q", "relevant": [3]}'], r':1: "relevant" must be a non-empty list'),
    (['{"question": "q", "relevant": ["a#1"], "group": ""}'], r':1: "group" must be a non-empty string'),
    (['{"id": "x", "question": "q", "relevant": ["a#1"]}', '{"id": "x", "question": "r", "relevant": ["a#1"]}'],
     r":2: duplicate id 'x' \(first on line 1\)"),
    ([""], r": no queries in the file"),
])
def test_load_queries_names_file_and_line_of_a_bad_line(tmp_path, lines, message):
    path = _write(tmp_path, *lines)
    with pytest.raises(InvalidQueryError, match=re.escape(str(path)) + message):
        load_queries(path)


def test_load_queries_reports_a_missing_file(tmp_path):
    with pytest.raises(InvalidQueryError, match="no such query file"):
        load_queries(tmp_path / "nope.jsonl")


# --- evaluate_file and the report, with a searcher that replays fixed rankings ------------------------------------

class _ReplaySearcher:
    """Returns a fixed ranking per (mode, question), in the run shape the real Searcher.run returns."""

    def __init__(self, rankings, chunk_ids):
        self.rankings = rankings
        self.index = SimpleNamespace(chunks=[SimpleNamespace(chunk_id=c) for c in chunk_ids])
        self.calls = []

    def run(self, queries, k=10, mode="hybrid"):
        run = {}
        for query_id, question in queries.items():
            self.calls.append((question, k, mode))
            ranked = self.rankings[mode][question][:k]
            run[query_id] = {chunk_id: float(len(ranked) - i) for i, chunk_id in enumerate(ranked)}
        return run


def test_evaluate_file_scores_each_mode_and_warns_about_unknown_judgements(tmp_path):
    path = _write(tmp_path,
                  '{"id": "q1", "question": "eins", "relevant": ["d#1"], "group": "para"}',
                  '{"id": "q2", "question": "zwei", "relevant": ["d#2", "d#9"], "group": "quote"}')
    rankings = {"hybrid": {"eins": ["d#1", "d#2"], "zwei": ["d#2", "d#1"]},
                "keyword": {"eins": ["d#2", "d#1"], "zwei": ["d#1"]}}
    searcher = _ReplaySearcher(rankings, ["d#1", "d#2"])
    report = evaluate_file(path, settings=None, modes=["hybrid", "keyword", "hybrid"], searcher=searcher)
    assert {(q, k) for q, k, _ in searcher.calls} == {("eins", 10), ("zwei", 10)}
    assert report["queries"] == 2
    assert list(report["modes"]) == ["hybrid", "keyword"]
    assert report["modes"]["hybrid"]["overall"]["recall@1"] == 1.0
    assert report["modes"]["keyword"]["groups"]["para"]["mrr@10"] == 0.5
    assert report["modes"]["keyword"]["groups"]["quote"]["recall@5"] == 0.0
    assert report["unknown_relevant"] == ["d#9"]
    json.dumps(report)  # the --json output must be serialisable

    table = format_report(report, misses=True)
    lines = table.splitlines()
    assert lines[0] == f"2 queries from {path}"
    assert lines[1].split() == ["mode", "group", "n", "R@1", "R@5", "MRR@10", "nDCG@10"]
    # q2 has two judged chunks and only one exists: R@5 0.5, nDCG 1 / (1 + 1/log2(3)) = 0.613.
    assert ["hybrid", "overall", "2", "1.000", "0.750", "1.000", "0.807"] in [line.split() for line in lines]
    assert ["para", "1", "0.000", "1.000", "0.500", "0.631"] in [line.split() for line in lines]
    assert "d#9" in table and "misses at rank 1 (keyword):" in table


def test_evaluate_file_rejects_an_unknown_mode_before_searching(tmp_path):
    path = _write(tmp_path, '{"question": "eins", "relevant": ["d#1"]}')
    searcher = _ReplaySearcher({}, [])
    with pytest.raises(InvalidQueryError, match="unknown mode 'fuzzy'"):
        evaluate_file(path, settings=None, modes=["fuzzy"], searcher=searcher)
    assert searcher.calls == []


# --- the shipped evaluation set -----------------------------------------------------------------------------------

GROUPS = {"paraphrase", "keyword", "english", "quote", "journalist"}


def test_shipped_question_set_is_large_and_covers_every_group():
    queries = load_queries(QUESTIONS)
    assert len(queries) >= 150
    counts = Counter(q.group for q in queries)
    assert set(counts) == GROUPS
    assert min(counts.values()) >= 25
    assert len({q.question for q in queries}) == len(queries)


def _normalise(text: str) -> str:
    text = re.sub(r"[„“”\"]", '"', text)
    return re.sub(r"\s+", " ", text).strip().strip('"')


UNJUDGED_DOCUMENTS = {"S19-10268", "S19-10270", "S19-10276", "S19-10279", "S19-10281", "S19-10282", "S19-10290",
                      "S19-10295", "S19-10296", "S19-10300", "S19-14497"}


def test_shipped_judgements_name_real_chunks_and_cover_every_chunk():
    from qa_service.parsing import parse_paths

    report = parse_paths([CORPUS])
    assert report.failures == []
    chunks = {c.chunk_id: c for d in report.documents for c in d.chunks}
    queries = load_queries(QUESTIONS)
    judged = {r for q in queries for r in q.relevant}
    assert sorted(judged - set(chunks)) == []
    unjudged = [cid for cid, c in chunks.items() if cid not in judged and (c.frage or c.antwort)]
    # The 11 PDFs added to the corpus (issue 10) have no judged questions yet: every other chunk has one.
    assert [cid for cid in unjudged if cid.split("#")[0] not in UNJUDGED_DOCUMENTS] == []
    # A quote query is a verbatim passage of the answer it points at (modulo whitespace and quote marks).
    for query in queries:
        if query.group == "quote":
            answers = [_normalise(chunks[r].antwort) for r in query.relevant]
            assert any(_normalise(query.question) in a for a in answers), query.query_id


# --- the CLI end to end on the tiny index ------------------------------------------------------------------------

def _first_sentence(text: str) -> str:
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if len(s.split()) >= 6]
    return sentences[0] if sentences else ""


@pytest.fixture
def fake_model(monkeypatch, fake_embedder):
    """Open the tiny index with its fake embedder where the CLI would load the index's real model."""
    from qa_service.index import load_index
    from qa_service.search import Searcher

    monkeypatch.setattr("qa_service.search.open_searcher",
                        lambda settings: Searcher(load_index(settings.index_dir), fake_embedder))
    return fake_embedder


def test_cli_eval_scores_verbatim_quotes_of_the_tiny_index(tiny_index, fake_model, tmp_path, capsys):
    from qa_service.index import load_index

    index = load_index(Path(tiny_index))
    lines = []
    for chunk in index.chunks:
        sentence = _first_sentence(chunk.antwort)
        # distinctive regardless of case: quote matching ignores it (S19-14497 repeats a sentence as `dies gilt …`)
        if sentence and sum(sentence.casefold() in " ".join(c.antwort.split()).casefold()
                            for c in index.chunks) == 1:
            lines.append(json.dumps({"id": chunk.chunk_id, "question": sentence, "relevant": [chunk.chunk_id],
                                     "group": "quote"}, ensure_ascii=False))
    assert len(lines) >= 2, "the tiny index should hold at least two answers with a distinctive sentence"
    path = _write(tmp_path, *lines)

    code = main(["eval", str(path), "--index", str(tiny_index), "--mode", "keyword", "--mode", "hybrid",
                 "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    assert report["queries"] == len(lines)
    assert list(report["modes"]) == ["keyword", "hybrid"]
    assert "unknown_relevant" not in report
    for mode in ("keyword", "hybrid"):
        overall = report["modes"][mode]["overall"]
        assert overall["n"] == len(lines)
        # BM25 finds a verbatim sentence of an answer; the hybrid ranking must not lose it.
        assert overall["recall@1"] == 1.0, report["modes"][mode]["misses_at_1"]
        assert set(report["modes"][mode]["groups"]) == {"quote"}

    code = main(["eval", str(path), "--index", str(tiny_index), "--mode", "keyword"])
    table = capsys.readouterr().out
    assert code == 0
    assert table.splitlines()[1].split() == ["mode", "group", "n", "R@1", "R@5", "MRR@10", "nDCG@10"]
    assert ["keyword", "overall", str(len(lines)), "1.000", "1.000", "1.000", "1.000"] in [
        line.split() for line in table.splitlines()]


def test_cli_eval_reports_a_bad_line_in_one_line_before_opening_the_index(tmp_path, capsys):
    path = _write(tmp_path, '{"question": "ok", "relevant": ["a#1"]}', "{not json")
    code = main(["eval", str(path), "--index", str(tmp_path / "no-index")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().count("\n") == 0
    assert err.startswith(f"error: {path}:2: not valid JSON")


def test_cli_eval_without_an_index_says_what_to_run(tmp_path, capsys):
    path = _write(tmp_path, '{"question": "ok", "relevant": ["a#1"]}')
    code = main(["eval", str(path), "--index", str(tmp_path / "no-index")])
    err = capsys.readouterr().err
    assert code == EXIT_NO_INDEX
    assert err.startswith("error: ") and err.strip().count("\n") == 0


@pytest.mark.slow
def test_shipped_set_meets_the_quality_floors_with_the_real_model(text_index, capsys):
    # In the corpus the set was written for (the six text documents); in the whole corpus see the next test.
    assert main(["eval", str(QUESTIONS), "--index", str(text_index), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "unknown_relevant" not in report
    modes = report["modes"]
    hybrid = modes["hybrid"]
    assert hybrid["overall"]["recall@1"] >= 0.85, [m["id"] for m in hybrid["misses_at_1"]]
    assert hybrid["overall"]["recall@5"] >= 0.97
    assert hybrid["groups"]["quote"]["recall@1"] == 1.0
    for group, row in hybrid["groups"].items():
        # At rank 5 both sides find nearly everything, so one question decides: hybrid may trail by that one (a
        # paraphrase at rank 6 instead of semantic mode's 4 since the Frage view is embedded as a question).
        for metric, slack in (("recall@1", 0.0), ("recall@5", 1 / row["n"])):
            best_single = max(modes["semantic"]["groups"][group][metric], modes["keyword"]["groups"][group][metric])
            assert row[metric] >= best_single - slack - 1e-9, (group, metric)


def _hybrid(path: Path, index: Path, capsys) -> dict:
    assert main(["eval", str(path), "--index", str(index), "--json", "--mode", "hybrid"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "unknown_relevant" not in report
    return report["modes"]["hybrid"]


@pytest.mark.slow
def test_shipped_set_in_the_whole_corpus_holds_todays_figures(real_index, capsys):
    # The eleven PDFs compete as distractors: hybrid R@1 .833 / R@5 .982 when they came, .852 / .991 since the
    # title + Frage view is embedded as a question (README "Evaluation").
    hybrid = _hybrid(QUESTIONS, real_index, capsys)
    assert hybrid["overall"]["recall@1"] >= 0.845, [m["id"] for m in hybrid["misses_at_1"]]
    assert hybrid["overall"]["recall@5"] >= 0.985
    assert hybrid["groups"]["quote"]["recall@1"] == 1.0


# The report part of the development set (eval/dev/README.md), never tuned on: today's figures per group less one
# question, which no change may lower. Issue 12's paraphrase floor (.80) is reached; its R@1 .85 is not (.831).
REPORT_FLOORS = {"overall": (0.825, 0.99), "paraphrase": (0.80, 0.99), "twin": (0.85, 1.0), "keyword": (0.87, 1.0),
                 "english": (0.60, 0.95), "journalist": (0.86, 1.0), "quote": (1.0, 1.0)}


@pytest.mark.slow
def test_development_set_report_part_holds_todays_figures(real_index, capsys):
    hybrid = _hybrid(DEV / "report.jsonl", real_index, capsys)
    rows = {"overall": hybrid["overall"], **hybrid["groups"]}
    assert set(rows) == set(REPORT_FLOORS)
    for group, (recall_1, recall_5) in REPORT_FLOORS.items():
        assert rows[group]["recall@1"] >= recall_1, (group, rows[group])
        assert rows[group]["recall@5"] >= recall_5, (group, rows[group])
    assert hybrid["unanswerable"] == 20


def test_development_set_is_split_by_document_and_names_real_chunks():
    from qa_service.parsing import parse_paths

    chunks = {c.chunk_id for d in parse_paths([ROOT / "corpus"]).documents for c in d.chunks}
    parts = {name: load_queries(DEV / f"{name}.jsonl") for name in ("tuning", "report")}
    documents = {name: {r.split("#")[0] for q in queries for r in q.relevant} for name, queries in parts.items()}
    assert not documents["tuning"] & documents["report"]  # no document in both parts
    assert len(documents["tuning"] | documents["report"]) == 17
    for queries in parts.values():
        assert all(r in chunks for q in queries for r in q.relevant)
        assert sum(1 for q in queries if q.group == "unanswerable") == 20
    assert sum(1 for queries in parts.values() for q in queries if q.relevant) >= 400
HOLDOUT = Path(__file__).resolve().parent.parent / "eval" / "holdout"


@pytest.fixture(scope="session")
def holdout_index(tmp_path_factory) -> Path:
    """The held-out corpus (eval/holdout/corpus) indexed once with the real default model."""
    from conftest import make_settings
    from qa_service.index import build_index

    base = tmp_path_factory.mktemp("holdout")
    shutil.copytree(HOLDOUT / "corpus", base / "corpus")
    build_index(make_settings(base / "corpus", base / "index"), progress=False)
    return base / "index"


@pytest.mark.slow
def test_held_out_set_meets_its_floors_with_the_real_model(holdout_index, capsys):
    # Documents and questions the ranking was never tuned on (eval/holdout/README.md): they must not fall below
    # what the README reports for them.
    assert main(["eval", str(HOLDOUT / "questions.jsonl"), "--index", str(holdout_index), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "unknown_relevant" not in report
    hybrid = report["modes"]["hybrid"]
    assert hybrid["overall"]["recall@1"] >= 0.895, [m["id"] for m in hybrid["misses_at_1"]]
    assert hybrid["overall"]["recall@5"] >= 0.99
    assert hybrid["groups"]["quote"]["recall@1"] == 1.0


def test_unanswerable_questions_load_with_no_judgement_and_count_apart(tmp_path):
    path = _write(tmp_path,
                  '{"id": "a", "question": "eins", "relevant": ["d#1"], "group": "para"}',
                  '{"id": "u", "question": "Wann öffnet der BER?", "relevant": [], "group": "unanswerable"}')
    queries = load_queries(path)
    assert [q.relevant for q in queries] == [("d#1",), ()]
    report = evaluate_rankings(queries, {"a": ["d#1"], "u": ["d#1"]})
    assert report["overall"]["n"] == 1 and report["overall"]["recall@1"] == 1.0
    assert report["unanswerable"] == 1 and "unanswerable" not in report["groups"]


def test_an_empty_judgement_outside_the_unanswerable_group_is_a_bad_line(tmp_path):
    path = _write(tmp_path, '{"id": "a", "question": "eins", "relevant": [], "group": "para"}')
    with pytest.raises(InvalidQueryError, match=":1: .*unanswerable"):
        load_queries(path)


def test_bootstrap_interval_brackets_the_mean_and_narrows_with_more_questions():
    from qa_service.evaluation import bootstrap_interval

    few = [1.0, 0.0] * 10
    many = [1.0, 0.0] * 200
    low, high = bootstrap_interval(few)
    assert low < 0.5 < high
    many_low, many_high = bootstrap_interval(many)
    assert low < many_low < 0.5 < many_high < high
    assert bootstrap_interval(few) == (low, high)  # seeded
    assert bootstrap_interval([1.0] * 30) == (1.0, 1.0)


@pytest.mark.slow
def test_no_answer_flags_few_answerable_and_many_unanswerable_report_questions(real_index):
    # Calibrated on the tuning part; measured on the report part (README "Evaluation"): issue 12 asks for at most 5%
    # of the answerable and at least 80% of the unanswerable questions flagged (85% today: by similarity, by a Berlin
    # district or a thing asked about that the best hit's document does not name).
    from conftest import make_settings
    from qa_service.search import no_answer, open_searcher

    searcher = open_searcher(make_settings(ROOT / "corpus", real_index))
    flagged = {True: [], False: []}
    for query in load_queries(DEV / "report.jsonl"):
        hits = searcher.search(query.question, top_k=5)
        flagged[bool(query.relevant)].append(no_answer(hits))
    assert sum(flagged[True]) / len(flagged[True]) <= 0.05
    assert sum(flagged[False]) / len(flagged[False]) >= 0.80
