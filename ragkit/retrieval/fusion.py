"""Fusion: reciprocal rank fusion (RRF) of ranked lists, with per-list weights.

score(d) = sum over lists L containing d of  weight(L) / (k + rank_L(d)),  ranks from 1.
k = 60 is the constant of Cormack, Clarke and Buettcher (2009). Ties keep first-seen order,
as LangChain's ``EnsembleRetriever`` does, which this is tested against.
"""

from __future__ import annotations

from typing import Hashable, Sequence


def reciprocal_rank_fusion(ranked_lists: Sequence[Sequence[Hashable]], weights: Sequence[float] | None = None,
                           k: int = 60) -> list[tuple[Hashable, float]]:
    """Fuse ranked lists of keys (best first) into one list of ``(key, score)``, best first."""
    if weights is None:
        weights = [1.0] * len(ranked_lists)
    if len(weights) != len(ranked_lists):
        raise ValueError(f"{len(weights)} weights for {len(ranked_lists)} ranked lists")
    scores: dict[Hashable, float] = {}
    for items, weight in zip(ranked_lists, weights):
        for rank, key in enumerate(items, start=1):
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
    # sorted() is stable, so equal scores keep the order in which keys were first seen.
    return sorted(scores.items(), key=lambda item: item[1], reverse=True)


def convex_fusion(scored_lists: Sequence[Sequence[tuple[Hashable, float]]], weights: Sequence[float] | None = None
                  ) -> list[tuple[Hashable, float]]:
    """Fuse scored lists by a convex combination of min-max normalised scores (missing = 0).

    score(d) = sum over lists L of  w_L / sum(w) * (s_L(d) - min_L) / (max_L - min_L). Unlike
    RRF it keeps how far apart the scores are, not only their order (Bruch et al., 2023).
    Each list's keys must be unique; ties keep first-seen order.
    """
    if weights is None:
        weights = [1.0] * len(scored_lists)
    if len(weights) != len(scored_lists):
        raise ValueError(f"{len(weights)} weights for {len(scored_lists)} scored lists")
    total = sum(weights) or 1.0
    fused: dict[Hashable, float] = {}
    for items, weight in zip(scored_lists, weights):
        if not items:
            continue
        values = [score for _, score in items]
        low, high = min(values), max(values)
        for key, score in items:
            normalised = (score - low) / (high - low) if high > low else 1.0
            fused[key] = fused.get(key, 0.0) + weight / total * normalised
    return sorted(fused.items(), key=lambda item: item[1], reverse=True)
