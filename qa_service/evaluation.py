"""Retrieval evaluation: pure metrics over rankings and judgements, the query-file loader, and the report.

Shapes follow BEIR: queries as JSONL (`{"id", "question", "relevant": [chunk ids], "group"}`), results as
`{query_id: [chunk ids, best first]}` (or `{query_id: {chunk_id: score}}`). The metric functions need no model;
only `evaluate_file` opens a searcher.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import InvalidQueryError

# The columns of every report row, in order; the key names are those of the JSON report.
METRICS = ("recall@1", "recall@5", "mrr@10", "ndcg@10")
# How deep the searcher is asked to rank: the deepest cut-off any metric looks at.
EVAL_DEPTH = 10
DEFAULT_GROUP = "ungrouped"
# Questions the corpus cannot answer (`"relevant": []`): no recall to measure, they are counted apart.
UNANSWERABLE = "unanswerable"
# Resamples of the bootstrap intervals of R@1 and R@5: enough for two stable decimals.
BOOTSTRAP_RESAMPLES = 2000
# Rank-1 misses listed per mode in the report, so a long file cannot blow up the output.
MAX_MISSES = 200


@dataclass(frozen=True)
class Query:
    """One judged question: its id, text, the chunk ids that answer it, and a free group label."""

    query_id: str
    question: str
    relevant: tuple[str, ...]
    group: str
    line: int


# --- metrics ------------------------------------------------------------------------------------------------

def _first_positions(ranked: Sequence[str], relevant: Iterable[str], k: int) -> list[int]:
    """Return the 1-based positions within the top `k` at which a relevant id first appears."""
    wanted = set(relevant)
    positions = []
    for position, chunk_id in enumerate(ranked[:k], start=1):
        # A chunk listed twice (several vectors per chunk) counts once, at its best position.
        if chunk_id in wanted:
            wanted.discard(chunk_id)
            positions.append(position)
    return positions


def _check_k(k: int) -> None:
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"cut-off k must be a positive integer, got {k!r}")


def recall_at(ranked: Sequence[str], relevant: Iterable[str], k: int) -> float:
    """Return the fraction of the relevant ids found in the top `k` (hit@k when one id is relevant).

    The denominator is min(k, number of relevant ids) (BEIR's capped recall): when several chunks answer a
    question equally, finding one of them at rank 1 is a full answer, not half of one.
    """
    _check_k(k)
    relevant = set(relevant)
    if not relevant:
        return 0.0
    return len(_first_positions(ranked, relevant, k)) / min(k, len(relevant))


def mrr_at(ranked: Sequence[str], relevant: Iterable[str], k: int = 10) -> float:
    """Return 1 / rank of the first relevant id within the top `k`, or 0 when none is there."""
    _check_k(k)
    positions = _first_positions(ranked, relevant, k)
    return 1.0 / positions[0] if positions else 0.0


def ndcg_at(ranked: Sequence[str], relevant: Iterable[str], k: int = 10) -> float:
    """Return the nDCG of the top `k` with binary gains (1 for a relevant id, 0 otherwise)."""
    _check_k(k)
    relevant = set(relevant)
    if not relevant:
        return 0.0
    dcg = sum(1.0 / math.log2(position + 1) for position in _first_positions(ranked, relevant, k))
    ideal = sum(1.0 / math.log2(position + 1) for position in range(1, min(k, len(relevant)) + 1))
    return dcg / ideal


def score_ranking(ranked: Sequence[str], relevant: Iterable[str]) -> dict[str, float]:
    """Return every metric of METRICS for one ranking."""
    relevant = tuple(relevant)
    return {
        "recall@1": recall_at(ranked, relevant, 1),
        "recall@5": recall_at(ranked, relevant, 5),
        "mrr@10": mrr_at(ranked, relevant, 10),
        "ndcg@10": ndcg_at(ranked, relevant, 10),
    }


def ranked_ids(result: Sequence[str] | Mapping[str, float]) -> list[str]:
    """Return chunk ids best first from a ranked list, or from `{chunk_id: score}` (ties: smaller id first)."""
    if isinstance(result, Mapping):
        # Sorting on (-score, id) makes equal scores deterministic instead of depending on dict order.
        return [chunk_id for chunk_id, _ in sorted(result.items(), key=lambda item: (-item[1], item[0]))]
    return list(result)


def mean_scores(scores: Sequence[Mapping[str, float]]) -> dict:
    """Return `{"n": count, metric: mean, …}` over per-query scores (0.0 for every metric when empty)."""
    n = len(scores)
    row: dict = {"n": n}
    for metric in METRICS:
        row[metric] = round(sum(s[metric] for s in scores) / n, 4) if n else 0.0
    return row


def bootstrap_interval(values: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES,
                       seed: int = 0) -> tuple[float, float]:
    """Return the 95% percentile-bootstrap interval of the mean of `values` (seeded: the same every run)."""
    import numpy as np

    data = np.asarray(values, dtype=float)
    if not len(data):
        return 0.0, 0.0
    means = np.random.default_rng(seed).choice(data, size=(resamples, len(data)), replace=True).mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return round(float(low), 4), round(float(high), 4)


def _intervals(scores: Sequence[Mapping[str, float]]) -> dict:
    return {metric: list(bootstrap_interval([s[metric] for s in scores])) for metric in ("recall@1", "recall@5")}


def evaluate_rankings(queries: Sequence[Query],
                      rankings: Mapping[str, Sequence[str] | Mapping[str, float]]) -> dict:
    """Score `{query_id: ranking}` against the queries' judgements, overall and per group, listing rank-1 misses.

    A query without a ranking counts as a complete miss.
    """
    per_query = []
    groups: dict[str, list[dict]] = {}
    misses = []
    unanswerable = 0
    for query in queries:
        if not query.relevant:
            unanswerable += 1
            continue
        ranked = ranked_ids(rankings.get(query.query_id, ()))
        scores = score_ranking(ranked, query.relevant)
        per_query.append(scores)
        groups.setdefault(query.group, []).append(scores)
        if scores["recall@1"] < 1.0:
            positions = _first_positions(ranked, query.relevant, EVAL_DEPTH)
            misses.append({
                "id": query.query_id,
                "group": query.group,
                "question": query.question,
                "relevant": list(query.relevant),
                "rank": positions[0] if positions else None,
                "top": ranked[:3],
            })
    return {
        "overall": mean_scores(per_query),
        "groups": {group: mean_scores(scores) for group, scores in groups.items()},
        "unanswerable": unanswerable,
        # How sure the means are: a few hundred questions leave a few points either way.
        "ci95": {"overall": _intervals(per_query),
                 "groups": {group: _intervals(scores) for group, scores in groups.items()}},
        "misses_at_1": misses[:MAX_MISSES],
    }


# --- query file -----------------------------------------------------------------------------------------------

def _query_from_line(data, path: Path, line_no: int) -> Query:
    def fail(reason: str) -> InvalidQueryError:
        return InvalidQueryError(f"{path}:{line_no}: {reason}")

    if not isinstance(data, dict):
        raise fail("expected a JSON object like {\"question\": …, \"relevant\": […], \"group\": …}")
    question = data.get("question")
    if not isinstance(question, str) or not question.strip():
        raise fail("\"question\" must be a non-empty string")
    group = data.get("group", DEFAULT_GROUP)
    if not isinstance(group, str) or not group.strip():
        raise fail("\"group\" must be a non-empty string")
    relevant = data.get("relevant")
    if isinstance(relevant, str):
        relevant = [relevant]
    unanswerable = group.strip() == UNANSWERABLE and relevant == []
    if (not isinstance(relevant, list) or not (relevant or unanswerable)
            or not all(isinstance(r, str) and r.strip() for r in relevant)):
        raise fail("\"relevant\" must be a non-empty list of chunk ids such as \"S19-10041#5a\" "
                   f"(empty only in group \"{UNANSWERABLE}\")")
    query_id = data.get("id", data.get("_id", f"line{line_no}"))
    if not isinstance(query_id, (str, int)) or isinstance(query_id, bool) or not str(query_id).strip():
        raise fail("\"id\" must be a non-empty string")
    return Query(query_id=str(query_id).strip(), question=question.strip(),
                 relevant=tuple(dict.fromkeys(r.strip() for r in relevant)), group=group.strip(), line=line_no)


def load_queries(path: Path) -> list[Query]:
    """Read judged queries from a JSONL file; raise InvalidQueryError naming the file and line of a bad line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidQueryError(f"{path}: no such query file") from None
    except UnicodeDecodeError:
        raise InvalidQueryError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise InvalidQueryError(f"{path}: cannot read: {exc.strerror or exc}") from None
    queries: list[Query] = []
    seen: dict[str, int] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidQueryError(f"{path}:{line_no}: not valid JSON ({exc.msg}, column {exc.colno})") from None
        query = _query_from_line(data, path, line_no)
        if query.query_id in seen:
            raise InvalidQueryError(
                f"{path}:{line_no}: duplicate id {query.query_id!r} (first on line {seen[query.query_id]})")
        seen[query.query_id] = line_no
        queries.append(query)
    if not queries:
        raise InvalidQueryError(f"{path}: no queries in the file")
    return queries


# --- running and reporting -------------------------------------------------------------------------------------

def evaluate_file(path: Path, settings, modes: Sequence[str] = ("hybrid", "semantic", "keyword"),
                  searcher=None) -> dict:
    """Run every query of `path` through the index in each mode and return the report (see format_report).

    The rankings are the shipped ranker's run (`Searcher.run`). `searcher` is opened from `settings` with
    `qa_service.search.open_searcher` unless one is given.
    """
    from .query import MODES, parse_mode
    from .search import open_searcher

    modes = [parse_mode(mode) for mode in dict.fromkeys(modes)]
    if not modes:
        raise InvalidQueryError("no mode to evaluate: give at least one of " + ", ".join(MODES))
    # Read the file before loading a model, so a typo in it fails in milliseconds.
    queries = load_queries(path)
    if searcher is None:
        searcher = open_searcher(settings)

    report: dict = {"file": str(path), "queries": len(queries), "modes": {}}
    known_ids = _index_chunk_ids(searcher)
    if known_ids is not None:
        missing = sorted({r for q in queries for r in q.relevant if r not in known_ids})
        if missing:
            # Not fatal (a file may be scored against a partial index), but never silent: scores drop for it.
            report["unknown_relevant"] = missing
    questions = {query.query_id: query.question for query in queries}
    for mode in modes:
        report["modes"][mode] = evaluate_rankings(queries, searcher.run(questions, k=EVAL_DEPTH, mode=mode))
    return report


def _index_chunk_ids(searcher) -> set[str] | None:
    index = getattr(searcher, "index", None)
    chunks = getattr(index, "chunks", None)
    if chunks is None:
        return None
    return {chunk.chunk_id for chunk in chunks}


_HEADERS = ("mode", "group", "n", "R@1", "R@5", "MRR@10", "nDCG@10")


def format_report(report: Mapping, misses: bool = False) -> str:
    """Return the report as a text table: one row per mode and group (overall first), optional rank-1 misses."""
    rows = []
    for mode, result in report["modes"].items():
        for i, (group, row) in enumerate([("overall", result["overall"]), *result["groups"].items()]):
            rows.append((mode if i == 0 else "", group, str(row["n"]),
                         *(f"{row[metric]:.3f}" for metric in METRICS)))
    widths = [max(len(h), *(len(r[c]) for r in rows)) for c, h in enumerate(_HEADERS)]

    def line(cells) -> str:
        text_cols = 2  # mode and group left-aligned, numbers right-aligned
        return "  ".join(cell.ljust(w) if c < text_cols else cell.rjust(w)
                         for c, (cell, w) in enumerate(zip(cells, widths))).rstrip()

    out = [f"{report['queries']} queries from {report.get('file', '?')}", line(_HEADERS),
           line(["-" * w for w in widths])]
    previous_mode = None
    for row in rows:
        if row[0] and previous_mode is not None:
            out.append("")
        previous_mode = row[0] or previous_mode
        out.append(line(row))
    unanswerable = max((result.get("unanswerable", 0) for result in report["modes"].values()), default=0)
    if unanswerable:
        out.append(f"\n{unanswerable} unanswerable questions (no judged chunk) are not in these rows")
    if report.get("unknown_relevant"):
        unknown = report["unknown_relevant"]
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        out.append(f"\nwarning: {len(unknown)} relevant chunk ids are not in the index: {shown}")
    if misses:
        for mode, result in report["modes"].items():
            out.append(f"\nmisses at rank 1 ({mode}):")
            for miss in result["misses_at_1"]:
                rank = miss["rank"] if miss["rank"] is not None else f">{EVAL_DEPTH}"
                out.append(f"  {miss['id']:<6} {miss['group']:<11} rank {rank:<3} want {'|'.join(miss['relevant'])}"
                           f"  got {', '.join(miss['top'])}  {miss['question']}")
    return "\n".join(out)
