"""One Settings object: where the corpus and index live, which model, the limits. Defaults < env (QA_*) < flags."""
from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

from .errors import ConfigError

DEFAULT_MODEL = "e5"


@dataclass(frozen=True)
class Settings:
    """Everything configurable about the service, with its default."""

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    model: str = DEFAULT_MODEL
    # FAISS index factory string; "auto" picks exact search for small corpora and HNSW above `approx_threshold`.
    index_factory: str = "auto"
    # Vector rows from which "auto" builds HNSW: exact search of 50k rows costs ~4 ms a query, a tenth of the
    # query encoding; above that it grows linearly (72 ms at 1M rows), HNSW stays at 0.5-3.5 ms (bench/RESULTS.md).
    approx_threshold: int = 50_000
    default_top_k: int = 5
    max_top_k: int = 50
    max_question_chars: int = 2000
    # Comma-separated origins allowed to call /api/ from a browser; "" disables CORS, "*" allows any.
    cors_origins: str = ""
    # Requests served at once by one worker process. Their questions are encoded together (qa_service.batching),
    # so the threads mostly wait for the encoder; as many as its largest batch (encoder_max_batch), so that the
    # questions of that many clients can meet in one call: with 8 threads, those of the 9th to 16th client waited in
    # waitress's queue instead, and at 16 clients the encoder's calls averaged 4.3 questions (16 threads: 7.8).
    server_threads: int = 16
    # Worker processes of `qa-service serve`, each with its own model and searcher on one shared socket (the index
    # and model files are memory-mapped, so they share one copy in the page cache). One is enough on 2 cores: its
    # encoder already uses every core, and a second one's encoder fights it for them (README: "Serving").
    server_workers: int = 1
    # OpenMP threads of the server's query encoder; 0 = every core, shared out among `server_workers`. It batches
    # the questions of concurrent requests into one call at a time (qa_service.batching), so that call gets every
    # core: a lone question is encoded about twice as fast as with one thread (issue 11: 11.5 vs 21.7 ms on 2
    # cores), and a batch spreads its questions over the cores. (Without batching, one thread per request served
    # more requests per second.)
    encoder_threads: int = 0
    # The server's batching query encoder (qa_service.batching): at most this many questions per call (a bigger
    # batch only lengthens the first questions' wait), and how long it waits after the first question for more
    # when the last call had company (under load). Never when idle: a lone question runs at once, since waiting
    # would add to every question at 1 client and gather nothing. Under load, 2 ms halved the calls of a single
    # question and raised the mean batch (16 clients, in-process: 8.0 -> 10.7).
    encoder_max_batch: int = 16
    encoder_max_wait_ms: float = 2.0
    # Tokens of a question that the encoder sees: a normal question has 10-40; 2,000 emoji have thousands, which
    # would cost seconds of CPU. BM25 and quote matching still read the whole question.
    max_query_tokens: int = 128
    # waitress, deliberately: how many connections at once (beyond that new ones wait in the kernel's backlog),
    # how long an idle or stalled connection may hold its place (waitress's default, 120 s, let 100 idle
    # connections lock everyone out for two minutes), and the largest request line + headers.
    server_connection_limit: int = 400
    server_channel_timeout: int = 15
    server_max_header_bytes: int = 16 * 1024

    def with_overrides(self, **overrides) -> "Settings":
        """Return a copy with every override that is not None applied (raises ConfigError for an unknown name)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values = {name: Path(value) if name in ("corpus_dir", "index_dir") else value
                  for name, value in overrides.items() if value is not None}
        return replace(self, **values)


_ENV = {
    "QA_CORPUS_DIR": ("corpus_dir", Path),
    "QA_INDEX_DIR": ("index_dir", Path),
    "QA_MODEL": ("model", str),
    "QA_INDEX_FACTORY": ("index_factory", str),
    "QA_APPROX_THRESHOLD": ("approx_threshold", int),
    "QA_MAX_QUESTION_CHARS": ("max_question_chars", int),
    "QA_CORS_ORIGINS": ("cors_origins", str),
    "QA_SERVER_THREADS": ("server_threads", int),
    "QA_SERVER_WORKERS": ("server_workers", int),
    "QA_ENCODER_THREADS": ("encoder_threads", int),
    "QA_ENCODER_MAX_BATCH": ("encoder_max_batch", int),
    "QA_ENCODER_MAX_WAIT_MS": ("encoder_max_wait_ms", float),
    "QA_MAX_QUERY_TOKENS": ("max_query_tokens", int),
    "QA_SERVER_CONNECTION_LIMIT": ("server_connection_limit", int),
    "QA_SERVER_CHANNEL_TIMEOUT": ("server_channel_timeout", int),
}


def load_settings(environ=None, **overrides) -> Settings:
    """Return the settings from defaults, then the QA_* environment, then explicit overrides (e.g. CLI flags)."""
    environ = os.environ if environ is None else environ
    from_env = {}
    for key, (name, kind) in _ENV.items():
        if environ.get(key):
            try:
                from_env[name] = kind(environ[key])
            except ValueError:
                raise ConfigError(f"{key}={environ[key]!r} is not a valid {kind.__name__}") from None
    return Settings().with_overrides(**from_env).with_overrides(**overrides)
