"""Issue 8: choose the hybrid fusion default on SciFact *train* queries only, by a rule fixed in advance.

    python benchmarks/fusion_choose.py [--out DIR]

Grid: fusion rrf (weighted, k=60) or convex with min-max / max / z-score normalisation, times the
dense weight w in {0.5, 0.55, 0.6, 0.65, 0.7} (sparse 1 - w), each fused by document unit from
the cached top-300 dense and sparse rankings (fusion_cache.py; sparse = chunk BM25 plus its
document's). Rule: the setting with the best nDCG@10 *averaged with its two neighbouring weights*
(a plateau, not a spike: a default has to hold on data it never saw; so only the grid's inner
weights, which have two neighbours, can be chosen). Nothing else is looked at; fusion_datasets.py then reports the choice on every set.
Writes benchmarks/out/fusion_choose.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from fusion_cache import load_rankings, specs  # noqa: E402
from fusion_score import score_run  # noqa: E402

WEIGHTS = (0.5, 0.55, 0.6, 0.65, 0.7)
FUSIONS = {"rrf": {"fusion": "rrf"}, "convex-minmax": {"fusion": "convex", "normalization": "minmax"},
           "convex-max": {"fusion": "convex", "normalization": "max"},
           "convex-zscore": {"fusion": "convex", "normalization": "zscore"}}


def settings(fusion: str, weight: float) -> dict:
    """The ``search`` overrides of one grid point."""
    return {**FUSIONS[fusion], "weights": {"dense": weight, "sparse": round(1 - weight, 2)}}


def grid_scores(searcher, rankings) -> dict[str, dict[float, float]]:
    """nDCG@10 on the train queries of every grid point: {fusion: {weight: score}}."""
    from ragkit.config import Config

    base = Config()
    out: dict[str, dict[float, float]] = {}
    for fusion in FUSIONS:
        out[fusion] = {}
        for weight in WEIGHTS:
            searcher.cfg = dataclasses.replace(base, search=dataclasses.replace(base.search, **settings(fusion, weight)))
            rows = [[row for row, _ in searcher.fuse(d, s)] for d, s in zip(rankings.dense, rankings.sparse)]
            out[fusion][weight] = score_run(rankings, rows)["ndcg@10"]
            print(f"  {fusion:14s} dense {weight:.2f}: {out[fusion][weight]:.4f}", flush=True)
    return out


def plateau(scores: dict[float, float]) -> dict[float, float]:
    """Each inner weight's score averaged with its two neighbours' in the grid."""
    weights = sorted(scores)
    return {weights[i]: round(sum(scores[w] for w in weights[i - 1: i + 2]) / 3, 4) for i in range(1, len(weights) - 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=common.OUT, help=f"output folder (default {common.OUT})")
    args = parser.parse_args()
    from ragkit.retrieval.search import Searcher

    machine = common.machine_info()
    spec = specs(args.out.resolve(), "train")["scifact"]
    rankings = load_rankings(spec, args.out.resolve() / "fusion" / "cache", tag="-train")
    searcher = Searcher(spec.index)
    scores = grid_scores(searcher, rankings)
    searcher.close()
    smoothed = {fusion: plateau(by_weight) for fusion, by_weight in scores.items()}
    fusion, weight = max(((f, w) for f in smoothed for w in smoothed[f]), key=lambda fw: smoothed[fw[0]][fw[1]])
    chosen = {"fusion": fusion, "dense_weight": weight, "search": settings(fusion, weight),
              "train_ndcg@10": scores[fusion][weight], "plateau_ndcg@10": smoothed[fusion][weight]}
    print(f"chosen: {chosen}")
    path = common.write_json(args.out, "fusion_choose.json", {"machine": machine, "queries": len(rankings.dataset.queries),
                                                              "scores": scores, "plateau": smoothed, "chosen": chosen})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
