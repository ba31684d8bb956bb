"""Query transforms with the small local model: are the rewrites usable, and what do they do to nDCG@10?

    python benchmarks/transform_quality.py [--data DIR] [--index DIR] [--limit 100] [--depth 300]
                                           [--strategies none,multi-query,rag-fusion,step-back,decompose]
                                           [--no-cache] [--threads 1] [--warm-cache]
    nice python benchmarks/transform_quality.py --limit 100 --threads 1    # BENCHMARKS.md, "Strategies"
    python benchmarks/transform_quality.py --limit 150 --strategies none,hyde

For the first ``--limit`` SciFact test queries (qrels order) and each strategy,
``plan_queries(question, strategy, llm, n=3)`` with the default local model (SmolLM2-135M via
llama.cpp: few-shot prompts, replies held to a JSON schema by a grammar), then hybrid retrieval
(documents ranked by their best chunk, as scifact_quality.py; ``none`` is the baseline, same run;
``--mode sparse`` ranks with BM25 alone, e.g. on an index built with the hash embedder).

Rewrite quality, per strategy:
- ``usable_rate``: multi-query / rag-fusion / decompose calls that yield >= 2 distinct rewrites
  (or sub-questions) that are not echoes of the question, after ragkit's own cleaning
  (case-, punctuation- and spacing-insensitive duplicates and echoes dropped);
- step-back: ``usable_rate`` = a step-back question that is not an echo, ``shorter_rate`` = it
  has fewer words than the question, ``on_topic_rate`` = it shares a content word with it;
- ``fallback_rate``: the plan fell back to the original question alone.

One model answer cache for every strategy (``<out>/llm-cache/transform-quality``): multi-query and
rag-fusion send the same prompt, so rag-fusion's call is answered from the cache (it would get
the same reply at temperature 0 anyway); ``cached_calls`` says how many. Writes
``<out>/transform_quality.json`` and prints a table.
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
LIST_STRATEGIES = ("multi-query", "rag-fusion", "decompose")
METRICS = ("ndcg@10", "recall@100", "mrr@10")
BOOTSTRAP = 2000


def doc_run(fused) -> list[str]:
    """Documents ranked by their best chunk, top 100 (as scifact_quality.py)."""
    return dedupe_ranked([r.doc_id for r in fused])[:100]


def content_words(text: str) -> set[str]:
    """Stemmed content words, as BM25 sees them."""
    from ragkit.text import tokenize

    return set(tokenize([text])[0])


def one(question: str, strategy: str, llm, searcher, depth: int, n: int, mode: str = "hybrid") -> dict:
    """Plan + retrieve one query; what the plan held and whether it counts as usable."""
    from ragkit.retrieval.plan import retrieve
    from ragkit.retrieval.transforms import plan_queries

    llm.reset_usage()
    t0 = time.perf_counter()
    plan = plan_queries(question, strategy, llm if strategy != "none" else None, n=n)
    t1 = time.perf_counter()
    fused, _ = retrieve(searcher, plan, mode, depth)
    extra = plan.queries[1:]
    row = {"transform_s": t1 - t0, "total_s": time.perf_counter() - t0,
           "usage": llm.usage.to_json() if strategy != "none" else {"calls": 0, "cached_calls": 0,
                                                                     "prompt_tokens": 0, "completion_tokens": 0},
           "queries": extra, "dense_only": [p[:300] for p in plan.dense_only], "raw": plan.raw,
           "fallback": strategy != "none" and not extra and not plan.dense_only, "notes": plan.notes,
           "run": doc_run(fused), "retrieve_s": time.perf_counter() - t1}
    row.update(quality_flags(question, strategy, extra))
    return row


def quality_flags(question: str, strategy: str, extra: list[str]) -> dict:
    """Whether the plan's added queries count as usable (and, for step-back, shorter and on topic)."""
    if strategy in LIST_STRATEGIES:
        return {"usable": len(extra) >= 2}
    if strategy == "step-back":
        return {"usable": bool(extra), "shorter": bool(extra) and len(extra[0].split()) < len(question.split()),
                "on_topic": bool(extra) and bool(content_words(extra[0]) & content_words(question))}
    return {}


def rates(rows: list[dict]) -> dict:
    """The share of rows for which each quality flag holds."""
    flags = [k for k in ("usable", "shorter", "on_topic") if k in rows[0]]
    return {f"{k}_rate": round(sum(r[k] for r in rows) / len(rows), 4) for k in flags}


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


def parse_args() -> argparse.Namespace:
    parser = common.parser(__doc__)
    common.add_strategy_args(parser, limit=100)
    parser.add_argument("--strategies", default="none,multi-query,rag-fusion,step-back,decompose")
    parser.add_argument("--mode", default="hybrid", choices=("hybrid", "sparse", "dense"),
                        help="retrieval mode (sparse: BM25 only, e.g. on an index built with the hash embedder)")
    parser.add_argument("--config", type=Path, default=None, help="ragkit config the index was built with")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="model answer cache folder (default <out>/llm-cache/transform-quality)")
    parser.add_argument("--threads", type=int, default=0,
                        help="llama.cpp threads (0: all cores; 1 is faster when other jobs share the cores)")
    parser.add_argument("--warm-cache", action="store_true",
                        help="only ask the model (fills the answer cache; no index needed) and print the rates")
    args = parser.parse_args()
    common.require_dataset(args.data)
    args.out = args.out.resolve()
    args.index = (args.index or args.out / "scifact-index").resolve()
    args.strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    if any(s not in STRATEGIES for s in args.strategies):
        sys.exit(f"error: strategies must be among {', '.join(STRATEGIES)}")
    if "none" not in args.strategies:
        args.strategies.insert(0, "none")
    return args


def warm_cache(texts: list[str], strategies: list[str], llm, n: int, out: Path) -> None:
    """Ask the model for every query and strategy (filling the cache; no index needed); write the rewrite rates."""
    from ragkit.retrieval.transforms import plan_queries

    started = time.perf_counter()
    rows: dict[str, list[dict]] = {s: [] for s in strategies if s != "none"}
    # Strategy by strategy: consecutive calls share the system + few-shot prefix, which llama.cpp
    # keeps evaluated, so only the question's tokens are new (about half the time per call here).
    for s in rows:
        for i, q in enumerate(texts, 1):
            plan = plan_queries(q, s, llm, n=n)
            rows[s].append({"question": q, "queries": plan.queries[1:], "raw": plan.raw,
                            **quality_flags(q, s, plan.queries[1:])})
            if i % 10 == 0:
                print(f"  {s}: {i}/{len(texts)} queries, {(time.perf_counter() - started) / 60:.1f} min", flush=True)
    summary = {s: {"queries": len(r), **rates(r)} for s, r in rows.items()}
    common.write_json(out, "transform_rewrites.json", {"model_id": llm.model_id, "rates": summary, "rows": rows})
    for s, v in summary.items():
        print(f"{s:12s} {v}")


def print_table(result: dict) -> None:
    print(f"\n{'strategy':12s} {'nDCG@10':>8s} {'Δ vs none':>9s} {'95% CI':>17s} {'W/T/L':>9s} {'usable':>6s} "
          f"{'shorter':>7s} {'ontopic':>7s} {'fallbk':>6s} {'tok out/q':>9s} {'p50 s':>6s}")
    for s, e in result["strategies"].items():
        v, r = e.get("vs_none"), e.get("rewrite_quality", {})
        delta = f"{v['delta_ndcg@10']:+9.4f}" if v else f"{'-':>9s}"
        ci = f"[{v['delta_ndcg@10_ci95'][0]:+.3f},{v['delta_ndcg@10_ci95'][1]:+.3f}]" if v else "-"
        wtl = f"{v['ndcg@10_wins']}/{v['ndcg@10_ties']}/{v['ndcg@10_losses']}" if v else "-"
        cell = {k: (f"{r[k]:.2f}" if k in r else "-") for k in ("usable_rate", "shorter_rate", "on_topic_rate")}
        print(f"{s:12s} {e['metrics']['ndcg@10']:8.4f} {delta} {ci:>17s} {wtl:>9s} {cell['usable_rate']:>6s} "
              f"{cell['shorter_rate']:>7s} {cell['on_topic_rate']:>7s} {e['fallback_rate']:6.2f} "
              f"{e['completion_tokens_per_query']:9.0f} {e['latency_total']['p50_ms'] / 1000:6.2f}")


def main() -> None:
    args = parse_args()
    from ragkit.config import Config, load_config
    from ragkit.llm import LLMConfig, build_llm
    from ragkit.retrieval.search import Searcher

    cfg = load_config(args.config) if args.config else Config()
    qids_all, texts_all, qrels_all = common.load_test_queries(args.data)
    qids, texts = qids_all[: args.limit], texts_all[: args.limit]
    qrels = {q: qrels_all[q] for q in qids}
    llm_cfg = LLMConfig(kind="local", cache=not args.no_cache, threads=args.threads)
    llm = build_llm(llm_cfg, cache_dir=args.cache_dir or args.out / "llm-cache" / "transform-quality")
    if args.warm_cache:
        warm_cache(texts, args.strategies, llm, args.n_queries, args.out)
        return
    searcher = Searcher(args.index, cfg)
    searcher.search_many([texts[0]], mode=args.mode, k=10)  # query embedder warm-up
    machine = common.machine_info()
    print(f"SciFact: {len(qids)} test queries, {args.strategies}; {machine['nproc']} CPUs, "
          f"load {machine['loadavg_start']}", flush=True)
    per: dict[str, list[dict]] = {s: [] for s in args.strategies}
    with Timer() as t_run:
        for i, q in enumerate(texts, 1):
            for s in args.strategies:  # interleaved, so load changes hit every strategy alike
                per[s].append(one(q, s, llm, searcher, args.depth, args.n_queries, args.mode))
            if i % 10 == 0:
                print(f"  {i}/{len(texts)} queries, {(time.perf_counter() - t_run.start) / 60:.1f} min", flush=True)
    searcher.close()
    summary = summarise_all(args.strategies, per, qids, qrels)
    for s in args.strategies:
        if s != "none":
            summary[s]["rewrite_quality"] = rates(per[s])
    result = {"machine": machine, "setup": {"index": str(args.index), "queries": len(qids), "depth": args.depth,
                                            "n_queries": args.n_queries, "mode": args.mode, "llm": asdict(llm_cfg), "model_id": llm.model_id,
                                            "metrics": list(METRICS)},
              "run_wall_s": round(t_run.s, 1), "strategies": summary,
              "per_query": {s: [{"qid": qid, **{k: v for k, v in r.items() if k != "run"}}
                                for qid, r in zip(qids, rows)] for s, rows in per.items()},
              "peak_rss_mb": peak_rss_mb()}
    path = common.write_json(args.out, "transform_quality.json", result)
    print_table(result)
    print(f"run {t_run.s / 60:.1f} min; wrote {path}")


if __name__ == "__main__":
    main()
