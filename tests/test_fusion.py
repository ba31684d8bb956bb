"""Reciprocal rank fusion, checked against LangChain's EnsembleRetriever as an oracle."""

import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from ragkit.errors import SearchError
from ragkit.retrieval.fusion import reciprocal_rank_fusion


class _Fixed(BaseRetriever):
    ids: list[str]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [Document(page_content=i, metadata={"id": i}) for i in self.ids]


def test_formula_by_hand():
    fused = dict(reciprocal_rank_fusion([["a", "b"], ["b", "c"]], k=60))
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["c"] == pytest.approx(1 / 62)


def test_weights_change_the_order():
    lists = [["a", "b"], ["b", "a"]]
    assert reciprocal_rank_fusion(lists, [2.0, 1.0])[0][0] == "a"
    assert reciprocal_rank_fusion(lists, [1.0, 2.0])[0][0] == "b"


def test_weight_count_must_match():
    with pytest.raises(SearchError):
        reciprocal_rank_fusion([["a"], ["b"]], [1.0])


@pytest.mark.parametrize("weights", [[0.5, 0.5], [0.7, 0.3], [0.2, 0.8]])
def test_same_order_and_scores_as_langchain_ensemble(weights):
    from langchain_classic.retrievers import EnsembleRetriever

    first = ["d1", "d2", "d3", "d4", "d5", "d6"]
    second = ["d4", "d7", "d1", "d8", "d2"]
    ensemble = EnsembleRetriever(retrievers=[_Fixed(ids=first), _Fixed(ids=second)], weights=weights, c=60)
    expected = [d.page_content for d in ensemble.invoke("q")]
    ours = reciprocal_rank_fusion([first, second], weights, k=60)
    assert [key for key, _ in ours] == expected
    # scores: recompute the textbook formula independently
    for key, score in ours:
        manual = sum(w / (60 + lst.index(key) + 1) for lst, w in zip([first, second], weights) if key in lst)
        assert score == pytest.approx(manual)


def test_convex_fusion_by_hand():
    from ragkit.retrieval.fusion import convex_fusion

    dense = [("a", 0.9), ("b", 0.5), ("c", 0.1)]
    sparse = [("b", 12.0), ("d", 2.0)]
    fused = dict(convex_fusion([dense, sparse], [1.0, 1.0]))
    assert fused["a"] == pytest.approx(0.5 * 1.0)
    assert fused["b"] == pytest.approx(0.5 * 0.5 + 0.5 * 1.0)
    assert fused["c"] == pytest.approx(0.0) and fused["d"] == pytest.approx(0.0)
    assert convex_fusion([dense, sparse], [1.0, 1.0])[0][0] == "b"
    assert convex_fusion([dense, sparse], [3.0, 1.0])[0][0] == "a"  # weights tilt it
    assert convex_fusion([[("x", 3.0)], []])[0] == ("x", pytest.approx(0.5))  # one score: normalised to 1


# ---------------------------------------------------------------------------------------------
# When one side returns nothing, the fused list is the other side; score normalisations.

DENSE = [("a", 0.82), ("b", 0.80), ("c", 0.41), ("d", 0.40)]


@pytest.mark.parametrize("method,normalization", [("rrf", "minmax"), ("convex", "minmax"),
                                                  ("convex", "max"), ("convex", "zscore")])
@pytest.mark.parametrize("empty_side", [0, 1])
def test_an_empty_side_leaves_the_other_sides_order(method, normalization, empty_side):
    from ragkit.retrieval.fusion import fuse_scored, unit_fusion

    lists = [DENSE, []] if empty_side == 1 else [[], DENSE]
    for weights in ([1.0, 1.0], [0.3, 3.0], [3.0, 0.3]):
        fused = fuse_scored(lists, weights, method, normalization=normalization)
        assert [key for key, _ in fused] == ["a", "b", "c", "d"]
        units = {"a": "doc1", "b": "doc2", "c": "doc1", "d": "doc3"}
        by_unit = unit_fusion(lists, units, weights, method, normalization=normalization)
        assert list(dict.fromkeys(units[key] for key, _ in by_unit)) == ["doc1", "doc2", "doc3"]
        assert sorted(key for key, _ in by_unit) == ["a", "b", "c", "d"]


def test_a_zero_weight_side_changes_nothing():
    from ragkit.retrieval.fusion import fuse_scored

    sparse = [("d", 30.0), ("x", 3.0), ("a", 1.0)]
    for method in ("rrf", "convex"):
        fused = fuse_scored([DENSE, sparse], [1.0, 0.0], method)
        assert [key for key, _ in fused][:4] == ["a", "b", "c", "d"]


def test_normalisations_by_hand():
    from ragkit.retrieval.fusion import normalize_scores

    assert normalize_scores([4.0, 2.0, 0.0], "minmax") == pytest.approx([1.0, 0.5, 0.0])
    assert normalize_scores([4.0, 2.0, 1.0], "max") == pytest.approx([1.0, 0.5, 0.25])
    z = normalize_scores([3.0, 2.0, 1.0], "zscore")
    assert sum(z) == pytest.approx(0.0) and z[0] == pytest.approx(1.2247, abs=1e-4)
    assert normalize_scores([2.0, 2.0], "minmax") == [1.0, 1.0] and normalize_scores([2.0, 2.0], "zscore") == [0.0, 0.0]
    assert normalize_scores([], "max") == []
    with pytest.raises(SearchError, match="normalization 'l2' is not one of minmax, max, zscore"):
        normalize_scores([1.0], "l2")


def test_max_normalisation_is_not_stretched_by_one_low_outlier():
    from ragkit.retrieval.fusion import normalize_scores

    # min-max: the outlier at 0.0 squeezes the three close scores together near 1; max keeps
    # them where they are relative to the best, and a near-tie stays a near-tie either way.
    close = [0.80, 0.79, 0.78]
    assert normalize_scores(close + [0.0], "max")[:3] == pytest.approx([1.0, 0.9875, 0.975])
    assert normalize_scores(close, "minmax") == pytest.approx([1.0, 0.5, 0.0])


def test_convex_missing_keys_get_the_lists_floor_but_nothing_from_a_single_score():
    from ragkit.retrieval.fusion import convex_fusion

    dense = [("a", 0.9), ("b", 0.6)]
    sparse = [("b", 10.0), ("c", 5.0)]
    fused = dict(convex_fusion([dense, sparse], [1.0, 1.0], normalization="max"))
    assert fused["a"] == pytest.approx(0.5 * 1.0 + 0.5 * 0.5)     # missing from sparse: its floor 5/10
    assert fused["c"] == pytest.approx(0.5 * (0.6 / 0.9) + 0.5 * 0.5)
    one = dict(convex_fusion([dense, [("z", 7.0)]], [1.0, 1.0], normalization="max"))
    assert one["a"] == pytest.approx(0.5) and one["z"] == pytest.approx(0.5 * (0.6 / 0.9) + 0.5)
