"""BM25 query throughput on SciFact: ragkit's bm25s index vs rank-bm25, on the same tokens, in one run.

    python benchmarks/bm25_speed.py [--data DIR] [--index DIR] [--passes 5]

The chunks are those of a ragkit index of SciFact: benchmarks/out/scifact-index when it holds
the whole corpus (scifact_quality.py builds it), else a sparse-focused index built here with
the hash embedder (BM25 settings are the defaults either way; the embedder does not matter).

Measured, per query, top-10, all 300 test queries:

- ragkit ``Searcher.search_many(all queries, mode="sparse", k=10)`` (one batch call, with the
  docstore lookup of the results) and ``search_many([q])`` one query per call;
- ragkit ``BM25Index.search(q, 10)`` (tokenize + stem + bm25s scores + top-k);
- rank-bm25 ``BM25Okapi`` built on the same tokens (``BM25Index.tokenize``), timed with the
  same query tokenization + ``get_scores`` + ``argpartition`` top-10;
- the query tokenization alone, so it can be subtracted from both.

Fast methods run ``--passes`` times; rank-bm25 runs every query exactly once, its queries
spread over the passes (round-robin) so machine noise hits both sides alike. Writes
benchmarks/out/bm25_speed.json. Takes ~20 s (plus ~1 min to build an index if needed).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import numpy as np  # noqa: E402
from common import Timer, peak_rss_mb  # noqa: E402


def ensure_index(args) -> tuple[Path, dict]:
    from ragkit.config import config_from_dict
    from ragkit.errors import StoreError
    from ragkit.ingest.pipeline import ingest
    from ragkit.store.index import open_index

    corpus_len = len(common.load_corpus(args.data))
    candidates = [args.index] if args.index else [args.out / "scifact-index", args.out / "bm25-index"]
    for path in candidates:
        try:
            index = open_index(path)
        except (StoreError, OSError) as exc:
            if args.index:
                sys.exit(f"error: cannot open the index {args.index}: {exc}")
            continue
        docs = index.docstore.conn.execute("SELECT COUNT(DISTINCT doc_id) FROM chunks").fetchone()[0]
        index.close()
        if docs == corpus_len or args.index:
            return path, {"built": False, "path": str(path), "documents": docs}
    path = args.out / "bm25-index"
    if path.exists():
        shutil.rmtree(path)
    cfg = config_from_dict({"embedder": {"kind": "hash"}})  # default splitter and BM25 settings
    folder = common.make_corpus_folder(args.data, args.out / "scifact-corpus")
    print(f"building {path} (hash embedder; default splitter and BM25)", flush=True)
    with Timer() as t:
        ingest(folder, path, cfg, rebuild=True)
    return path, {"built": True, "path": str(path), "documents": corpus_len, "build_s": round(t.s, 1)}


def qps(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else float("inf")


def parse_args() -> argparse.Namespace:
    parser = common.parser(__doc__)
    common.add_data_arg(parser)
    parser.add_argument("--index", type=Path, default=None, help="a ragkit index of SciFact to use")
    parser.add_argument("--passes", type=int, default=5, help="passes over the queries for the fast methods (5)")
    args = parser.parse_args()
    common.require_dataset(args.data)
    args.out = args.out.resolve()
    return args


def time_passes(fast: dict, okapi_top10, queries: list[str], passes: int) -> tuple[dict, float, int]:
    """Every fast method over all queries once per pass; rank-bm25 over one slice of the queries per pass."""
    for fn in fast.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {name: [] for name in fast}
    okapi_time, okapi_done = 0.0, 0
    slices = [queries[p::passes] for p in range(passes)]
    for p in range(passes):
        for name, fn in fast.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
        start = time.perf_counter()
        for q in slices[p]:
            okapi_top10(q)
        okapi_time += time.perf_counter() - start
        okapi_done += len(slices[p])
        print(f"  pass {p + 1}/{passes}: " + ", ".join(f"{n} {qps(len(queries), times[n][-1])} q/s"
                                                       for n in fast), flush=True)
    return times, okapi_time, okapi_done


def summarise(times: dict, okapi_time: float, okapi_done: int, n: int) -> tuple[dict, dict]:
    """(queries/s per method, speed ratios against rank-bm25)."""
    results = {}
    for name, ts in times.items():
        results[name] = {"qps_median": qps(n, statistics.median(ts)), "qps_min": qps(n, max(ts)),
                         "qps_max": qps(n, min(ts)), "passes": len(ts), "queries_per_pass": n}
    results["rank_bm25_BM25Okapi"] = {"qps": qps(okapi_done, okapi_time), "queries": okapi_done,
                                      "seconds": round(okapi_time, 2)}
    tok_s = n / results["tokenize_only"]["qps_median"]
    okapi_score_s = max(okapi_time - tok_s * okapi_done / n, 1e-9)
    raw_s = n / results["ragkit_BM25Index_search"]["qps_median"]
    base = results["rank_bm25_BM25Okapi"]["qps"]
    ratios = {
        "ragkit_BM25Index_search": round(results["ragkit_BM25Index_search"]["qps_median"] / base, 1),
        "ragkit_search_many_batch": round(results["ragkit_search_many_batch"]["qps_median"] / base, 1),
        "ragkit_search_many_single": round(results["ragkit_search_many_single"]["qps_median"] / base, 1),
        "scoring_only_excluding_tokenization": round(okapi_score_s / max(raw_s - tok_s, 1e-9), 1),
    }
    return results, ratios


def main() -> None:
    args = parse_args()
    machine = common.machine_info()

    from rank_bm25 import BM25Okapi

    from ragkit.config import Config
    from ragkit.retrieval.search import Searcher

    index_path, index_info = ensure_index(args)
    _qids, queries, _qrels = common.load_test_queries(args.data)
    searcher = Searcher(index_path, Config())
    sparse = searcher.index.sparse
    texts = [c.text for c in searcher.index.docstore.iter_chunks()]
    print(f"{len(texts)} chunks, {len(queries)} queries; BM25 {sparse.settings()}", flush=True)

    with Timer() as t_tok:
        corpus_tokens = sparse.tokenize(texts)
    with Timer() as t_build:
        okapi = BM25Okapi(corpus_tokens)  # k1=1.5, b=0.75 as ragkit's defaults
    print(f"rank-bm25 index: tokenize {t_tok.s:.1f}s, build {t_build.s:.1f}s", flush=True)

    def okapi_top10(query: str) -> np.ndarray:
        scores = okapi.get_scores(sparse.tokenize([query])[0])
        top = np.argpartition(-scores, 9)[:10]
        return top[np.argsort(-scores[top], kind="stable")]

    # Agreement check (outside the timings): top-10 overlap between the two implementations.
    overlap = statistics.fmean(len(set(sparse.search(q, 10)[0].tolist()) & set(okapi_top10(q).tolist())) / 10
                               for q in queries[:50])
    fast = {
        "ragkit_search_many_batch": lambda: searcher.search_many(queries, mode="sparse", k=10),
        "ragkit_search_many_single": lambda: [searcher.search_many([q], mode="sparse", k=10) for q in queries],
        "ragkit_BM25Index_search": lambda: [sparse.search(q, 10) for q in queries],
        "tokenize_only": lambda: [sparse.tokenize([q]) for q in queries],
    }
    results, ratios = summarise(*time_passes(fast, okapi_top10, queries, args.passes), len(queries))
    out = {
        "machine": machine,
        "index": {**index_info, "chunks": len(texts), "bm25": sparse.settings()},
        "rank_bm25_build": {"tokenize_s": round(t_tok.s, 2), "build_s": round(t_build.s, 2)},
        "results": results,
        "ratios_vs_rank_bm25": ratios,
        "top10_overlap_bm25s_vs_rank_bm25_first50": round(overlap, 3),
        "peak_rss_mb": peak_rss_mb(),
    }
    searcher.close()
    path = common.write_json(args.out, "bm25_speed.json", out)
    print()
    print(f"{'method':30s} {'q/s':>10s}")
    for name, r in results.items():
        print(f"{name:30s} {r.get('qps_median', r.get('qps')):10.1f}")
    print(f"ratios vs rank-bm25: {out['ratios_vs_rank_bm25']}")
    print(f"top-10 overlap bm25s (lucene) vs rank-bm25 (okapi): {overlap:.3f}; peak RSS {out['peak_rss_mb']} MB")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
