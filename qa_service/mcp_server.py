"""The MCP server for LLM agents: five read-only tools over the searcher, served over stdio or streamable HTTP.

Built on the official `mcp` SDK's low-level `Server`, so that each tool's JSON input schema is written here from the
settings' limits and every argument is checked by `query.py` (`parse_ask`, `parse_filters`), as on every other
surface. A result's structured content is the API's JSON shape (`payloads.py`); its text part carries, per result,
the verbatim answer, the citation to paste and how the match was made. A bad argument, an unknown id or a missing
index is a tool error (`isError`) with a one-line message, never a traceback, and the server keeps serving.
"""
from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from .citation import chunk_heading
from .documents import Chunk
from .errors import IndexMissingError, InvalidQueryError, NotFoundError, QAError
from .openapi import filter_schema
from .payloads import chunk_with_document, document_with_chunks, public_metadata, results_payload
from .query import DEFAULT_MODE, FILTER_FIELDS, MODES, parse_ask, parse_filters, shown
from .quotes import MIN_QUOTE_CHARS, MIN_QUOTE_WORDS, looks_like_quote, normalized_text
from .searcher_slot import SearcherSlot

SERVER_NAME = "qa-service"
HTTP_PATH = "/mcp"
DEFAULT_LIST_LIMIT = 20
MAX_LIST_LIMIT = 100

logger = logging.getLogger(__name__)

_READ_ONLY = types.ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                                   open_world_hint=False)


@dataclass(frozen=True)
class ToolSpec:
    """One tool: its name, what an agent reads about it, its input schema and the function that answers it."""

    name: str
    title: str
    description: str
    input_schema: dict
    run: Callable[[Mapping], tuple[dict, str]]

    def listing(self) -> types.Tool:
        """Return the tool as `tools/list` shows it."""
        return types.Tool(name=self.name, title=self.title, description=self.description,
                          input_schema=self.input_schema, annotations=_READ_ONLY)


# --- the text part: what an agent quotes from --------------------------------------------------------------------

def _answer_block(item: dict, label: str, how: str | None) -> str:
    """Return one answer as text: heading, Frage, the verbatim Antwort, the citation to paste, how it matched."""
    heading = f"{label}{item['chunk_id']} ({chunk_heading(Chunk.from_dict(item))})"
    lines = [heading]
    if how:
        lines.append(f"Match: {how}")
    if item["frage"]:
        lines.append("Frage: " + " ".join(item["frage"].split()))
    lines.append("Antwort (verbatim):")
    lines.append(item["antwort"])
    lines.append("Citation (paste as is): " + item["citation"]["text"])
    return "\n".join(lines)


def _how(match: str | None, mode: str) -> str:
    # The payload says how a hit matched ("exact" for a verbatim quote); a hit without a label was only ranked.
    if match == "exact":
        return "exact (the answer contains the text verbatim)"
    return match or f"ranked ({mode} mode)"


def results_text(payload: dict) -> str:
    """Return the text part of a results payload: every hit with its verbatim answer, citation and match."""
    results = payload["results"]
    if not results:
        return f"No answer found for: {payload['question']}"
    blocks = [f"{len(results)} answer(s) for: {payload['question']}"]
    if payload.get("no_answer"):
        # Said first, so an agent does not quote a loosely related answer as if it were the answer.
        blocks[0] = (f"NO ANSWER MATCHES WELL for: {payload['question']}. These {len(results)} answer(s) are only "
                     "similar; do not present them as the answer to the question.")
    blocks += [_answer_block(hit, f"{hit['rank']}. ", _how(hit["match"], payload["mode"]) + f", score {hit['score']}")
               for hit in results]
    return "\n\n".join(blocks)


def _document_line(data: dict) -> str:
    parts = [data["document_id"]]
    if data.get("drucksache"):
        parts.append(f"Drucksache {data['drucksache']}")
    if data.get("answered_on"):
        parts.append(f"answered {data['answered_on']}")
    if data.get("authority"):
        parts.append(data["authority"])
    parts.append(f"{data['chunk_count']} chunk(s)")
    if data.get("title"):
        parts.append("„" + " ".join(data["title"].split()) + "“")
    return " | ".join(parts)


# --- the tools ----------------------------------------------------------------------------------------------------

def _check_arguments(arguments: Mapping, known: tuple[str, ...]) -> None:
    unknown = sorted(shown(name) for name in arguments if name not in known)
    if unknown:
        raise InvalidQueryError(f"Unknown argument: {', '.join(unknown)}; known arguments: {', '.join(known)}",
                                code="unknown_field")


def _string_argument(arguments: Mapping, name: str) -> str:
    value = arguments.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidQueryError(f"{name} must be a non-empty string", code="invalid_argument", field=name)
    return value.strip()


def _integer_argument(arguments: Mapping, name: str, default: int, low: int, high: int | None) -> int:
    value = arguments.get(name)
    if value is None:
        return default
    # bool is an int in Python, but `true` is not a number.
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise InvalidQueryError(f"{name} must be an integer {bounds}", code="invalid_argument", field=name)
    return value


class QATools:
    """The five tools over one searcher, opened once on first use (thread-safe); each returns (payload, text)."""

    def __init__(self, settings, searcher=None):
        self.settings = settings
        self.slot = SearcherSlot(settings, searcher)
        self.specs = {spec.name: spec for spec in self._specs()}

    def _index(self):
        return self.slot.get().index

    def search_answers(self, arguments: Mapping) -> tuple[dict, str]:
        """Answer a question with the best official answers (the arguments are parse_ask's fields)."""
        request = parse_ask(arguments, self.settings)
        hits = self.slot.get().search_request(request)
        payload = results_payload(request.question, hits, request.mode)
        return payload, results_text(payload)

    def find_quote(self, arguments: Mapping) -> tuple[dict, str]:
        """Return the answers that hold `text` verbatim (keyword search, exact matches only)."""
        _check_arguments(arguments, ("text",))
        request = parse_ask({"question": arguments.get("text"), "mode": "keyword",
                             "top_k": self.settings.max_top_k}, self.settings)
        if not looks_like_quote(request.question):
            raise InvalidQueryError(f"text is too short to check as a quote: give at least {MIN_QUOTE_WORDS} words "
                                    f"and {MIN_QUOTE_CHARS} letters (search_answers takes shorter questions)",
                                    code="quote_too_short", field="text")
        # Verbatim quotes rank first, so the exact matches among the max_top_k best are all there are (up to it).
        hits = [hit for hit in self.slot.get().search_request(request) if hit.match == "exact"]
        payload = results_payload(request.question, hits, request.mode)
        # The searcher also calls a near-verbatim quote "exact", but only when no answer holds the text verbatim;
        # a journalist must know which of the two it is.
        verbatim = bool(hits) and normalized_text(request.question) in normalized_text(hits[0].chunk.antwort)
        payload["found"], payload["verbatim"] = bool(hits), verbatim
        if verbatim:
            return payload, f"Found verbatim in {len(hits)} answer(s).\n\n" + results_text(payload)
        if hits:
            return payload, (f"NOT FOUND VERBATIM, but nearly: {len(hits)} answer(s) hold this text with small "
                             "differences; compare it with the answer before quoting.\n\n" + results_text(payload))
        return payload, ("NOT FOUND VERBATIM: no answer in the index contains this text word for word (case, "
                         "punctuation and spacing ignored). Use search_answers to find answers in other words.")

    def get_answer(self, arguments: Mapping) -> tuple[dict, str]:
        """Return one chunk with its citation and its document's metadata."""
        _check_arguments(arguments, ("chunk_id",))
        chunk_id = _string_argument(arguments, "chunk_id")
        index = self._index()
        try:
            chunk = index.chunk(chunk_id)
        except NotFoundError:
            raise NotFoundError(f"No chunk with id '{shown(chunk_id)}'; chunk ids look like 'S19-10041#5a' "
                                "(from search_answers or get_document)") from None
        payload = chunk_with_document(index.document(chunk.document_id), chunk)
        return payload, _answer_block(payload, "", None)

    def get_document(self, arguments: Mapping) -> tuple[dict, str]:
        """Return one document with all its chunks in order."""
        _check_arguments(arguments, ("document_id",))
        document_id = _string_argument(arguments, "document_id")
        try:
            document = self._index().document(document_id)
        except NotFoundError:
            raise NotFoundError(f"No document with id '{shown(document_id)}'; document ids look like 'S19-10041' "
                                "(from list_documents or search_answers)") from None
        payload = document_with_chunks(document)
        blocks = [_document_line(payload)] + [_answer_block(chunk, "", None) for chunk in payload["chunks"]]
        return payload, "\n\n".join(blocks)

    def list_documents(self, arguments: Mapping) -> tuple[dict, str]:
        """Return one page of the documents that pass the filters, in corpus order, with the total count."""
        _check_arguments(arguments, ("filters", "limit", "offset"))
        filters = parse_filters(arguments.get("filters"))
        limit = _integer_argument(arguments, "limit", DEFAULT_LIST_LIMIT, 1, MAX_LIST_LIMIT)
        offset = _integer_argument(arguments, "offset", 0, 0, None)
        matching = [d for d in self._index().documents.values() if filters.matches(d)]
        page = [public_metadata(d) for d in matching[offset:offset + limit]]
        payload = {"documents": page, "total": len(matching), "limit": limit, "offset": offset}
        lines = [f"Documents {offset + 1}-{offset + len(page)} of {len(matching)}:" if page
                 else f"No documents at offset {offset}; {len(matching)} match."]
        lines += [_document_line(d) for d in page]
        if offset + len(page) < len(matching):
            lines.append(f"More: call list_documents with offset {offset + len(page)}.")
        return payload, "\n".join(lines)

    def call(self, name: str, arguments: Mapping | None) -> types.CallToolResult:
        """Run tool `name`; a QAError (bad argument, unknown id, no index) becomes a one-line tool error."""
        spec = self.specs.get(name)
        if spec is None:
            return _tool_error(f"Unknown tool {shown(name)!r}; tools: {', '.join(self.specs)}")
        try:
            payload, text = spec.run(arguments or {})
        except InvalidQueryError as exc:
            return _tool_error(f"Invalid argument ({exc.code}): {exc}")
        except NotFoundError as exc:
            return _tool_error(str(exc))
        except IndexMissingError as exc:
            return _tool_error(f"The index is not available: {exc}")
        except QAError as exc:
            return _tool_error(f"The search service is not available: {exc}")
        except Exception:
            # A defect, not the caller's fault: the traceback goes to the server's log (stderr), not to the agent.
            logger.exception("tool %s failed", name)
            return _tool_error(f"Internal error in {name}; the server log has the details")
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)], structured_content=payload)

    # --- what an agent reads -----------------------------------------------------------------------------------

    def _specs(self) -> list[ToolSpec]:
        settings = self.settings
        filters = {
            "type": "object",
            "additionalProperties": False,
            "description": "Only documents with these metadata (every filter given must match); omit for all.",
            "properties": {spec.name: _json_schema(filter_schema(spec)) for spec in FILTER_FIELDS},
        }
        question = {"type": "string", "minLength": 1, "maxLength": settings.max_question_chars}
        return [
            ToolSpec(
                "search_answers", "Search the Senate's answers",
                "Search the Berlin Senate's official answers to written parliamentary questions (Schriftliche "
                "Anfragen im Abgeordnetenhaus Berlin) for the passages that answer a question. Ask in German if you "
                "can (the documents are German; English works less well). Each result is one Frage with its "
                "Antwort: the verbatim answer text, the ready-to-paste German citation (date, askers, Drucksache, "
                "title, Frage number, page, PDF link) and how it matched. Quote `antwort` verbatim and cite it "
                "with `citation.text`; the best result may still not answer the question, so read it. Follow up "
                "with get_answer(chunk_id) or get_document(document_id) for the context.",
                _object({
                    "question": {**question, "description": "the question in your own words, a sentence to look "
                                 "up, or a Frage cited by Drucksache and number (`Drs. 19/10048 Frage 2`), which then "
                                 "comes first", "examples": ["Wie viele Solaranlagen gibt es auf öffentlichen Gebäuden "
                                                             "in Pankow?"]},
                    "top_k": {"type": "integer", "minimum": 1, "maximum": settings.max_top_k,
                              "default": settings.default_top_k, "description": "how many answers to return"},
                    "mode": {"type": "string", "enum": list(MODES), "default": DEFAULT_MODE,
                             "description": "hybrid (default): meaning and words; semantic: meaning only (other "
                                            "wording, English); keyword: the exact words (names, numbers)"},
                    "filters": filters,
                }, required=["question"]),
                self.search_answers),
            ToolSpec(
                "get_answer", "Get one answer",
                "Return one answer passage by its chunk_id (from search_answers or get_document, e.g. "
                "'S19-10041#5a'): the Frage, the verbatim Antwort, its pages, the citation to paste and the "
                "document's metadata (Drucksache, title, dates, Senatsverwaltung, askers).",
                _object({"chunk_id": {"type": "string", "minLength": 1, "examples": ["S19-10041#5a"],
                                      "description": "the chunk id, as search_answers returns it"}},
                        required=["chunk_id"]),
                self.get_answer),
            ToolSpec(
                "get_document", "Get a whole document",
                "Return a whole answer document by its document_id (e.g. 'S19-10041'): its metadata and every "
                "chunk in order (Vorbemerkung, then each Frage with its Antwort), each with its citation. Use it "
                "to read an answer in its context.",
                _object({"document_id": {"type": "string", "minLength": 1, "examples": ["S19-10041"],
                                         "description": "the document id, as list_documents returns it"}},
                        required=["document_id"]),
                self.get_document),
            ToolSpec(
                "list_documents", "List documents",
                "List the documents in the index (document_id, Drucksache, title, answer date, Senatsverwaltung, "
                "askers, number of chunks) in corpus order, optionally filtered, one page at a time: `total` is the "
                "number of matching documents; ask again with a larger offset for the next page.",
                _object({
                    "filters": filters,
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIST_LIMIT,
                              "default": DEFAULT_LIST_LIMIT, "description": "documents per page"},
                    "offset": {"type": "integer", "minimum": 0, "default": 0,
                               "description": "how many matching documents to skip"},
                }),
                self.list_documents),
            ToolSpec(
                "find_quote", "Check a quote",
                "Check whether a text occurs verbatim in an official answer (case, punctuation, spacing and line "
                f"breaks ignored; at least {MIN_QUOTE_WORDS} words and {MIN_QUOTE_CHARS} letters) and return every "
                "answer that holds it, with its citation: use it to verify a quote before publishing it. "
                "`verbatim` is true when an answer holds it word for word; otherwise the text says NOT FOUND "
                "VERBATIM, and `found` is true only if answers hold it nearly (a few letters differ).",
                _object({"text": {**question, "description": "the sentence or passage to look up"}},
                        required=["text"]),
                self.find_quote),
        ]


def _object(properties: dict, required: list[str] | None = None) -> dict:
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def _json_schema(openapi_schema: dict) -> dict:
    # OpenAPI 3.0's single `example` is `examples` (a list) in JSON Schema.
    schema = {key: value for key, value in openapi_schema.items() if key != "example"}
    if "example" in openapi_schema:
        schema["examples"] = [openapi_schema["example"]]
    return schema


def _tool_error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


# --- serving ------------------------------------------------------------------------------------------------------

def build_server(settings, searcher=None) -> Server:
    """Return the MCP server with the five tools; `searcher` if given (tests), else opened on the first call."""
    tools = QATools(settings, searcher)

    async def list_tools(ctx, params) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[spec.listing() for spec in tools.specs.values()])

    async def call_tool(ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
        # Searching is CPU-bound (query encoding): off the event loop, so other requests keep being served.
        return await anyio.to_thread.run_sync(tools.call, params.name, params.arguments)

    return Server(SERVER_NAME, version=_version(),
                  instructions="Search and cite the Berlin Senate's answers to written parliamentary questions. "
                               "Start with search_answers; quote answers verbatim with their citation.",
                  on_list_tools=list_tools, on_call_tool=call_tool)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("qa_service")
    except PackageNotFoundError:
        return ""


def serve_stdio(settings) -> None:
    """Serve the tools over stdin/stdout until the client closes the connection."""
    server = build_server(settings)

    async def run() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    print("qa-service: MCP server on stdio", file=sys.stderr, flush=True)
    anyio.run(run)


def serve_http(settings, host: str = "127.0.0.1", port: int = 8001) -> None:
    """Serve the tools over the streamable-HTTP transport at http://host:port/mcp until interrupted."""
    import uvicorn

    from .embedding import limit_encoder_threads

    # Several agents may share an HTTP server: its encoder batches their questions on every core, as `serve` does.
    limit_encoder_threads(settings.encoder_threads)
    server = build_server(settings)
    # The SDK turns on DNS-rebinding protection (Host and Origin checks) when `host` is a loopback name.
    app = server.streamable_http_app(streamable_http_path=HTTP_PATH, host=host)
    # Bound here, not by uvicorn: uvicorn exits with code 3 when it cannot bind, the CLI's code for "no index".
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        listener = socket.create_server((host, port), family=family)
    except (OSError, OverflowError) as exc:
        raise QAError(f"cannot listen on {host}:{port}: {exc}") from exc
    print(f"qa-service: MCP server on http://{host}:{port}{HTTP_PATH}", file=sys.stderr, flush=True)
    uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).run(sockets=[listener])
