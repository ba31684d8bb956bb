"""Score a fused chunk ranking on a data set the way ``ragkit eval`` does (used by fusion_datasets.py).

BEIR sets: documents ranked by their best chunk, nDCG@10 / recall@100 / MRR@10. QA sets: the
sources (and pages) of the top chunks, source_hit@k / page_hit@k, best over a question's sources.
"""

from __future__ import annotations

from ragkit.evaluation import metrics as M

BEIR_METRICS = ("ndcg@10", "recall@100", "mrr@10")
MAIN_METRIC = {"scifact": "ndcg@10", "msmarco": "ndcg@10", "docugami": "source_hit@5", "sample": "source_hit@1"}


def score_run(rankings, ranked_rows: list[list[int]]) -> dict[str, float]:
    """Metrics of one run: ``ranked_rows[i]`` is query i's fused chunk rows, best first."""
    dataset, units = rankings.dataset, rankings.units
    if dataset.kind == "beir":
        run = {qid: M.dedupe_ranked([units[r][0] for r in rows])[:100]
               for (qid, _), rows in zip(dataset.queries, ranked_rows)}
        return {m: round(v, 4) for m, v in M.evaluate(dataset.qrels, run, BEIR_METRICS).items()}
    out: dict[str, list[float]] = {"source_hit@1": [], "source_hit@5": [], "page_hit@5": []}
    for (qid, _), rows in zip(dataset.queries, ranked_rows):
        item = dataset.items[qid]
        if not item.sources:
            continue
        sources = [units[r][2] for r in rows[:10]]
        for k in (1, 5):
            out[f"source_hit@{k}"].append(max(M.source_hit_at_k(s, sources, k) for s in item.sources))
        if item.page is not None:
            hits = [(units[r][2], units[r][1]) for r in rows[:10]]
            out["page_hit@5"].append(max(M.page_hit_at_k(s, item.page, hits, 5) for s in item.sources))
    return {m: round(sum(v) / len(v), 4) for m, v in out.items() if v}
