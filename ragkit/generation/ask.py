"""Ask: question -> transforms -> retrievers -> fusion -> expansion -> generation chain -> answer.

This module only wires the stages together and records what each did (the trace); the work
is done in transforms, search, fusion, expansion and chains.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

from ragkit.generation.chains import CHAINS, Answer, answer_question
from ragkit.config import AskConfig
from ragkit.retrieval.expansion import EXPANSIONS, expand
from ragkit.retrieval.fusion import reciprocal_rank_fusion
from ragkit.generation.citations import strip_citations
from ragkit.retrieval.search import SearchResult, Searcher
from ragkit.retrieval.transforms import STRATEGIES, QueryPlan, plan_queries


@dataclass
class AskResult:
    """An answer with everything needed to check it: sources, queries, rankings, cost, time."""

    question: str
    answer: Answer
    plan: QueryPlan
    rankings: list[dict]
    context: list[SearchResult]
    notes: list[str]
    timings: dict
    usage: dict
    sub_answers: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        """``{"answer","citations","sources","queries","timings","llm_calls","tokens", …}``."""
        answer = self.answer.to_json()
        return {
            "question": self.question,
            "answer": answer["text"],
            "citations": answer["citations"],
            "sources": answer["sources"],
            "refused": answer["refused"],
            "removed_citations": answer["removed_citations"],
            "queries": self.plan.queries + self.plan.dense_only,
            "strategy": self.plan.strategy,
            "chain": answer["chain"],
            "timings": self.timings,
            "llm_calls": self.usage.get("calls", 0) + self.usage.get("cached_calls", 0),
            "tokens": {"prompt": self.usage.get("prompt_tokens", 0),
                       "completion": self.usage.get("completion_tokens", 0)},
            "usage": self.usage,
            "trace": {"plan": self.plan.to_json(), "rankings": self.rankings, "notes": self.notes,
                      "sub_answers": self.sub_answers},
        }


def retrieve(searcher: Searcher, plan: QueryPlan, mode: str, depth: int,
             filters: Mapping[str, str] | None = None) -> tuple[list[SearchResult], list[dict]]:
    """Run every query of a plan and fuse the rankings as the plan says; return fused results and the trace."""
    sides: list[dict] = []
    lists: list[list[SearchResult]] = searcher.search_many(plan.queries, mode=mode, k=depth, filters=filters, trace=sides)
    labels = [f"{mode}: {q}" for q in plan.queries]
    if plan.dense_only:
        lists += searcher.search_many(plan.dense_only, mode="dense", k=depth, filters=filters)
        labels += [f"dense (hypothetical passage): {p[:80]}" for p in plan.dense_only]
    by_id = {r.chunk_id: r for results in lists for r in results}
    if plan.fusion == "single" or len(lists) == 1:
        fused = [(r.chunk_id, r.score) for r in lists[0]]
    elif plan.fusion == "union":
        # Union, deduplicated, ordered by each chunk's best rank in any list (ties: list order).
        best: dict[str, tuple[int, int]] = {}
        for position, results in enumerate(lists):
            for r in results:
                best[r.chunk_id] = min(best.get(r.chunk_id, (r.rank, position)), (r.rank, position))
        fused = [(cid, 1.0 / (60 + rank)) for cid, (rank, _) in sorted(best.items(), key=lambda item: item[1])]
    else:
        fused = reciprocal_rank_fusion([[r.chunk_id for r in results] for results in lists], k=searcher.cfg.search.rrf_k)
    combined = [
        SearchResult(rank=i, score=float(score), chunk_id=cid, doc_id=by_id[cid].doc_id, source=by_id[cid].source,
                     page=by_id[cid].page, text=by_id[cid].text, metadata=by_id[cid].metadata)
        for i, (cid, score) in enumerate(fused, start=1)
    ]
    trace = []
    for position, (label, results) in enumerate(zip(labels, lists)):
        if position < len(sides):  # hybrid: each retriever's ranks before the fused ones
            trace += [{"query": f"{side}: {plan.queries[position]}", "ranking": ranks}
                      for side, ranks in sides[position].items()]
        trace.append({"query": label, "ranking": [[r.chunk_id, round(r.score, 6)] for r in results[:20]]})
    trace.append({"query": f"fused ({plan.fusion})", "ranking": [[r.chunk_id, round(r.score, 6)] for r in combined[:20]]})
    return combined, trace




def ask(question: str, searcher: Searcher, llm, cfg: AskConfig, *, mode: str | None = None,
        filters: Mapping[str, str] | None = None, on_token: Callable[[str], None] | None = None,
        retrieval_query: str | None = None) -> AskResult:
    """Answer one question end to end. ``llm`` may be None only with ``chain="extract"`` and ``strategy="none"``.

    ``retrieval_query`` (default: the question) is what the transforms and retrievers see,
    when the question handed to the model carries more (a chat's earlier turns).
    """
    question = (question or "").strip()
    if not question:
        raise ValueError("the question is empty")
    if cfg.chain == "auto":  # callers that know the config resolve it first (effective_chain)
        local = llm is None or str(getattr(llm, "model_id", "")).startswith("local:")
        cfg = dataclasses.replace(cfg, chain="extract" if local else "stuff")
    for value, allowed, name in ((cfg.strategy, STRATEGIES, "strategy"), (cfg.chain, CHAINS, "chain"),
                                 (cfg.expand, EXPANSIONS, "expand")):
        if value not in allowed:
            raise ValueError(f"{name} {value!r} is not one of {', '.join(allowed)}")
    if llm is not None:
        llm.reset_usage()
    mode = mode or searcher.cfg.search.mode
    timings: dict[str, float] = {}
    started = time.perf_counter()
    plan = plan_queries(retrieval_query or question, cfg.strategy, llm, n=cfg.n_queries)
    timings["transform_s"] = round(time.perf_counter() - started, 4)

    clock = time.perf_counter()
    fused, rankings = retrieve(searcher, plan, mode, max(cfg.depth, cfg.k), filters)
    context, notes = expand(fused[: cfg.k], cfg.expand, searcher.index.docstore, plan.question, cfg.window)
    timings["retrieve_s"] = round(time.perf_counter() - clock, 4)
    notes = plan.notes + notes

    clock = time.perf_counter()
    sub_answers: list[dict] = []
    final_question = question
    if plan.strategy == "decompose" and plan.sub_questions and plan.sub_questions != [plan.question]:
        # Least-to-most: answer each sub-question in order with its own retrieval, carrying the
        # earlier answers forward; the final answer then sees them as notes.
        earlier: list[str] = []
        for sub in plan.sub_questions:
            sub_plan = plan_queries(sub, "none", None)
            sub_hits, _ = retrieve(searcher, sub_plan, mode, cfg.k, filters)
            sub_context, _ = expand(sub_hits[: cfg.k], cfg.expand, searcher.index.docstore, sub, cfg.window)
            prompt_question = sub if not earlier else f"{sub}\n\nEarlier findings:\n" + "\n".join(earlier)
            sub_answer = answer_question(prompt_question, sub_context, cfg.chain, llm)
            plain = strip_citations(sub_answer.text).strip()
            earlier.append(f"- {sub} {plain}")
            sub_answers.append({"question": sub, "answer": sub_answer.text,
                                "sources": [s.chunk_id for s in sub_answer.sources]})
        final_question = f"{question}\n\nFindings from simpler sub-questions:\n" + "\n".join(earlier)
    answer = answer_question(final_question, context, cfg.chain, llm, on_token=on_token)
    timings["generate_s"] = round(time.perf_counter() - clock, 4)
    notes = notes + list(getattr(answer, "notes", []))
    timings["total_s"] = round(time.perf_counter() - started, 4)
    usage = llm.usage.to_json() if llm is not None else {"calls": 0, "cached_calls": 0,
                                                         "prompt_tokens": 0, "completion_tokens": 0}
    return AskResult(question=question, answer=answer, plan=plan, rankings=rankings, context=context,
                     notes=notes, timings=timings, usage=usage, sub_answers=sub_answers)
