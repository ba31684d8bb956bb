"""One contract test per backend interface: every embedder, the vector index, the docstore."""

import numpy as np
import pytest
from langchain_core.documents import Document

from ragkit.store.dense import FaissIndex
from ragkit.store.docstore import DocStore
from ragkit.embedders import EmbedderConfig, EmbedderError, HashEmbeddings, build_embedder

from conftest import have_local_model

EMBEDDERS = [pytest.param("hash", id="hash"),
             pytest.param("local", id="local", marks=[pytest.mark.integration,
                          pytest.mark.skipif(not have_local_model(), reason="local model packages not installed")])]


@pytest.mark.parametrize("kind", EMBEDDERS)
def test_embedder_contract(kind):
    """Shape, normalisation, determinism, empty input, query == document path, related > unrelated."""
    embedder = build_embedder(EmbedderConfig(kind=kind))
    texts = ["the cat sat on the mat", "a cat was sitting on a mat", "quarterly revenue fell sharply", ""]
    vectors = embedder.embed_array(texts)
    assert vectors.shape == (4, embedder.dimension) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, atol=1e-4)
    assert np.array_equal(vectors, embedder.embed_array(texts))
    assert embedder.embed_array([]).shape == (0, embedder.dimension)
    assert np.allclose(embedder.embed_query(texts[0]), vectors[0], atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert embedder.model_id and ":" in embedder.model_id


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


def test_vector_index_contract(tmp_path):
    embedder = HashEmbeddings(64)
    vectors = embedder.embed_array([f"document number {i} about topic {i % 3}" for i in range(20)])
    index = FaissIndex(64)
    index.add(vectors[:10])
    index.add(vectors[10:])
    assert index.size == 20
    rows, scores = index.search(vectors[7], 3)
    assert rows[0][0] == 7 and scores[0][0] == pytest.approx(1.0, abs=1e-5)
    rows, _ = index.search(vectors[7], 5, allowed_rows=np.array([1, 2, 3]))
    assert set(rows[0].tolist()) == {1, 2, 3}
    assert index.search(vectors[7], 5, allowed_rows=np.array([], dtype=np.int64))[0].shape[1] == 0
    index.save(tmp_path)
    loaded = FaissIndex.load(tmp_path)
    assert np.allclose(loaded.vectors(np.array([4, 15])), vectors[[4, 15]])
    assert loaded.search(vectors[3], 1)[0][0][0] == 3
    empty = FaissIndex(64)
    assert empty.search(vectors[0], 3)[0].shape == (1, 0)


def test_docstore_contract(tmp_path):
    store = DocStore(tmp_path / "d.sqlite", readonly=False)
    docs = [
        Document(page_content=f"text {i}", metadata={"chunk_id": f"c{i}", "doc_id": f"d{i // 2}",
                                                     "source": "a/b.md" if i < 3 else "c.pdf", "page": i, "lang": "en"})
        for i in range(5)
    ]
    store.add(enumerate(docs))
    store.commit()
    store.close()
    ro = DocStore(tmp_path / "d.sqlite")
    assert ro.count() == 5
    assert ro.get([3])[3].to_document().metadata["source"] == "c.pdf"
    assert ro.rows_matching({"source": "c.pdf"}).tolist() == [3, 4]
    assert ro.rows_matching({"source": "a/*"}).tolist() == [0, 1, 2]
    assert ro.rows_matching({"page": "2"}).tolist() == [2]
    assert ro.rows_matching({"lang": "en", "doc_id": "d1"}).tolist() == [2, 3]
    assert ro.rows_matching({"missing": "x"}).tolist() == []
    assert ro.chunk_ids_by_source() == {"a/b.md": ["c0", "c1", "c2"], "c.pdf": ["c3", "c4"]}
    with pytest.raises(Exception):
        ro.add([(9, docs[0])])  # read-only
