"""ragkit ask query strategies on SciFact: retrieval quality and cost of each transform vs plain hybrid.

    python benchmarks/strategies.py [--data DIR] [--limit N] [--depth 300]
                                    [--strategies none,multi-query,rag-fusion,hyde,step-back,decompose]
                                    [--probe N] [--no-cache]

Measures only the transform + retrieval half of ``ragkit ask`` (no answer is generated): for
each SciFact test query and each strategy, ``plan_queries(question, strategy, llm, n=3)`` with the
local model (SmolLM2-135M-Instruct via llama.cpp), then ``retrieve(searcher, plan, "hybrid",
depth)`` on ``benchmarks/out/scifact-index`` (built by ``scifact_quality.py``). Documents are ranked
by their best chunk (first occurrence of a doc_id among the fused chunks), cut at 100, exactly
as in ``scifact_quality.py``. Strategy ``none`` (plain hybrid, no model) is the baseline, run in
the same process on the same queries; strategies are interleaved per query so that load
changes on the shared machine hit all of them alike.

Reported per strategy: nDCG@10, recall@100, MRR@10 (``ragkit.evaluation.metrics``; ranx cross-check when
installed), the change against ``none`` with a paired bootstrap 95% interval and per-query
wins/ties/losses on nDCG@10, LLM calls and tokens per query, how often the model's output was
unusable and the plan fell back to the original question, and latency p50/p95 per query
(transform + retrieval, and each part).

``--limit N`` takes the first N test queries (qrels order; default 300). ``--probe N`` times each
transform on N queries without the cache and prints the projected run time per limit, then
exits: that is how the limit in BENCHMARKS.md was chosen.

Model answers are cached in SQLite under ``benchmarks/out/llm-cache/strategies/<strategy>/``:
one cache per strategy, because multi-query and rag-fusion send the same prompt and a shared
cache would hand rag-fusion multi-query's answers for free. Re-runs are cheap, but a cached
answer's latency does not measure the model: ``cached_calls`` is reported, and ``--no-cache``
forces fresh calls. Writes benchmarks/out/strategies.json and prints a table.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402  (sets warning filters before langchain imports)
from common import Timer, peak_rss_mb, percentiles, ranx_evaluate  # noqa: E402

from ragkit.evaluation.metrics import dedupe_ranked, evaluate, per_query  # noqa: E402

STRATEGIES = ("none", "multi-query", "rag-fusion", "hyde", "step-back", "decompose")
METRICS = ("ndcg@10", "recall@100", "mrr@10")
BOOTSTRAP = 2000


def doc_run(fused) -> list[str]:
    """Documents ranked by their best chunk, top 100 (as scifact_quality.py)."""
    return dedupe_ranked([r.doc_id for r in fused])[:100]


def one(question: str, strategy: str, llm, searcher, depth: int, n_queries: int) -> dict:
    """Plan + retrieve one query with one strategy; timings, usage and the plan's outline."""
    from ragkit.retrieval.pipeline import retrieve
    from ragkit.retrieval.transforms import plan_queries

    if llm is not None:
        llm.reset_usage()
    t0 = time.perf_counter()
    plan = plan_queries(question, strategy, llm if strategy != "none" else None, n=n_queries)
    t1 = time.perf_counter()
    fused, _ = retrieve(searcher, plan, "hybrid", depth)
    t2 = time.perf_counter()
    usage = llm.usage.to_json() if (llm is not None and strategy != "none") else {
        "calls": 0, "cached_calls": 0, "prompt_tokens": 0, "completion_tokens": 0}
    return {
        "transform_s": t1 - t0, "retrieve_s": t2 - t1, "total_s": t2 - t0, "usage": usage,
        "llm_calls": plan.llm_calls, "queries": plan.queries[1:], "dense_only": [p[:300] for p in plan.dense_only],
        "fallback": strategy != "none" and len(plan.queries) == 1 and not plan.dense_only,
        "notes": plan.notes, "run": doc_run(fused), "chunks_fused": len(fused),
    }


def build_llms(strategies, args):
    from ragkit.llm import LLMConfig, build_llm

    cfg = LLMConfig(kind="local", cache=not args.no_cache)
    llms = {s: build_llm(cfg, cache_dir=args.out / "llm-cache" / "strategies" / s) for s in strategies if s != "none"}
    if llms:
        # One llama.cpp model for all: the ChatLLMs differ only in their cache file. Loaded (and
        # one throw-away generation run) before any timed query; this bypasses cache and counts.
        first = next(iter(llms.values()))
        with Timer() as t:
            model = first._get_model()
            model.invoke("Say hello.", max_tokens=8)
        for llm in llms.values():
            llm._model = model
        print(f"model {first.model_id} loaded + warmed up in {t.s:.1f}s", flush=True)
        return cfg, llms, round(t.s, 2)
    return cfg, llms, None


def probe(args, strategies, texts, searcher) -> None:
    """Time each transform (uncached) on a few queries; project the run time for some limits."""
    args.no_cache = True
    _, llms, _ = build_llms(strategies, args)
    per_query = {}
    for s in strategies:
        times = [one(q, s, llms.get(s), searcher, args.depth, args.n_queries) for q in texts[: args.probe]]
        per_query[s] = sum(t["total_s"] for t in times) / len(times)
        toks = sum(t["usage"]["completion_tokens"] for t in times) / len(times)
        print(f"  {s:12s} {per_query[s]:6.2f} s/query (transform + retrieval), {toks:5.0f} completion tokens/query",
              flush=True)
    total = sum(per_query.values())
    print(f"all strategies: {total:.2f} s per query")
    for limit in (50, 100, 150, 200, 250, 300):
        print(f"  --limit {limit:3d}: ~{total * limit / 60:5.1f} min")


def bootstrap_ci(deltas: list[float], seed: int = 0) -> list[float]:
    """Paired bootstrap 95% interval of the mean per-query difference."""
    if not deltas:
        return [float("nan"), float("nan")]
    rng = random.Random(seed)
    n = len(deltas)
    means = sorted(sum(deltas[rng.randrange(n)] for _ in range(n)) / n for _ in range(BOOTSTRAP))
    return [round(means[int(0.025 * BOOTSTRAP)], 4), round(means[int(0.975 * BOOTSTRAP) - 1], 4)]


def summarise(strategy: str, rows: list[dict], qids: list[str], qrels: dict, base: dict | None) -> dict:
    run = {qid: r["run"] for qid, r in zip(qids, rows)}
    scored = {"mean": evaluate(qrels, run, METRICS), "per_query": {m: per_query(qrels, run, m) for m in METRICS}}
    out = {"metrics": {m: round(v, 4) for m, v in scored["mean"].items()}}
    try:
        theirs = ranx_evaluate(qrels, run, METRICS)
        out["max_abs_diff_vs_ranx"] = max(abs(scored["mean"][m] - theirs[m]) for m in METRICS)
    except ImportError:
        out["max_abs_diff_vs_ranx"] = None
    n = len(rows)
    usage = [r["usage"] for r in rows]
    out.update({
        "queries": n,
        "llm_calls_per_query": round(sum(u["calls"] + u["cached_calls"] for u in usage) / n, 3),
        "uncached_calls": sum(u["calls"] for u in usage),
        "cached_calls": sum(u["cached_calls"] for u in usage),
        "prompt_tokens_per_query": round(sum(u["prompt_tokens"] for u in usage) / n, 1),
        "completion_tokens_per_query": round(sum(u["completion_tokens"] for u in usage) / n, 1),
        "fallback_rate": round(sum(r["fallback"] for r in rows) / n, 4),
        "extra_queries_per_query": round(sum(len(r["queries"]) + len(r["dense_only"]) for r in rows) / n, 2),
        "latency_total": percentiles([r["total_s"] for r in rows]),
        "latency_transform": percentiles([r["transform_s"] for r in rows]),
        "latency_retrieve": percentiles([r["retrieve_s"] for r in rows]),
    })
    if base is not None:
        ours, theirs = scored["per_query"]["ndcg@10"], base["per_query"]["ndcg@10"]
        deltas = [ours[q] - theirs[q] for q in ours]
        out["vs_none"] = {
            **{f"delta_{m}": round(scored["mean"][m] - base["mean"][m], 4) for m in METRICS},
            "delta_ndcg@10_ci95": bootstrap_ci(deltas),
            "ndcg@10_wins": sum(d > 1e-9 for d in deltas), "ndcg@10_ties": sum(abs(d) <= 1e-9 for d in deltas),
            "ndcg@10_losses": sum(d < -1e-9 for d in deltas),
        }
    out["_scored"] = scored
    return out


def print_table(result: dict) -> None:
    print()
    print(f"{'strategy':12s} {'nDCG@10':>8s} {'Δ vs none':>9s} {'95% CI':>17s} {'W/T/L':>11s} {'R@100':>7s} "
          f"{'MRR@10':>7s} {'calls/q':>7s} {'tok in/q':>8s} {'tok out/q':>9s} {'fallbk':>6s} {'p50 s':>6s} "
          f"{'p95 s':>6s} {'cached':>6s}")
    for s, e in result["strategies"].items():
        m = e["metrics"]
        v = e.get("vs_none")
        delta = f"{v['delta_ndcg@10']:+9.4f}" if v else f"{'-':>9s}"
        ci = f"[{v['delta_ndcg@10_ci95'][0]:+.3f},{v['delta_ndcg@10_ci95'][1]:+.3f}]" if v else "-"
        wtl = f"{v['ndcg@10_wins']}/{v['ndcg@10_ties']}/{v['ndcg@10_losses']}" if v else "-"
        lat = e["latency_total"]
        print(f"{s:12s} {m['ndcg@10']:8.4f} {delta} {ci:>17s} {wtl:>11s} {m['recall@100']:7.4f} {m['mrr@10']:7.4f} "
              f"{e['llm_calls_per_query']:7.2f} {e['prompt_tokens_per_query']:8.0f} "
              f"{e['completion_tokens_per_query']:9.0f} {e['fallback_rate']:6.2f} {lat['p50_ms'] / 1000:6.2f} "
              f"{lat['p95_ms'] / 1000:6.2f} {e['cached_calls']:6d}")
    if "none_all_queries" in result:
        print(f"(plain hybrid on all {result['none_all_queries']['queries']} test queries: "
              f"{result['none_all_queries']['metrics']})")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_strategy_args(parser, limit=300)
    parser.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated (default: all)")
    parser.add_argument("--probe", type=int, default=0, help="time each transform on N queries (no cache) and exit")
    args = parser.parse_args()
    common.require_dataset(args.data)
    args.out = args.out.resolve()
    args.index = (args.index or args.out / "scifact-index").resolve()
    args.strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    bad = [s for s in args.strategies if s not in STRATEGIES]
    if bad:
        sys.exit(f"error: unknown strategies {bad}; choose from {', '.join(STRATEGIES)}")
    if "none" not in args.strategies:
        args.strategies.insert(0, "none")  # the baseline always runs
    if not (args.index / "CURRENT").is_file():
        sys.exit(f"error: no index at {args.index}. Build it first (~20-30 min):\n"
                 f"  python benchmarks/scifact_quality.py --skip-baselines")
    return args


def run_all(texts: list[str], strategies: list[str], llms: dict, searcher, args) -> dict[str, list[dict]]:
    """Every query with every strategy, strategies interleaved per query; the rows by strategy."""
    per: dict[str, list[dict]] = {s: [] for s in strategies}
    started = time.perf_counter()
    for i, q in enumerate(texts, start=1):
        for s in strategies:
            per[s].append(one(q, s, llms.get(s), searcher, args.depth, args.n_queries))
        if i % 10 == 0 or i == len(texts):
            elapsed = time.perf_counter() - started
            print(f"  {i}/{len(texts)} queries, {elapsed / 60:.1f} min, ETA {elapsed / i * (len(texts) - i) / 60:.1f} min",
                  flush=True)
    return per


def summarise_all(strategies: list[str], per: dict, qids: list[str], qrels: dict) -> dict:
    """Each strategy's summary, compared with ``none`` (which runs first)."""
    base = None
    out = {}
    for s in strategies:
        out[s] = summarise(s, per[s], qids, qrels, base)
        if s == "none":
            base = out[s]["_scored"]
    for e in out.values():
        e.pop("_scored")
    return out


def none_on_all_queries(index: Path, cfg, depth: int, qids_all, texts_all, qrels_all) -> dict:
    """Plain hybrid on every test query: is the subset representative? (no model: cheap)"""
    from ragkit.retrieval.search import Searcher

    searcher = Searcher(index, cfg)
    results = searcher.search_many(texts_all, mode="hybrid", k=depth)
    searcher.close()
    run = {qid: doc_run(res) for qid, res in zip(qids_all, results)}
    return {"queries": len(qids_all), "metrics": {m: round(v, 4) for m, v in evaluate(qrels_all, run, METRICS).items()}}


def main() -> None:
    args = parse_args()
    strategies = args.strategies

    from ragkit.config import Config
    from ragkit.retrieval.search import Searcher

    cfg = Config()
    qids_all, texts_all, qrels_all = common.load_test_queries(args.data)
    searcher = Searcher(args.index, cfg)
    searcher.search_many([texts_all[0]], mode="hybrid", k=10)  # query embedder warm-up
    if args.probe:
        probe(args, strategies, texts_all, searcher)
        return
    qids, texts = qids_all[: args.limit], texts_all[: args.limit]
    qrels = {q: qrels_all[q] for q in qids}
    machine = common.machine_info()
    print(f"SciFact: {len(qids)} of {len(qids_all)} test queries, strategies {strategies}, depth {args.depth}; "
          f"{machine['cpu_model']}, {machine['nproc']} CPUs, load {machine['loadavg_start']}", flush=True)

    llm_cfg, llms, load_s = build_llms(strategies, args)
    with Timer() as t_run:
        per = run_all(texts, strategies, llms, searcher, args)
    searcher.close()
    out_strategies = summarise_all(strategies, per, qids, qrels)
    all_none = None
    if len(qids) < len(qids_all):
        all_none = none_on_all_queries(args.index, cfg, args.depth, qids_all, texts_all, qrels_all)
    result = {
        "machine": machine,
        "setup": {"data": str(args.data), "index": str(args.index), "queries": len(qids), "limit": args.limit,
                  "depth_chunks": args.depth, "mode": "hybrid", "n_queries": args.n_queries,
                  "ranking": "documents by best chunk, top 100", "llm": asdict(llm_cfg),
                  "model_id": next(iter(llms.values())).model_id if llms else None,
                  "llm_cache_dir": None if args.no_cache else str(args.out / "llm-cache" / "strategies"),
                  "model_load_s": load_s, "search": asdict(cfg.search)},
        "run_wall_s": round(t_run.s, 1),
        "strategies": out_strategies,
        "per_query": {s: [{"qid": qid, **{k: v for k, v in r.items() if k != "run"}, "top10": r["run"][:10]}
                          for qid, r in zip(qids, rows)] for s, rows in per.items()},
        "peak_rss_mb": peak_rss_mb(),
    }
    if all_none:
        result["none_all_queries"] = all_none
    path = common.write_json(args.out, "strategies.json", result)
    print_table(result)
    if any(e["cached_calls"] for e in out_strategies.values()):
        print("note: some model answers came from the cache; their latency does not measure the model "
              "(--no-cache for fresh calls)")
    print(f"run {t_run.s / 60:.1f} min; wrote {path}")


if __name__ == "__main__":
    main()
