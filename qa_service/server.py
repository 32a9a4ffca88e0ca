"""Serve the app with waitress, a production WSGI server: load the model and index first, then listen."""
from __future__ import annotations

import logging
import signal
import sys

from . import MAX_CONTENT_LENGTH, create_app
from .errors import QAError
from .searcher_slot import EXTENSION


def serve(settings, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Load the model and index, then serve the web page and API on host:port until interrupted."""
    from waitress import create_server

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # waitress reports its queue and errors at INFO/WARNING; library chatter (faiss, bm25s) stays quiet.
    logging.getLogger("waitress").setLevel(logging.INFO)
    logging.getLogger("qa_service").setLevel(logging.INFO)
    from .embedding import limit_encoder_threads

    limit_encoder_threads(settings.encoder_threads)
    app = create_app(settings)
    # Loaded before listening, so "ready" below means the first question is answered at full speed.
    slot = app.extensions[EXTENSION]
    searcher = slot.get()
    # A rebuilt index is picked up without a restart: the folder is watched, and SIGHUP looks at once.
    slot.watch()
    signal.signal(signal.SIGHUP, lambda signum, frame: slot.request_reload())
    index = searcher.index
    print(f"qa-service: loaded {len(index.documents)} documents, {len(index.chunks)} chunks, "
          f"model {index.model_id}", file=sys.stderr, flush=True)
    try:
        server = create_server(app, host=host, port=port, ident="qa-service", **waitress_options(settings))
    except (OSError, OverflowError, ValueError) as exc:
        raise QAError(f"cannot listen on {host}:{port}: {exc}") from exc
    for listen_host, listen_port in _listening(server, host, port):
        print(f"qa-service: ready on http://{_display_host(listen_host)}:{listen_port}/", file=sys.stderr,
              flush=True)
    try:
        server.run()
    finally:
        server.close()


def waitress_options(settings) -> dict:
    """Return waitress's limits, set on purpose rather than left at its defaults (README: "Serving")."""
    return {
        "threads": settings.server_threads,
        "connection_limit": settings.server_connection_limit,
        # An idle keep-alive or stalled connection gives its place back after this many seconds.
        "channel_timeout": settings.server_channel_timeout,
        "max_request_header_size": settings.server_max_header_bytes,
        # A body larger than the app reads is refused by waitress before it is buffered.
        "max_request_body_size": MAX_CONTENT_LENGTH,
        # select() stops at 1,024 file descriptors; poll() has no such limit.
        "asyncore_use_poll": True,
    }


def _listening(server, host: str, port: int) -> list[tuple[str, int]]:
    # One TcpWSGIServer has its address; a MultiSocketServer (a name with several addresses) lists them.
    if hasattr(server, "effective_port"):
        return [(server.effective_host, server.effective_port)]
    return list(getattr(server, "effective_listen", [(host, port)]))


def _display_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
