"""Diagnostic: which hybrid fusion works best on SciFact chunks? Tuned on train, reported on test.

    python benchmarks/hybrid_variants.py [--data DIR] [--index DIR]

Reads the index scifact_quality.py built (benchmarks/out/scifact-index), computes each query's
dense and sparse chunk rankings once (``Searcher.dense_ranking`` / ``sparse_ranking``, the
functions ragkit's hybrid search uses), then fuses them in several ways, all ending in
documents ranked by their best chunk:

- ragkit's own ``Searcher.search_many(mode="hybrid")`` with today's default config;
- ``chunk_rrf``: RRF over chunk rows (k=60, equal weights), 100 or 300 candidates a side;
- ``doc_rrf``: each side first collapsed to documents (best chunk), then RRF;
- RRF grids over the constant k and the dense/sparse weight, chunk- and doc-level;
- convex combination of min-max normalised scores (doc-level, best chunk score).

Grid settings are chosen on the SciFact *train* queries (queries_train.jsonl,
qrels_train.tsv: 809 queries) and then reported on the 300 test queries, so the test numbers
are not tuned on test. Writes benchmarks/out/hybrid_variants.json. ~15 s (embeds 1,109 short queries).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import Timer, read_jsonl  # noqa: E402

from ragkit.evaluation.metrics import dedupe_ranked, evaluate  # noqa: E402

METRICS = ("ndcg@10", "recall@100", "mrr@10")


def load_split(data: Path, queries_file: str, qrels_file: str):
    qrels: dict[str, dict[str, int]] = {}
    for n, line in enumerate(open(data / qrels_file, encoding="utf-8")):
        parts = line.rstrip("\n").split("\t")
        if (n == 0 and parts[0] == "query-id") or len(parts) < 3:
            continue
        qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    texts = {str(q["_id"]): q["text"] for q in read_jsonl(data / queries_file)}
    qids = [q for q in qrels if q in texts]
    return qids, [texts[q] for q in qids], {q: qrels[q] for q in qids}


def rrf(lists, weights, k):
    scores: dict = {}
    for items, weight in zip(lists, weights):
        for rank, key in enumerate(items, start=1):
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
    return [key for key, _ in sorted(scores.items(), key=lambda kv: kv[1], reverse=True)]


def doc_list(ranking, row_doc):
    """(row, score) chunk list -> [(doc, best score)] in order of best chunk."""
    seen, out = set(), []
    for row, score in ranking:
        doc = row_doc[row]
        if doc not in seen:
            seen.add(doc)
            out.append((doc, score))
    return out


def minmax(pairs):
    if not pairs:
        return {}
    values = [s for _, s in pairs]
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return {d: (s - lo) / span for d, s in pairs}


# Fusions: each factory returns fuse(dense, sparse) -> documents ranked best first, where dense
# and sparse are one query's (row, score) chunk rankings and row_doc maps a row to its doc_id.

def chunk_rrf(row_doc, k=60, wd=1.0, ws=1.0, cand=100):
    def fuse(d, s):
        rows = rrf([[r for r, _ in d[:cand]], [r for r, _ in s[:cand]]], [wd, ws], k)
        return dedupe_ranked([row_doc[r] for r in rows])
    return fuse


def doc_rrf(row_doc, k=60, wd=1.0, ws=1.0, cand=100):
    def fuse(d, s):
        return rrf([[x for x, _ in doc_list(d[:cand], row_doc)], [x for x, _ in doc_list(s[:cand], row_doc)]],
                   [wd, ws], k)
    return fuse


def doc_convex(row_doc, alpha=0.5, cand=100):
    def fuse(d, s):
        nd, ns = minmax(doc_list(d[:cand], row_doc)), minmax(doc_list(s[:cand], row_doc))
        keys = list(dict.fromkeys([*nd, *ns]))
        return sorted(keys, key=lambda x: alpha * nd.get(x, 0.0) + (1 - alpha) * ns.get(x, 0.0), reverse=True)
    return fuse


def only(row_doc, side):
    def fuse(d, s):
        return dedupe_ranked([row_doc[r] for r, _ in (d if side == "dense" else s)])
    return fuse


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_data_arg(parser)
    parser.add_argument("--index", type=Path, default=None, help="default <out>/scifact-index")
    args = parser.parse_args()
    common.require_dataset(args.data)
    for name in ("queries_train.jsonl", "qrels_train.tsv"):
        if not (args.data / name).is_file():
            sys.exit(f"error: {args.data / name} missing: the train split is needed to tune without touching test")
    args.out = args.out.resolve()
    return args


def rank_splits(searcher, splits: dict, depth: int) -> dict:
    """Each split's dense and sparse chunk rankings, computed once for every fusion."""
    rankings = {}
    for split, (qids, texts, _qrels) in splits.items():
        with Timer() as t:
            vectors = searcher.embedder.embed_array(texts)
            dense = searcher.dense_ranking(vectors, depth, None)
            sparse = [searcher.sparse_ranking(q, depth, None) for q in texts]
        rankings[split] = (dense, sparse)
        print(f"{split}: {len(qids)} queries ranked in {t.s:.1f}s", flush=True)
    return rankings


def tune_on_train(row_doc, score) -> dict:
    """Each grid's best setting by train nDCG@10, with its train and test metrics."""
    weights = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
    grids = {
        "chunk_rrf": {(k, w): chunk_rrf(row_doc, k=k, wd=w) for k in (10, 20, 40, 60, 100) for w in weights},
        "doc_rrf": {(k, w): doc_rrf(row_doc, k=k, wd=w) for k in (10, 20, 40, 60, 100) for w in weights},
        "doc_convex": {(a,): doc_convex(row_doc, alpha=a) for a in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)},
    }
    tuned = {}
    for name, grid in grids.items():
        train_scores = {key: score("train", fn) for key, fn in grid.items()}
        best = max(train_scores, key=lambda key: train_scores[key]["ndcg@10"])
        tuned[name] = {
            "params": dict(zip(("rrf_k", "dense_weight") if name != "doc_convex" else ("alpha_dense",), best)),
            "train": train_scores[best], "test": score("test", grid[best]),
            "grid_train_ndcg@10": {str(key): v["ndcg@10"] for key, v in train_scores.items()},
        }
    return tuned


def print_results(results: dict) -> None:
    print(f"\n{'variant':34s} {'train nDCG@10':>13s} {'test nDCG@10':>12s} {'test R@100':>10s} {'test MRR@10':>11s}")
    rk = results["ragkit_search_hybrid_default_config"]
    print(f"{'ragkit Searcher hybrid (config)':34s} {rk['train']['ndcg@10']:13.4f} {rk['test']['ndcg@10']:12.4f} "
          f"{rk['test']['recall@100']:10.4f} {rk['test']['mrr@10']:11.4f}")
    for name, r in results["fixed"].items():
        print(f"{name:34s} {r['train']['ndcg@10']:13.4f} {r['test']['ndcg@10']:12.4f} "
              f"{r['test']['recall@100']:10.4f} {r['test']['mrr@10']:11.4f}")
    for name, r in results["tuned_on_train"].items():
        label = f"{name} {r['params']}"
        print(f"{label:34s} {r['train']['ndcg@10']:13.4f} {r['test']['ndcg@10']:12.4f} "
              f"{r['test']['recall@100']:10.4f} {r['test']['mrr@10']:11.4f}")


def main() -> None:
    args = parse_args()
    index_dir = args.index or args.out / "scifact-index"
    machine = common.machine_info()

    from ragkit.config import Config
    from ragkit.retrieval.search import Searcher

    cfg = Config()
    searcher = Searcher(index_dir, cfg)
    row_doc = {c.row: c.doc_id for c in searcher.index.docstore.iter_chunks()}
    depth = max(300, cfg.search.candidates)
    splits = {"train": load_split(args.data, "queries_train.jsonl", "qrels_train.tsv"),
              "test": load_split(args.data, "queries.jsonl", "qrels.tsv")}
    rankings = rank_splits(searcher, splits, depth)

    def score(split, fuse):
        qids, _texts, qrels = splits[split]
        dense, sparse = rankings[split]
        run = {qid: fuse(d, s)[:100] for qid, d, s in zip(qids, dense, sparse)}
        return {m: round(v, 4) for m, v in evaluate(qrels, run, METRICS).items()}

    fixed = {
        "dense_only": only(row_doc, "dense"),
        "sparse_only": only(row_doc, "sparse"),
        "chunk_rrf_k60_cand100": chunk_rrf(row_doc, cand=100),
        "chunk_rrf_k60_cand300": chunk_rrf(row_doc, cand=300),
        "doc_rrf_k60_cand100": doc_rrf(row_doc, cand=100),
        "doc_rrf_k60_cand300": doc_rrf(row_doc, cand=300),
        "doc_convex_a0.5_cand100": doc_convex(row_doc, alpha=0.5, cand=100),
        "doc_convex_a0.5_cand300": doc_convex(row_doc, alpha=0.5, cand=300),
    }
    results = {"fixed": {name: {split: score(split, fn) for split in splits} for name, fn in fixed.items()}}
    # ragkit's own hybrid search with today's config (whatever its fusion is), for reference.
    results["ragkit_search_hybrid_default_config"] = {"search_config": asdict(cfg.search)}
    for split, (qids, texts, qrels) in splits.items():
        hits = searcher.search_many(texts, mode="hybrid", k=200)
        run = {qid: dedupe_ranked([h.doc_id for h in res])[:100] for qid, res in zip(qids, hits)}
        results["ragkit_search_hybrid_default_config"][split] = {
            m: round(v, 4) for m, v in evaluate(qrels, run, METRICS).items()}
    results["tuned_on_train"] = tune_on_train(row_doc, score)
    searcher.close()
    path = common.write_json(args.out, "hybrid_variants.json", {"machine": machine, "depth": depth, **results})
    print_results(results)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
