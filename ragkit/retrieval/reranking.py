"""Reranking: the stage between fusion and expansion. A reranker re-scores the best fused results; its order wins.

The best ``search.rerank_candidates`` fused results go to the reranker (:mod:`ragkit.rerank`) as
the indexes saw them (the chunk's context line and text); they come back ordered by its scores
(ties keep the fused order), with ``rerank_score`` and ``fused_rank`` set; the results after
them keep their fused order below. A reranker that fails (unreachable, an HTTP error, an answer
of the wrong shape or count) leaves the fused order as it was, and the step says why: retrieval
goes on, and the caller shows the note. ``search.rerank: none`` is no step at all.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Sequence

from ragkit.errors import RerankError
from ragkit.rerank import Reranker, check_scores
from ragkit.retrieval.hit import Hit
from ragkit.retrieval.search import TRACE_DEPTH, Searcher
from ragkit.text.context import indexed_text
from ragkit.tracing import stage


def rerank_depth(searcher: Searcher, depth: int) -> int:
    """How deep to retrieve for ``depth`` results: at least ``search.rerank_candidates`` when a reranker runs."""
    reranker = searcher.reranker
    return max(depth, searcher.cfg.search.rerank_candidates) if reranker.active else depth


def rerank_results(reranker: Reranker, query: str, results: Sequence[Hit],
                   candidates: int) -> tuple[list[Hit], dict | None]:
    """``results`` (fused, best first) with their best ``candidates`` reordered by ``reranker``, and the step.

    The step (None for an inactive reranker or no results) is ``{"reranker", "model", "candidates",
    "seconds", "error", "results": [{"chunk_id", "before", "after", "score"}, …]}``: ranks before and
    after, in the new order; ``error`` is the one-line reason when the reranker failed (the results
    are then the fused ones, unchanged, and ``results`` is empty).
    """
    if not reranker.active or not results:
        return list(results), None
    head, tail = list(results[:candidates]), list(results[candidates:])
    step: dict = {"reranker": reranker.name, "model": reranker.model_id, "remote": reranker.remote,
                  "candidates": len(head), "seconds": 0.0, "error": None, "results": []}
    started = time.perf_counter()
    with stage("rerank", "chain", {"query": query, "reranker": reranker.model_id, "candidates": len(head)}) as record:
        try:
            scores = check_scores(reranker.rerank(query, [indexed_text(r.text, r.metadata) for r in head]),
                                  len(head), reranker.name)
        except RerankError as exc:
            step.update(error=str(exc), seconds=round(time.perf_counter() - started, 4))
            record({"error": step["error"]})
            return list(results), step
        order = sorted(range(len(head)), key=lambda i: (-scores[i], i))   # stable: ties keep the fused order
        reranked = [dataclasses.replace(head[i], rank=after, rerank_score=scores[i], fused_rank=head[i].rank)
                    for after, i in enumerate(order, start=1)]
        reranked += [dataclasses.replace(r, rank=len(head) + n) for n, r in enumerate(tail, start=1)]
        step["seconds"] = round(time.perf_counter() - started, 4)
        step["results"] = [{"chunk_id": r.chunk_id, "before": r.fused_rank, "after": r.rank,
                            "score": round(float(r.rerank_score), 6)} for r in reranked[: len(head)]]
        record({"ranking": [[r.chunk_id, r.rerank_score] for r in reranked[:TRACE_DEPTH]]})
    return reranked, step


def rerank_stage(searcher: Searcher, query: str, results: Sequence[Hit]) -> tuple[list[Hit], dict | None]:
    """:func:`rerank_results` with the searcher's reranker (``search.rerank``) and ``search.rerank_candidates``."""
    return rerank_results(searcher.reranker, query, results, searcher.cfg.search.rerank_candidates)


def rerank_note(step: dict | None) -> str | None:
    """The note a front end shows when the reranker failed (None when it ran, or there was none)."""
    if not step or not step.get("error"):
        return None
    return f"reranking ({step['reranker']}) failed, so results are in fused order: {step['error']}"


def trace_entry(step: dict) -> dict:
    """The step as one ranking of the trace (``--trace``): the new order with rerank scores, and the step itself."""
    label = f"reranked by {step['reranker']} ({step['model']}): top {step['candidates']} of the fused ranking"
    if step["error"]:
        label = f"rerank by {step['reranker']} failed (fused order kept): {step['error']}"
    ranking = [[r["chunk_id"], r["score"]] for r in step["results"][:TRACE_DEPTH]]
    return {"query": label, "ranking": ranking, "rerank": step}
