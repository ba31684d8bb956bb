"""Hierarchical retrieval (``search.route: documents``): pick documents first, then search chunks within them.

A document is scored two ways, as a chunk is: by BM25 over its whole text (the document index ragkit
keeps for document evidence, :mod:`ragkit.store.documents`) and by the cosine between the query and
its embedding, the mean of its chunks' unit vectors (computed from the dense index once per loaded
index and kept: no extra ingest work, and it follows every incremental ingest). The two are fused as
a hybrid chunk search fuses (``search.fusion``, ``search.normalization``, the weights by query length
or ``search.weights``); a dense search uses the embedding alone, a sparse one BM25 alone. The best
``search.route_documents`` documents' chunks are then the only rows the retrievers may return
(intersected with any metadata filter), and everything after runs as usual.

Why: a question about one paper or one filing matches words and meaning spread over the whole
document that no single chunk holds; routing keeps other documents' look-alike chunks out.

When the route cannot run (a generation written before the document index, a query no document
matches) the chunks route runs instead, and a note says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ragkit.store.documents import DocumentIndex

__all__ = ["NO_DOCUMENT_INDEX", "NO_DOCUMENT_MATCHED", "DocumentRouter", "Route", "candidates"]

NO_DOCUMENT_MATCHED = "search.route: documents: no document matched {query!r}; every chunk was searched for it"
NO_DOCUMENT_INDEX = ("search.route: documents needs the index's document index, which this generation predates "
                     "(ingest again to write it); every chunk was searched")


def candidates(n: int) -> int:
    """How many documents each side proposes before fusion: enough that the fused top ``n`` rarely misses one."""
    return max(10 * n, 100)


@dataclass(frozen=True)
class Route:
    """One query's routing step: the documents picked (number, fused score; best first) and their chunk rows.

    ``rows`` None: no document was picked, every row may be returned (the chunks route).
    """

    documents: list[tuple[int, float]] = field(default_factory=list)
    rows: np.ndarray | None = None


class DocumentRouter:
    """Picks documents for queries over one loaded index's document index and dense vectors."""

    def __init__(self, documents: DocumentIndex, vectors: Callable[[], np.ndarray]):
        self.documents = documents
        self._vectors = vectors           # the dense store's vectors, read on first dense use
        self._centroids: np.ndarray | None = None
        order = np.argsort(documents.row_document, kind="stable")
        self._order = order               # rows grouped by document
        self._starts = np.searchsorted(documents.row_document[order], np.arange(documents.documents + 1))

    def rows_of(self, numbers: Sequence[int]) -> np.ndarray:
        """The chunk rows of documents ``numbers``, ascending."""
        parts = [self._order[self._starts[d]:self._starts[d + 1]] for d in numbers]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def names(self, numbers: set[int], docstore) -> dict[int, str]:
        """Each document's name for ``--trace``: its source (and doc_id when sources repeat, as a BEIR corpus's do)."""
        first = {d: int(self._order[self._starts[d]]) for d in numbers}
        chunks = docstore.get(first.values())
        sources = [chunks[row].source for row in first.values()]
        return {d: chunks[row].source if sources.count(chunks[row].source) == 1 else
                f"{chunks[row].source}#{chunks[row].doc_id}" for d, row in first.items()}

    @property
    def centroids(self) -> np.ndarray:
        """Each document's embedding: the mean of its chunks' unit vectors, itself of unit length (documents x dim)."""
        if self._centroids is None:
            vectors = np.asarray(self._vectors(), dtype=np.float32)
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            starts = self._starts[:-1]
            sums = np.add.reduceat(vectors[self._order], np.minimum(starts, max(len(vectors) - 1, 0)), axis=0)
            sums[self._starts[1:] == starts] = 0.0      # a document without rows (none after a build) sums nothing
            self._centroids = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
        return self._centroids

    def route(self, queries: Sequence[str], vectors: np.ndarray | None, n: int,
              fuse: Callable[[list, list, str], list[tuple[int, float]]] | None,
              allowed: np.ndarray | None = None) -> list[Route]:
        """Each query's best ``n`` documents and their rows (within ``allowed`` rows, when a filter gives them).

        ``vectors`` (one row per query) score documents by their embedding, and ``fuse(dense, sparse,
        query)`` fuses that list with BM25's (a hybrid search); a dense search passes no ``fuse`` (the
        embedding alone), a sparse one no ``vectors`` (BM25 alone).
        """
        dense_scores = self.centroids @ np.asarray(vectors, dtype=np.float32).T if vectors is not None else None
        among = np.unique(self.documents.row_document[allowed]) if allowed is not None else None
        routes = []
        for position, query in enumerate(queries):
            dense = _top(dense_scores[:, position], n, among) if dense_scores is not None else []
            sparse = (_top(self.documents.document_scores(query), n, among, positive=True)
                      if fuse is not None or dense_scores is None else [])
            picked = (fuse(dense, sparse, query) if fuse is not None else dense or sparse)[:n]
            if not picked:
                routes.append(Route())
                continue
            rows = self.rows_of([d for d, _ in picked])
            if allowed is not None:
                rows = np.intersect1d(rows, allowed, assume_unique=True)
            routes.append(Route([(int(d), float(s)) for d, s in picked], rows))
        return routes


def _top(scores: np.ndarray, n: int, among: np.ndarray | None, positive: bool = False) -> list[tuple[int, float]]:
    """The best ``candidates(n)`` documents by ``scores`` (only ``among``; only positive scores with ``positive``)."""
    scores = np.asarray(scores, dtype=np.float32)
    keys = np.arange(len(scores)) if among is None else among
    values = scores[keys]
    if positive:
        keys, values = keys[values > 0], values[values > 0]
    depth = min(candidates(n), len(keys))
    if depth == 0:
        return []
    top = np.argpartition(-values, depth - 1)[:depth] if depth < len(keys) else np.arange(len(keys))
    top = top[np.lexsort((keys[top], -values[top]))]     # best first; ties by document number, so runs repeat
    return [(int(keys[i]), float(values[i])) for i in top]
