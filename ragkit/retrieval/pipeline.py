"""The retrieval pipeline: question -> transforms -> retrievers -> fusion -> rerank -> expansion -> hits.

``ragkit search``, ``ask``, ``chat`` (through :func:`ragkit.generation.ask.ask`) and ``eval`` all
retrieve through one :class:`Pipeline`; its stages, and where their work is done:

- transforms (:mod:`~ragkit.retrieval.transforms`): the question becomes a :class:`QueryPlan`, the
  texts to search with and how their rankings are fused (``search`` takes each query as it is);
- routing (:func:`routing`, :mod:`~ragkit.retrieval.route`): with ``search.route: documents``, each text's best
  documents picked first, the retrievers then restricted to their chunks (nothing with ``chunks``);
- retrievers (:class:`~ragkit.retrieval.search.Searcher`): dense, sparse or hybrid search of every
  text of every plan, embedded in one batch, the metadata filter on both sides;
- fusion (:mod:`~ragkit.retrieval.fusion`): a plan's rankings combined as the plan says: ``single``
  (one list), ``union`` (multi-query) or ``rrf`` (RAG-fusion, HyDE, step-back, decompose);
- rerank (:mod:`~ragkit.retrieval.reranking`): the slot ``search.rerank`` fills (none by default);
- expansion (:mod:`~ragkit.retrieval.expansion`): the best ``k`` hits widened for generation.

Each plan comes out as one :class:`Retrieved`: its :class:`Hit` list, the context generation
reads, the trace (``--trace``'s rankings) and the notes a front end shows. With LangSmith tracing
on, the transform, the searches and each fusion are runs (:mod:`ragkit.tracing`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from ragkit.config import AskConfig
from ragkit.llm.base import ChatModel
from ragkit.retrieval.expansion import expand
from ragkit.retrieval.fusion import fuse_scored, reciprocal_rank_fusion, union_fusion
from ragkit.retrieval.hit import Hit
from ragkit.retrieval.reranking import rerank_depth, rerank_note, rerank_stage, trace_entry
from ragkit.retrieval.route import NO_DOCUMENT_INDEX, NO_DOCUMENT_MATCHED
from ragkit.retrieval.search import TRACE_DEPTH, Searcher
from ragkit.retrieval.transforms import QueryPlan, plan_queries, transform_uses_model
from ragkit.tracing import stage

__all__ = ["Hit", "Pipeline", "Retrieved", "rerank_step", "retrieve"]


@dataclass(frozen=True)
class Retrieved:
    """What one plan's retrieval found, and what each stage did on the way."""

    plan: QueryPlan
    hits: list[Hit]          # fused (and reranked), best first, as deep as retrieved
    context: list[Hit]       # the best ``k`` hits, expanded: what generation reads
    rankings: list[dict]     # the trace: each ranking, the fused one, then the rerank step's
    rerank: dict | None      # the rerank step (ragkit.retrieval.reranking); None when no reranker ran
    notes: list[str]         # the plan's, the reranker's failure, the expansion's


@dataclass(frozen=True)
class Pipeline:
    """The retrieval stages over one index: which transform, retrievers (``mode``), filter and expansion
    (the routing step before the retrievers is ``search.route``, :func:`routing`).

    ``mode`` None is ``search.mode``; the fusion of a hybrid search and the reranker come from the
    searcher's config (``search.*``). ``llm`` writes the transform's queries (``strategy`` other
    than ``none``).
    """

    searcher: Searcher
    mode: str | None = None
    filters: Mapping[str, str] | None = None
    strategy: str = "none"
    n_queries: int = 3
    llm: ChatModel | None = None
    expansion: str = "none"
    window: int = 2

    @classmethod
    def for_ask(cls, searcher: Searcher, cfg: AskConfig, llm: ChatModel | None, *, mode: str | None = None,
                filters: Mapping[str, str] | None = None) -> Pipeline:
        """The pipeline an ask runs: the transform, expansion and window of the ``ask:`` section."""
        llm = llm if transform_uses_model(cfg) else None   # a rules-only self-query never calls the model
        return cls(searcher, mode=mode, filters=filters, strategy=cfg.strategy, n_queries=cfg.n_queries, llm=llm,
                   expansion=cfg.expand, window=cfg.window)

    @property
    def search_mode(self) -> str:
        """The retrievers this pipeline runs: ``mode``, else ``search.mode``."""
        return self.mode or self.searcher.cfg.search.mode

    def plan(self, question: str) -> QueryPlan:
        """The transform stage: ``question`` as a :class:`QueryPlan` (``strategy``, ``n_queries``, ``llm``).

        A self-query's plan holds the filter the retrievers will apply (:func:`applied_filters`), so ``--json``
        and the trace never show one that was not used; a note says when the caller's filter replaced a value.
        """
        with stage("query transform", "chain", {"question": question, "strategy": self.strategy}) as record:
            plan = plan_queries(question, self.strategy, self.llm, n=self.n_queries, searcher=self.searcher)
            record({"queries": plan.queries + plan.dense_only})
        if plan.strategy == "self-query" and self.filters:
            replaced = [f"{key}={value}" for key, value in plan.filters.items()
                        if key in self.filters and self.filters[key] != value]
            if replaced:
                plan.notes.append(f"self-query: your --filter replaced its {', '.join(replaced)}")
            plan.filters = applied_filters(plan, self.filters)
        return plan

    def run(self, question: str, depth: int, k: int | None = None) -> Retrieved:
        """Every stage for one question: :meth:`plan`, then :meth:`retrieve`."""
        return self.retrieve([self.plan(question)], depth, k)[0]

    def search(self, texts: Sequence[str], k: int | None = None) -> list[Retrieved]:
        """Each text searched as it is (no transform), ``k`` deep (default ``search.k``), reranked when
        ``search.rerank`` is set: what ``ragkit search`` shows."""
        k = self.searcher.cfg.search.k if k is None else k
        plans = [QueryPlan(strategy="none", question=text, queries=[text]) for text in texts]
        return self.retrieve(plans, k, k, sides=False)   # nobody reads the trace: spare its docstore reads

    def retrieve(self, plans: Sequence[QueryPlan], depth: int, k: int | None = None, *,
                 sides: bool = True) -> list[Retrieved]:
        """Retrievers, fusion, rerank and expansion for each plan; every plan's texts are searched in one batch.

        Each plan's ``queries`` are searched with the pipeline's mode, its ``dense_only`` texts (a HyDE
        passage) on the dense side only, each ``depth`` deep (at least ``search.rerank_candidates`` deep
        when a reranker runs). The trace lists each ranking (for a hybrid search, each retriever's before
        the fused one), then the plan's fused ranking, then the rerank step when ``search.rerank`` is set:
        an entry with a ``"rerank"`` key (:func:`~ragkit.retrieval.reranking.rerank_results`), whose
        ``error`` says why the fused order was kept when the reranker failed. The best ``k`` hits (all of
        them when ``k`` is None) are expanded into the context. ``sides=False`` leaves each hybrid retriever's
        ranks out of the trace (they cost a docstore read per query and retriever).
        """
        depth = rerank_depth(self.searcher, depth)
        searched = self._search_each_filter(plans, depth, sides)
        found = []
        for plan, (labels, lists, per_side, route_steps, route_notes) in zip(plans, searched):
            fused = self._fuse(plan, lists)
            trace = route_steps + _trace(plan, labels, lists, per_side, fused)
            hits, step = rerank_stage(self.searcher, plan.question, fused)
            if step is not None:
                trace.append(trace_entry(step))
            context, expanded = expand(hits[:k], self.expansion, self.searcher.index.docstore, plan.question,
                                       self.window)
            notes = plan.notes + route_notes + [note for note in [rerank_note(step)] if note] + expanded
            found.append(Retrieved(plan=plan, hits=hits, context=context, rankings=trace, rerank=step, notes=notes))
        return found

    def _search_each_filter(self, plans: Sequence[QueryPlan], depth: int, with_sides: bool) -> list[tuple]:
        """:meth:`_search`, except that a plan with its own filter (a self-query's) is searched apart, under it
        merged with the pipeline's (where both name a key, the caller's ``--filter`` wins)."""
        if not any(plan.filters for plan in plans):
            return self._search(plans, depth, with_sides)
        return [dataclasses.replace(self, filters=applied_filters(plan, self.filters))._search(
            [plan], depth, with_sides)[0] for plan in plans]

    def _search(self, plans: Sequence[QueryPlan], depth: int,
                with_sides: bool) -> list[tuple[list[str], list[list[Hit]], list[dict]]]:
        """The retrievers: per plan, each ranking's label, the rankings, and (hybrid) each retriever's top ranks."""
        searcher, mode = self.searcher, self.search_mode
        queries = [q for plan in plans for q in plan.queries]
        passages = [p for plan in plans for p in plan.dense_only]
        sides: list[dict] = []
        with stage("retrieval", "retriever", {"queries": queries, "dense_only": passages, "mode": mode,
                                              "depth": depth, "filters": dict(self.filters or {})}) as record:
            routed = routing(searcher, queries, mode, self.filters)
            lists = searcher.search_many(queries, mode=mode, k=depth, filters=self.filters,
                                         trace=sides if with_sides else None, **routed.restriction)
            routed_passages = routing(searcher, passages, "dense", self.filters)
            dense = searcher.search_many(passages, mode="dense", k=depth, filters=self.filters,
                                         **routed_passages.restriction) if passages else []
            labels = [f"{mode}: {q}" + (f" (fused by {searcher.fusion_summary(q)})" if mode == "hybrid" else "")
                      for q in queries]
            record({"rankings": [{"query": label, "ranking": _ranking(results)}
                                 for label, results in zip(labels + [_passage_label(p) for p in passages],
                                                           lists + dense)]})
        searched, at, at_dense = [], 0, 0
        for plan in plans:
            n, n_dense = len(plan.queries), len(plan.dense_only)
            steps = routed.steps[at:at + n] + routed_passages.steps[at_dense:at_dense + n_dense]
            notes = routed.notes_of(at, n) + routed_passages.notes_of(at_dense, n_dense)
            searched.append((labels[at:at + n] + [_passage_label(p) for p in plan.dense_only],
                             lists[at:at + n] + dense[at_dense:at_dense + n_dense], sides[at:at + n],
                             steps, notes))
            at, at_dense = at + n, at_dense + n_dense
        return searched

    def _fuse(self, plan: QueryPlan, lists: list[list[Hit]]) -> list[Hit]:
        """The fusion stage: a plan's rankings as one, as the plan says (``single``, ``union`` or ``rrf``)."""
        with stage("fusion", "chain", {"fusion": plan.fusion, "rankings": len(lists)}) as record:
            by_id = {r.chunk_id: r for results in lists for r in results}
            keys = [[r.chunk_id for r in results] for results in lists]
            if plan.fusion == "single" or len(lists) == 1:
                fused = [(r.chunk_id, r.score) for r in lists[0]]
            elif plan.fusion == "union":
                fused = union_fusion(keys)
            else:
                fused = reciprocal_rank_fusion(keys, k=self.searcher.cfg.search.rrf_k)
            combined = [dataclasses.replace(by_id[cid], rank=i, score=float(score))
                        for i, (cid, score) in enumerate(fused, start=1)]
            record({"documents": [{"page_content": r.text, "metadata": {"chunk_id": r.chunk_id, "source": r.source,
                                                                        "page": r.page, "score": r.score}}
                                  for r in combined[:TRACE_DEPTH]]})
        return combined


@dataclass(frozen=True)
class Routed:
    """The routing step of a batch of texts: what ``Searcher.search_many`` is given (``within`` each text's rows,
    and the ``vectors`` routing embedded), one trace entry per text, and the notes: ``(text's position, note)``,
    position None for a note on the whole batch. Empty for ``route: chunks``."""

    restriction: dict = field(default_factory=dict)
    steps: list[dict] = field(default_factory=list)
    notes: list[tuple[int | None, str]] = field(default_factory=list)

    def notes_of(self, start: int, n: int) -> list[str]:
        """The notes on the texts ``start`` to ``start + n`` (a plan's), and those on the whole batch."""
        return [note for at, note in self.notes if at is None or start <= at < start + n]


def routing(searcher: Searcher, texts: Sequence[str], mode: str, filters: Mapping[str, str] | None) -> Routed:
    """The routing stage for ``texts`` searched with ``mode``: nothing unless ``search.route`` is documents."""
    search = searcher.cfg.search
    if search.route != "documents" or not texts:
        return Routed()
    router = searcher.router
    if router is None:
        return Routed(notes=[(None, NO_DOCUMENT_INDEX)])
    vectors = searcher.embedder.embed_queries(list(texts)) if mode != "sparse" else None
    allowed = searcher.index.docstore.rows_matching(filters) if filters else None

    def fuse(dense: list, sparse: list, query: str) -> list[tuple[int, float]]:
        weights = searcher.fusion_weights(query)
        return fuse_scored([dense, sparse], [weights["dense"], weights["sparse"]], search.fusion, search.rrf_k,
                           search.normalization)

    routes = router.route(texts, vectors, search.route_documents, fuse if mode == "hybrid" else None, allowed)
    names = router.names({d for r in routes for d, _ in r.documents}, searcher.index.docstore)
    steps = [{"query": f"route ({mode}, {len(r.documents)} documents): {text}", "route": True,
              "ranking": [[names[d], round(score, 6)] for d, score in r.documents]} for text, r in zip(texts, routes)]
    notes = [(at, NO_DOCUMENT_MATCHED.format(query=text)) for at, (text, r) in enumerate(zip(texts, routes))
             if r.rows is None]
    restriction = {"within": [r.rows for r in routes], **({"vectors": vectors} if vectors is not None else {})}
    return Routed(restriction, steps, notes)


def applied_filters(plan: QueryPlan, filters: Mapping[str, str] | None) -> dict[str, str]:
    """The filter a plan is searched under: its own (a self-query's), and the caller's where both name a key."""
    return {**plan.filters, **(filters or {})}


def retrieve(searcher: Searcher, plan: QueryPlan, mode: str, depth: int,
             filters: Mapping[str, str] | None = None) -> tuple[list[Hit], list[dict]]:
    """One plan through :class:`Pipeline` (no expansion): its hits, fused and reranked, and the trace."""
    found = Pipeline(searcher, mode=mode, filters=filters).retrieve([plan], depth)[0]
    return found.hits, found.rankings


def rerank_step(trace: list[dict]) -> dict | None:
    """The rerank step of a :func:`retrieve` trace, or None when no reranker ran."""
    return next((entry["rerank"] for entry in trace if "rerank" in entry), None)


def _trace(plan: QueryPlan, labels: list[str], lists: list[list[Hit]], sides: list[dict], fused: list[Hit]) -> list[dict]:
    """The trace of one plan: each ranking (a hybrid search's retrievers before it), then the fused one."""
    trace = []
    for position, (label, results) in enumerate(zip(labels, lists)):
        if position < len(sides):  # hybrid: each retriever's ranks before the fused ones
            trace += [{"query": f"{side}: {plan.queries[position]}", "ranking": ranks}
                      for side, ranks in sides[position].items()]
        trace.append({"query": label, "ranking": _ranking(results)})
    trace.append({"query": f"fused ({plan.fusion})", "ranking": _ranking(fused)})
    return trace


def _passage_label(passage: str) -> str:
    return f"dense (hypothetical passage): {passage[:80]}"


def _ranking(results: list[Hit]) -> list[list]:
    """The trace form of a ranking: its top ``[chunk_id, score]`` pairs."""
    return [[r.chunk_id, round(r.score, 6)] for r in results[:TRACE_DEPTH]]
