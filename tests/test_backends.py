"""One contract test per backend interface, run over every registered backend: dense and sparse indexes, the docstore (embedders: test_embedders.py; chat models: test_llm.py)."""

import numpy as np
import pytest
from langchain_core.documents import Document

from ragkit.errors import StoreError
from ragkit.store.docstore import DocStore
from ragkit.store.generations import current_generation
from ragkit.store.index import open_index
from ragkit.store.manifest import read_manifest, write_manifest
from ragkit.store.registry import DENSE_STORES, SPARSE_STORES, dense_store_class, sparse_store_class

# Each local backend with its defaults, and the faiss backend's other index kinds (ragkit.store.backends.faiss.ann);
# 100 vectors in 2 IVF lists are enough to train them (39 a list), so ivf is IVF here, not its flat fallback.
# A remote store (pinecone) needs a server and a generation's docstore: tests/test_pinecone_dense.py
# runs it against the local stand-in, through ingest and search.
DENSE_VARIANTS = [(name, {}) for name in sorted(set(DENSE_STORES) - {"pinecone"})] + [
    ("faiss", {"kind": "flat"}), ("faiss", {"kind": "hnsw", "hnsw_m": 8}),
    ("faiss", {"kind": "ivf", "ivf_lists": 2, "ivf_probe": 1}), ("faiss", {"kind": "auto", "auto_flat_below": 50})]


@pytest.mark.parametrize("name, settings", DENSE_VARIANTS, ids=[f"{n}-{s.get('kind', 'default')}" for n, s in DENSE_VARIANTS])
def test_vector_index_contract(name, settings, tmp_path):
    store = DENSE_STORES[name]
    vectors = np.random.default_rng(7).standard_normal((100, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)  # ragkit's vectors are unit length
    index = store(64, **settings)
    index.add(vectors[:10])
    index.add(vectors[10:])
    assert index.size == 100 and index.dimension == 64
    rows, scores = index.search(vectors[7], 3)
    assert rows[0][0] == 7 and scores[0][0] == pytest.approx(1.0, abs=1e-5)
    assert list(scores[0]) == sorted(scores[0], reverse=True)
    rows, _ = index.search(vectors[7], 5, allowed_rows=np.array([1, 2, 3]))
    assert set(rows[0].tolist()) == {1, 2, 3}
    assert index.search(vectors[7], 5, allowed_rows=np.array([], dtype=np.int64))[0].shape[1] == 0
    index.save(tmp_path)
    loaded = store.load(tmp_path)
    assert loaded.size == 100 and loaded.dimension == 64
    assert np.allclose(loaded.vectors(np.array([4, 15])), vectors[[4, 15]])
    assert np.allclose(loaded.vectors(), vectors)
    assert loaded.search(vectors[3], 1)[0][0][0] == 3
    assert np.array_equal(loaded.search(vectors[:4], 3)[0], index.search(vectors[:4], 3)[0])
    empty = store(64, **settings)
    assert empty.search(vectors[0], 3)[0].shape == (1, 0)
    assert empty.vectors().shape == (0, 64)


SPARSE_TEXTS = ["Cats purr and sleep in the sun.", "Dogs bark at the mailman.",
                "A cat and a dog can be friends.", "Stock markets fell sharply today.",
                "The sun is a star; cats like its warmth."]


# The same for sparse: tests/test_pinecone_sparse.py runs sparse.backend: pinecone through ingest and search.
@pytest.mark.parametrize("name", sorted(set(SPARSE_STORES) - {"pinecone"}))
def test_sparse_store_contract(name, tmp_path):
    store = SPARSE_STORES[name]
    index = store()
    assert store(**index.settings()).settings() == index.settings()  # settings rebuild an equal index
    index.build(SPARSE_TEXTS)
    assert index.size == len(SPARSE_TEXTS)
    rows, scores = index.search("cats in the sun", 3)
    assert rows.dtype == np.int64 and len(rows) == len(scores) <= 3
    assert rows[0] in (0, 4) and all(scores > 0) and list(scores) == sorted(scores, reverse=True)
    assert np.allclose(index.scores("cats in the sun")[rows], scores)
    assert index.scores("cats in the sun").shape == (len(SPARSE_TEXTS),)
    assert np.array_equal(index.term_scores(index.tokenize(["cats in the sun"])[0]), index.scores("cats in the sun"))
    assert not index.term_scores(["zzzunknownterm"]).any()
    rows, _ = index.search("cats in the sun", 5, allowed_rows=np.array([1, 2, 3]))
    assert set(rows.tolist()) <= {1, 2, 3} and 2 in rows.tolist()
    assert len(index.search("cats", 5, allowed_rows=np.array([], dtype=np.int64))[0]) == 0
    assert len(index.search("zyzzyva", 5)[0]) == 0
    index.save(tmp_path)
    loaded = store.load(tmp_path)
    assert loaded.size == index.size and loaded.settings() == index.settings()
    for query in ("cats in the sun", "dog mailman", "markets", "zyzzyva"):
        assert np.array_equal(loaded.scores(query), index.scores(query))
        assert all(np.array_equal(a, b) for a, b in zip(loaded.search(query, 3), index.search(query, 3)))
    empty = store()
    empty.build([])
    assert empty.size == 0 and len(empty.search("cats", 3)[0]) == 0 and empty.scores("cats").shape == (0,)
    empty.save(tmp_path / "empty")
    assert store.load(tmp_path / "empty").size == 0


def test_unknown_backend_names_are_a_store_error(docs, tmp_path, fast_cfg):
    from ragkit.ingest.pipeline import ingest

    with pytest.raises(StoreError, match="unknown dense index backend 'nope'"):
        dense_store_class("nope")
    with pytest.raises(StoreError, match="unknown sparse index backend 'nope'.*registered: bm25s"):
        sparse_store_class("nope")
    ingest(docs, tmp_path / "idx", fast_cfg)
    generation = current_generation(tmp_path / "idx")
    manifest = read_manifest(generation)
    assert manifest["dense"]["backend"] == "faiss" and manifest["sparse"]["backend"] == "bm25s"
    checksum = write_manifest(generation, {**manifest, "sparse": {**manifest["sparse"], "backend": "nope"}})
    (tmp_path / "idx" / "CURRENT").write_text(f"{generation.name} {checksum}\n")  # CURRENT pins the manifest
    with pytest.raises(StoreError, match="unknown sparse index backend 'nope'"):
        open_index(tmp_path / "idx")


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
