"""The `qa-service` command: parse | build | ask | serve | eval. Thin: parse arguments, call the library, turn
named errors into one line on stderr and an exit code."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import load_settings
from .errors import IndexMissingError, QAError

EXIT_OK = 0
EXIT_ERROR = 1
# Not 2: argparse exits with 2 for a usage error, and a script must tell "no index yet" from a typo in its flags.
EXIT_NO_INDEX = 3


def _print_json(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False))


# --- parse -------------------------------------------------------------------------------------------------

def cmd_parse(args) -> int:
    """Parse documents into chunks and print one line (or one JSON object) per document."""
    from .parsing import parse_paths

    settings = load_settings(corpus_dir=args.corpus)
    paths = [Path(p) for p in args.paths] or [settings.corpus_dir]
    report = parse_paths(paths)
    for failure in report.failures:
        print(f"error: {failure}", file=sys.stderr)
    for doc in report.documents:
        if args.json:
            _print_json(doc.to_dict())
        else:
            print(_document_line(doc))
            for warning in doc.warnings:
                print(f"  warning: {warning}")
    if not args.json:
        n_chunks = sum(len(d.chunks) for d in report.documents)
        n_warn = sum(len(d.warnings) for d in report.documents)
        print(f"{len(report.documents)} documents, {n_chunks} chunks, {n_warn} warnings, "
              f"{len(report.failures)} unreadable")
    return EXIT_ERROR if report.failures else EXIT_OK


def _document_line(doc) -> str:
    title = doc.title or "(no title)"
    if len(title) > 70:
        title = title[:69] + "…"
    return (f"{doc.document_id:<14} {doc.drucksache or '-':<10} {len(doc.chunks):>3} chunks  "
            f"{len(doc.warnings)} warnings  {title}")


# --- build -------------------------------------------------------------------------------------------------

def cmd_build(args) -> int:
    """Build or update the index folder from the corpus."""
    from .index import build_index

    settings = load_settings(corpus_dir=args.corpus, index_dir=args.index, model=args.model,
                             index_factory=args.factory)
    report = build_index(settings, rebuild=args.rebuild, progress=not args.quiet)
    for failure in report.failures:
        print(f"error: {failure}", file=sys.stderr)
    print(report.summary_line())
    return EXIT_ERROR if report.failures else EXIT_OK


# --- ask ---------------------------------------------------------------------------------------------------

def cmd_ask(args) -> int:
    """Answer one question from the index."""
    from .errors import InvalidQueryError
    from .payloads import results_payload
    from .query import FILTER_NAMES, parse_ask
    from .search import open_searcher

    settings = load_settings(index_dir=args.index, model=args.model)
    filters = {name: getattr(args, name) for name in FILTER_NAMES if getattr(args, name) is not None}
    try:
        request = parse_ask({"question": args.question, "top_k": args.top_k, "mode": args.mode, "sort": args.sort,
                             "filters": filters}, settings)
    except InvalidQueryError as exc:
        # Name the flag, not the API's field: `--top-k`, `--answered-from`.
        flag = "--" + exc.field.replace("_", "-") if exc.field and exc.field != "question" else "the question"
        raise InvalidQueryError(f"{flag}: {exc}", code=exc.code, field=exc.field) from None
    searcher = open_searcher(settings)
    hits = searcher.search_request(request)
    if args.json:
        _print_json(results_payload(request.question, hits, mode=request.mode))
    else:
        print(format_results_text(request.question, hits))
    return EXIT_OK


def format_results_text(question: str, hits) -> str:
    """Return the hits as plain text for the terminal: rank, score, Frage, verbatim answer, citation."""
    from .citation import chunk_heading, citation

    from .search import no_answer

    if not hits:
        return f"No answer found for: {question}"
    blocks = ["No answer matches the question well; similar answers:"] if no_answer(hits) else []
    for hit in hits:
        chunk, document = hit.chunk, hit.document
        header = f"{hit.rank}. [{hit.score:.3f}] {chunk.document_id} {chunk_heading(chunk)}"
        if hit.match == "exact":
            header += "  (exact quote)"
        elif hit.match == "semantic":
            header += "  (similar in meaning only: no word in common)"
        lines = [header]
        if chunk.frage:
            lines.append("   Frage: " + " ".join(chunk.frage.split()))
        lines.append("   Antwort:")
        lines.extend("     " + line for line in chunk.antwort.splitlines() if line.strip())
        if document.authority:
            by = document.authority + (f" ({document.signatory})" if document.signatory else "")
            lines.append("   Beantwortet von: " + by)
        lines.append("   Quelle: " + citation(document, chunk)["text"])
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


# --- serve -------------------------------------------------------------------------------------------------

def cmd_serve(args) -> int:
    """Serve the web page and the JSON API with waitress."""
    from .server import serve

    if not 0 <= args.port <= 65535:
        raise QAError(f"--port must be between 0 and 65535, got {args.port}")
    for flag, value in (("--threads", args.threads), ("--workers", args.workers)):
        if value is not None and value < 1:
            raise QAError(f"{flag} must be at least 1, got {value}")
    settings = load_settings(index_dir=args.index, model=args.model, server_threads=args.threads,
                             server_workers=args.workers)
    serve(settings, host=args.host, port=args.port)
    return EXIT_OK


# --- mcp ---------------------------------------------------------------------------------------------------

def cmd_mcp(args) -> int:
    """Serve the MCP tools for LLM agents over stdio or streamable HTTP."""
    from .mcp_server import serve_http, serve_stdio

    if not 0 <= args.port <= 65535:
        raise QAError(f"--port must be between 0 and 65535, got {args.port}")
    settings = load_settings(index_dir=args.index, model=args.model)
    if args.transport == "http":
        serve_http(settings, host=args.host, port=args.port)
    else:
        serve_stdio(settings)
    return EXIT_OK


# --- eval --------------------------------------------------------------------------------------------------

def cmd_eval(args) -> int:
    """Score the index against a file of questions with known relevant chunks."""
    from .evaluation import evaluate_file, format_report

    settings = load_settings(index_dir=args.index, model=args.model)
    modes = args.mode or ["hybrid", "semantic", "keyword"]
    report = evaluate_file(Path(args.queries), settings, modes=modes)
    if args.json:
        _print_json(report)
    else:
        print(format_report(report))
    return EXIT_OK


# --- sync --------------------------------------------------------------------------------------------------

def cmd_sync(args) -> int:
    """Download new and changed answers from the parliament's open-data export into the corpus."""
    from .sync import SyncOptions, export_url, sync

    settings = load_settings(corpus_dir=args.corpus, index_dir=args.index)
    sources = tuple(args.source or ()) + tuple(export_url(wp) for wp in args.wahlperiode or ())
    polite = {"pause": args.pause, "read_timeout": args.timeout, "connect_timeout": args.timeout,
              "recheck_days": args.recheck_days}
    options = SyncOptions(sources=sources or (export_url(19),), corpus_dir=settings.corpus_dir, since=args.since,
                          limit=args.limit, dry_run=args.dry_run, progress=not args.quiet,
                          **{k: v for k, v in polite.items() if v is not None})
    report = sync(options)
    for note in report.notes:
        print(note)
    for line in report.plan:
        print(line)
    for failure in report.failures:
        print(f"failed: {failure.document_id} {failure.url}: {failure.reason}", file=sys.stderr)
    for rejected in report.rejected:
        print(f"rejected before, unchanged: {rejected.document_id} {rejected.url}: {rejected.reason}")
    print(report.summary_line())
    code = EXIT_ERROR if report.failures else EXIT_OK
    if args.build and not args.dry_run:
        from .index import build_index

        build = build_index(settings, progress=not args.quiet)
        for failure in build.failures:
            print(f"error: {failure}", file=sys.stderr)
        print(build.summary_line())
        code = EXIT_ERROR if build.failures else code
    return code


def _add_sync_parser(add) -> None:
    p = add("sync", cmd_sync, "Download new and changed answers from the parliament's open-data export (PARDOK) "
            "into the corpus, remove deleted ones.",
            "qa-service sync --wahlperiode 19 --since 2024-01-01 --build")
    p.add_argument("--wahlperiode", type=int, action="append", metavar="N",
                   help="sync the export of Wahlperiode N (repeatable; default 19 when no --source is given)")
    p.add_argument("--source", action="append", metavar="URL-or-FILE",
                   help="an export file or http(s) address instead of the parliament's (repeatable)")
    p.add_argument("--corpus", help="corpus folder (default: corpus/ or QA_CORPUS_DIR)")
    p.add_argument("--since", metavar="YYYY-MM-DD", help="only answers given on or after this date")
    p.add_argument("--limit", type=int, metavar="N", help="at most N answers, newest first")
    p.add_argument("--dry-run", action="store_true", help="print the plan; download, write and delete nothing")
    p.add_argument("--build", action="store_true", help="then build or update the index")
    p.add_argument("--index", help="index folder for --build (default: index/ or QA_INDEX_DIR)")
    p.add_argument("--recheck-days", type=float, metavar="DAYS",
                   help="ask again for a known answer only this long after its last check (default 30; 0 = always)")
    p.add_argument("--pause", type=float, metavar="SECONDS", help="pause between requests (default 1)")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="connect and read timeout of a request (default 10 and 60)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


# --- wiring ------------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of `qa-service` with every subcommand."""
    from .query import DEFAULT_MODE, DEFAULT_SORT, FILTER_FIELDS, MODES, SORTS

    parser = argparse.ArgumentParser(
        prog="qa-service",
        description="Question answering over the Berlin Senate's answers to written parliamentary questions.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example:\n  qa-service build && qa-service ask \"Wie viele Solaranlagen gibt es in Pankow?\"",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, func, help_text, example):
        p = sub.add_parser(name, help=help_text, description=help_text, formatter_class=argparse.RawDescriptionHelpFormatter,
                           epilog=f"Example:\n  {example}")
        p.set_defaults(func=func)
        return p

    p = add("parse", cmd_parse, "Parse documents into per-Frage chunks and show what was found.",
            "qa-service parse corpus/S19-10041.txt --json")
    p.add_argument("paths", nargs="*", metavar="PATH", help="file or folder (default: the corpus folder)")
    p.add_argument("--json", action="store_true", help="one JSON object per document per line")
    p.add_argument("--corpus", help="corpus folder (default: corpus/ or QA_CORPUS_DIR)")

    p = add("build", cmd_build, "Build or update the index from the corpus (re-embeds only changed documents).",
            "qa-service build --corpus corpus --index index")
    p.add_argument("--corpus", help="corpus folder (default: corpus/ or QA_CORPUS_DIR)")
    p.add_argument("--index", help="index folder (default: index/ or QA_INDEX_DIR)")
    p.add_argument("--model", help="'e5' (default), 'sentence-transformers:<name-or-path>', or 'hash' (tests and benchmarks only; or QA_MODEL)")
    p.add_argument("--factory", help="FAISS index factory string, or 'auto' (default; or QA_INDEX_FACTORY)")
    p.add_argument("--rebuild", action="store_true", help="re-embed every document")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = add("ask", cmd_ask, "Answer a question with the best-matching official answers and their citations.",
            "qa-service ask \"Wie viele Straftaten gab es in Spandau 2025?\" --top-k 3")
    p.add_argument("question", help="the question, in your own words")
    p.add_argument("--top-k", type=int, default=5, help="number of answers (1-50, default 5)")
    p.add_argument("--mode", choices=MODES, default=DEFAULT_MODE,
                   help="ranking: hybrid (default), semantic (vectors only) or keyword (BM25 only)")
    p.add_argument("--sort", choices=SORTS, default=DEFAULT_SORT,
                   help="order: relevance (default) or date (the best-matching answers, newest first)")
    for spec in FILTER_FIELDS:
        p.add_argument("--" + spec.name.replace("_", "-"), dest=spec.name,
                       type=int if spec.metadata["kind"] == "wahlperiode" else str,
                       choices=spec.metadata.get("choices"), help=f"filter: {spec.metadata['description']}")
    p.add_argument("--json", action="store_true", help="print the API's JSON shape")
    p.add_argument("--index", help="index folder (default: index/ or QA_INDEX_DIR)")
    p.add_argument("--model", help="embedding model; must match the index (default: the index's model)")

    p = add("serve", cmd_serve, "Serve the web page and the JSON API with a production WSGI server.",
            "qa-service serve --host 127.0.0.1 --port 8000")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--threads", type=int, help="request threads per worker process (default 16 or QA_SERVER_THREADS)")
    p.add_argument("--workers", type=int,
                   help="worker processes on one listening socket (default 1 or QA_SERVER_WORKERS; 1 on 2 cores)")
    p.add_argument("--index", help="index folder (default: index/ or QA_INDEX_DIR)")
    p.add_argument("--model", help="embedding model; must match the index (default: the index's model)")

    p = add("mcp", cmd_mcp, "Serve search, answers, documents and quote checks as MCP tools for LLM agents "
            "(stdio by default, or streamable HTTP at /mcp).",
            "qa-service mcp --transport http --port 8001")
    p.add_argument("--transport", choices=("stdio", "http"), default="stdio",
                   help="stdio (default: the client starts this command) or http (streamable HTTP at /mcp)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on with --transport http (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8001, help="port with --transport http (default 8001)")
    p.add_argument("--index", help="index folder (default: index/ or QA_INDEX_DIR)")
    p.add_argument("--model", help="embedding model; must match the index (default: the index's model)")

    p = add("eval", cmd_eval, "Measure Recall@1, Recall@5, MRR@10 and nDCG@10 on a file of judged questions.",
            "qa-service eval eval/questions.jsonl --mode hybrid --mode semantic")
    p.add_argument("queries", metavar="QUERIES.jsonl",
                   help='lines like {"question": "…", "relevant": ["S19-10041#5a"], "group": "paraphrase"}')
    p.add_argument("--mode", action="append", choices=MODES,
                   help="mode to score; repeat for several (default: all three)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--index", help="index folder (default: index/ or QA_INDEX_DIR)")
    p.add_argument("--model", help="embedding model; must match the index (default: the index's model)")

    _add_sync_parser(add)
    return parser


def main(argv=None) -> int:
    """Run the `qa-service` command line and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except IndexMissingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NO_INDEX
    except QAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
