"""Serve the app with waitress, a production WSGI server: load the model and index first, then listen."""
from __future__ import annotations

import logging
import sys
from dataclasses import asdict

from . import create_app
from .errors import QAError


def serve(settings, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Load the model and index, then serve the web page and API on host:port until interrupted."""
    from waitress import create_server

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # waitress reports its queue and errors at INFO/WARNING; library chatter (faiss, bm25s) stays quiet.
    logging.getLogger("waitress").setLevel(logging.INFO)
    from .embedding import limit_encoder_threads

    limit_encoder_threads(settings.encoder_threads)
    app = create_app(asdict(settings))
    # Loaded before listening, so "ready" below means the first question is answered at full speed.
    searcher = app.extensions["qa_searcher"].get()
    index = searcher.index
    print(f"qa-service: loaded {len(index.documents)} documents, {len(index.chunks)} chunks, "
          f"model {index.model_id}", file=sys.stderr, flush=True)
    try:
        server = create_server(app, host=host, port=port, threads=settings.server_threads,
                               ident="qa-service")
    except (OSError, OverflowError, ValueError) as exc:
        raise QAError(f"cannot listen on {host}:{port}: {exc}") from exc
    for listen_host, listen_port in _listening(server, host, port):
        print(f"qa-service: ready on http://{_display_host(listen_host)}:{listen_port}/", file=sys.stderr,
              flush=True)
    try:
        server.run()
    finally:
        server.close()


def _listening(server, host: str, port: int) -> list[tuple[str, int]]:
    # One TcpWSGIServer has its address; a MultiSocketServer (a name with several addresses) lists them.
    if hasattr(server, "effective_port"):
        return [(server.effective_host, server.effective_port)]
    return list(getattr(server, "effective_listen", [(host, port)]))


def _display_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
