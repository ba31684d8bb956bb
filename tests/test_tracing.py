"""LangSmith tracing: with its environment variables set, one ask is one trace whose children are the
query transform, retrieval, fusion and generation, the chat-model calls nested in their stage; with
tracing off nothing is sent. Checked against a 127.0.0.1 stand-in for the LangSmith API."""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import langsmith
import langsmith.run_trees
import langsmith.utils
import pytest
from langchain_core.tracers.langchain import wait_for_all_tracers

from ragkit.config import AskConfig
from ragkit.generation.ask import ask

from fakes import fake_llm


class StandIn(BaseHTTPRequestHandler):
    """Records every request; answers the run endpoints with ``{}`` as LangSmith does."""

    requests: list = []

    def _reply(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.requests.append((self.command, self.path, self.headers.get("Content-Type") or "", body))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = do_PATCH = _reply

    def log_message(self, *args) -> None:
        pass


def _fresh_langsmith() -> None:
    """langsmith caches its environment variables and its client: forget both."""
    langsmith.utils.get_env_var.cache_clear()
    langsmith.utils.get_tracer_project.cache_clear()
    langsmith.run_trees._CLIENT = None


@pytest.fixture
def stand_in(monkeypatch):
    StandIn.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for name in ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2", "LANGSMITH_TRACING_V2", "LANGCHAIN_TRACING"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANGSMITH_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("LANGSMITH_API_KEY", "ls-test-key")
    _fresh_langsmith()
    yield StandIn.requests
    server.shutdown()
    monkeypatch.undo()
    _fresh_langsmith()


def _flush() -> None:
    wait_for_all_tracers()
    langsmith.run_trees.get_cached_client().flush()


def _runs(requests) -> dict:
    """Every run posted (multipart or batch), its patches merged in: id -> fields, inputs, outputs."""
    runs: dict = {}
    for _, path, content_type, body in requests:
        if path.startswith("/runs/multipart"):
            boundary = re.search(r"boundary=(\S+)", content_type).group(1).encode()
            for part in body.split(b"--" + boundary):
                match = re.search(rb'name="(post|patch)\.([0-9a-f-]+)(?:\.(\w+))?"\r\n.*?\r\n\r\n(.*)\r\n$', part, re.S)
                if match:
                    run = runs.setdefault(match.group(2).decode(), {})
                    value = json.loads(match.group(4))
                    run.update(value) if match.group(3) is None else run.__setitem__(match.group(3).decode(), value)
        elif path.startswith("/runs/batch"):
            data = json.loads(body)
            for item in data.get("post", []) + data.get("patch", []):
                runs.setdefault(str(item["id"]), {}).update(item)
    return runs


def _script(prompt: str) -> str:
    if "different ways" in prompt:
        return "how are rankings combined\nrank fusion formula"
    return "Each document scores 1/(60 + rank) [1]."


def test_one_ask_is_one_trace_with_stages_as_children(stand_in, searcher, monkeypatch):
    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    _fresh_langsmith()
    result = ask("how are rankings fused?", searcher, fake_llm(_script), AskConfig(strategy="rag-fusion", chain="stuff"))
    _flush()
    runs = _runs(stand_in)
    roots = [r for r in runs.values() if not r.get("parent_run_id")]
    assert [r["name"] for r in roots] == ["ragkit ask"]
    root = roots[0]
    assert root["inputs"] == {"question": "how are rankings fused?"} and root["outputs"]["answer"] == result.answer.text
    assert {r["trace_id"] for r in runs.values()} == {root["id"]}                   # one trace
    children = {r["name"]: r for r in runs.values() if r.get("parent_run_id") == root["id"]}
    assert set(children) == {"query transform", "retrieval", "fusion", "generation"}
    retrieval = children["retrieval"]
    assert retrieval["run_type"] == "retriever" and retrieval["inputs"]["queries"] == result.plan.queries
    assert len(retrieval["outputs"]["rankings"]) == 3                               # the question and 2 rewrites
    assert children["fusion"]["inputs"]["fusion"] == "rrf"
    assert [d["metadata"]["chunk_id"] for d in children["fusion"]["outputs"]["documents"]][:3] == \
        [c.chunk_id for c in result.context[:3]]
    models = [r for r in runs.values() if r.get("run_type") == "llm"]
    parents = sorted(runs[m["parent_run_id"]]["name"] for m in models)
    assert parents == ["generation", "query transform"]          # each model call inside its stage
    assert children["generation"]["outputs"]["answer"] == result.answer.text
    assert "ls-test-key" not in json.dumps(runs)


def test_tracing_off_sends_nothing_and_makes_no_run(stand_in, searcher, monkeypatch):
    import ragkit.generation.ask as ask_module

    seen = []
    real = ask_module.answer_question

    def spy(*args, **kwargs):
        seen.append(langsmith.get_current_run_tree())
        return real(*args, **kwargs)

    monkeypatch.setattr(ask_module, "answer_question", spy)
    result = ask("how are rankings fused?", searcher, fake_llm(_script), AskConfig(strategy="rag-fusion", chain="stuff"))
    wait_for_all_tracers()
    assert result.answer.text and seen == [None]   # (the scripted reply states a figure no source holds: quotes)
    assert langsmith.run_trees._CLIENT is None                  # no LangSmith client was even made
    assert stand_in == []                                        # and nothing was sent, not even a GET /info
