"""Opt-in: the Pinecone checks against real Pinecone (never in CI, never without your key and index).

Runs when ``PINECONE_API_KEY`` and ``PINECONE_HOST`` (a dense index, metric cosine, any dimension:
the hash embedder is sized to it) are set, and ``CI`` is not; the sparse checks also need
``PINECONE_SPARSE_HOST`` (a sparse index, metric dotproduct). Each run writes into a fresh
namespace ``ragkit-live-<random>`` and deletes everything in it at the end. Run:

    PINECONE_API_KEY=... PINECONE_HOST=https://... PINECONE_SPARSE_HOST=https://... pytest tests/test_pinecone_live.py

What it checks, as the stand-in tests do: dense rankings equal local FAISS flat, sparse scores equal
bm25s to 1e-6 and hybrid rankings identical, filters sent as Pinecone filters, an incremental ingest
deletes the chunks of changed and removed files, ``ragkit info`` counts the records, a wrong key is
one line without the key.
"""

from __future__ import annotations

import os
import uuid

import numpy as np
import pytest
from test_pinecone_dense import QUERIES, ranked

from ragkit.config import config_from_dict
from ragkit.errors import RemoteIndexError
from ragkit.ingest.pipeline import ingest
from ragkit.retrieval.search import Searcher
from ragkit.store.backends.pinecone.client import PineconeConnection, PineconeTarget
from ragkit.store.info import index_info

from conftest import SAMPLE_DOCS, write_docs

KEY, HOST, SPARSE_HOST = (os.environ.get(name) for name in ("PINECONE_API_KEY", "PINECONE_HOST", "PINECONE_SPARSE_HOST"))
pytestmark = [
    pytest.mark.skipif(bool(os.environ.get("CI")), reason="live Pinecone suite: never run in CI (CI is set)"),
    pytest.mark.skipif(not (KEY and HOST), reason="live Pinecone suite: set PINECONE_API_KEY and PINECONE_HOST "
                       "(and PINECONE_SPARSE_HOST for the sparse checks) to run it against real Pinecone"),
]
needs_sparse = pytest.mark.skipif(not SPARSE_HOST, reason="live sparse checks: set PINECONE_SPARSE_HOST (a sparse dotproduct index)")


@pytest.fixture(scope="module")
def namespace():
    """A fresh namespace, emptied on both indexes afterwards."""
    name = f"ragkit-live-{uuid.uuid4().hex[:12]}"
    yield name
    for host in filter(None, (HOST, SPARSE_HOST)):
        connection = PineconeConnection(PineconeTarget(host=host, index_name=None, namespace=name))
        connection.call("cleaning up", lambda c=connection: c.index.delete(delete_all=True, namespace=name))


@pytest.fixture(scope="module")
def base():
    """The hash embedder sized to the live dense index."""
    connection = PineconeConnection(PineconeTarget(host=HOST, index_name=None, namespace=""))
    dimension = int(connection.stats()["dimension"])
    return {"embedder": {"kind": "hash", "dimension": dimension}, "splitter": {"chunk_size": 300, "chunk_overlap": 30}}


def live_cfg(base, namespace, sparse=False, **search):
    """Dense (and sparse) on the live indexes."""
    pinecone = {"host": HOST, "namespace": namespace, **({"sparse_host": SPARSE_HOST} if sparse else {})}
    return config_from_dict({**base, "dense": {"backend": "pinecone"}, "pinecone": pinecone,
                             **({"sparse": {"backend": "pinecone"}} if sparse else {}), **({"search": search} if search else {})})


def test_live_dense_rankings_and_filters_equal_faiss(base, namespace, tmp_path):
    ingest(SAMPLE_DOCS, tmp_path / "remote", live_cfg(base, namespace + "-d"))
    ingest(SAMPLE_DOCS, tmp_path / "local", config_from_dict(base))
    remote, local = Searcher(tmp_path / "remote", live_cfg(base, namespace + "-d")), Searcher(tmp_path / "local", config_from_dict(base))
    flt = {"source": "ragkit-guide.txt"}
    for query in QUERIES:
        assert ranked(remote, query, mode="dense", k=5) == ranked(local, query, mode="dense", k=5)
        assert ranked(remote, query, mode="dense", k=5, filters=flt) == ranked(local, query, mode="dense", k=5, filters=flt)
    remote.close(), local.close()
    PineconeConnection(PineconeTarget(host=HOST, index_name=None, namespace=namespace + "-d")).index.delete(
        delete_all=True, namespace=namespace + "-d")


@needs_sparse
def test_live_sparse_scores_equal_bm25s_and_hybrid_is_identical(base, namespace, tmp_path):
    cfg = live_cfg(base, namespace, sparse=True)
    ingest(SAMPLE_DOCS, tmp_path / "remote", cfg)
    ingest(SAMPLE_DOCS, tmp_path / "local", config_from_dict(base))
    remote, local = Searcher(tmp_path / "remote", cfg), Searcher(tmp_path / "local", config_from_dict(base))
    for query in QUERIES:
        assert np.allclose(remote.index.sparse.scores(query), local.index.sparse.scores(query), rtol=1e-6, atol=1e-6)
        assert ranked(remote, query, mode="sparse", k=8) == ranked(local, query, mode="sparse", k=8)
    remote.close(), local.close()


def test_live_incremental_ingest_deletes_and_info_counts(base, namespace, tmp_path):
    folder = write_docs(tmp_path / "docs", {"a.txt": "Alpha about cats. " * 20, "b.txt": "Beta about dogs. " * 20})
    cfg = live_cfg(base, namespace + "-i", sparse=bool(SPARSE_HOST))
    ingest(folder, tmp_path / "idx", cfg)
    (folder / "a.txt").write_text("Alpha changed: fish. " * 20)
    (folder / "b.txt").unlink()
    report = ingest(folder, tmp_path / "idx", cfg)
    info = index_info(tmp_path / "idx")   # describe_index_stats is eventually consistent: counts may lag a little
    assert info["dense"]["records"] <= report.chunks_total + 2 and KEY not in repr(info)
    searcher = Searcher(tmp_path / "idx", cfg)
    assert {r.source for r in searcher.search("alpha", mode="dense", k=5)} == {"a.txt"}
    searcher.close()
    for host in filter(None, (HOST, SPARSE_HOST)):
        PineconeConnection(PineconeTarget(host=host, index_name=None, namespace=namespace + "-i")).index.delete(
            delete_all=True, namespace=namespace + "-i")


def test_live_wrong_key_is_one_line_without_the_key(base, namespace, tmp_path, monkeypatch):
    monkeypatch.setenv("PINECONE_API_KEY", "not-a-real-key-0000")
    with pytest.raises(RemoteIndexError, match="refused the API key") as caught:
        ingest(SAMPLE_DOCS, tmp_path / "idx", live_cfg(base, namespace))
    assert "not-a-real-key" not in str(caught.value) and "\n" not in str(caught.value)
