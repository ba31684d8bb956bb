"""Chunk scores with their document's evidence added (pure numpy).

score(chunk) = bm25(chunk) / best bm25(chunk) + w * bm25(document) / best bm25(document)

for every chunk that matches the query itself (a chunk without a query term stays out, however
good its document). Each part is divided by its best value for the query, so ``w`` weighs two
scores on one scale: w = 1 (the default) counts the chunk and its document alike, w = 0 is the
chunk alone. Why: a 10-Q page about "total net sales" never names the company the question
asks about, its document does; BM25 alone then ranks every company's sales page alike
(BENCHMARKS.md "Retrieval quality" measures it on four data sets).

Only the matching chunks are scored: at 1M chunks a query matches about a tenth of them, and
arithmetic over every row (a document score gathered for each, a sum, a mask) cost more than
the BM25 scores themselves (BENCHMARKS.md "Scale").
"""

from __future__ import annotations

import numpy as np


def matching_with_evidence(chunk_scores: np.ndarray, document_scores: np.ndarray, row_document: np.ndarray,
                           weight: float) -> tuple[np.ndarray, np.ndarray]:
    """The rows whose own score is positive (ascending), and their scores with ``weight`` times their document's added.

    ``chunk_scores``: one per row; ``document_scores``: one per document; ``row_document[row]``:
    the row's document. Both parts are scaled by their best (see the module doc); with
    ``weight`` <= 0 the scores are the chunks' own, unscaled.
    """
    chunk_scores = np.asarray(chunk_scores, dtype=np.float32)
    rows = np.flatnonzero(chunk_scores > 0)
    own = chunk_scores[rows]
    if weight <= 0 or not len(rows):
        return rows, own
    combined = own / own.max()
    document_scores = np.asarray(document_scores, dtype=np.float32)
    best_document = float(document_scores.max()) if len(document_scores) else 0.0
    if best_document > 0:
        combined += weight * document_scores[np.asarray(row_document)[rows]] / best_document
    return rows, combined.astype(np.float32)
