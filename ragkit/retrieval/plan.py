"""Retrieval for a query plan: run every query of a :class:`QueryPlan` and fuse the rankings as it says.

The plan (from :mod:`ragkit.retrieval.transforms`) holds the texts to search with and the
fusion its strategy calls for: ``single`` (one list), ``union`` (multi-query) or ``rrf``
(RAG-fusion, HyDE, step-back, decompose). The fusions themselves are in
:mod:`ragkit.retrieval.fusion`. When LangSmith tracing is on, the searches are a ``retrieval``
run and the fusion a ``fusion`` run (:mod:`ragkit.tracing`).
"""

from __future__ import annotations

from typing import Mapping

from ragkit.retrieval.fusion import reciprocal_rank_fusion, union_fusion
from ragkit.retrieval.reranking import rerank_depth, rerank_stage, trace_entry
from ragkit.retrieval.search import TRACE_DEPTH, Searcher, SearchResult
from ragkit.retrieval.transforms import QueryPlan
from ragkit.tracing import stage


def retrieve(searcher: Searcher, plan: QueryPlan, mode: str, depth: int,
             filters: Mapping[str, str] | None = None) -> tuple[list[SearchResult], list[dict]]:
    """Run every query of a plan, fuse the rankings as the plan says, rerank; return the results and the trace.

    The plan's ``queries`` are searched with ``mode``, its ``dense_only`` texts (a HyDE passage)
    on the dense side only, each ``depth`` deep (at least ``search.rerank_candidates`` deep when a
    reranker runs). The trace lists each ranking (for a hybrid search, each retriever's before the
    fused one), then the plan's fused ranking, then the rerank step when ``search.rerank`` is set: an
    entry with a ``"rerank"`` key (:func:`~ragkit.retrieval.reranking.rerank_results`), whose ``error``
    says why the fused order was kept when the reranker failed.
    """
    depth = rerank_depth(searcher, depth)
    filters = {**plan.filters, **(filters or {})}   # a self-query's filter; the caller's (--filter) wins
    sides: list[dict] = []
    with stage("retrieval", "retriever", {"queries": plan.queries, "dense_only": plan.dense_only, "mode": mode,
                                          "depth": depth, "filters": dict(filters or {})}) as record:
        lists: list[list[SearchResult]] = searcher.search_many(plan.queries, mode=mode, k=depth, filters=filters,
                                                               trace=sides)
        labels = [f"{mode}: {q}" + (f" (fused by {searcher.fusion_summary(q)})" if mode == "hybrid" else "")
                  for q in plan.queries]
        if plan.dense_only:
            lists += searcher.search_many(plan.dense_only, mode="dense", k=depth, filters=filters)
            labels += [f"dense (hypothetical passage): {p[:80]}" for p in plan.dense_only]
        record({"rankings": [{"query": label, "ranking": _ranking(results)} for label, results in zip(labels, lists)]})
    with stage("fusion", "chain", {"fusion": plan.fusion, "rankings": len(lists)}) as record:
        by_id = {r.chunk_id: r for results in lists for r in results}
        keys = [[r.chunk_id for r in results] for results in lists]
        if plan.fusion == "single" or len(lists) == 1:
            fused = [(r.chunk_id, r.score) for r in lists[0]]
        elif plan.fusion == "union":
            fused = union_fusion(keys)
        else:
            fused = reciprocal_rank_fusion(keys, k=searcher.cfg.search.rrf_k)
        combined = [
            SearchResult(rank=i, score=float(score), chunk_id=cid, doc_id=by_id[cid].doc_id, source=by_id[cid].source,
                         page=by_id[cid].page, text=by_id[cid].text, metadata=by_id[cid].metadata)
            for i, (cid, score) in enumerate(fused, start=1)
        ]
        record({"documents": [{"page_content": r.text, "metadata": {"chunk_id": r.chunk_id, "source": r.source,
                                                                    "page": r.page, "score": r.score}}
                              for r in combined[:TRACE_DEPTH]]})
    trace = []
    for position, (label, results) in enumerate(zip(labels, lists)):
        if position < len(sides):  # hybrid: each retriever's ranks before the fused ones
            trace += [{"query": f"{side}: {plan.queries[position]}", "ranking": ranks}
                      for side, ranks in sides[position].items()]
        trace.append({"query": label, "ranking": _ranking(results)})
    trace.append({"query": f"fused ({plan.fusion})", "ranking": _ranking(combined)})
    combined, step = rerank_stage(searcher, plan.question, combined)
    if step is not None:
        trace.append(trace_entry(step))
    return combined, trace


def rerank_step(trace: list[dict]) -> dict | None:
    """The rerank step of a :func:`retrieve` trace, or None when no reranker ran."""
    return next((entry["rerank"] for entry in trace if "rerank" in entry), None)


def _ranking(results: list[SearchResult]) -> list[list]:
    """The trace form of a ranking: its top ``[chunk_id, score]`` pairs."""
    return [[r.chunk_id, round(r.score, 6)] for r in results[:TRACE_DEPTH]]
