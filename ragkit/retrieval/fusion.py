"""Fusion: every way ragkit combines ranked lists into one, as pure functions.

- :func:`reciprocal_rank_fusion` (RRF, weighted): score(d) = sum over lists L containing d of
  weight(L) / (k + rank_L(d)), ranks from 1. k = 60 is the constant of Cormack, Clarke and
  Buettcher (2009). Ties keep first-seen order, as LangChain's ``EnsembleRetriever`` does,
  which this is tested against.
- :func:`convex_fusion`: a weighted sum of min-max normalised scores.
- :func:`union_fusion`: the deduplicated union, by each key's best rank (multi-query).
- :func:`unit_fusion`: hybrid fusion by document unit (doc_id and page) instead of by chunk.

Lists are best first; keys are anything hashable (index rows, chunk ids, document units).
"""

from __future__ import annotations

from typing import Hashable, Mapping, Sequence

from ragkit.errors import SearchError

METHODS = ("rrf", "convex")


def _weights(weights: Sequence[float] | None, lists: Sequence, what: str) -> Sequence[float]:
    if weights is None:
        return [1.0] * len(lists)
    if len(weights) != len(lists):
        raise SearchError(f"{len(weights)} weights for {len(lists)} {what}")
    return weights


def reciprocal_rank_fusion(ranked_lists: Sequence[Sequence[Hashable]], weights: Sequence[float] | None = None,
                           k: int = 60) -> list[tuple[Hashable, float]]:
    """Fuse ranked lists of keys (best first) into one list of ``(key, score)``, best first."""
    weights = _weights(weights, ranked_lists, "ranked lists")
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
    weights = _weights(weights, scored_lists, "scored lists")
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


def union_fusion(ranked_lists: Sequence[Sequence[Hashable]], k: int = 60) -> list[tuple[Hashable, float]]:
    """The deduplicated union of ranked lists, ordered by each key's best rank in any list.

    Ties (the same best rank) go to the earlier list. A key's score is ``1 / (k + best rank)``:
    it only shows the order, the lists' own scores are not compared.
    """
    best: dict[Hashable, tuple[int, int]] = {}
    for position, items in enumerate(ranked_lists):
        for rank, key in enumerate(items, start=1):
            best[key] = min(best.get(key, (rank, position)), (rank, position))
    return [(key, 1.0 / (k + rank)) for key, (rank, _) in sorted(best.items(), key=lambda item: item[1])]


def fuse_scored(scored_lists: Sequence[Sequence[tuple[Hashable, float]]], weights: Sequence[float] | None = None,
                method: str = "rrf", k: int = 60) -> list[tuple[Hashable, float]]:
    """Fuse ``(key, score)`` lists with ``method``: ``rrf`` (on ranks, constant ``k``) or ``convex`` (on scores)."""
    if method == "convex":
        return convex_fusion(scored_lists, weights)
    if method == "rrf":
        return reciprocal_rank_fusion([[key for key, _ in items] for items in scored_lists], weights, k=k)
    raise SearchError(f"fusion {method!r} is not one of {', '.join(METHODS)}")


def unit_fusion(scored_lists: Sequence[Sequence[tuple[Hashable, float]]], units: Mapping[Hashable, Hashable],
                weights: Sequence[float] | None = None, method: str = "rrf", k: int = 60
                ) -> list[tuple[Hashable, float]]:
    """Fuse chunk lists by the unit (document) each chunk belongs to; ``units`` maps chunk -> unit.

    Each list ranks units by their first (best) chunk, with that chunk's score, and the unit
    rankings are fused with ``method``. So a document that one retriever finds through one chunk
    and the other through another gets the credit of both. A unit's best chunk (in the chunk-level
    fusion) carries the unit's fused score; its other chunks keep their own (lower) chunk-level
    score, so a weak chunk of a strong document does not push the next document's best chunk down.
    Ties: units in first-seen order (first list first), then the other chunks.
    """
    by_chunk = fuse_scored(scored_lists, weights, method, k)
    unit_lists = []
    for items in scored_lists:
        collapsed: dict = {}
        for key, score in items:
            collapsed.setdefault(units[key], score)
        unit_lists.append(list(collapsed.items()))
    best: dict = {}
    for key, _ in by_chunk:
        best.setdefault(units[key], key)
    fused_units = fuse_scored(unit_lists, weights, method, k)
    keyed = [(-score, position, best[unit], score) for position, (unit, score) in enumerate(fused_units)]
    leaders = set(best.values())
    keyed += [(-score, len(fused_units) + position, key, score)
              for position, (key, score) in enumerate(by_chunk) if key not in leaders]
    return [(key, score) for _, _, key, score in sorted(keyed)]
