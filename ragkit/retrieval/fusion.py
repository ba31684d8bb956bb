"""Fusion: every way ragkit combines ranked lists into one, as pure functions.

- :func:`reciprocal_rank_fusion` (RRF, weighted): score(d) = sum over lists L containing d of
  weight(L) / (k + rank_L(d)), ranks from 1. k = 60 is the constant of Cormack, Clarke and
  Buettcher (2009). Ties keep first-seen order, as LangChain's ``EnsembleRetriever`` does,
  which this is tested against.
- :func:`convex_fusion`: a weighted sum of normalised scores (:func:`normalize_scores`: min-max, max or z-score).
- :func:`union_fusion`: the deduplicated union, by each key's best rank (multi-query).
- :func:`unit_fusion`: hybrid fusion by document unit (doc_id and page) instead of by chunk.

Lists are best first; keys are anything hashable (index rows, chunk ids, document units).
"""

from __future__ import annotations

from typing import Hashable, Mapping, Sequence

from ragkit import choices
from ragkit.config import DENSE_WEIGHT_BY_LENGTH
from ragkit.errors import SearchError
from ragkit.text import tokenize

METHODS = tuple(choices.FUSIONS)
NORMALIZATIONS = ("minmax", "max", "zscore")


def length_weights(query: str, schedule: Sequence[tuple[int, float]] = DENSE_WEIGHT_BY_LENGTH) -> dict[str, float]:
    """Dense and sparse weights for ``query`` by its number of distinct terms (stemmed, stopwords out).

    ``schedule`` is ``((short, w_short), (long, w_long))``: the dense weight is ``w_short`` up to ``short``
    terms, ``w_long`` from ``long`` terms on, linear between; the sparse weight is 1 minus it.
    """
    (short, high), (long, low) = schedule
    terms = len(set(tokenize([query])[0]))
    share = min(max((terms - short) / (long - short), 0.0), 1.0) if long > short else float(terms >= long)
    dense = high + (low - high) * share
    return {"dense": round(dense, 6), "sparse": round(1.0 - dense, 6)}


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


def normalize_scores(values: Sequence[float], normalization: str = "minmax") -> list[float]:
    """One list's scores on a common scale: ``minmax`` (0..1), ``max`` (score / best: 0 stays 0) or ``zscore``.

    ``max`` treats 0 as the floor of both cosine and BM25, so one outlier far below the rest does
    not stretch the scale as it does in min-max; ``zscore`` centres and scales by the spread.
    A list whose scores are all equal maps to 1.0 each (minmax, max) or 0.0 each (zscore).
    """
    if normalization not in NORMALIZATIONS:
        raise SearchError(f"normalization {normalization!r} is not one of {', '.join(NORMALIZATIONS)}")
    if not values:
        return []
    low, high = min(values), max(values)
    if normalization == "minmax":
        return [(v - low) / (high - low) if high > low else 1.0 for v in values]
    if normalization == "max":
        return [v / high if high > 0 else 1.0 for v in values]
    mean = sum(values) / len(values)
    spread = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
    return [(v - mean) / spread if spread > 0 else 0.0 for v in values]


def convex_fusion(scored_lists: Sequence[Sequence[tuple[Hashable, float]]], weights: Sequence[float] | None = None,
                  normalization: str = "minmax") -> list[tuple[Hashable, float]]:
    """Fuse scored lists by a convex combination of normalised scores.

    score(d) = sum over lists L of  w_L / sum(w) * norm_L(d), with :func:`normalize_scores`; a key
    missing from a list gets that list's lowest normalised score (0 for min-max). Unlike
    RRF it keeps how far apart the scores are, not only their order (Bruch et al., 2023). An empty
    list adds nothing, so fusing with an empty list keeps the other list's order. Each list's keys
    must be unique; ties keep first-seen order.
    """
    weights = _weights(weights, scored_lists, "scored lists")
    total = sum(weights) or 1.0
    normalised = [dict(zip([key for key, _ in items], normalize_scores([s for _, s in items], normalization)))
                  for items in scored_lists]
    keys = list(dict.fromkeys(key for items in scored_lists for key, _ in items))
    fused = dict.fromkeys(keys, 0.0)
    for scores, weight in zip(normalised, weights):
        if scores:
            # A key the list did not return ranks below all it did return; a list of equal
            # scores (one item, say) says nothing about the missing ones: they get 0.
            floor = min(scores.values()) if len(set(scores.values())) > 1 else 0.0
            for key in keys:
                fused[key] += weight / total * scores.get(key, floor)
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
                method: str = "rrf", k: int = 60, normalization: str = "minmax") -> list[tuple[Hashable, float]]:
    """Fuse ``(key, score)`` lists with ``method``: ``rrf`` (on ranks, constant ``k``) or ``convex`` (on
    scores normalised by ``normalization``)."""
    if method == "convex":
        return convex_fusion(scored_lists, weights, normalization)
    if method == "rrf":
        return reciprocal_rank_fusion([[key for key, _ in items] for items in scored_lists], weights, k=k)
    raise SearchError(f"fusion {method!r} is not one of {', '.join(METHODS)}")


def unit_fusion(scored_lists: Sequence[Sequence[tuple[Hashable, float]]], units: Mapping[Hashable, Hashable],
                weights: Sequence[float] | None = None, method: str = "rrf", k: int = 60,
                normalization: str = "minmax") -> list[tuple[Hashable, float]]:
    """Fuse chunk lists by the unit (document) each chunk belongs to; ``units`` maps chunk -> unit.

    Each list ranks units by their first (best) chunk, with that chunk's score, and the unit
    rankings are fused with ``method``. So a document that one retriever finds through one chunk
    and the other through another gets the credit of both. A unit's best chunk (in the chunk-level
    fusion) carries the unit's fused score; its other chunks keep their own (lower) chunk-level
    score, so a weak chunk of a strong document does not push the next document's best chunk down.
    Ties: units in first-seen order (first list first), then the other chunks.
    """
    by_chunk = fuse_scored(scored_lists, weights, method, k, normalization)
    unit_lists = []
    for items in scored_lists:
        collapsed: dict = {}
        for key, score in items:
            collapsed.setdefault(units[key], score)
        unit_lists.append(list(collapsed.items()))
    best: dict = {}
    for key, _ in by_chunk:
        best.setdefault(units[key], key)
    fused_units = fuse_scored(unit_lists, weights, method, k, normalization)
    keyed = [(-score, position, best[unit], score) for position, (unit, score) in enumerate(fused_units)]
    leaders = set(best.values())
    keyed += [(-score, len(fused_units) + position, key, score)
              for position, (key, score) in enumerate(by_chunk) if key not in leaders]
    return [(key, score) for _, _, key, score in sorted(keyed)]
