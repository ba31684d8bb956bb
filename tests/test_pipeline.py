"""The one retrieval pipeline (ragkit.retrieval.pipeline): batching plans changes nothing, every front end
gets what it would get alone, and each stage's trace and notes arrive in one ``Retrieved``."""

from __future__ import annotations

import dataclasses

import pytest

from ragkit.config import AskConfig, config_from_dict
from ragkit.generation.ask import ask
from ragkit.ingest.pipeline import ingest
from ragkit.rerank import NoReranker
from ragkit.retrieval.pipeline import Hit, Pipeline, Retrieved
from ragkit.retrieval.search import Searcher
from ragkit.retrieval.transforms import QueryPlan

from fakes import ScriptedReranker

PLANS = [
    QueryPlan("none", "cats mice", ["cats mice"]),
    QueryPlan("rag-fusion", "largest planet", ["largest planet", "gas giant Jupiter"], fusion="rrf"),
    QueryPlan("hyde", "red star", ["red star"], dense_only=["Betelgeuse is a red supergiant star in Orion."],
              fusion="rrf"),
    QueryPlan("multi-query", "dog commands", ["dog commands", "training a dog", "rewards"], fusion="union"),
    QueryPlan("hyde", "cat sleep", ["cat sleep"], dense_only=["A cat sleeps most of the day.", "Cats hunt mice."],
              fusion="rrf"),
]


def _pairs(hits: list[Hit]) -> list[tuple[str, float]]:
    return [(h.chunk_id, h.score) for h in hits]


@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
def test_plans_retrieved_together_equal_each_retrieved_alone(searcher, mode):
    pipeline = Pipeline(searcher, mode=mode)
    together = pipeline.retrieve(PLANS, depth=6)
    alone = [pipeline.retrieve([plan], depth=6)[0] for plan in PLANS]
    for batched, single in zip(together, alone):
        assert batched.plan is single.plan
        assert _pairs(batched.hits) == _pairs(single.hits) and batched.hits
        assert batched.rankings == single.rankings   # labels, each retriever's ranks, the fused ranking
    assert together[2].rankings[-2]["query"].startswith("dense (hypothetical passage): Betelgeuse")   # its own
    assert together[4].rankings[-2]["query"] == "dense (hypothetical passage): Cats hunt mice."     # passages only
    if mode == "hybrid":
        assert [e["query"] for e in together[1].rankings[:3]] == [
            "dense: largest planet", "sparse: largest planet", together[1].rankings[2]["query"]]


def test_search_is_each_query_as_typed_searched_then_reranked(searcher):
    searcher._reranker = ScriptedReranker()
    texts = ["cats  mice", "Jupiter largest planet", "red supergiant"]
    found = Pipeline(searcher, mode="hybrid").search(texts, k=3)
    plain = Searcher(searcher.index.path, searcher.cfg, reranker=NoReranker())
    for text, retrieved in zip(texts, found):
        assert retrieved.plan.question == text            # not rewritten, not even its spaces
        assert len(retrieved.context) == 3 and all(h.fused_rank is not None for h in retrieved.context)
        fused = plain.search(text, mode="hybrid", k=searcher.cfg.search.rerank_candidates)
        assert sorted(_pairs(retrieved.hits)) == sorted(_pairs(fused))   # the same candidates, reordered
    assert [query for query, _ in searcher.reranker.calls] == texts
    plain.close()


def test_ask_answers_from_the_context_the_pipeline_retrieves(searcher):
    cfg = AskConfig(chain="extract", expand="window", window=1, k=2)
    result = ask("How do dogs learn commands?", searcher, None, cfg)
    retrieved = Pipeline.for_ask(searcher, cfg, None).run("How do dogs learn commands?", max(cfg.depth, cfg.k), cfg.k)
    assert isinstance(retrieved, Retrieved)
    assert result.context == retrieved.context and [h.text for h in result.context] == [h.text for h in retrieved.context]
    assert result.rankings == retrieved.rankings and result.plan == retrieved.plan
    assert all(h.metadata["expanded"] == "window" for h in retrieved.context)


def test_notes_say_what_the_reranker_and_the_expansion_could_not_do(docs, tmp_path):
    cfg = config_from_dict({"embedder": {"kind": "hash"}, "splitter": {"chunk_size": 300, "chunk_overlap": 30,
                                                                          "parent_size": 0}})
    ingest(docs, tmp_path / "flat", cfg)

    def broken(query, texts):
        return []   # no score for any text: the stage refuses it and keeps the fused order

    s = Searcher(tmp_path / "flat", cfg, reranker=ScriptedReranker(broken))
    try:
        found = Pipeline(s, mode="sparse", expansion="parent").run("dogs learn commands", depth=3, k=2)
    finally:
        s.close()
    assert found.rerank is not None and found.rerank["error"]
    assert [h.rank for h in found.hits] == list(range(1, len(found.hits) + 1))   # fused order kept
    assert any("fused order" in note for note in found.notes)
    assert any("no parent sections" in note for note in found.notes)
    assert found.rankings[-1]["rerank"] is found.rerank


def test_a_pipeline_is_plain_data_and_for_ask_reads_the_ask_section(searcher):
    cfg = AskConfig(strategy="hyde", n_queries=2, expand="parent", window=4)
    pipeline = Pipeline.for_ask(searcher, cfg, None, mode="dense", filters={"source": "cats.txt"})
    assert (pipeline.strategy, pipeline.n_queries, pipeline.expansion, pipeline.window) == ("hyde", 2, "parent", 4)
    assert pipeline.search_mode == "dense" and Pipeline(searcher).search_mode == searcher.cfg.search.mode
    with pytest.raises(dataclasses.FrozenInstanceError):
        pipeline.mode = "sparse"  # type: ignore[misc]
