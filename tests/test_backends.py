"""One contract test per backend interface, run over every registered backend: dense and sparse indexes, the docstore (embedders: test_embedders.py; chat models: test_llm.py)."""

import contextlib
from pathlib import Path

import numpy as np
import pytest
from langchain_core.documents import Document
from pinecone_server import serving

from ragkit.config import Config, config_from_dict
from ragkit.errors import StoreError
from ragkit.store import docstore
from ragkit.store.base import DenseStore, SparseStore
from ragkit.store.docstore import DocStore
from ragkit.store.generations import current_generation
from ragkit.store.index import open_index
from ragkit.store.manifest import read_manifest, write_manifest
from ragkit.store.registry import DENSE_STORES, SPARSE_STORES, dense_store_class, sparse_store_class

# Every registered backend with its defaults (the test suite's in-memory one and Pinecone's stand-in included),
# and the faiss backend's other index kinds (ragkit.store.backends.faiss.ann); 100 vectors in 2 IVF lists are
# enough to train them (39 a list), so ivf is IVF here, not its flat fallback.
DENSE_VARIANTS = [(name, {}) for name in sorted(DENSE_STORES)] + [
    ("faiss", {"kind": "flat"}), ("faiss", {"kind": "hnsw", "hnsw_m": 8}),
    ("faiss", {"kind": "ivf", "ivf_lists": 2, "ivf_probe": 1}), ("faiss", {"kind": "auto", "auto_flat_below": 50})]


@pytest.fixture
def store_config(monkeypatch):
    """``store_config(name)``: the config a backend reads its options from. Defaults, but for ``pinecone``:
    the loopback stand-in (tests/pinecone_server.py) with a 64-d dense and a sparse index."""
    with contextlib.ExitStack() as stack:
        def config_for(name: str) -> Config:
            if name != "pinecone":
                return Config()
            server = stack.enter_context(serving(monkeypatch, sparse=True, dimension=64))
            return config_from_dict({"pinecone": {"host": server.indexes["dense"].host, "namespace": "contract",
                                                  "sparse_host": server.indexes["sparse"].host, "backoff_s": 0.01}})
        yield config_for


def generation_with_docstore(index_dir: Path, texts: list[str]) -> Path:
    """A generation directory whose docstore holds ``texts`` (row i: chunk c000i of file f{i // 10}.txt), as the
    writer makes one before any index is saved (a remote store keys its records by the chunk ids)."""
    generation = index_dir / f"gen-{len(list(index_dir.glob('gen-*'))):06d}"
    generation.mkdir(parents=True)
    store = DocStore(generation / docstore.FILE_NAME, readonly=False)
    store.add((row, Document(page_content=text, metadata={"chunk_id": f"c{row:05d}", "doc_id": f"d{row}",
                                                          "source": f"f{row // 10}.txt"}))
              for row, text in enumerate(texts))
    store.commit()
    store.close()
    return generation


@pytest.mark.parametrize("name, settings", DENSE_VARIANTS, ids=[f"{n}-{s.get('kind', 'default')}" for n, s in DENSE_VARIANTS])
def test_vector_index_contract(name, settings, tmp_path, store_config):
    store = DENSE_STORES[name]
    assert issubclass(store, DenseStore) and store.file_name
    vectors = np.random.default_rng(7).standard_normal((100, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)  # ragkit's vectors are unit length
    index_dir = tmp_path / "idx"
    index_dir.mkdir()   # ingest holds its writer lock there first
    options = store.prepare_ingest(index_dir, store.config_options(store_config(name)), 64)   # as ingest does
    index = store.create(64, settings, options)
    index.prepare(100, lambda picks: vectors[picks])
    index.add(vectors[:10])
    index.add(vectors[10:])
    assert index.size == 100 and index.dimension == 64
    generation = generation_with_docstore(index_dir, [f"text {n}" for n in range(100)])
    index.save(generation)
    assert isinstance(index.where(), dict) and (index.describe() is None or isinstance(index.describe(), dict))
    for loaded in (store.load(generation), store.load_mapped(generation)):
        assert loaded.size == 100 and loaded.dimension == 64
        rows, scores = loaded.search(vectors[7], 3)
        assert rows[0][0] == 7 and scores[0][0] == pytest.approx(1.0, abs=1e-5)
        assert list(scores[0]) == sorted(scores[0], reverse=True)
        rows, _ = loaded.search(vectors[7], 5, allowed_rows=np.array([1, 2, 3]))
        assert set(rows[0].tolist()) == {1, 2, 3}
        assert loaded.search(vectors[7], 5, allowed_rows=np.array([], dtype=np.int64))[0].shape[1] == 0
        assert np.allclose(loaded.vectors(np.array([4, 15])), vectors[[4, 15]])
        assert np.allclose(loaded.vectors(), vectors)
        assert loaded.search(vectors[3], 1)[0][0][0] == 3
        batch = loaded.search(vectors[:4], 3)[0]
        assert [batch[n].tolist() for n in range(4)] == [loaded.search(vectors[n], 3)[0][0].tolist() for n in range(4)]
        assert isinstance(loaded.stats(), dict)
        if not store.remote:  # a local store searches before it is saved, as after
            assert np.array_equal(batch, index.search(vectors[:4], 3)[0])
    carried = store.create(64, settings, options)
    carried.carry(store.load(generation), np.array([5, 6, 7]))
    carried.add(vectors[:1])
    assert carried.size == 4
    empty = store.create(64, settings, options)
    assert empty.search(vectors[0], 3)[0].shape == (1, 0)
    assert empty.vectors().shape == (0, 64)


SPARSE_TEXTS = ["Cats purr and sleep in the sun.", "Dogs bark at the mailman.",
                "A cat and a dog can be friends.", "Stock markets fell sharply today.",
                "The sun is a star; cats like its warmth."]


@pytest.mark.parametrize("name", sorted(SPARSE_STORES))
def test_sparse_store_contract(name, tmp_path, store_config):
    store = SPARSE_STORES[name]
    assert issubclass(store, SparseStore) and store.file_name
    index_dir = tmp_path / "idx"
    index_dir.mkdir()   # ingest holds its writer lock there first
    options = store.prepare_ingest(index_dir, store.config_options(store_config(name)))   # as ingest does
    index = store.create({}, options)
    assert store.create(index.settings(), options).settings() == index.settings()  # settings rebuild an equal index
    index.carry(tmp_path / "no-such-generation", np.zeros(0, dtype=np.int64))   # nothing carried from it
    index.build(SPARSE_TEXTS)
    assert index.size == len(SPARSE_TEXTS)
    generation = generation_with_docstore(index_dir, SPARSE_TEXTS)
    index.save(generation)
    loaded = store.load(generation)
    assert loaded.size == index.size and loaded.settings() == index.settings() and isinstance(loaded.stats(), dict)
    rows, scores = loaded.search("cats in the sun", 3)
    assert rows.dtype == np.int64 and len(rows) == len(scores) <= 3
    assert rows[0] in (0, 4) and all(scores > 0) and list(scores) == sorted(scores, reverse=True)
    assert np.allclose(loaded.scores("cats in the sun")[rows], scores)
    assert loaded.scores("cats in the sun").shape == (len(SPARSE_TEXTS),)
    assert np.array_equal(loaded.term_scores(loaded.tokenize(["cats in the sun"])[0]), loaded.scores("cats in the sun"))
    assert not loaded.term_scores(["zzzunknownterm"]).any()
    rows, _ = loaded.search("cats in the sun", 5, allowed_rows=np.array([1, 2, 3]))
    assert set(rows.tolist()) <= {1, 2, 3} and 2 in rows.tolist()
    assert len(loaded.search("cats", 5, allowed_rows=np.array([], dtype=np.int64))[0]) == 0
    assert len(loaded.search("zyzzyva", 5)[0]) == 0
    if not store.remote:  # a local store searches before it is saved, as after
        for query in ("cats in the sun", "dog mailman", "markets", "zyzzyva"):
            assert np.array_equal(loaded.scores(query), index.scores(query))
            assert all(np.array_equal(a, b) for a, b in zip(loaded.search(query, 3), index.search(query, 3)))
    empty = store.create({}, options)
    empty.build([])
    assert empty.size == 0 and len(empty.search("cats", 3)[0]) == 0 and empty.scores("cats").shape == (0,)
    empty_generation = generation_with_docstore(index_dir, [])
    empty.save(empty_generation)
    assert store.load(empty_generation).size == 0


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
