"""Extra vectors per chunk (multi-vector indexing): embeddings of questions a chunk answers and of its summary.

Each extra vector points at its chunk's row. Dense search scores a chunk by the best of its own vector and its
extra vectors (:meth:`ExtraVectors.search` gives each chunk its best extra score; the searcher merges that with the
dense index's ranking), so a question worded like a generated question finds the chunk even when it shares few
words with the chunk's text. The vectors live in the generation as plain ``.npy`` arrays (no pickle), memory-mapped
when loaded, and are searched exactly: they are few beside the chunks (N questions and a summary each) and
exact search needs no training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

DIR_NAME = "extra_vectors"
KINDS = ("question", "summary")
_VECTORS, _ROWS, _KINDS = "vectors.npy", "rows.npy", "kinds.npy"
_BLOCK = 8192   # extra vectors scored at once: bounds the score matrix's memory for a batch of queries


@dataclass(frozen=True)
class ExtraVectors:
    """Extra vectors (``vectors[i]`` points at chunk row ``rows[i]``, and is a ``KINDS[kinds[i]]``)."""

    vectors: np.ndarray    # float32 (n, dimension), as the embedder made them (like the dense index's)
    rows: np.ndarray       # int64 (n,)
    kinds: np.ndarray      # int8 (n,)

    @property
    def size(self) -> int:
        """How many extra vectors there are."""
        return len(self.rows)

    def counts(self) -> dict[str, int]:
        """Extra vectors by kind (``{"question": 30, "summary": 10}``)."""
        found = np.bincount(self.kinds.astype(np.int64), minlength=len(KINDS)) if self.size else [0] * len(KINDS)
        return {kind: int(n) for kind, n in zip(KINDS, found)}

    def save(self, directory: Path) -> None:
        """Write the three arrays into ``directory/extra_vectors``."""
        target = Path(directory) / DIR_NAME
        target.mkdir(parents=True, exist_ok=True)
        np.save(target / _VECTORS, np.ascontiguousarray(self.vectors, dtype=np.float32), allow_pickle=False)
        np.save(target / _ROWS, self.rows.astype(np.int64), allow_pickle=False)
        np.save(target / _KINDS, self.kinds.astype(np.int8), allow_pickle=False)

    @classmethod
    def load(cls, directory: Path) -> ExtraVectors:
        """Read them back, the vectors memory-mapped (pages read as searched)."""
        source = Path(directory) / DIR_NAME
        return cls(vectors=np.load(source / _VECTORS, mmap_mode="r", allow_pickle=False),
                   rows=np.load(source / _ROWS, allow_pickle=False),
                   kinds=np.load(source / _KINDS, allow_pickle=False))

    def search(self, queries: np.ndarray, depth: int, allowed: np.ndarray | None = None) -> list[list[tuple[int, float]]]:
        """For each query vector, up to ``depth`` (chunk row, best extra-vector cosine) pairs, best first.

        ``allowed`` (sorted chunk rows; None: all) restricts the chunks, as a filter does the dense index.
        """
        queries = np.asarray(queries, dtype=np.float32)
        if not self.size:
            return [[] for _ in queries]
        keep = np.ones(self.size, dtype=bool) if allowed is None else np.isin(self.rows, allowed)
        best = np.full((len(queries), int(self.rows.max()) + 1), -np.inf, dtype=np.float32)
        for start in range(0, self.size, _BLOCK):
            stop = min(start + _BLOCK, self.size)
            mask = keep[start:stop]
            if not mask.any():
                continue
            scores = queries @ np.asarray(self.vectors[start:stop][mask]).T
            rows = self.rows[start:stop][mask]
            for q in range(len(queries)):
                np.maximum.at(best[q], rows, scores[q])
        return [_top(line, depth) for line in best]


def _top(best: np.ndarray, depth: int) -> list[tuple[int, float]]:
    """The ``depth`` best finite entries of one query's per-row scores, ties broken by row."""
    rows = np.flatnonzero(np.isfinite(best))
    scores = best[rows]
    if len(rows) > depth:
        part = np.argpartition(-scores, depth - 1)[:depth]
        rows, scores = rows[part], scores[part]
    order = np.lexsort((rows, -scores))
    return [(int(r), float(s)) for r, s in zip(rows[order], scores[order])]


def merge_best(dense: list[tuple[int, float]], extra: list[tuple[int, float]], depth: int) -> list[tuple[int, float]]:
    """One dense ranking from the chunks' own vectors and their extra vectors: each chunk at its best score.

    A chunk found only by its extra vectors scores by them (its own vector ranked below the dense list's depth).
    """
    best: dict[int, float] = {}
    for row, score in (*dense, *extra):
        if score > best.get(row, -np.inf):
            best[row] = score
    return sorted(best.items(), key=lambda item: (-item[1], item[0]))[:depth]


def build_extra_vectors(rows: list[int], vectors: list[np.ndarray], kinds: list[np.ndarray], dimension: int) -> ExtraVectors:
    """Stack per-chunk blocks (``vectors[i]`` and ``kinds[i]`` belong to chunk row ``rows[i]``) into one store."""
    if not rows:
        return ExtraVectors(np.zeros((0, dimension), dtype=np.float32), np.zeros(0, dtype=np.int64),
                            np.zeros(0, dtype=np.int8))
    return ExtraVectors(vectors=np.concatenate(vectors).astype(np.float32),
                        rows=np.concatenate([np.full(len(v), row, dtype=np.int64) for row, v in zip(rows, vectors)]),
                        kinds=np.concatenate(kinds).astype(np.int8))
