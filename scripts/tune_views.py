"""Compare what to embed per chunk and how to combine the views: scores every view once, combines offline.

    .venv/bin/python scripts/tune_views.py

Views: Frage+Antwort ("both"), Frage, Antwort, the same with the document title in front, and Antwort windows
(long answers exceed the model's 512 tokens). Prints semantic-mode R@1 / R@5 per group for each combination,
and hybrid mode (shipped fusion) for the best ones. Uses the embedding cache of tune_search.py.
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from tune_search import CachedEmbedder  # noqa: E402

from qa_service.passages import _content  # noqa: E402
from qa_service.parsing import parse_paths  # noqa: E402

GROUPS = ["english", "journalist", "keyword", "paraphrase", "quote", "all"]


def windows(text, size=700, step=500):
    if len(text) <= size:
        return [text]
    out, start = [], 0
    while start < len(text):
        out.append(text[start:start + size])
        if start + size >= len(text):
            break
        start += step
    return out


def main():
    queries = [json.loads(x) for x in (ROOT / "eval" / "questions.jsonl").read_text().splitlines() if x.strip()]
    documents = parse_paths([ROOT / "corpus"]).documents
    emb = CachedEmbedder()
    chunks = [(d, c) for d in documents for c in d.chunks]
    ids = [c.chunk_id for _, c in chunks]
    views = defaultdict(list)  # view -> list of (chunk position, text)
    for pos, (d, c) in enumerate(chunks):
        f, a = _content(c.frage), _content(c.antwort)
        both = "\n".join(p for p in (f, a) if p)
        title = d.title or ""
        views["both"].append((pos, both))
        views["frage"].append((pos, f or both))
        views["antwort"].append((pos, a or both))
        views["t+both"].append((pos, f"{title}\n{both}"))
        views["t+frage"].append((pos, f"{title}\n{f or both}"))
        views["t+antwort"].append((pos, f"{title}\n{a or both}"))
        for w in windows(a or both):
            views["antwin"].append((pos, w))
    qv = emb.encode_queries([q["question"] for q in queries])
    S = {}
    for name, items in views.items():
        vecs = emb.encode_passages([t for _, t in items])
        emb.save()
        rows = qv @ vecs.T
        s = np.full((len(queries), len(chunks)), -1.0)
        for j, (pos, _) in enumerate(items):
            s[:, pos] = np.maximum(s[:, pos], rows[:, j])
        S[name] = s
        print(f"embedded view {name}: {len(items)} texts", flush=True)

    def report(name, scores):
        per = defaultdict(lambda: defaultdict(list))
        for qi, q in enumerate(queries):
            order = np.argsort(-scores[qi], kind="stable")
            ranked = [ids[i] for i in order[:5]]
            for g in (q["group"], "all"):
                per[g]["R@1"].append(ranked[0] in q["relevant"])
                per[g]["R@5"].append(any(c in q["relevant"] for c in ranked))
        cells = "".join(f"{np.mean(per[g]['R@1']):>7.3f}{np.mean(per[g]['R@5']):>6.3f}" for g in GROUPS)
        print(f"{name:<48}{cells}")

    print(f"{'combination':<48}" + "".join(f"{g[:12]:>13}" for g in GROUPS))
    for name, s in S.items():
        report(name, s)
    combos = {
        "max(both,frage,antwort)": np.maximum.reduce([S["both"], S["frage"], S["antwort"]]),
        "max(both,frage,antwin)": np.maximum.reduce([S["both"], S["frage"], S["antwin"]]),
        "max(both,frage,antwort,antwin)": np.maximum.reduce([S["both"], S["frage"], S["antwort"], S["antwin"]]),
        "max(t+both,t+frage,t+antwort)": np.maximum.reduce([S["t+both"], S["t+frage"], S["t+antwort"]]),
        "max(t+both,frage,antwort)": np.maximum.reduce([S["t+both"], S["frage"], S["antwort"]]),
        "max(both,frage,antwort,t+both)": np.maximum.reduce([S["both"], S["frage"], S["antwort"], S["t+both"]]),
        "mean(both,frage,antwort)": (S["both"] + S["frage"] + S["antwort"]) / 3,
        "max + mean (3 views)": np.maximum.reduce([S["both"], S["frage"], S["antwort"]])
        + (S["both"] + S["frage"] + S["antwort"]) / 3,
        "max(both,frage)": np.maximum(S["both"], S["frage"]),
        "max(both,antwort)": np.maximum(S["both"], S["antwort"]),
        "frage weighted: max(both, frage+0.01, antwort)": np.maximum.reduce([S["both"], S["frage"] + 0.01, S["antwort"]]),
        "max(t+both,t+frage,t+antwort,antwin)": np.maximum.reduce([S["t+both"], S["t+frage"], S["t+antwort"],
                                                                   S["antwin"]]),
    }
    for name, s in combos.items():
        report(name, s)
    np.savez("/tmp/qa_tune_views.npz", ids=np.array(ids), **{k.replace("+", "_"): v for k, v in S.items()})


if __name__ == "__main__":
    main()
