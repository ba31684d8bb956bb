"""sparse.backend: pinecone against the local stand-in (tests/pinecone_server.py): BM25 term weights in a
sparse dotproduct index, the real pinecone SDK end to end over 127.0.0.1."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pinecone_server import TEST_KEY, serving
from test_pinecone_dense import QUERIES, ranked, untied

from ragkit.config import config_from_dict
from ragkit.errors import RemoteIndexError, SettingError
from ragkit.ingest.pipeline import ingest
from ragkit.retrieval.search import Searcher
from ragkit.store.backends.pinecone.sync import FILES
from ragkit.store.info import index_info

from conftest import SAMPLE_DOCS, write_docs

KEY = TEST_KEY
BASE = {"embedder": {"kind": "hash"}, "splitter": {"chunk_size": 300, "chunk_overlap": 30}}
SPARSE_JOURNAL = FILES["sparse"][1]


@pytest.fixture
def standin(monkeypatch):
    """A stand-in with a 256-d cosine dense index and a sparse dotproduct index; the key in the environment."""
    with serving(monkeypatch, sparse=True) as server:
        yield server


def sparse_cfg(server, dense: bool = False, search: dict | None = None, **pinecone):
    """The fast config with BM25 in the stand-in's sparse index (and the vectors in its dense index when ``dense``)."""
    settings = {"host": server.indexes["dense"].host, "sparse_host": server.indexes["sparse"].host,
                "namespace": "ns", "backoff_s": 0.01, **pinecone}
    return config_from_dict({**BASE, "sparse": {"backend": "pinecone"}, "pinecone": settings,
                             **({"dense": {"backend": "pinecone"}} if dense else {}), **({"search": search} if search else {})})


def known_ids(index_dir, cfg) -> set[str]:
    """The chunk ids of the live generation's docstore."""
    searcher = Searcher(index_dir, cfg)
    known = {c.chunk_id for c in searcher.index.docstore.iter_chunks()}
    searcher.close()
    return known


def test_sparse_scores_equal_bm25s_and_hybrid_rankings_are_identical(standin, tmp_path):
    ingest(SAMPLE_DOCS, tmp_path / "remote", sparse_cfg(standin))
    ingest(SAMPLE_DOCS, tmp_path / "local", config_from_dict(BASE))
    remote, local = Searcher(tmp_path / "remote", sparse_cfg(standin)), Searcher(tmp_path / "local", config_from_dict(BASE))
    for query in [*QUERIES, "bm25 bm25 ranking", "no such wordzzz"]:
        mine, theirs = remote.index.sparse.scores(query), local.index.sparse.scores(query)
        assert mine.shape == theirs.shape and np.allclose(mine, theirs, rtol=1e-6, atol=1e-6)
        for mode in ("sparse", "hybrid"):
            assert ranked(remote, query, mode=mode, k=8) == ranked(local, query, mode=mode, k=8)
    remote.close(), local.close()


def test_dense_and_sparse_both_on_pinecone_give_the_local_hybrid_ranking(standin, tmp_path):
    shallow = {"candidates": 12}
    ingest(SAMPLE_DOCS, tmp_path / "remote", sparse_cfg(standin, dense=True))
    ingest(SAMPLE_DOCS, tmp_path / "local", config_from_dict(BASE))
    remote = Searcher(tmp_path / "remote", sparse_cfg(standin, dense=True, search=shallow))
    local = Searcher(tmp_path / "local", config_from_dict({**BASE, "search": shallow}))
    compared = [query for query in QUERIES if untied(local, query, 12)]   # dense ties at 0: no engine orders them alike
    for query in compared:
        assert ranked(remote, query, mode="hybrid", k=8) == ranked(local, query, mode="hybrid", k=8)
    remote.close(), local.close()
    assert len(compared) >= 3


def test_sparse_search_sends_the_filter_to_pinecone_and_ranks_as_bm25s(standin, tmp_path):
    chunk_alone = {"document_weight": 0.0}   # the sparse side's own top-k search, filter and all
    ingest(SAMPLE_DOCS, tmp_path / "remote", sparse_cfg(standin))
    ingest(SAMPLE_DOCS, tmp_path / "local", config_from_dict(BASE))
    remote = Searcher(tmp_path / "remote", sparse_cfg(standin, search=chunk_alone))
    local = Searcher(tmp_path / "local", config_from_dict({**BASE, "search": chunk_alone}))
    flt = {"source": "ragkit-guide.txt"}
    for query in QUERIES:
        assert ranked(remote, query, mode="sparse", k=5) == ranked(local, query, mode="sparse", k=5)
        assert ranked(remote, query, mode="sparse", k=5, filters=flt) == ranked(local, query, mode="sparse", k=5, filters=flt)
        assert ranked(remote, query, mode="hybrid", k=5, filters=flt) == ranked(local, query, mode="hybrid", k=5, filters=flt)
    remote.close(), local.close()
    sent = [e["body"] for e in standin.log if e["route"] == "/query" and "sparseVector" in e["body"]]
    assert {"source": {"$in": ["ragkit-guide.txt"]}} in [body.get("filter") for body in sent]


def test_incremental_ingest_upserts_new_chunks_only_keeps_term_indices_and_rebuild_reweights(standin, tmp_path):
    texts = {f"f{n}.txt": f"Document {n} about cats and topic {n % 3}. " * (10 + 5 * n) for n in range(6)}
    folder = write_docs(tmp_path / "docs", texts)
    cfg = sparse_cfg(standin)
    ingest(folder, tmp_path / "idx", cfg)
    before = dict(standin.records("sparse", "ns"))
    (folder / "f0.txt").write_text("A new text about dogs and longer words. " * 60)
    (folder / "f5.txt").unlink()
    standin.log.clear()
    report = ingest(folder, tmp_path / "idx", cfg)
    upserted = [v["id"] for e in standin.log if e["route"] == "/vectors/upsert" for v in e["body"]["vectors"]]
    known = known_ids(tmp_path / "idx", cfg)
    assert set(standin.records("sparse", "ns")) == known and len(upserted) == report.chunks_embedded
    kept = known & set(before)
    assert kept and all(standin.records("sparse", "ns")[i].sparse == before[i].sparse for i in kept)
    sparse = index_info(tmp_path / "idx")["sparse"]
    low, high = sparse["avgdl_written"]
    assert low < high and sparse["records"] == len(known) and sparse["pinecone"]["namespace"] == "ns"
    assert KEY not in json.dumps(sparse) and not (tmp_path / "idx" / SPARSE_JOURNAL).exists()
    ingest(folder, tmp_path / "idx", cfg, rebuild=True)
    ingest(folder, tmp_path / "local", config_from_dict(BASE))
    remote, local = Searcher(tmp_path / "idx", cfg), Searcher(tmp_path / "local", config_from_dict(BASE))
    for query in ["cats topic", "dogs longer words", "document 3"]:
        assert np.allclose(remote.index.sparse.scores(query), local.index.sparse.scores(query), rtol=1e-6, atol=1e-6)
    remote.close(), local.close()


def test_a_429_storm_on_sparse_upserts_is_one_line_and_the_rerun_converges(standin, tmp_path):
    cfg = sparse_cfg(standin, dense=True, retries=2, batch_records=20)
    standin.inject("/vectors/upsert", count=100, status=429)
    with pytest.raises(RemoteIndexError, match="429") as caught:
        ingest(SAMPLE_DOCS, tmp_path / "idx", cfg)
    assert KEY not in str(caught.value) and "\n" not in str(caught.value)
    standin.faults.clear()
    ingest(SAMPLE_DOCS, tmp_path / "idx", cfg)
    known = known_ids(tmp_path / "idx", cfg)
    assert set(standin.records("sparse", "ns")) == known == set(standin.records("dense", "ns"))


def test_sparse_on_a_dense_or_non_dotproduct_index_is_refused(standin, tmp_path):
    standin.create_index("dot-dense", 256, metric="dotproduct")
    for name in ("dense", "dot-dense"):
        with pytest.raises(RemoteIndexError, match="sparse queries run on dotproduct indexes only"):
            ingest(SAMPLE_DOCS, tmp_path / name, sparse_cfg(standin, sparse_host=standin.indexes[name].host))
    cfg = sparse_cfg(standin)
    ingest(SAMPLE_DOCS, tmp_path / "idx", cfg)
    standin.indexes["sparse"].metric = "cosine"     # the index behind a live generation changed
    searcher = Searcher(tmp_path / "idx", cfg)
    with pytest.raises(RemoteIndexError, match="HTTP 400.*not dotproduct") as caught:
        searcher.search("chunk size", mode="sparse")
    searcher.close()
    assert "\n" not in str(caught.value) and KEY not in str(caught.value)


def test_an_emptied_namespace_is_a_clear_error_on_search(standin, tmp_path):
    cfg = sparse_cfg(standin, dense=True)
    ingest(SAMPLE_DOCS, tmp_path / "idx", cfg)
    searcher = Searcher(tmp_path / "idx", cfg)
    for index, mode in (("sparse", "sparse"), ("dense", "dense")):
        standin.indexes[index].namespaces.pop("ns")
        with pytest.raises(RemoteIndexError, match="empty or gone; re-ingest with --rebuild"):
            searcher.search("chunk size", mode=mode)
    searcher.close()


def test_missing_sparse_index_or_another_bm25_method_is_refused(standin, tmp_path, monkeypatch):
    monkeypatch.delenv("PINECONE_SPARSE_HOST", raising=False)
    cfg = config_from_dict({**BASE, "sparse": {"backend": "pinecone"}, "pinecone": {"namespace": "ns"}})
    with pytest.raises(RemoteIndexError, match="PINECONE_SPARSE_HOST"):
        ingest(SAMPLE_DOCS, tmp_path / "a", cfg)
    monkeypatch.setenv("PINECONE_SPARSE_HOST", standin.indexes["sparse"].host)
    assert ingest(SAMPLE_DOCS, tmp_path / "b", cfg).chunks_total > 0
    with pytest.raises(SettingError, match="sparse.method: lucene"):
        ingest(SAMPLE_DOCS, tmp_path / "c", config_from_dict({**BASE, "sparse": {"backend": "pinecone", "method": "robertson"}}))
    by_name = sparse_cfg(standin, sparse_host=None, sparse_index_name="sparse", namespace="by-name")
    monkeypatch.delenv("PINECONE_SPARSE_HOST")
    assert ingest(SAMPLE_DOCS, tmp_path / "d", by_name).chunks_total > 0
    assert index_info(tmp_path / "d")["sparse"]["pinecone"]["host"] == standin.indexes["sparse"].host


def test_contract_sparse_routes_and_body_keys(standin, tmp_path):
    cfg = sparse_cfg(standin)
    ingest(SAMPLE_DOCS, tmp_path / "idx", cfg)
    searcher = Searcher(tmp_path / "idx", cfg)
    searcher.search("chunk size", mode="sparse", k=3)
    searcher.close()
    sparse_port = standin.indexes["sparse"].host.rsplit(":", 1)[1]
    assert all(e["headers"]["api-key"] == KEY and e["headers"]["host"].endswith(sparse_port) for e in standin.log)
    keys = {f"{e['method']} {e['route']}": e["body_keys"] for e in standin.log}
    assert keys["POST /query"] == ["includeMetadata", "includeValues", "namespace", "sparseVector", "topK"]
    assert set(keys) == {"POST /describe_index_stats", "POST /vectors/upsert", "GET /vectors/fetch", "POST /query"}
    record = next(e for e in standin.log if e["route"] == "/vectors/upsert")["body"]["vectors"][0]
    # The SDK sends an empty dense part for a sparse-only record (its own documented way to write a sparse index).
    assert sorted(record) == ["id", "metadata", "sparseValues", "values"] and record["values"] == []
    assert sorted(record["sparseValues"]) == ["indices", "values"]
    assert sorted(record["metadata"]) == ["chunk_id", "ragkit_owner", "source"]
