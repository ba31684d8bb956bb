"""The exact (flat) FAISS index, and what every FAISS index shares: inner-product search over L2-normalised vectors.

Saved with ``faiss.write_index`` and read with ``faiss.read_index``: no pickle. Rows are the
docstore's rows, so a search returns rows that the docstore turns into chunks. Every vector
is unit length (or zero, for a text without words); a search checks the length of the vectors
it returns (and that none scored NaN), so a vector damaged on disk cannot pass as a "cosine"
above 1 (the cheap guard of an index too big to hash on every open; a damaged vector that
stays finite and of length ~1, or that never ranks, is for the sha256 check).
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from ragkit.errors import IndexDamaged
from ragkit.store.base import DenseStore, empty_result

FILE_NAME = "dense.faiss"
LENGTH_TOLERANCE = 1e-3  # float32 normalisation is exact to ~1e-6


FEW_QUERIES = 16
"""Batches smaller than this search on one FAISS thread."""


def faiss_search(index: faiss.Index, queries: np.ndarray, k: int,
                 params: faiss.SearchParameters | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``index.search`` as (scores, rows); a few queries run on one thread.

    A few queries gain nothing from FAISS's thread pool, whose threads then fight the embedder's
    for the cores (measured: dense p50 44 -> 10 ms on 2 shared cores).
    """
    if len(queries) >= FEW_QUERIES:
        return index.search(queries, k, params=params)
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return index.search(queries, k, params=params)
    finally:
        faiss.omp_set_num_threads(previous)


def without_empty_columns(rows: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop the result columns no query filled; a query that found fewer keeps -1 rows (score -inf) at its end.

    FAISS marks a missing result with row -1, after the ones found. Dropping every column where
    any query has a gap would cut each query of a batch to the shortest list.
    """
    keep = np.any(rows >= 0, axis=0)
    rows, scores = rows[:, keep], scores[:, keep].copy()
    scores[rows < 0] = -np.inf
    return rows, scores


class FaissIndex(DenseStore):
    """Exact (flat) inner-product FAISS index; exact search keeps quality numbers honest."""

    file_name = FILE_NAME

    def __init__(self, dimension: int, index: faiss.Index | None = None):
        self.dimension = int(dimension)
        self.index = index if index is not None else faiss.IndexFlatIP(self.dimension)

    @property
    def size(self) -> int:
        """Number of vectors."""
        return int(self.index.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        """Append vectors; their rows continue from the current size."""
        if len(vectors):
            self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def vectors(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The stored vectors (all, or the given rows), for carrying them into a new generation."""
        if self.size == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        everything = self.index.reconstruct_n(0, self.size)
        return everything if rows is None else everything[np.asarray(rows, dtype=np.int64)]

    def search(self, queries: np.ndarray, k: int, allowed_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows and scores for each query; ``allowed_rows`` restricts the search (filters).

        Returns arrays of shape (n_queries, k'); missing results are dropped (k' <= k).
        """
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if self.size == 0 or k <= 0:
            return empty_result(len(queries))
        params = None
        if allowed_rows is not None:
            if len(allowed_rows) == 0:
                return empty_result(len(queries))
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed_rows, dtype=np.int64))
            params = faiss.SearchParameters(sel=selector)
            k = min(k, len(allowed_rows))
        k = min(k, self.size)
        scores, rows = faiss_search(self.index, queries, k, params)
        self._check_found(queries, rows)
        return without_empty_columns(rows, scores)

    def _check_found(self, queries: np.ndarray, rows: np.ndarray) -> None:
        """IndexDamaged unless every vector found has length 1 (or 0) and none is missing.

        An exact search asked for at most as many rows as it may return always fills them:
        a gap (row -1) means a stored vector scored NaN, i.e. is not a number.
        """
        if np.any(rows < 0) and np.all(np.isfinite(queries)):
            raise IndexDamaged(FILE_NAME, "a stored vector is not a number")
        check_unit_lengths(self.index, rows)

    def save(self, directory: Path) -> None:
        """Write the index file into ``directory``."""
        faiss.write_index(self.index, str(Path(directory) / FILE_NAME))

    @classmethod
    def load(cls, directory: Path) -> "FaissIndex":
        """Read an index written by :meth:`save`."""
        index = faiss.read_index(str(Path(directory) / FILE_NAME))
        return cls(index.d, index)


def check_unit_lengths(index: faiss.Index, rows: np.ndarray) -> None:
    """IndexDamaged unless every stored vector in ``rows`` (-1 = none) has length 1 (or 0, a text without words)."""
    found = np.unique(rows[rows >= 0])
    if not len(found):
        return
    lengths = np.linalg.norm(index.reconstruct_batch(found.astype(np.int64)), axis=1)
    bad = ~(np.isclose(lengths, 1.0, rtol=0, atol=LENGTH_TOLERANCE) | (lengths == 0))
    if bad.any():
        row, length = int(found[bad][0]), float(lengths[bad][0])
        raise IndexDamaged(FILE_NAME, f"the vector of row {row} has length {length:.3g}, not 1")
