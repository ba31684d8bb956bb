"""Approximate dense indexes (ragkit.store.backends.faiss.ann): recall against exact search, filters, the IVF
fallback, and incremental ingest (additions, removals, a change of index kind) with each kind."""

from dataclasses import replace

import numpy as np
import pytest

from ragkit.cli.render import dense_line
from ragkit.config import config_from_dict
from ragkit.ingest.pipeline import dense_settings, ingest
from ragkit.retrieval.search import Searcher
from ragkit.store.backends.faiss.ann import MAX_EF_SEARCH, FaissDenseIndex, hnsw_ef_search_for, ivf_probe_for
from ragkit.store.generations import current_generation
from ragkit.store.index import open_index
from ragkit.store.info import index_info
from ragkit.store.manifest import read_manifest

from conftest import write_docs


def clustered(n: int, d: int = 32, centres: int = 40, seed: int = 0) -> np.ndarray:
    """Unit vectors around a few centres: neighbours that matter, as real embeddings have."""
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((centres, d))
    vectors = means[rng.integers(0, centres, n)] + 0.4 * rng.standard_normal((n, d))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def recall_at(k: int, found: np.ndarray, exact: np.ndarray) -> float:
    """The share of the exact top-k that the approximate search found."""
    return float(np.mean([len(set(f[:k]) & set(e[:k])) / k for f, e in zip(found, exact)]))


@pytest.fixture(scope="module")
def data():
    vectors = clustered(6000)
    queries = clustered(200, seed=1)
    flat = FaissDenseIndex(32)
    flat.add(vectors)
    return vectors, queries, flat


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_kinds_keep_recall_of_exact_search(kind, data, tmp_path):
    vectors, queries, flat = data
    # 6,000 vectors train 40 lists, not the 310 of 4 x sqrt(n); HNSW at the default efSearch (128)
    index = FaissDenseIndex(32, kind=kind, ivf_lists=40)
    index.add(vectors[:2500])
    index.add(vectors[2500:])
    index.save(tmp_path)
    loaded = FaissDenseIndex.load(tmp_path)
    assert loaded.structure == kind and index.describe()["built"] == kind
    exact = flat.search(queries, 10)[0]
    assert recall_at(10, loaded.search(queries, 10)[0], exact) >= 0.95
    assert recall_at(10, loaded.search(queries[:1], 10)[0], exact[:1]) >= 0.9   # the single-query path too
    assert np.allclose(loaded.vectors(np.array([5, 5000])), vectors[[5, 5000]])


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_filters_are_honoured_exactly_when_narrow_and_by_selector_when_wide(kind, data):
    vectors, queries, flat = data
    index = FaissDenseIndex(32, kind=kind, ivf_lists=40)
    index.add(vectors)
    narrow = np.arange(0, 6000, 400)                    # 15 rows: searched exactly
    rows, scores = index.search(queries[:5], 10, allowed_rows=narrow)
    exact_rows, exact_scores = flat.search(queries[:5], 10, allowed_rows=narrow)
    assert np.array_equal(rows, exact_rows) and np.allclose(scores, exact_scores, atol=1e-5)
    wide = np.arange(0, 6000, 2)                        # half the rows: an IDSelector in the approximate search
    rows, _ = index.search(queries, 10, allowed_rows=wide)
    assert set(rows.ravel().tolist()) <= set(wide.tolist())
    assert recall_at(10, rows, flat.search(queries, 10, allowed_rows=wide)[0]) >= 0.95


def test_ivf_with_too_few_vectors_to_train_is_flat_and_says_so(tmp_path):
    index = FaissDenseIndex(32, kind="ivf", ivf_lists=64)
    index.add(clustered(500))
    described = index.describe()
    assert described["built"] == "flat" and "too few to train 64 lists" in described["note"]
    index.save(tmp_path)
    assert FaissDenseIndex.load(tmp_path).structure == "flat"


def test_auto_is_flat_below_its_threshold_and_ivf_above():
    small, large = (FaissDenseIndex(32, kind="auto", auto_flat_below=1000, ivf_lists=2) for _ in range(2))
    small.add(clustered(999))
    large.add(clustered(1000))
    assert small.structure == "flat" and large.structure == "ivf"


def test_search_width_doubles_for_every_tenfold_more_vectors_unless_set():
    # the widths that kept recall@10 >= 0.95 at 10k, 100k and 1M chunks (BENCHMARKS.md "Scale")
    assert [hnsw_ef_search_for(n) for n in (10_000, 100_000, 1_000_000)] == [256, 512, 1024]
    assert [ivf_probe_for(n, 10_000) for n in (100_000, 1_000_000)] == [128, 256]
    assert hnsw_ef_search_for(1_000_000, 64) == 64 and ivf_probe_for(1_000_000, 4000, 16) == 16
    assert ivf_probe_for(1_000_000, 100) == 100                     # never more cells than there are
    assert hnsw_ef_search_for(10**9) == MAX_EF_SEARCH and hnsw_ef_search_for(10) == 32 and hnsw_ef_search_for(0) == 16


def test_a_built_index_searches_as_wide_as_its_size_calls_for(tmp_path):
    by_size, fixed = FaissDenseIndex(32, kind="hnsw"), FaissDenseIndex(32, kind="hnsw", hnsw_ef_search=40)
    ivf = FaissDenseIndex(32, kind="ivf", ivf_lists=64)
    for index in (by_size, fixed, ivf):
        index.add(clustered(3000))
    assert by_size.describe()["ef_search"] == hnsw_ef_search_for(3000) != 40
    assert fixed.describe()["ef_search"] == 40
    assert ivf.describe()["probe"] == ivf_probe_for(3000, 64) < 64
    ivf.save(tmp_path)
    assert FaissDenseIndex.load(tmp_path).describe()["probe"] == ivf_probe_for(3000, 64)   # the file keeps it


def dense_cfg(cfg, **dense):
    return replace(cfg, dense=replace(cfg.dense, **dense))


def test_ingest_with_ivf_on_a_tiny_folder_reports_the_fallback(docs, tmp_path, fast_cfg):
    report = ingest(docs, tmp_path / "idx", dense_cfg(fast_cfg, index="ivf"))
    assert any("dense.index ivf" in note and "flat" in note for note in report.notes)
    info = index_info(tmp_path / "idx")
    assert read_manifest(current_generation(tmp_path / "idx"))["dense"]["index"]["built"] == "flat"
    assert info["chunks"] == report.chunks_total
    assert dense_line(info["dense"]).startswith("faiss flat; dense.index ivf: ")   # what `ragkit info` shows


def test_incremental_ingest_with_hnsw_adds_and_removes(docs, tmp_path, fast_cfg):
    cfg = dense_cfg(fast_cfg, index="hnsw", hnsw_m=8)
    ingest(docs, tmp_path / "idx", cfg)
    write_docs(docs, {"birds.txt": "Parrots mimic speech. Owls hunt at night with silent wings."})
    (docs / "cats.txt").unlink()
    report = ingest(docs, tmp_path / "idx", cfg)
    assert report.added == ["birds.txt"] and report.removed == ["cats.txt"]
    loaded = open_index(tmp_path / "idx")
    assert loaded.manifest["dense"]["index"]["built"] == "hnsw" and loaded.dense.size == loaded.docstore.count()
    loaded.close()
    searcher = Searcher(tmp_path / "idx", cfg)
    sources = {hit.source for hit in searcher.search("owls hunting at night", mode="dense", k=20)}
    assert "birds.txt" in sources and "cats.txt" not in sources
    searcher.close()


def test_a_new_index_kind_restructures_without_embedding_again(docs, tmp_path, fast_cfg):
    ingest(docs, tmp_path / "idx", fast_cfg)
    before = open_index(tmp_path / "idx")
    vectors = before.dense.vectors()
    before.close()
    report = ingest(docs, tmp_path / "idx", dense_cfg(fast_cfg, index="hnsw"))
    assert report.chunks_embedded == 0 and report.counts()["unchanged"] == 4
    after = open_index(tmp_path / "idx")
    assert after.manifest["dense"]["index"]["built"] == "hnsw" and np.array_equal(after.dense.vectors(), vectors)
    after.close()
    again = ingest(docs, tmp_path / "idx", dense_cfg(fast_cfg, index="hnsw"))
    assert again.generation == report.generation   # the same settings: nothing to write


def test_the_faiss_index_settings_go_to_faiss_only():
    assert dense_settings(config_from_dict({"dense": {"index": "hnsw"}}))["kind"] == "hnsw"
    assert "backend" not in dense_settings(config_from_dict({"dense": {"index": "hnsw"}}))
    # A Pinecone store is built with its options alone: no index kind, no HNSW parameters.
    assert dense_settings(config_from_dict({"dense": {"backend": "pinecone", "index": "hnsw"}})) == {}


def test_the_dense_info_row_says_where_the_vectors_are_or_how_faiss_indexes_them():
    remote = {"backend": "pinecone", "metric": "inner_product", "records": 12,
              "pinecone": {"host": "http://127.0.0.1:1", "namespace": "ns", "metric": "cosine"}}
    assert dense_line(remote) == "pinecone (host=http://127.0.0.1:1, namespace=ns, metric=cosine, records=12)"
    local = {"backend": "faiss", "index": {"kind": "hnsw", "built": "hnsw", "m": 8, "ef_search": 128}}
    assert dense_line(local) == "faiss hnsw (m=8, ef_search=128)"
    assert dense_line({"backend": "faiss", "metric": "inner_product"}) == "faiss flat"   # written before dense.index


def three_cell_ivf() -> tuple[FaissDenseIndex, np.ndarray]:
    """An IVF index with hand-set cells on axes e0, e1, e2 (probe 1): 20 vectors near e0, 3 near e1, 3 near e2."""
    import faiss

    d = 4
    quantizer = faiss.IndexFlatIP(d)
    quantizer.add(np.eye(d, dtype=np.float32)[:3])
    ivf = faiss.IndexIVFFlat(quantizer, d, 3, faiss.METRIC_INNER_PRODUCT)
    ivf.is_trained = True
    rng = np.random.default_rng(0)
    vectors = np.concatenate([np.eye(d, dtype=np.float32)[axis] + 0.05 * rng.standard_normal((n, d)).astype(np.float32)
                              for axis, n in ((0, 20), (1, 3), (2, 3))])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ivf.add(vectors)
    ivf.make_direct_map()
    ivf.nprobe = 1
    return FaissDenseIndex(d, ivf, kind="ivf"), vectors


@pytest.mark.parametrize("filtered", [False, True], ids=["unfiltered", "filtered"])
def test_each_query_of_a_batch_keeps_its_own_results_on_an_approximate_index(filtered):
    """Before: columns with a gap in any query were dropped, so the query near the big cell got only
    as many results as the query whose probed cells were small (3, or 6 with the filter's wider probe)."""
    index, _ = three_cell_ivf()
    queries = np.array([[1, 0, 0, 0], [0, 1, 0.2, 0]], dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    allowed = np.arange(1, 26) if filtered else None   # all but row 0: a wide filter (selector, probe widened to 2)
    rows, scores = index.search(queries, 10, allowed)
    found = [r[r >= 0] for r in rows]
    assert len(found[0]) == 10 and set(found[0].tolist()) <= set(range(1 if filtered else 0, 20))
    near_e1 = set(range(20, 26)) if filtered else set(range(20, 23))  # the filter's probe of 2 reaches the e2 cell
    assert set(found[1].tolist()) == near_e1
    assert np.all(np.isneginf(scores[1][rows[1] < 0]))


def test_the_exact_index_also_keeps_each_querys_results_when_another_query_of_the_batch_finds_none():
    """The flat index shared the old column rule: a query that found nothing (a vector of NaN) emptied the batch."""
    from ragkit.store.backends.faiss.flat import FaissIndex

    vectors = np.random.default_rng(0).normal(size=(20, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = FaissIndex(8)
    index.add(vectors)
    rows, scores = index.search(np.stack([vectors[3], np.full(8, np.nan, dtype=np.float32)]), 5)
    assert rows.shape == (2, 5) and rows[0, 0] == 3 and np.all(rows[0] >= 0)
    assert np.all(rows[1] == -1) and np.all(np.isneginf(scores[1]))
