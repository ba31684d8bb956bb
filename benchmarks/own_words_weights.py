"""Choose the hybrid weights by query length on the calibration halves (issue 18, point 3).

    python benchmarks/own_words.py --split cal --choose-weights

For every set: each query's dense and sparse top-300 chunk rankings (the functions ``ragkit search``
fuses, cached in ``<out>/rankings/``). Every schedule of the grid — dense weight ``high`` up to ``short``
distinct query terms, ``low`` from ``long`` terms on, linear between — fuses them with ``Searcher.fuse``'s
own code (convex, max normalisation, by document). The rule, fixed before looking: the schedule whose
worst set loses least to that set's better single retriever, ties to the best mean over sets.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np

GRID = {"high": (0.6, 0.65, 0.7, 0.75, 0.8), "low": (0.2, 0.25, 0.3, 0.35), "short": (3, 4, 5, 6, 8),
        "long": (10, 12, 14, 16, 20)}
DEPTH = 300


def cached_rankings(searcher, dataset, path: Path) -> tuple[list, list]:
    """Each query's dense and sparse (row, score) lists, from ``path`` or computed and saved there (no pickle)."""
    if path.is_file():
        data = np.load(path, allow_pickle=False)
        return _pairs(data["dense_rows"], data["dense_scores"]), _pairs(data["sparse_rows"], data["sparse_scores"])
    texts = [text for _, text in dataset.queries]
    dense = searcher.dense_ranking(searcher.embedder.embed_array(texts), DEPTH, None)
    sparse = [searcher.sparse_ranking(text, DEPTH, None) for text in texts]
    (dr, ds), (sr, ss) = _padded(dense), _padded(sparse)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, dense_rows=dr, dense_scores=ds, sparse_rows=sr, sparse_scores=ss)
    return dense, sparse


def _padded(lists: list) -> tuple[np.ndarray, np.ndarray]:
    rows = np.full((len(lists), DEPTH), -1, dtype=np.int64)
    scores = np.zeros((len(lists), DEPTH), dtype=np.float32)
    for i, items in enumerate(lists):
        for j, (row, score) in enumerate(items[:DEPTH]):
            rows[i, j], scores[i, j] = row, score
    return rows, scores


def _pairs(rows: np.ndarray, scores: np.ndarray) -> list:
    return [[(int(r), float(s)) for r, s in zip(rr, ss) if r >= 0] for rr, ss in zip(rows, scores)]


def schedules() -> list[tuple[tuple[int, float], tuple[int, float]]]:
    """Every ``((short, high), (long, low))`` of the grid."""
    return [((short, high), (long, low)) for high, low, short, long in
            itertools.product(GRID["high"], GRID["low"], GRID["short"], GRID["long"])]


def choose(sets: dict, score) -> dict:
    """The schedule by the rule (module docstring). ``sets``: name -> (searcher, dataset, dense, sparse, spec);
    ``score(spec, dataset, qid, rows, searcher)`` -> the query's main metric or None."""
    from ragkit.retrieval.fusion import length_weights

    def mean_of(name: str, rankings: list) -> float:
        searcher, dataset, _, _, spec = sets[name]
        values = [score(spec, dataset, qid, rows, searcher) for (qid, _), rows in zip(dataset.queries, rankings)]
        values = [v for v in values if v is not None]
        return sum(values) / len(values) if values else 0.0

    best_single = {name: max(mean_of(name, [[r for r, _ in d] for d in dense]),
                             mean_of(name, [[r for r, _ in s] for s in sparse]))
                   for name, (_, _, dense, sparse, _) in sets.items()}
    units = {name: searcher.index.docstore.units({row for lists in (dense, sparse) for items in lists for row, _ in items})
             for name, (searcher, _, dense, sparse, _) in sets.items()}   # read once: the same rows every schedule
    results = []
    for schedule in schedules():
        values = {}
        for name, (searcher, dataset, dense, sparse, _) in sets.items():
            fused = [_fuse(searcher.cfg.search, units[name], d, s, length_weights(text, schedule))
                     for (_, text), d, s in zip(dataset.queries, dense, sparse)]
            values[name] = mean_of(name, fused)
        regret = {name: best_single[name] - value for name, value in values.items()}
        results.append({"schedule": schedule, "worst": max(regret.values()), "mean": sum(regret.values()) / len(regret),
                        "values": values})
    results.sort(key=lambda r: (round(r["worst"], 4), round(r["mean"], 6)))
    return {"best_single": best_single, "chosen": results[0], "top": results[:10]}


def _fuse(cfg, units: dict, dense: list, sparse: list, weights: dict) -> list[int]:
    """``Searcher.fuse``'s unit fusion with the given weights (``cfg``: the search section)."""
    from ragkit.retrieval.fusion import unit_fusion

    fused = unit_fusion([dense, sparse], units, [weights["dense"], weights["sparse"]], cfg.fusion, cfg.rrf_k,
                        cfg.normalization)
    return [row for row, _ in fused]


def print_choice(choice: dict) -> None:
    """The chosen schedule and the ten best, as markdown."""
    names = list(choice["best_single"])
    print(f"\n| schedule ((short, dense), (long, dense)) | worst loss | mean gain | {' | '.join(names)} |")
    print("|---|---|---|" + "---|" * len(names))
    singles = " | ".join(f"{choice['best_single'][n]:.3f}" for n in names)
    print(f"| best single | | | {singles} |")
    for row in choice["top"]:
        cells = " | ".join(f"{row['values'][n]:.3f}" for n in names)
        print(f"| {json.dumps(row['schedule'])} | {row['worst']:+.3f} | {-row['mean']:+.3f} | {cells} |")
