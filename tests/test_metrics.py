"""ragkit.evaluation.metrics: hand-computed fixtures, a ranx cross-check on random data, answer metrics."""

from __future__ import annotations

import math
import random
import warnings

import numpy as np
import pytest

from ragkit.errors import MetricError
from ragkit.evaluation.metrics import (
    RETRIEVAL_METRICS,
    answer_contains,
    citation_validity,
    dedupe_ranked,
    evaluate,
    exact_match,
    normalize_answer,
    page_hit_at_k,
    parse_metric,
    per_query,
    percentile,
    refusal_correct,
    source_hit_at_k,
    token_f1,
)

L3, L5 = math.log2(3), math.log2(5)

# q1 has graded relevance (a: 2, b: 1) and a judged non-relevant doc; q3 has no relevant doc
# (skipped); q4 is missing from the run (scores 0); "qx" is only in the run (ignored).
QRELS = {"q1": {"a": 2, "b": 1, "c": 0}, "q2": {"x": 1}, "q3": {"n": 0}, "q4": {"m": 1}}
RUN = {"q1": ["c", "a", "d", "b"], "q2": ["x"], "q3": ["n"], "qx": ["m"]}


# --- parse_metric ---------------------------------------------------------------------------

def test_parse_metric():
    assert parse_metric("ndcg@10") == ("ndcg", 10)
    assert parse_metric("map") == ("map", None)
    assert parse_metric(" Recall@100 ") == ("recall", 100)
    assert {parse_metric(m)[0] for m in RETRIEVAL_METRICS} == set(RETRIEVAL_METRICS)


@pytest.mark.parametrize("bad", ["ndcg@0", "ndcg@", "ndcg@x", "ndcg@-1", "ndcg@2.5"])
def test_parse_metric_rejects_bad_cutoffs(bad):
    with pytest.raises(MetricError, match="positive integer"):
        parse_metric(bad)


def test_parse_metric_lists_valid_names():
    with pytest.raises(MetricError) as err:
        parse_metric("hit_rate@10")
    assert all(name in str(err.value) for name in RETRIEVAL_METRICS)


# --- retrieval metrics by hand -----------------------------------------------------------------

def test_ndcg_graded_by_hand():
    # q1 ranks c(0), a(2), d(-), b(1); the ideal order is a(2), b(1).
    got = per_query(QRELS, RUN, "ndcg@3")
    assert got["q1"] == pytest.approx((2 / L3) / (2 + 1 / L3))
    assert got["q2"] == 1.0 and got["q4"] == 0.0 and set(got) == {"q1", "q2", "q4"}
    assert per_query(QRELS, RUN, "ndcg")["q1"] == pytest.approx((2 / L3 + 1 / L5) / (2 + 1 / L3))
    # The ideal DCG also stops at k: at k=1 only a's gain 2 is ideal.
    assert per_query({"q": {"a": 2, "b": 1}}, {"q": ["b"]}, "ndcg@1")["q"] == pytest.approx(0.5)


def test_ndcg_uses_the_grades_not_just_relevance():
    qrels = {"q": {"a": 2, "b": 1}}
    best = per_query(qrels, {"q": ["a", "b"]}, "ndcg@2")["q"]
    swapped = per_query(qrels, {"q": ["b", "a"]}, "ndcg@2")["q"]
    assert best == pytest.approx(1.0)
    # Linear gain (trec_eval/ranx "ndcg"): (1 + 2/log2 3) / (2 + 1/log2 3).
    assert swapped == pytest.approx((1 + 2 / L3) / (2 + 1 / L3))


def test_recall_by_hand():
    assert per_query(QRELS, RUN, "recall@3") == {"q1": 0.5, "q2": 1.0, "q4": 0.0}
    assert per_query(QRELS, RUN, "recall@4")["q1"] == 1.0
    # Normalised by all relevant docs, not min(k, R): two relevant, k=1, one found -> 0.5.
    assert per_query({"q": {"a": 1, "b": 1}}, {"q": ["a", "b"]}, "recall@1")["q"] == 0.5


def test_precision_by_hand():
    assert per_query(QRELS, RUN, "precision@3")["q1"] == pytest.approx(1 / 3)
    # Divides by k even when fewer were retrieved (trec_eval P_k): q1 has 4 docs, 2 relevant.
    assert per_query(QRELS, RUN, "precision@10") == {"q1": 0.2, "q2": 0.1, "q4": 0.0}
    # Without k: relevant / retrieved.
    assert per_query(QRELS, RUN, "precision") == {"q1": 0.5, "q2": 1.0, "q4": 0.0}


def test_mrr_by_hand():
    assert per_query(QRELS, RUN, "mrr@1") == {"q1": 0.0, "q2": 1.0, "q4": 0.0}
    assert per_query(QRELS, RUN, "mrr@10")["q1"] == 0.5


def test_map_by_hand():
    # q1: relevant at ranks 2 and 4 -> precisions 1/2 and 2/4, over R = 2 relevant docs.
    assert per_query(QRELS, RUN, "map@3")["q1"] == pytest.approx(0.5 / 2)
    assert per_query(QRELS, RUN, "map@4")["q1"] == pytest.approx((0.5 + 0.5) / 2)
    assert per_query(QRELS, RUN, "map")["q1"] == pytest.approx(0.5)
    # Cut at k but still divided by all R (map_cut): 3 relevant, first two found -> 2/3.
    assert per_query({"q": {"a": 1, "b": 1, "c": 1}}, {"q": ["a", "b", "c"]}, "map@2")["q"] == pytest.approx(2 / 3)


def test_hit_by_hand():
    assert per_query(QRELS, RUN, "hit@1") == {"q1": 0.0, "q2": 1.0, "q4": 0.0}
    assert per_query(QRELS, RUN, "hit@2")["q1"] == 1.0


def test_evaluate_macro_means_and_keys():
    got = evaluate(QRELS, RUN, ["NDCG@3", "recall@3", "hit@2"])
    assert list(got) == ["NDCG@3", "recall@3", "hit@2"]  # the names exactly as given
    assert got["NDCG@3"] == pytest.approx(((2 / L3) / (2 + 1 / L3) + 1 + 0) / 3)
    assert got["recall@3"] == pytest.approx((0.5 + 1 + 0) / 3)
    assert got["hit@2"] == pytest.approx(2 / 3)
    assert evaluate(QRELS, RUN, "mrr@10") == {"mrr@10": pytest.approx(0.5)}


def test_evaluate_edge_cases():
    assert evaluate({}, {}, ["ndcg@10"]) == {"ndcg@10": 0.0}
    assert evaluate({"q": {"a": 0}}, {"q": ["a"]}, ["ndcg@10"]) == {"ndcg@10": 0.0}
    assert evaluate({"q": {"a": 1}}, {"q": []}, ["recall@5", "precision"]) == {"recall@5": 0.0, "precision": 0.0}
    assert evaluate({"q": {"a": -1, "b": 1}}, {"q": ["a", "b"]}, ["mrr@10"]) == {"mrr@10": 0.5}
    with pytest.raises(MetricError, match="unknown metric"):
        evaluate(QRELS, RUN, ["ndcg@10", "nope"])
    with pytest.raises(MetricError, match="more than once"):
        evaluate({"q": {"a": 1}}, {"q": ["a", "b", "a"]}, ["ndcg@10"])


def test_dedupe_ranked():
    assert dedupe_ranked(["d2", "d1", "d2", "d3", "d1"]) == ["d2", "d1", "d3"]
    assert dedupe_ranked([]) == []


# --- randomised fixture: ranx as the reference ----------------------------

def _random_fixture(seed: int = 1234):
    rng = random.Random(seed)
    docs = [f"d{i:02d}" for i in range(50)]
    qrels, run = {}, {}
    for i in range(30):
        qid = f"q{i:02d}"
        judged = rng.sample(docs, rng.randint(1, 8))
        grades = [rng.choice([0, 1, 2]) for _ in judged]
        if i % 10 == 3:  # a few queries whose judgements are all "not relevant"
            grades = [0] * len(judged)
        qrels[qid] = dict(zip(judged, grades))
        shape = i % 6
        if shape == 0:
            continue  # missing from the run
        length = {1: 0, 2: rng.randint(1, 4)}.get(shape, rng.randint(5, 50))  # empty, shorter than k
        run[qid] = rng.sample(docs, length)
    run["q_only_in_run"] = docs[:10]
    return qrels, run


RANX_METRICS = ["ndcg@10", "recall@100", "precision@5", "mrr@10", "map@100", "hit_rate@10",
                "ndcg", "precision", "map"]


def test_matches_ranx_on_random_data():
    ranx = pytest.importorskip("ranx", reason="ranx is a dev-only reference implementation (pip install ranx)")
    qrels, run = _random_fixture()
    ours = {m: per_query(qrels, run, m.replace("hit_rate", "hit")) for m in RANX_METRICS}

    # Convention differences, bridged here: ranx counts a query without relevant docs as 0
    # (we skip it), so only scorable queries go in; ranx rejects empty rankings, so empty and
    # missing runs are left out and make_comparable gives them 0, as we do.
    scorable = {q: rels for q, rels in qrels.items() if any(r > 0 for r in rels.values())}
    assert len(scorable) < len(qrels)  # the fixture exercises the skip
    # Strictly decreasing scores make ranx's order exactly the run's.
    ranked = {q: {d: float(len(ids) - i) for i, d in enumerate(ids)} for q, ids in run.items() if ids}
    rqrels, rrun = ranx.Qrels(scorable), ranx.Run(ranked)
    rrun = rrun.make_comparable(rqrels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba's uint64 -> int64 cast warning
        means = ranx.evaluate(rqrels, rrun, RANX_METRICS)

    assert set(ours["ndcg@10"]) == set(scorable)
    for metric in RANX_METRICS:
        theirs = rrun.scores[metric]
        for qid in scorable:
            assert ours[metric][qid] == pytest.approx(float(theirs[qid]), abs=1e-6), (metric, qid)
        mean = evaluate(qrels, run, [metric.replace("hit_rate", "hit")])
        assert list(mean.values())[0] == pytest.approx(float(means[metric]), abs=1e-6), metric


def test_benchmark_metrics_by_hand():
    """The three numbers BENCHMARKS.md reports (nDCG@10, recall, MRR@10) on a hand-checked fixture:
    binary and graded (inverted) rankings, an empty run, a query without any relevant document."""
    qrels = {"q1": {"a": 1, "b": 1}, "q2": {"x": 2, "y": 1}, "q3": {"z": 1}, "q4": {"n": 0}}
    run = {"q1": ["c", "a", "d", "b"], "q2": ["y", "x"], "q3": []}
    q1 = (1 / L3 + 1 / L5) / (1 + 1 / L3)  # DCG 1/log2(3) + 1/log2(5); ideal 1 + 1/log2(3)
    q2 = (1 + 2 / L3) / (2 + 1 / L3)      # DCG 1 + 2/log2(3); ideal 2 + 1/log2(3)
    got = evaluate(qrels, run, ("ndcg@10", "recall@2", "mrr@10"))
    assert got == {"ndcg@10": pytest.approx((q1 + q2 + 0) / 3, abs=1e-12),
                   "recall@2": pytest.approx((0.5 + 1 + 0) / 3, abs=1e-12),
                   "mrr@10": pytest.approx((0.5 + 1 + 0) / 3, abs=1e-12)}


# --- QA-set retrieval metrics ----------------------------------------------------------------------

def test_source_hit_at_k():
    sources = ["notes/a.md", "docs/guide.pdf"]
    assert source_hit_at_k("guide.pdf", sources, 1) == 0.0
    assert source_hit_at_k("guide.pdf", sources, 2) == 1.0  # the file name alone
    for same in ("docs\\guide.pdf", "./docs/guide.pdf", "/home/u/corpus/docs/guide.pdf"):
        assert source_hit_at_k("docs/guide.pdf", [same], 1) == 1.0, same
    assert source_hit_at_k("/home/u/corpus/docs/guide.pdf", ["docs/guide.pdf"], 1) == 1.0
    assert source_hit_at_k("v1/readme.md", ["v2/readme.md"], 1) == 0.0  # same name, other folder
    assert source_hit_at_k("Guide.pdf", ["guide.pdf"], 1) == 0.0  # POSIX names are case-sensitive
    assert source_hit_at_k("guide.pdf", ["", "guide.pdf.bak"], 5) == 0.0
    with pytest.raises(MetricError):
        source_hit_at_k("", sources, 1)
    with pytest.raises(MetricError):
        source_hit_at_k("guide.pdf", sources, 0)


def test_page_hit_at_k():
    hits = [("docs/a.pdf", 3), ("b.pdf", 2), ("docs/a.pdf", None), ("docs/a.pdf", 2)]
    assert page_hit_at_k("a.pdf", 2, hits, 3) == 0.0  # right file, wrong page; b.pdf p2 wrong file
    assert page_hit_at_k("a.pdf", 2, hits, 4) == 1.0
    assert page_hit_at_k("docs/a.pdf", 3, hits, 1) == 1.0
    assert page_hit_at_k("other/a.pdf", 3, hits, 4) == 0.0


# --- answer metrics ----------------------------------------------------------------------------------

def test_normalize_answer_squad_style():
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert normalize_answer("An apple, a pear; the end.") == "apple pear end"
    assert normalize_answer("Theory") == "theory"  # articles only as whole words
    assert normalize_answer("5,183") == "5183"
    assert normalize_answer("\u201cPorter\u201d \u2014 stemmer") == "porter stemmer"  # Unicode punctuation
    assert normalize_answer("a+b=c") == "abc"  # ASCII symbols SQuAD's string.punctuation holds


def test_exact_match():
    assert exact_match("The Eiffel Tower", ["eiffel tower"]) == 1.0
    assert exact_match("Eiffel Tower.", ["Louvre", "the eiffel tower"]) == 1.0
    assert exact_match("the tower", ["Eiffel Tower"]) == 0.0
    with pytest.raises(MetricError):
        exact_match("x", [])
    with pytest.raises(TypeError):
        exact_match("x", "x")


def test_token_f1():
    # tokens: [eiffel, tower, in, paris] vs [eiffel, tower]: P = 2/4, R = 2/2 -> F1 = 2/3
    assert token_f1("The Eiffel Tower in Paris", ["Eiffel Tower"]) == pytest.approx(2 / 3)
    # best over answers: "Paris" alone gives P = 1/4, R = 1 -> 0.4, below 2/3
    assert token_f1("The Eiffel Tower in Paris", ["Paris"]) == pytest.approx(0.4)
    assert token_f1("The Eiffel Tower in Paris", ["Paris", "Eiffel Tower"]) == pytest.approx(2 / 3)
    # bag of tokens: x x y vs x y y share one x and one y -> P = R = 2/3
    assert token_f1("x x y", ["x y y"]) == pytest.approx(2 / 3)
    assert token_f1("nothing shared", ["eiffel"]) == 0.0
    assert token_f1("", ["the"]) == 1.0 and token_f1("", ["eiffel"]) == 0.0  # SQuAD v2 empties


def test_answer_contains():
    assert answer_contains("It is usually 0.75.", ["0.75"]) == 1.0
    assert answer_contains("It takes an exclusive lock on the index", ["exclusive lock"]) == 1.0
    assert answer_contains("The corpus holds 5,183 abstracts.", ["5183"]) == 1.0
    assert answer_contains("The file was blocked.", ["lock"]) == 0.0  # whole words only
    assert answer_contains("No idea.", ["Porter", "Snowball"]) == 0.0
    assert answer_contains("anything", ["the"]) == 0.0  # an answer that normalises to nothing


def test_refusal_correct():
    assert refusal_correct(refused=True, answerable=False) == 1.0
    assert refusal_correct(refused=False, answerable=True) == 1.0
    assert refusal_correct(refused=True, answerable=True) == 0.0
    assert refusal_correct(refused=False, answerable=False) == 0.0


def test_citation_validity():
    assert citation_validity([], 3) == 1.0  # nothing cited, nothing invalid
    assert citation_validity([1, 2], 2) == 1.0
    assert citation_validity([1, 3], 2) == 0.5
    assert citation_validity([1, 1, 1, 9], 3) == 0.5  # distinct numbers: {1, 9}
    assert citation_validity([0], 3) == 0.0
    assert citation_validity([1], 0) == 0.0
    with pytest.raises(MetricError):
        citation_validity([1], -1)


def test_percentile_matches_numpy():
    rng = np.random.default_rng(7)
    for size in (1, 2, 5, 10, 101):
        values = rng.exponential(2.0, size).tolist()
        for q in (0, 1, 25, 33.3, 50, 90, 95, 99, 100):
            assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), abs=1e-12)
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([], 95) == 0.0
    with pytest.raises(MetricError):
        percentile([1.0], 101)
