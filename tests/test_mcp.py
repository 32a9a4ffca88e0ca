"""The MCP server (`qa-service mcp`): its tools in-process over the tiny index, and both transports driven by the SDK's
own client: stdio (a subprocess) and streamable HTTP (a server on a free port), with the real model and index."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from qa_service.cli import main
from qa_service.mcp_server import MAX_LIST_LIMIT, build_server
from qa_service.payloads import chunk_with_document, document_with_chunks, results_payload
from qa_service.query import FILTER_NAMES, MODES
from qa_service.search import open_searcher

from conftest import CORPUS_DIR, make_settings
from web_fixtures import free_port, searcher, stop_server  # noqa: F401  (fixture)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TOOLS = {"search_answers", "get_answer", "get_document", "list_documents", "find_quote"}
# Loading the e5 model and the index in a subprocess; far below this on 2 cores.
SERVER_START_TIMEOUT = 120
QUESTION = "Wie viele Straftaten hat die Ermittlungsgruppe Quer an die Staatsanwaltschaft abgegeben?"


def run(server, scenario):
    """Connect the SDK's client to `server` (a Server, a URL or a transport), run `scenario(client)`, return its result."""

    async def go():
        async with Client(server) as client:
            return await scenario(client)

    return anyio.run(go)


def text_of(result) -> str:
    """Return the text part of a tool result."""
    return "\n".join(block.text for block in result.content if block.type == "text")


@pytest.fixture
def settings():
    return make_settings(CORPUS_DIR, PROJECT_ROOT / "index")


@pytest.fixture
def server(settings, searcher):  # noqa: F811
    return build_server(settings, searcher=searcher)


def _a_sentence(searcher):  # noqa: F811
    """Return (chunk, a sentence of its answer long enough to be a quote)."""
    for chunk in searcher.index.chunks:
        for sentence in chunk.antwort.split(". "):
            if len(sentence.split()) >= 8 and chunk.antwort.count(sentence) == 1:
                return chunk, sentence
    raise AssertionError("no quotable sentence in the corpus")


# --- the tools, in-process over the tiny index (fake embedder) ----------------------------------------------------

def test_list_tools_shows_the_five_tools_with_descriptions_and_constrained_schemas(server, settings):
    tools = {tool.name: tool for tool in run(server, lambda client: client.list_tools()).tools}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert len(tool.description) > 100 and tool.input_schema["type"] == "object"
        assert tool.input_schema["additionalProperties"] is False
        assert tool.annotations.read_only_hint is True
    search = tools["search_answers"].input_schema
    assert search["required"] == ["question"]
    assert (search["properties"]["top_k"]["minimum"], search["properties"]["top_k"]["maximum"]) == (
        1, settings.max_top_k)
    assert search["properties"]["mode"]["enum"] == list(MODES)
    assert set(search["properties"]["filters"]["properties"]) == set(FILTER_NAMES)
    listing = tools["list_documents"].input_schema["properties"]
    assert (listing["limit"]["minimum"], listing["limit"]["maximum"], listing["offset"]["minimum"]) == (
        1, MAX_LIST_LIMIT, 0)
    assert tools["get_answer"].input_schema["required"] == ["chunk_id"]
    assert tools["get_document"].input_schema["required"] == ["document_id"]
    assert tools["find_quote"].input_schema["required"] == ["text"]


def test_search_answers_gives_the_searchers_results_and_text_with_answers_and_citations(server, searcher):  # noqa: F811
    hits = searcher.search(QUESTION, top_k=3)
    result = run(server, lambda client: client.call_tool("search_answers", {"question": QUESTION, "top_k": 3}))
    assert not result.is_error
    assert result.structured_content == results_payload(QUESTION, hits, "hybrid")
    text = text_of(result)
    for hit in hits:
        assert hit.chunk.chunk_id in text and hit.chunk.antwort in text
        assert hit.document.source_url in text
    assert text.count("Citation (paste as is): Antwort des Senats") == 3
    assert text.count("Match: ") == 3


def test_search_answers_applies_mode_and_filters_like_the_searcher(server, searcher):  # noqa: F811
    arguments = {"question": "Sporthalle", "top_k": 4, "mode": "keyword", "filters": {"authority": "Bildung"}}
    result = run(server, lambda client: client.call_tool("search_answers", arguments))
    expected = searcher.search("Sporthalle", top_k=4, mode="keyword", filters={"authority": "Bildung"})
    assert [r["chunk_id"] for r in result.structured_content["results"]] == [h.chunk.chunk_id for h in expected]
    assert expected and all("Bildung" in r["document"]["authority"] for r in result.structured_content["results"])


def test_get_answer_and_get_document_give_the_api_shapes_and_the_verbatim_text(server, searcher):  # noqa: F811
    chunk = searcher.index.chunks[3]
    document = searcher.index.document(chunk.document_id)

    async def scenario(client):
        return (await client.call_tool("get_answer", {"chunk_id": chunk.chunk_id}),
                await client.call_tool("get_document", {"document_id": document.document_id}))

    answer, whole = run(server, scenario)
    assert answer.structured_content == chunk_with_document(document, chunk)
    assert chunk.antwort in text_of(answer) and answer.structured_content["citation"]["text"] in text_of(answer)
    assert whole.structured_content == document_with_chunks(document)
    assert [c["chunk_id"] for c in whole.structured_content["chunks"]] == [c.chunk_id for c in document.chunks]
    positions = [text_of(whole).index(c.antwort) for c in document.chunks]
    assert positions == sorted(positions)


def test_list_documents_pages_through_every_document_in_corpus_order(server, searcher):  # noqa: F811
    async def scenario(client):
        pages, offset = [], 0
        while True:
            page = await client.call_tool("list_documents", {"limit": 2, "offset": offset})
            pages.append(page)
            offset += 2
            if offset >= page.structured_content["total"]:
                return pages

    pages = run(server, scenario)
    ids = [d["document_id"] for page in pages for d in page.structured_content["documents"]]
    assert ids == list(searcher.index.documents)
    assert all(page.structured_content["total"] == len(ids) for page in pages)
    assert "offset 2" in text_of(pages[0]) and "More:" not in text_of(pages[-1])
    filtered = run(server, lambda client: client.call_tool("list_documents", {"filters": {"wahlperiode": 17}}))
    assert [d["wahlperiode"] for d in filtered.structured_content["documents"]] == [17] * filtered.structured_content[
        "total"] and filtered.structured_content["total"] >= 1


def test_find_quote_finds_a_sentence_pasted_with_other_case_and_spacing(server, searcher):  # noqa: F811
    chunk, sentence = _a_sentence(searcher)
    pasted = "  " + sentence.upper().replace(" ", "\n ") + "  "
    result = run(server, lambda client: client.call_tool("find_quote", {"text": pasted}))
    assert not result.is_error and result.structured_content["found"] is True
    assert result.structured_content["verbatim"] is True
    results = result.structured_content["results"]
    assert chunk.chunk_id in [r["chunk_id"] for r in results]
    assert {r["match"] for r in results} == {"exact"}
    assert text_of(result).startswith("Found verbatim") and "Match: exact" in text_of(result)


def test_find_quote_tells_a_nearly_verbatim_quote_from_a_verbatim_one(server, searcher):  # noqa: F811
    chunk, sentence = _a_sentence(searcher)
    middle = len(sentence) // 2 + sentence[len(sentence) // 2:].index(" ") + 1
    altered = sentence[:middle] + "X" + sentence[middle + 1:]  # one letter of a word changed
    result = run(server, lambda client: client.call_tool("find_quote", {"text": altered}))
    assert result.structured_content["found"] is True and result.structured_content["verbatim"] is False
    assert chunk.chunk_id in [r["chunk_id"] for r in result.structured_content["results"]]
    assert text_of(result).startswith("NOT FOUND VERBATIM, but nearly")


def test_find_quote_says_clearly_when_the_text_is_not_there(server):
    text = "Der Senat hat beschlossen, alle Turnhallen der Stadt in Schwimmbäder umzubauen."
    result = run(server, lambda client: client.call_tool("find_quote", {"text": text}))
    assert not result.is_error
    assert result.structured_content["found"] is False and result.structured_content["results"] == []
    assert result.structured_content["verbatim"] is False
    assert text_of(result).startswith("NOT FOUND VERBATIM")


@pytest.mark.parametrize("tool,arguments,message", [
    ("search_answers", {"question": "Turnhalle", "top_k": 0}, "top_k must be an integer from 1 to 50"),
    ("search_answers", {"question": "Turnhalle", "top_k": "5"}, "top_k must be an integer"),
    ("search_answers", {"question": "Turnhalle", "mode": "fuzzy"}, "unknown mode 'fuzzy'"),
    ("search_answers", {"question": "Turnhalle", "filters": {"fraktion": "SPD"}}, "Unknown filter: fraktion"),
    ("search_answers", {"question": "Turnhalle", "filters": {"answered_from": "2021-13-01"}},
     "answered_from is not a valid date"),
    ("search_answers", {"question": "   "}, "The question is empty"),
    ("search_answers", {"q": "Turnhalle"}, "Unknown field: q"),
    ("get_answer", {"chunk_id": "S19-99999#1"}, "No chunk with id 'S19-99999#1'"),
    ("get_answer", {"chunk_id": 7}, "chunk_id must be a non-empty string"),
    ("get_document", {"document_id": "S19-99999"}, "No document with id 'S19-99999'"),
    ("get_document", {}, "document_id must be a non-empty string"),
    ("list_documents", {"limit": 0}, "limit must be an integer from 1 to 100"),
    ("list_documents", {"limit": 101}, "limit must be an integer from 1 to 100"),
    ("list_documents", {"offset": -1}, "offset must be an integer of at least 0"),
    ("list_documents", {"filters": {"wahlperiode": "neunzehn"}}, "wahlperiode must be an integer"),
    ("find_quote", {"text": "Turnhalle"}, "too short to check as a quote"),
    ("find_quote", {"text": "ein langer Satz mit genug Wörtern darin", "top_k": 3}, "Unknown argument: top_k"),
    ("no_such_tool", {}, "Unknown tool 'no_such_tool'"),
])
def test_bad_arguments_and_unknown_ids_are_one_line_tool_errors_and_the_next_call_works(server, tool, arguments,
                                                                                      message):
    async def scenario(client):
        return (await client.call_tool(tool, arguments),
                await client.call_tool("search_answers", {"question": "Turnhalle", "top_k": 1}))

    bad, good = run(server, scenario)
    assert bad.is_error is True and bad.structured_content is None
    assert message in text_of(bad)
    assert "\n" not in text_of(bad) and "Traceback" not in text_of(bad)
    assert not good.is_error and len(good.structured_content["results"]) == 1


def test_mcp_refuses_an_impossible_port(capsys):
    assert main(["mcp", "--transport", "http", "--port", "70000"]) == 1
    assert capsys.readouterr().err.startswith("error: --port must be between 0 and 65535")


def test_http_server_on_a_port_in_use_exits_1_with_one_line():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "qa_service.cli", "mcp", "--transport", "http", "--port",
                                 str(port)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot listen on 127.0.0.1:{port}")


# --- the stdio transport: `qa-service mcp` as a subprocess -------------------------------------------------------

def run_stdio(index_dir: Path, log_path: Path, scenario):
    """Start `qa-service mcp --index DIR` as the SDK's stdio client does, run `scenario(client)`, return its result."""
    params = StdioServerParameters(command=sys.executable, args=["-m", "qa_service.cli", "mcp", "--index",
                                                                 str(index_dir)],
                                   env=dict(os.environ, HF_HUB_OFFLINE="1"), cwd=str(PROJECT_ROOT))
    with open(log_path, "w", encoding="utf-8") as log:
        return run(stdio_client(params, errlog=log), scenario)


def test_stdio_server_without_an_index_answers_tool_errors_saying_to_build_and_keeps_serving(tmp_path):
    async def scenario(client):
        first = await client.call_tool("search_answers", {"question": "Turnhalle"})
        second = await client.call_tool("list_documents", {})
        tools = await client.list_tools()
        return first, second, tools

    first, second, tools = run_stdio(tmp_path / "missing", tmp_path / "mcp.log", scenario)
    for result in (first, second):
        assert result.is_error is True
        assert text_of(result).startswith("The index is not available: no index in")
        assert "qa-service build" in text_of(result) and "\n" not in text_of(result)
    assert {tool.name for tool in tools.tools} == TOOLS


@pytest.fixture(scope="module")
def real_searcher(real_index):
    """The real model and index, in this process: what the served tools must agree with."""
    return open_searcher(make_settings(CORPUS_DIR, real_index))


@pytest.mark.slow
def test_stdio_transport_serves_the_real_index(real_index, real_searcher, tmp_path):
    expected = [hit.chunk.chunk_id for hit in real_searcher.search(QUESTION, top_k=5)]

    async def scenario(client):
        tools = await client.list_tools()
        found = await client.call_tool("search_answers", {"question": QUESTION})
        bad = await client.call_tool("search_answers", {"question": QUESTION, "top_k": 0})
        answer = await client.call_tool("get_answer", {"chunk_id": expected[0]})
        return tools, found, bad, answer

    tools, found, bad, answer = run_stdio(real_index, tmp_path / "mcp.log", scenario)
    assert {tool.name for tool in tools.tools} == TOOLS
    assert [r["chunk_id"] for r in found.structured_content["results"]] == expected
    assert expected[0].startswith("S19-10041#")
    first = found.structured_content["results"][0]
    assert first["citation"]["text"] in text_of(found) and first["antwort"] in text_of(found)
    assert bad.is_error and "top_k must be an integer from 1 to 50" in text_of(bad)
    assert not answer.is_error and answer.structured_content["chunk_id"] == expected[0]


# --- the streamable-HTTP transport: `qa-service mcp --transport http` on a free port -----------------------------

@pytest.fixture(scope="module")
def http_server(real_index, tmp_path_factory):
    """Run `qa-service mcp --transport http` over the real index; yield its /mcp URL once it accepts connections."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("mcp") / "mcp-http.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "qa_service.cli", "mcp", "--transport", "http", "--host", "127.0.0.1", "--port",
             str(port), "--index", str(real_index)],
            cwd=PROJECT_ROOT, env=dict(os.environ, HF_HUB_OFFLINE="1"), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"qa-service mcp exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"qa-service mcp did not listen in time:\n{log_path.read_text()}") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        stop_server(process)


@pytest.mark.slow
def test_http_transport_serves_the_real_index(http_server, real_searcher):
    question = "Photovoltaik auf Dächern von Schulen und Rathäusern im Bezirk Pankow"
    expected = [hit.chunk.chunk_id for hit in real_searcher.search(question, top_k=3)]
    chunk, sentence = _a_sentence(real_searcher)

    async def scenario(client):
        return {
            "tools": await client.list_tools(),
            "found": await client.call_tool("search_answers", {"question": question, "top_k": 3}),
            "bad_filter": await client.call_tool("search_answers", {"question": question, "filters": {"fraktion": "x"}}),
            "quote": await client.call_tool("find_quote", {"text": sentence}),
            "page": await client.call_tool("list_documents", {"limit": 2, "offset": 2}),
            "unknown": await client.call_tool("get_document", {"document_id": "S19-00000"}),
            "document": await client.call_tool("get_document", {"document_id": chunk.document_id}),
        }

    results = run(streamable_http_client(http_server), scenario)
    assert {tool.name for tool in results["tools"].tools} == TOOLS
    found = results["found"].structured_content
    assert [r["chunk_id"] for r in found["results"]] == expected and expected[0].startswith("S19-10006#")
    assert found["results"][0]["citation"]["text"] in text_of(results["found"])
    assert results["bad_filter"].is_error and "Unknown filter: fraktion" in text_of(results["bad_filter"])
    quote = results["quote"].structured_content
    assert quote["found"] and chunk.chunk_id in [r["chunk_id"] for r in quote["results"]]
    page = results["page"].structured_content
    assert (page["offset"], len(page["documents"])) == (2, 2)
    assert [d["document_id"] for d in page["documents"]] == list(real_searcher.index.documents)[2:4]
    assert results["unknown"].is_error and "No document with id 'S19-00000'" in text_of(results["unknown"])
    assert results["document"].structured_content["document_id"] == chunk.document_id
