"""Chunk scores with their document's evidence added (pure numpy).

score(chunk) = bm25(chunk) / best bm25(chunk) + w * bm25(document) / best bm25(document)

for every chunk that matches the query itself (a chunk without a query term stays out, however
good its document). Each part is divided by its best value for the query, so ``w`` weighs two
scores on one scale: w = 1 (the default) counts the chunk and its document alike, w = 0 is the
chunk alone. Why: a 10-Q page about "total net sales" never names the company the question
asks about, its document does; BM25 alone then ranks every company's sales page alike
(BENCHMARKS.md section 0c measures it on four data sets).
"""

from __future__ import annotations

import numpy as np


def with_document_evidence(chunk_scores: np.ndarray, document_scores: np.ndarray, weight: float) -> np.ndarray:
    """Each chunk's score with ``weight`` times its document's added, both scaled by their best (see module doc)."""
    chunk_scores = np.asarray(chunk_scores, dtype=np.float32)
    best_chunk = float(chunk_scores.max()) if len(chunk_scores) else 0.0
    if weight <= 0 or best_chunk <= 0:
        return chunk_scores
    document_scores = np.asarray(document_scores, dtype=np.float32)
    best_document = float(document_scores.max())
    combined = chunk_scores / best_chunk
    if best_document > 0:
        combined = combined + weight * document_scores / best_document
    return np.where(chunk_scores > 0, combined, 0.0).astype(np.float32)
