"""dense.backend: pinecone against the local stand-in (tests/pinecone_server.py): the real pinecone SDK
and langchain-pinecone run end to end over 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json

import pytest
from pinecone_server import TEST_KEY, serving

from ragkit.config import config_from_dict
from ragkit.errors import RemoteIndexError
from ragkit.ingest.pipeline import ingest
from ragkit.retrieval.search import Searcher
from ragkit.store.backends.pinecone.sync import JOURNAL_FILE
from ragkit.store.info import index_info

from conftest import SAMPLE_DOCS, write_docs

KEY = TEST_KEY
BASE = {"embedder": {"kind": "hash"}, "splitter": {"chunk_size": 300, "chunk_overlap": 30}}


@pytest.fixture
def standin(monkeypatch):
    """A stand-in with one 256-d cosine index (the hash embedder's dimension); the key in the environment."""
    with serving(monkeypatch, sparse=False) as server:
        yield server


def pinecone_cfg(server, **pinecone):
    """The fast config with vectors in the stand-in's index."""
    settings = {"host": server.indexes["dense"].host, "namespace": "ns", "backoff_s": 0.01, **pinecone}
    return config_from_dict({**BASE, "dense": {"backend": "pinecone"}, "pinecone": settings})


def ranked(searcher, query, **kwargs):
    """(count, chunk ids, scores to 1e-5) of a search, ties ordered by id; the results tied with the last one are
    left out (which of several chunks tied at the cut-off make the top k is up to each engine), their count kept."""
    found = sorted(((round(r.score, 5), r.chunk_id, r.score) for r in searcher.search(query, **kwargs)),
                   key=lambda p: (-p[0], p[1]))
    cut = [p for p in found if p[0] != found[-1][0]] if found else []
    return Ranking(len(found), [cid for _, cid, _ in cut], [score for _, _, score in cut])


@dataclasses.dataclass
class Ranking:
    """A ranking as :func:`ranked` gives it; equal when count and ids match and scores agree to 1e-5."""

    count: int
    ids: list
    scores: list

    def __eq__(self, other):
        return (self.count, self.ids) == (other.count, other.ids) and self.scores == pytest.approx(other.scores, abs=1e-5)


QUERIES = ["chunk size", "hybrid retrieval with BM25", "how are answers cited", "evaluation metrics",
           "PDF pages", "reciprocal rank fusion"]


def untied(searcher, query, depth):
    """Whether the top ``depth`` dense scores are all distinct (fusion by rank is then defined by the scores alone)."""
    scores = [round(r.score, 6) for r in searcher.search(query, mode="dense", k=depth)]
    return len(set(scores)) == len(scores)


def test_dense_and_hybrid_rankings_equal_faiss_flat_and_filters_pass_through(standin, tmp_path):
    ingest(SAMPLE_DOCS, tmp_path / "remote", pinecone_cfg(standin))
    ingest(SAMPLE_DOCS, tmp_path / "local", config_from_dict(BASE))
    shallow = {"search": {"candidates": 12}}
    remote = Searcher(tmp_path / "remote", config_from_dict({**BASE, **shallow, "dense": {"backend": "pinecone"}}))
    local = Searcher(tmp_path / "local", config_from_dict({**BASE, **shallow}))
    fused = 0
    for query in QUERIES:
        assert ranked(remote, query, mode="dense", k=8) == ranked(local, query, mode="dense", k=8)
        if untied(local, query, 12):  # the hash embedder scores many chunks exactly 0: ties no engine orders alike
            fused += 1
            assert ranked(remote, query, mode="hybrid", k=8) == ranked(local, query, mode="hybrid", k=8)
        flt = {"source": "ragkit-guide.txt"}
        assert ranked(remote, query, mode="dense", k=5, filters=flt) == ranked(local, query, mode="dense", k=5, filters=flt)
    sent = [e["body"].get("filter") for e in standin.log if e["route"] == "/query"]
    assert {"source": {"$in": ["ragkit-guide.txt"]}} in sent and fused >= 3
    remote.close(), local.close()


def test_incremental_ingest_deletes_changed_and_removed_files_chunks(standin, tmp_path):
    folder = write_docs(tmp_path / "docs", {"a.txt": "Alpha text about cats. " * 20, "b.txt": "Beta text about dogs. " * 20,
                                            "c.txt": "Gamma text about birds. " * 20})
    cfg = pinecone_cfg(standin)
    ingest(folder, tmp_path / "idx", cfg)
    (folder / "a.txt").write_text("Alpha changed: now about fish. " * 20)
    (folder / "c.txt").unlink()
    ingest(folder, tmp_path / "idx", cfg)
    searcher = Searcher(tmp_path / "idx", cfg)
    known = {c.chunk_id for c in searcher.index.docstore.iter_chunks()}
    searcher.close()
    assert set(standin.records("dense", "ns")) == known
    assert not (tmp_path / "idx" / JOURNAL_FILE).exists()
    info = index_info(tmp_path / "idx")
    assert info["dense"]["backend"] == "pinecone" and info["dense"]["records"] == len(known)
    assert info["dense"]["pinecone"]["namespace"] == "ns" and KEY not in json.dumps(info)


def test_search_never_returns_a_chunk_the_docstore_does_not_know(standin, tmp_path):
    cfg = pinecone_cfg(standin)
    ingest(SAMPLE_DOCS, tmp_path / "idx", cfg)
    stray = next(iter(standin.records("dense", "ns").values()))
    for n in range(30):  # records the live generation does not know, scoring as high as a real one
        standin.indexes["dense"].namespaces["ns"][f"stray-{n}"] = dataclasses.replace(stray)
    searcher = Searcher(tmp_path / "idx", cfg)
    known = {c.chunk_id for c in searcher.index.docstore.iter_chunks()}
    found = searcher.search("chunk size", mode="dense", k=10)
    searcher.close()
    assert len(found) == 10 and {r.chunk_id for r in found} <= known


def test_429_is_backed_off_and_records_wait_until_visible(standin, tmp_path):
    standin.visibility_lag = 5
    standin.inject("/vectors/upsert", count=3, status=429)
    report = ingest(SAMPLE_DOCS, tmp_path / "idx", pinecone_cfg(standin))
    upserts = [e for e in standin.log if e["route"] == "/vectors/upsert"]
    assert len(upserts) >= 4 and len(standin.records("dense", "ns")) == report.chunks_total
    assert all(len(e["body"]["vectors"]) <= 200 and e["bytes"] <= 2_000_000 for e in upserts)


def test_a_429_storm_is_a_one_line_error_and_the_rerun_converges(standin, tmp_path):
    cfg = pinecone_cfg(standin, retries=2, batch_records=20)
    standin.inject("/vectors/upsert", count=2)   # two batches get through, then 429s only
    standin.inject("/vectors/upsert", count=100, status=429)
    with pytest.raises(RemoteIndexError, match="429") as caught:
        ingest(SAMPLE_DOCS, tmp_path / "idx", cfg)
    assert KEY not in str(caught.value) and (tmp_path / "idx" / JOURNAL_FILE).exists()
    standin.faults.clear()
    report = ingest(SAMPLE_DOCS, tmp_path / "idx", cfg)
    searcher = Searcher(tmp_path / "idx", cfg)
    known = {c.chunk_id for c in searcher.index.docstore.iter_chunks()}
    searcher.close()
    assert set(standin.records("dense", "ns")) == known and len(known) == report.chunks_total


def test_a_dropped_connection_mid_ingest_then_rerun_leaves_no_orphans(standin, tmp_path):
    folder = write_docs(tmp_path / "docs", {f"f{n}.txt": f"Document {n} about topic {n % 4}. " * 30 for n in range(12)})
    cfg = pinecone_cfg(standin, batch_records=5)
    ingest(folder, tmp_path / "idx", cfg)
    for n in range(6):
        (folder / f"f{n}.txt").write_text(f"Rewritten document {n}, a new text. " * 30)
    standin.inject("/vectors/upsert", count=1)                  # one batch through
    standin.inject("/vectors/upsert", count=50, drop=True)      # then the connection drops, past the SDK's retries
    with pytest.raises(RemoteIndexError, match="upserting"):
        ingest(folder, tmp_path / "idx", cfg)
    assert len(standin.records("dense", "ns")) > 0
    standin.faults.clear()
    ingest(folder, tmp_path / "idx", cfg)
    searcher = Searcher(tmp_path / "idx", cfg)
    known = {c.chunk_id for c in searcher.index.docstore.iter_chunks()}
    searcher.close()
    assert set(standin.records("dense", "ns")) == known


@pytest.mark.parametrize("key, match", [(None, "set PINECONE_API_KEY"), ("wrong-key", "refused the API key")])
def test_missing_or_wrong_key_is_a_clear_error_without_the_key(standin, tmp_path, monkeypatch, key, match):
    if key is None:
        monkeypatch.delenv("PINECONE_API_KEY")
    else:
        monkeypatch.setenv("PINECONE_API_KEY", key)
    with pytest.raises(RemoteIndexError, match=match) as caught:
        ingest(SAMPLE_DOCS, tmp_path / "idx", pinecone_cfg(standin))
    assert KEY not in str(caught.value) and "wrong-key" not in str(caught.value)


def test_index_by_name_unknown_index_and_dimension_or_metric_mismatch(standin, tmp_path):
    standin.create_index("small", 8)
    standin.create_index("dot", 256, metric="dotproduct")
    cfg = pinecone_cfg(standin, host=None, index_name="dense")
    assert ingest(SAMPLE_DOCS, tmp_path / "byname", cfg).chunks_total > 0
    with pytest.raises(RemoteIndexError, match="no such index"):
        ingest(SAMPLE_DOCS, tmp_path / "x", pinecone_cfg(standin, host=None, index_name="nope"))
    with pytest.raises(RemoteIndexError, match="dimension 8.*256-d"):
        ingest(SAMPLE_DOCS, tmp_path / "y", pinecone_cfg(standin, host=standin.indexes["small"].host))
    with pytest.raises(RemoteIndexError, match="metric 'dotproduct'"):
        ingest(SAMPLE_DOCS, tmp_path / "z", pinecone_cfg(standin, host=standin.indexes["dot"].host))


def test_a_namespace_holding_another_index_is_refused_unless_adopted(standin, tmp_path):
    ingest(SAMPLE_DOCS, tmp_path / "first", pinecone_cfg(standin))
    folder = write_docs(tmp_path / "docs", {"only.txt": "A single small file about otters. " * 10})
    with pytest.raises(RemoteIndexError, match="did not write.*adopt"):
        ingest(folder, tmp_path / "second", pinecone_cfg(standin))
    ingest(folder, tmp_path / "second", pinecone_cfg(standin, adopt=True))
    searcher = Searcher(tmp_path / "second", pinecone_cfg(standin))
    known = {c.chunk_id for c in searcher.index.docstore.iter_chunks()}
    searcher.close()
    assert set(standin.records("dense", "ns")) == known


def test_metadata_over_40kb_keeps_its_text_in_the_docstore(standin, tmp_path):
    folder = write_docs(tmp_path / "docs", {"big.txt": "word " * 9_000})
    cfg = config_from_dict({**BASE, "splitter": {"chunk_size": 50_000, "chunk_overlap": 0, "parent_size": 0},
                            "dense": {"backend": "pinecone"},
                            "pinecone": {"host": standin.indexes["dense"].host, "namespace": "ns"}})
    ingest(folder, tmp_path / "idx", cfg)
    (record,) = standin.records("dense", "ns").values()
    assert record.metadata["text"] == "" and record.metadata["text_in_docstore"] is True
    searcher = Searcher(tmp_path / "idx", cfg)
    (hit,) = searcher.search("word", mode="dense", k=1)
    searcher.close()
    assert hit.text.count("word") == 9_000


def test_contract_routes_headers_and_body_keys(standin, tmp_path):
    cfg = pinecone_cfg(standin)
    ingest(SAMPLE_DOCS, tmp_path / "idx", cfg)
    searcher = Searcher(tmp_path / "idx", cfg)
    searcher.search("chunk size", mode="dense", k=3, filters={"source": "ragkit-guide.txt"})
    searcher.close()
    for entry in standin.log:
        assert entry["headers"]["api-key"] == KEY and entry["headers"]["x-pinecone-api-version"] == "2025-04"
    keys = {f"{e['method']} {e['route']}": e["body_keys"] for e in standin.log}
    assert keys["POST /vectors/upsert"] == ["namespace", "vectors"]
    assert keys["POST /query"] == ["filter", "includeMetadata", "namespace", "topK", "vector"]
    assert set(keys) == {"POST /describe_index_stats", "POST /vectors/upsert", "GET /vectors/fetch", "POST /query"}
    record = next(e for e in standin.log if e["route"] == "/vectors/upsert")["body"]["vectors"][0]
    assert sorted(record) == ["id", "metadata", "values"]
    assert {"chunk_id", "source", "doc_id", "text", "ragkit_owner"} <= set(record["metadata"])


def test_switching_from_faiss_to_pinecone_carries_the_vectors_without_a_rebuild(standin, tmp_path):
    ingest(SAMPLE_DOCS, tmp_path / "idx", config_from_dict(BASE))
    report = ingest(SAMPLE_DOCS, tmp_path / "idx", pinecone_cfg(standin))   # no file changed, only the backend
    searcher = Searcher(tmp_path / "idx", pinecone_cfg(standin))
    known = {c.chunk_id for c in searcher.index.docstore.iter_chunks()}
    assert searcher.index.manifest["dense"]["backend"] == "pinecone" and report.chunks_embedded == 0
    assert set(standin.records("dense", "ns")) == known and searcher.search("chunk size", mode="dense", k=3)
    searcher.close()


def test_each_query_of_a_batch_keeps_its_own_results(standin, tmp_path, monkeypatch):
    """A query whose matches are mostly records the generation does not know finds fewer than k; the other
    queries of its batch still get their k (before, every query was cut to the shortest list)."""
    import numpy as np

    from ragkit.store.backends.pinecone import dense as pinecone_dense

    cfg = pinecone_cfg(standin)
    ingest(SAMPLE_DOCS, tmp_path / "idx", cfg)
    records = standin.records("dense", "ns")
    crowded_id, crowded = next(iter(records.items()))
    namespace = standin.indexes["dense"].namespaces["ns"]
    for n in range(30):  # unknown records as close to the crowded query as its own record
        namespace[f"stray-{n}"] = dataclasses.replace(crowded)
    # Pinecone's 10,000-deep search limit, made small: the crowded query stops at 20 matches, 19 of them unknown.
    monkeypatch.setattr(pinecone_dense, "MAX_IN_VALUES", 20)
    searcher = Searcher(tmp_path / "idx", cfg)
    others = sorted((r.values for i, r in records.items() if i != crowded_id), key=lambda v: float(np.dot(v, crowded.values)))
    queries = np.array([crowded.values] + others[:2], dtype=np.float32)   # the two least like the crowded one
    dense = searcher.index.dense
    alone = [dense.search(q[None, :], 5) for q in queries]
    rows, scores = dense.search(queries, 5)
    searcher.close()
    assert len(alone[0][0][0]) < 5 and all(len(a[0][0]) == 5 for a in alone[1:])
    for n, (alone_rows, alone_scores) in enumerate(alone):
        found = rows[n] >= 0
        assert rows[n][found].tolist() == alone_rows[0].tolist()
        assert scores[n][found] == pytest.approx(alone_scores[0])
        assert np.all(np.isneginf(scores[n][~found]))
