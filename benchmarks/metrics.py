"""Retrieval metrics as small pure functions: nDCG@k, recall@k, MRR@k.

Inputs are BEIR-shaped:

- ``qrels``: ``{query_id: {doc_id: relevance}}`` (graded; relevance <= 0 means not relevant)
- ``run``:   ``{query_id: [doc_id, ...]}`` ranked best first, without duplicates

Formulas (the standard trec_eval / BEIR ones):

- nDCG@k: DCG = sum over ranks r = 1..k of rel(d_r) / log2(r + 1); the ideal DCG uses the
  query's qrels relevances sorted descending (top k). Linear gain (gain = rel), as in
  trec_eval's ``ndcg_cut`` and BEIR. (For binary qrels, as SciFact's, every variant agrees.)
- recall@k: |relevant docs in the top k| / |relevant docs| (relevant: rel > 0).
- MRR@k: 1 / rank of the first relevant doc in the top k, 0 if none.

Every query in ``qrels`` counts (a query missing from the run scores 0); queries with no
relevant document are skipped, as trec_eval does. Averages are macro (per query, then mean).

Run ``python benchmarks/metrics.py`` for a hand-checked self-test (and a ranx cross-check
when ranx is installed).
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

Qrels = Mapping[str, Mapping[str, float]]
Run = Mapping[str, Sequence[str]]


def dcg(gains: Sequence[float]) -> float:
    """Discounted cumulative gain of gains in rank order (rank 1 first): sum g / log2(r + 1)."""
    return sum(g / math.log2(r + 1) for r, g in enumerate(gains, start=1) if g)


def ndcg_at_k(rels: Mapping[str, float], ranked: Sequence[str], k: int) -> float:
    """nDCG@k of one ranked list against one query's graded relevances."""
    ideal = dcg(sorted((r for r in rels.values() if r > 0), reverse=True)[:k])
    if ideal == 0:
        return 0.0
    gains = [max(float(rels.get(d, 0.0)), 0.0) for d in ranked[:k]]
    return dcg(gains) / ideal


def recall_at_k(rels: Mapping[str, float], ranked: Sequence[str], k: int) -> float:
    """Fraction of the relevant documents found in the top k."""
    relevant = {d for d, r in rels.items() if r > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def mrr_at_k(rels: Mapping[str, float], ranked: Sequence[str], k: int) -> float:
    """Reciprocal rank of the first relevant document in the top k (0 when none)."""
    for rank, doc in enumerate(ranked[:k], start=1):
        if rels.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


_METRICS = {"ndcg": ndcg_at_k, "recall": recall_at_k, "mrr": mrr_at_k}


def evaluate(qrels: Qrels, run: Run, metrics: Sequence[str] = ("ndcg@10", "recall@100", "mrr@10"),
             per_query: bool = False) -> dict:
    """Mean of each metric (``"name@k"``) over the queries of ``qrels`` that have a relevant doc.

    With ``per_query=True`` returns ``{"mean": {...}, "per_query": {metric: {qid: value}}}``.
    """
    parsed = []
    for spec in metrics:
        name, _, k = spec.partition("@")
        if name not in _METRICS or not k.isdigit():
            raise ValueError(f"unknown metric {spec!r}; use ndcg@K, recall@K or mrr@K")
        parsed.append((spec, _METRICS[name], int(k)))
    qids = [q for q, rels in qrels.items() if any(r > 0 for r in rels.values())]
    values = {spec: {} for spec, _, _ in parsed}
    for qid in qids:
        ranked = list(run.get(qid, ()))
        for spec, fn, k in parsed:
            values[spec][qid] = fn(qrels[qid], ranked, k)
    means = {spec: (sum(v.values()) / len(v) if v else 0.0) for spec, v in values.items()}
    return {"mean": means, "per_query": values} if per_query else means


def dedupe_ranked(ids: Sequence[str]) -> list[str]:
    """Keep the first occurrence of each id (rank documents by their best chunk)."""
    seen: set[str] = set()
    out = []
    for doc in ids:
        if doc not in seen:
            seen.add(doc)
            out.append(doc)
    return out


def ranx_evaluate(qrels: Qrels, run: Run, metrics: Sequence[str] = ("ndcg@10", "recall@100", "mrr@10")) -> dict:
    """The same means computed by ranx (a dev-only cross-check; ranx is not a ragkit dependency)."""
    from ranx import Qrels as RQrels, Run as RRun, evaluate as r_evaluate

    q = {qid: {d: int(r) for d, r in rels.items()} for qid, rels in qrels.items()
         if any(r > 0 for r in rels.values())}
    # Strictly decreasing scores reproduce our order exactly; an empty list gets a dummy,
    # never-relevant doc because ranx rejects empty rankings.
    r = {}
    for qid in q:
        ranked = list(run.get(qid, ())) or ["__no_result__"]
        r[qid] = {d: float(len(ranked) - i) for i, d in enumerate(ranked)}
    out = r_evaluate(RQrels(q), RRun(r), list(metrics), make_comparable=True)
    if isinstance(out, float):  # one metric: ranx returns a bare float
        out = {metrics[0]: out}
    return {m: float(v) for m, v in out.items()}


def _self_test() -> None:
    qrels = {"q1": {"a": 1, "b": 1}, "q2": {"x": 2, "y": 1}, "q3": {"z": 1}, "q4": {"n": 0}}
    run = {"q1": ["c", "a", "d", "b"], "q2": ["y", "x"], "q3": []}
    # q1: DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3)
    q1 = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    # q2: DCG = 1 + 2/log2(3); IDCG = 2 + 1/log2(3)
    q2 = (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))
    got = evaluate(qrels, run, ("ndcg@10", "recall@2", "mrr@10"))
    want = {"ndcg@10": (q1 + q2 + 0) / 3, "recall@2": (0.5 + 1 + 0) / 3, "mrr@10": (0.5 + 1 + 0) / 3}
    for key, value in want.items():
        assert abs(got[key] - value) < 1e-12, (key, got[key], value)
    print("self-test ok:", {k: round(v, 6) for k, v in got.items()})
    try:
        ranx = ranx_evaluate(qrels, run, ("ndcg@10", "recall@2", "mrr@10"))
    except ImportError:
        print("ranx not installed: cross-check skipped")
        return
    print("ranx:        ", {k: round(v, 6) for k, v in ranx.items()})
    for key in want:
        assert abs(ranx[key] - got[key]) < 1e-9, (key, ranx[key], got[key])
    print("ranx agrees")


if __name__ == "__main__":
    _self_test()
