"""Search: dense, sparse or hybrid (RRF-fused) retrieval over a loaded index, with metadata filters.

Filters apply to both sides before fusion, so a filtered hybrid search fuses two lists that
both respect the filter. ``Searcher`` loads an index once and answers many queries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ragkit import choices
from ragkit.config import DEFAULT_FUSION_WEIGHTS, Config
from ragkit.embedders import LocalMiniLMEmbeddings, RagkitEmbeddings, build_embedder
from ragkit.errors import FilterError, IndexEmpty, RagkitError, SearchError
from ragkit.rerank import Reranker, build_reranker
from ragkit.retrieval.evidence import matching_with_evidence
from ragkit.retrieval.fusion import fuse_scored, length_weights, unit_fusion
from ragkit.retrieval.hit import Hit
from ragkit.retrieval.route import DocumentRouter
from ragkit.retrieval.self_query import Catalog, build_catalog
from ragkit.store.backends.bm25s import BM25Index
from ragkit.store.base import top_among
from ragkit.store.extra_vectors import merge_best
from ragkit.store.index import open_index
from ragkit.store.manifest import check_embedder

MODES = tuple(choices.MODES)
TRACE_DEPTH = 20


def parse_filters(items: Sequence[str] | None) -> dict[str, str]:
    """``["source=a.md", "page=2"]`` -> ``{"source": "a.md", "page": "2"}``; malformed items raise.

    Filters combine with AND, so a key given twice with different values could match nothing:
    that raises FilterError instead of silently keeping one of them.
    """
    filters: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SearchError(f"--filter {item!r} must look like KEY=VALUE (for example source=notes.md)")
        key, value = key.strip(), value.strip()
        if filters.get(key, value) != value:
            raise FilterError(f"--filter {key} is given twice ({filters[key]!r} and {value!r}); filters must all "
                              f"match, so give each key once (a glob matches many: {key}='notes/*.md')")
        filters[key] = value
    return filters


def sentence_scores(terms: set[str], sentences: list[str]) -> np.ndarray:
    """BM25 (Lucene, k1 1.2, b 0.75) of each sentence for the query ``terms``, each term counted once.

    The sentences are indexed with the sparse store's BM25, so they are tokenised as the index
    is. A sentence with none of the terms scores zero. The extract chain ranks its quotable pieces
    with it: generation reaches the stores only through retrieval.
    """
    index = BM25Index(method="lucene", k1=1.2, b=0.75)
    index.build(sentences)
    # Sorted: the float32 sum over terms must not depend on set order (string hashing varies by run).
    return index.term_scores(sorted(terms))


class Searcher:
    """Queries one index. Load once, call :meth:`search` or :meth:`search_many` many times."""

    def __init__(self, index_dir: Path, cfg: Config | None = None, embedder: RagkitEmbeddings | None = None,
                 reranker: Reranker | None = None):
        self.cfg = cfg or Config()
        self.index = open_index(Path(index_dir))
        self._embedder = embedder
        self._reranker = reranker
        self._router: DocumentRouter | None = None
        self._catalog: Catalog | None = None

    @property
    def reranker(self) -> Reranker:
        """The reranker ``search.rerank`` names, built on first use (:class:`RerankError` when it cannot be)."""
        if self._reranker is None:
            self._reranker = build_reranker(self.cfg.search.rerank, self.cfg.rerank)
        return self._reranker

    @property
    def router(self) -> DocumentRouter | None:
        """The document router ``search.route: documents`` uses (built on first use and kept: its document
        embeddings are computed once per loaded index); None for a generation without a document index."""
        if self._router is None and self.index.documents is not None:
            self._router = DocumentRouter(self.index.documents, self.index.dense.vectors)
        return self._router

    @property
    def catalog(self) -> Catalog:
        """The fields and values a self-query's filter may name (built on first use and kept: an eval asks for
        it every question)."""
        if self._catalog is None:
            self._catalog = build_catalog(self.index.docstore)
        return self._catalog

    @property
    def embedder(self) -> RagkitEmbeddings:
        """The query embedder, built on first dense use and checked against the manifest."""
        if self._embedder is None:
            self._embedder = build_embedder(self.cfg.embedder)
        check_embedder(self.index.manifest, self._embedder)
        return self._embedder

    def check_not_empty(self) -> None:
        """Raise :class:`IndexEmpty` when the index holds no chunk (an empty folder was ingested): a search of it
        finds nothing, and a question asked of it must not be answered "the documents do not contain it"."""
        if not self.index.manifest["integrity"]["counts"].get("docstore", 1):   # the manifest's count: no query
            raise IndexEmpty(f"the index at {self.index.path} is empty: nothing was ingested into it. Run "
                             f"`ragkit ingest <folder> --index {self.index.path}` on a folder with documents")

    def meaning_embedder(self) -> RagkitEmbeddings | None:
        """The query embedder when it is the bundled MiniLM, on whose scale the answer checks' thresholds of
        meaning were chosen (:mod:`ragkit.generation.meaning`); else None: those checks compare words only."""
        if self._embedder is None and self.cfg.embedder.kind != "local":
            return None
        try:
            embedder = self.embedder
        except RagkitError:   # an index built with another embedder: its queries go through BM25 alone
            return None
        return embedder if embedder.model_id == LocalMiniLMEmbeddings.model_id else None

    def close(self) -> None:
        """Release the index."""
        self.index.close()

    def in_corpus(self, term: str) -> bool:
        """Whether some chunk of the index holds ``term`` (an index token, as ``ragkit.text.tokenize`` makes it)."""
        return bool(self.index.sparse.term_scores([term]).any())

    def _allowed(self, filters: Mapping[str, str] | None) -> np.ndarray | None:
        return self.index.docstore.rows_matching(filters) if filters else None

    def dense_ranking(self, vectors: np.ndarray, depth: int, allowed: np.ndarray | None) -> list[list[tuple[int, float]]]:
        """Dense (row, cosine) lists for a batch of query vectors, best first; with extra vectors per chunk
        (``ingest.questions`` / ``ingest.summaries``) a chunk's score is the best of its own and its extra vectors'."""
        rows, scores = self.index.dense.search(vectors, depth, allowed)
        found = [[(row, score) for row, score in zip(r.tolist(), s.tolist()) if row >= 0] for r, s in zip(rows, scores)]
        if self.index.extras is None:
            return found
        # Multi-vector: a chunk scores by the best of its own vector and its questions' and summary's.
        extra = self.index.extras.search(vectors, depth, allowed)
        return [merge_best(own, more, depth) for own, more in zip(found, extra)]

    def sparse_ranking(self, query: str, depth: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        """Sparse (row, score) list for one query: BM25 of the chunk, plus its document's (``search.document_weight``)."""
        weight, documents = self.cfg.search.document_weight, self.index.documents
        if documents is None or weight <= 0:
            rows, scores = self.index.sparse.search(query, depth, allowed)
        else:
            matching, combined = matching_with_evidence(self.index.sparse.scores(query), documents.document_scores(query),
                                                        documents.row_document, weight)
            rows, scores = top_among(matching, combined, depth, allowed)
        return list(zip(rows.tolist(), scores.tolist()))

    def search(self, query: str, mode: str | None = None, k: int | None = None,
               filters: Mapping[str, str] | None = None) -> list[Hit]:
        """Search one query; see :meth:`search_many`."""
        return self.search_many([query], mode=mode, k=k, filters=filters)[0]

    def search_many(self, queries: Sequence[str], mode: str | None = None, k: int | None = None,
                    filters: Mapping[str, str] | None = None, trace: list | None = None, *,
                    within: Sequence[np.ndarray | None] | None = None,
                    vectors: np.ndarray | None = None) -> list[list[Hit]]:
        """Search a batch of queries (embedded together); one ranked result list per query.

        With a ``trace`` list, hybrid searches append, per query, each retriever's top ranks
        ``{"dense": [[chunk_id, score], …], "sparse": […]}`` (for ``--trace``). ``within`` (one per
        query) restricts each query to those rows, besides the filter (None: no restriction); ``vectors``
        are the queries' embeddings when the caller has them already.
        """
        mode = mode or self.cfg.search.mode
        k = self.cfg.search.k if k is None else k
        if mode not in MODES:
            raise SearchError(f"mode {mode!r} is not one of {', '.join(MODES)}")
        if k < 1:
            raise SearchError(f"k must be at least 1 (got {k})")
        for query in queries:
            if not query or not query.strip():
                raise SearchError("the query is empty")
        allowed = self._allowed(filters)
        depth = max(k, self.cfg.search.candidates) if mode == "hybrid" else k
        dense_lists: list[list[tuple[int, float]]] = [[] for _ in queries]
        if mode in ("dense", "hybrid"):
            vectors = self.embedder.embed_queries(list(queries)) if vectors is None else vectors
            dense_lists = (self.dense_ranking(vectors, depth, allowed) if within is None else
                           [self.dense_ranking(vectors[i:i + 1], depth, _within(allowed, rows))[0]
                            for i, rows in enumerate(within)])
        allowed_each = [allowed] * len(queries) if within is None else [_within(allowed, rows) for rows in within]
        sparse_lists = [self.sparse_ranking(q, depth, rows) if mode in ("sparse", "hybrid") else []
                        for q, rows in zip(queries, allowed_each)]
        ranked: list[list[tuple[int, float]]] = []
        for query, dense, sparse in zip(queries, dense_lists, sparse_lists):
            if mode == "dense":
                ranked.append(dense[:k])
            elif mode == "sparse":
                ranked.append(sparse[:k])
            else:
                ranked.append(self.fuse(dense, sparse, query)[:k])
                if trace is not None:
                    trace.append({side: self._ids(rows[:TRACE_DEPTH]) for side, rows in (("dense", dense), ("sparse", sparse))})
        return [self._results(rows) for rows in ranked]

    def _ids(self, ranked: list[tuple[int, float]]) -> list[list]:
        chunks = self.index.docstore.get(r for r, _ in ranked)
        return [[chunks[row].chunk_id, round(float(score), 6)] for row, score in ranked]

    def fuse(self, dense: list, sparse: list, query: str | None = None) -> list[tuple[int, float]]:
        """Hybrid fusion of two rankings (rows, or (row, score) pairs) for ``query``, best first.

        ``search.fusion``: ``convex`` (default) — a weighted sum of scores normalised by
        ``search.normalization``; ``rrf`` — weighted reciprocal rank fusion. The weights are
        :meth:`fusion_weights` (by the query's length unless ``search.weights`` fixes them). When one
        side returns nothing, the fused list is the other side's order (both methods). ``search.fusion_unit``:
        ``chunk`` fuses chunk ranks; ``document`` (default) fuses the ranks of each chunk's
        document (doc_id and page) with :func:`~ragkit.retrieval.fusion.unit_fusion`.
        """
        pairs = [[item if isinstance(item, tuple) else (item, 0.0) for item in side] for side in (dense, sparse)]
        search = self.cfg.search
        weights = list(self.fusion_weights(query).values())
        if search.fusion_unit == "chunk":
            return fuse_scored(pairs, weights, search.fusion, search.rrf_k, search.normalization)
        units = self.index.docstore.units({row for side in pairs for row, _ in side})
        return unit_fusion(pairs, units, weights, search.fusion, search.rrf_k, search.normalization)

    def fusion_weights(self, query: str | None = None) -> dict[str, float]:
        """The dense and sparse weights hybrid fusion uses for ``query``: ``search.weights`` when given (a side
        not given keeps its default), else by the query's length (:func:`~ragkit.retrieval.fusion.length_weights`)."""
        if self.cfg.search.weights or query is None:
            weights = {**DEFAULT_FUSION_WEIGHTS, **self.cfg.search.weights}
            return {side: float(weights[side]) for side in ("dense", "sparse")}
        return length_weights(query)

    def fusion_summary(self, query: str | None = None) -> str:
        """How hybrid results are fused, for ``--trace``: method, weights (for ``query``), unit (and normalisation)."""
        search = self.cfg.search
        method = f"convex ({search.normalization})" if search.fusion == "convex" else f"rrf (k={search.rrf_k})"
        weights = ", ".join(f"{side} {weight:.2g}" for side, weight in self.fusion_weights(query).items())
        by_length = "" if search.weights or query is None else " (by query length)"
        return f"{method}, weights {weights}{by_length}, by {search.fusion_unit}"

    def _results(self, ranked: list[tuple[int, float]]) -> list[Hit]:
        chunks = self.index.docstore.get(r for r, _ in ranked)
        results = []
        for rank, (row, score) in enumerate(ranked, start=1):
            chunk = chunks[row]
            results.append(Hit(rank=rank, score=float(score), chunk_id=chunk.chunk_id, doc_id=chunk.doc_id,
                                        source=chunk.source, page=chunk.page, text=chunk.text, metadata=chunk.metadata))
        return results


def _within(allowed: np.ndarray | None, rows: np.ndarray | None) -> np.ndarray | None:
    """The rows both restrictions allow (None: unrestricted)."""
    if rows is None or allowed is None:
        return allowed if rows is None else rows
    return np.intersect1d(allowed, rows)
