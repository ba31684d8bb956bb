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
