"""Smoke runs of scripts/bench.py's small parts, so the benchmark cannot rot. Never asserts a time."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import bench  # noqa: E402
import bench_common  # noqa: E402
import bench_scale  # noqa: E402


def test_summary_of_timings_is_in_milliseconds():
    summary = bench_common.summarize_ms([0.001, 0.002, 0.003, 0.010])
    assert summary["n"] == 4
    assert summary["median_ms"] == pytest.approx(2.5)
    assert summary["max_ms"] == pytest.approx(10.0)
    assert summary["median_ms"] <= summary["p95_ms"] <= summary["max_ms"]


def test_questions_are_cycled_to_the_requested_count(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "Erste Frage?"}\n\n{"question": "Zweite Frage?"}\n{"other": 1}\n', encoding="utf-8")
    questions, source = bench_common.load_questions(path, 5)
    assert questions == ["Erste Frage?", "Zweite Frage?"] * 2 + ["Erste Frage?"]
    assert "2 questions" in source


def test_questions_fall_back_to_corpus_sentences(tmp_path):
    questions, source = bench_common.load_questions(tmp_path / "missing.jsonl", 3, ROOT / "corpus")
    assert len(questions) == 3 and all(q.strip() for q in questions)
    assert source.startswith("generated")


def test_unknown_part_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        bench.parse_args(["--parts", "answer,nonsense"])
    assert exc.value.code == 2
    assert "unknown part(s) nonsense" in capsys.readouterr().err


def test_synthetic_rows_are_unit_vectors_near_their_real_vector():
    rng = np.random.default_rng(3)
    base = rng.standard_normal((7, 384)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    rows = bench_scale.synthetic_rows(base, 50, noise=0.025)
    assert rows.shape == (50, 384) and rows.dtype == np.float32
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    # Row i is a noisy copy of base row i mod 7: closer to it than to any other base row.
    assert (np.argmax(rows @ base.T, axis=1) == np.arange(50) % 7).all()


def test_recall_counts_shared_ids_per_query():
    truth = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    found = np.array([[4, 3, 9, 9], [5, 6, 7, 8]])
    assert bench_scale.recall_at_k(found, truth) == pytest.approx(6 / 8)


@pytest.mark.slow
def test_scale_part_at_2000_rows_measures_every_index_and_load_mode(tmp_path):
    questions, _ = bench_common.load_questions(ROOT / "eval" / "questions.jsonl", 40, ROOT / "corpus")
    base, queries = bench_scale.scale_inputs(ROOT / "corpus", questions, tmp_path / "cache", max_base=30,
                                             max_queries=40)
    assert base.shape == (30, 384) and queries.shape[1] == 384
    result = bench_scale.run_scale([2000], base, queries, tmp_path / "work", log=lambda line: None)
    (size,) = result["sizes"]
    assert size["n"] == 2000
    assert size["exact"]["recall_at_10"] == 1.0
    for key in ("exact", "hnsw", "ivf"):
        entry = size[key]
        assert 0.0 < entry["recall_at_10"] <= 1.0
        assert entry["latency"]["n"] == len(queries) and entry["latency"]["median_ms"] > 0
        assert entry["file_mib"] > 0
        modes = {load["mode"]: load for load in entry["load"]}
        assert set(modes) == {"copy", "mmap"}
        for load in modes.values():
            assert "error" not in load, load
            # The index read back in a fresh process (copied or memory-mapped) finds what the built one found.
            assert load["recall_at_10"] == entry["recall_at_10"]
            assert load["rss_after_search_mib"]["rss_mib"] > 0
    for key in ("hnsw", "ivf"):
        entry = size[key]
        assert entry["recall_at_10"] >= result["recall_floor"] or entry["value"] == entry["sweep"][-1]["value"]
    # Memory-mapped flat and HNSW storage lives in shared file pages, not in the process's private memory.
    for key in ("exact", "hnsw"):
        modes = {load["mode"]: load for load in size[key]["load"]}
        assert modes["mmap"]["rss_after_search_mib"]["rss_anon_mib"] < modes["copy"]["rss_after_search_mib"]["rss_anon_mib"]


@pytest.mark.slow
def test_answer_part_with_five_questions_writes_json_and_table(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--parts", "answer", "--questions", "5",
         "--index", str(tmp_path / "index"), "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "### 1. Answer path (5 questions" in done.stdout
    results = json.loads(out.read_text(encoding="utf-8"))
    assert {"machine", "questions_source", "answer", "total_seconds"} <= set(results)
    assert results["machine"]["nproc"] >= 1 and results["machine"]["faiss_version"]
    answer = results["answer"]
    assert answer["questions"] == 5 and answer["http_errors"] == 0
    assert answer["encode"]["n"] == answer["http"]["n"] == 5
    assert set(answer["search"]) == {"hybrid", "semantic", "keyword"}
    for summary in (answer["encode"], answer["http"], *answer["search"].values()):
        assert 0 < summary["median_ms"] <= summary["p95_ms"]
    assert answer["ratio_http_to_encode"]["median"] > 0
    assert isinstance(answer["floor_met"], bool)
    assert answer["server_memory_mib"]["rss_mib"] > 0


def test_load_questions_are_distinct_even_when_cycled():
    questions = bench.distinct(["Erste Frage?", "Zweite Frage?"], 5, "a")
    assert len(set(questions)) == 5 and questions[2].startswith("Erste Frage?")
    assert not set(questions) & set(bench.distinct(["Erste Frage?", "Zweite Frage?"], 5, "b"))


@pytest.mark.parametrize("value", ["0", "1,x", ""])
def test_load_workers_must_be_counts_of_at_least_one(value, capsys):
    with pytest.raises(SystemExit) as exc:
        bench.parse_args(["--parts", "load", "--load-workers", value])
    assert exc.value.code == 2
    assert "--load-workers" in capsys.readouterr().err


@pytest.mark.slow
def test_load_part_with_one_and_two_workers_writes_every_ratio(real_index, tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--parts", "load", "--questions", "3", "--requests",
         "20", "--load-workers", "1,2", "--load-rounds", "2", "--index", str(real_index), "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "### Load: the batching encoder (2 rounds of 3 distinct questions" in done.stdout
    load = json.loads(out.read_text(encoding="utf-8"))["load"]
    settings = [e["setting"] for e in load["encoders"]]
    assert settings[-1] == "one thread" and any("OpenMP's default wait" in name for name in settings)
    assert load["encode"]["median_ms"] == min(e["single"]["median_ms"] for e in load["encoders"])
    assert [run["workers"] for run in load["runs"]] == [1, 2] and load["errors"] == 0
    for run in load["runs"]:
        assert run["one_client"]["n"] == 3 and run["many_clients"]["ok"] == 20
        assert run["ratio_one_client_to_encode"] > 0 and run["ratio_many_to_batched_encoder"] > 0
    # Two workers hold two private copies of what is not memory-mapped.
    assert load["runs"][1]["rss_anon_mib_sum"] > load["runs"][0]["rss_anon_mib_sum"]
    # The targets are judged on the median of the rounds' ratios, each round measured on both sides anew.
    assert len(load["rounds"]) == 2 and all(r["errors"] == 0 for r in load["rounds"])
    ratios = sorted(r["ratio_one_client_to_encode"] for r in load["rounds"])
    assert load["median_ratio_one_client_to_encode"] == pytest.approx(sum(ratios) / 2, abs=1e-3)
    assert load["latency_met"] == (load["median_ratio_one_client_to_encode"] <= 1.3)
    assert isinstance(load["throughput_met"], bool)
