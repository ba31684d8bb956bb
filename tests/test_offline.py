"""Offline honesty (issue 13, item 7): with ``base_url`` set, no component contacts a host but that one.

The network is blocked except loopback: every socket connection and name lookup to another host
is refused and recorded, so a component that swallows the failure (and falls back, or blames the
key) is still caught. A stand-in OpenAI-compatible server on 127.0.0.1 answers both
``/v1/embeddings`` (hash vectors) and ``/v1/chat/completions``.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from ragkit.cli import app
from ragkit.config import EmbedderConfig
from ragkit.embedders import build_embedder
from ragkit.embedders.hashing import HashEmbeddings
from ragkit.errors import EmbedderError

from conftest import BASIC_DOCS, write_docs

DIM = 64
ANSWER = "Saturn has bright rings of ice [1]."
LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", ""}


def _loopback(host) -> bool:
    if host is None or str(host) in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(str(host)).is_loopback
    except ValueError:
        return False


@pytest.fixture
def network_blocked(monkeypatch):
    """Refuse (and record) every connection and name lookup that is not loopback; yields the record."""
    attempts: list[str] = []
    real_connect, real_connect_ex, real_getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def guard(host, what):
        if not _loopback(host):
            attempts.append(f"{what} {host}")
            raise OSError(f"test: network blocked, {what} {host} refused")

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            guard(address[0], "connect")
        return real_connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            guard(address[0], "connect")
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        guard(host.decode() if isinstance(host, bytes) else host, "lookup")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    for name in ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2", "LANGSMITH_API_KEY", "LANGCHAIN_API_KEY"):
        monkeypatch.delenv(name, raising=False)    # tracing is a configured host of its own; not this test's
    yield attempts


class StandIn:
    """An OpenAI-compatible server on 127.0.0.1: embeddings and chat completions (plain or streamed)."""

    def __init__(self):
        self.requests: list[dict] = []
        outer, hasher = self, HashEmbeddings(DIM)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                outer.requests.append({"path": self.path, "json": body})
                data, ctype = outer.reply(self.path, body, hasher)
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @staticmethod
    def reply(path: str, body: dict, hasher: HashEmbeddings) -> tuple[bytes, str]:
        if path.endswith("/embeddings"):
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            vectors = hasher.embed_array([str(t) for t in texts])
            data = {"object": "list", "model": body.get("model"), "usage": {"prompt_tokens": 0, "total_tokens": 0},
                    "data": [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]}
            return json.dumps(data).encode(), "application/json"
        message = {"role": "assistant", "content": ANSWER}
        if body.get("stream"):
            chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": body["model"],
                     "choices": [{"index": 0, "delta": message, "finish_reason": "stop"}]}
            return f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode(), "text/event-stream"
        data = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}}
        return json.dumps(data).encode(), "application/json"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def stand_in():
    server = StandIn()
    yield server
    server.close()


@pytest.fixture
def no_tiktoken_tables(tmp_path, monkeypatch):
    """An empty tiktoken cache, so a component that needs tiktoken's tables would have to download them."""
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "empty-tiktoken-cache"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-local")


def test_openai_embedder_with_base_url_sends_text_to_that_server_only(stand_in, network_blocked, no_tiktoken_tables):
    # The OpenAI model name is what made LangChain count tokens with tiktoken (and download its tables).
    embedder = build_embedder(EmbedderConfig(kind="openai", model="text-embedding-3-small", dimension=DIM,
                                             base_url=stand_in.url))
    vectors = embedder.embed_array(["otters sleep holding hands", "saturn has rings"])
    assert vectors.shape == (2, DIM)
    assert network_blocked == []
    # the text itself, not tiktoken ids: another server has its own tokenizer
    assert stand_in.requests[0]["json"]["input"] == ["otters sleep holding hands", "saturn has rings"]


def test_openai_embedder_without_base_url_tries_openai_alone(network_blocked, no_tiktoken_tables):
    """OpenAI itself (no base_url): LangChain counts tokens with tiktoken, whose tables come from ragkit's
    cache instead of a download, so the only host tried is the API's (refused here)."""
    import tiktoken

    tiktoken.registry.ENCODINGS.pop("cl100k_base", None)   # loaded afresh: from files, or a download
    embedder = build_embedder(EmbedderConfig(kind="openai", model="text-embedding-3-small"))
    with pytest.raises(EmbedderError, match="check the network and OPENAI_API_KEY"):
        embedder.embed_array(["otters sleep holding hands"])
    assert network_blocked and {attempt.split()[-1] for attempt in network_blocked} == {"api.openai.com"}


def test_ingest_and_ask_with_base_url_reach_only_that_server(stand_in, network_blocked, no_tiktoken_tables, tmp_path):
    docs = write_docs(tmp_path / "docs", BASIC_DOCS)
    config = tmp_path / "local-server.yaml"
    config.write_text(f"embedder: {{kind: openai, model: text-embedding-3-small, dimension: {DIM}, "
                      f"base_url: '{stand_in.url}'}}\n"
                      f"llm: {{kind: openai, model: local-model, base_url: '{stand_in.url}'}}\n")
    runner = CliRunner()
    common = ["--index", str(tmp_path / "idx"), "--config", str(config)]
    ingest = runner.invoke(app, ["ingest", str(docs), *common])
    assert ingest.exit_code == 0, ingest.output
    for extra in ([], ["--strategy", "multi-query", "--json"]):
        ask = runner.invoke(app, ["ask", "Which planet has rings?", "--chain", "stuff", *extra, *common])
        assert ask.exit_code == 0, ask.output
        assert "Saturn has bright rings" in ask.stdout
    assert network_blocked == []
    paths = {r["path"] for r in stand_in.requests}
    assert paths == {"/v1/embeddings", "/v1/chat/completions"}


def test_search_and_ask_with_an_http_reranker_reach_only_its_server(network_blocked, tmp_path):
    """search.rerank: http sends the query and candidates to rerank.url and nowhere else."""
    from stand_in import StandIn

    server = StandIn(lambda path, body: (200, [{"index": i, "score": -float(i)} for i in range(len(body["texts"]))]))
    try:
        docs = write_docs(tmp_path / "docs", BASIC_DOCS)
        config = tmp_path / "rerank.yaml"
        config.write_text(f"embedder: {{kind: hash}}\nsearch: {{rerank: http}}\n"
                          f"rerank: {{url: '{server.root}/rerank', api: tei}}\n")
        common = ["--index", str(tmp_path / "idx"), "--config", str(config)]
        runner = CliRunner()
        assert runner.invoke(app, ["ingest", str(docs), *common]).exit_code == 0
        for command in (["search", "Saturn rings"], ["ask", "Which planet has rings?", "--chain", "extract"]):
            result = runner.invoke(app, [*command, *common])
            assert result.exit_code == 0 and "Note:" not in result.stderr, result.output
    finally:
        server.close()
    assert network_blocked == [] and [r["path"] for r in server.requests] == ["/rerank", "/rerank"]
