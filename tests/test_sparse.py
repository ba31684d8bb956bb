"""BM25: scores checked against rank-bm25 on the same tokens, persistence, filters."""

import math

import numpy as np
from rank_bm25 import BM25Okapi

from ragkit.store.backends.bm25s import BM25Index

CORPUS = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Foxes are small omnivorous mammals; a fox hunts rodents and birds.",
    "Banks lend money; the central bank sets interest rates for lending.",
    "Rivers flow into the sea, and river banks erode over time.",
    "Dogs and foxes belong to the family Canidae of carnivorous mammals.",
    "Interest in machine learning grew as computing became cheaper.",
    "A lazy afternoon by the sea with a book about mammals.",
    "Jumping spiders have excellent vision and hunt without webs.",
]
QUERIES = ["fox hunting rodents", "river bank erosion", "interest rates", "lazy mammals by the sea", "spider vision"]


def test_robertson_scores_equal_rank_bm25_on_same_tokens():
    index = BM25Index(method="robertson", k1=1.5, b=0.75)
    index.build(CORPUS)
    tokens = index.tokenize(CORPUS)
    # No term appears in more than half the documents, so rank-bm25's negative-idf floor never applies.
    oracle = BM25Okapi(tokens, k1=1.5, b=0.75)
    for query in QUERIES:
        query_tokens = index.tokenize([query])[0]
        # bm25s, like Lucene 8+, drops the constant (k1 + 1) factor of the numerator: same ranking.
        np.testing.assert_allclose(index.scores(query) * (1.5 + 1), oracle.get_scores(query_tokens), rtol=1e-5, atol=1e-6)


def test_lucene_scores_match_formula_on_rank_bm25_statistics():
    index = BM25Index(method="lucene", k1=1.2, b=0.75)
    index.build(CORPUS)
    tokens = index.tokenize(CORPUS)
    stats = BM25Okapi(tokens)  # used only for its term statistics: doc_freqs, doc_len, avgdl
    n = len(tokens)
    for query in QUERIES:
        expected = np.zeros(n)
        for term in index.tokenize([query])[0]:
            df = sum(1 for freqs in stats.doc_freqs if term in freqs)
            if df == 0:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            for d, freqs in enumerate(stats.doc_freqs):
                tf = freqs.get(term, 0)
                expected[d] += idf * tf / (tf + 1.2 * (1 - 0.75 + 0.75 * stats.doc_len[d] / stats.avgdl))
        np.testing.assert_allclose(index.scores(query), expected, rtol=1e-5, atol=1e-6)


def test_stemming_and_stopwords_make_forms_match():
    index = BM25Index()
    index.build(["Universities publish research.", "The cat is here."])
    rows, _ = index.search("university", 5)
    assert rows.tolist() == [0]
    # A stopword-only query matches nothing instead of everything.
    assert index.search("the is", 5)[0].tolist() == []


def test_save_load_roundtrip_keeps_scores(tmp_path):
    index = BM25Index()
    index.build(CORPUS)
    index.save(tmp_path)
    loaded = BM25Index.load(tmp_path)
    for query in QUERIES:
        np.testing.assert_array_equal(index.scores(query), loaded.scores(query))
    assert loaded.settings() == index.settings()
    assert not any(p.suffix in {".pkl", ".pickle"} for p in tmp_path.rglob("*"))


def test_allowed_rows_restrict_results_and_k():
    index = BM25Index()
    index.build(CORPUS)
    rows, scores = index.search("fox mammals", 10, allowed_rows=np.array([4, 6]))
    assert set(rows.tolist()) <= {4, 6} and len(rows) == 2
    assert list(scores) == sorted(scores, reverse=True)
    assert len(index.search("fox mammals", 1)[0]) == 1


def test_empty_index(tmp_path):
    index = BM25Index()
    index.build([])
    assert index.search("anything", 3)[0].tolist() == []
    index.save(tmp_path)
    assert BM25Index.load(tmp_path).search("anything", 3)[0].tolist() == []
