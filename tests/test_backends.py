"""One contract test per backend interface: the vector index, the docstore (embedders: test_embedders.py)."""

import numpy as np
import pytest
from langchain_core.documents import Document

from ragkit.store.dense import FaissIndex
from ragkit.store.docstore import DocStore
from ragkit.embedders.hashing import HashEmbeddings


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
