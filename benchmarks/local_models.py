"""The shipped local chat models side by side in one run (issue 19, point 4): SmolLM2-135M vs Qwen2.5-Coder-1.5B.

    python benchmarks/local_models.py [--models smollm2-135m,qwen2.5-coder-1.5b] [--limit 40]
                                      [--scifact-index DIR] [--pdfs-index DIR] [--qa-limit N]

Both models are loaded in one process (each its own llama.cpp context, 2 threads, a fresh answer
cache per run so every timed call runs the model) and take turns on every item, so load changes on
the shared machine hit both alike:

1. **Rewrites** on the first ``--limit`` SciFact test queries (qrels order, as transform_quality.py):
   ``none`` (no model), then per model multi-query and rag-fusion, n = 3, hybrid retrieval with the
   default config on a MiniLM index. ``usable`` = at least 2 distinct rewrites that are not echoes
   (transform_quality.py's rule); nDCG@10 of each against ``none`` on the same queries. rag-fusion
   sends multi-query's prompt, so its call is a cache hit (the same reply at temperature 0).
2. **Answers**: ``ragkit ask`` (strategy none, the default k and ``refuse: auto``) on
   ``benchmarks/sample_docs_qa.jsonl`` (a fresh index of ``sample_docs/``) and
   ``benchmarks/grounded/pdfs-test.jsonl`` (the default-config index of ``pdfs/``): extract (no
   model) and each model's stuff chain. ``expected`` = an answerable question's answer text holds an
   accepted answer (chains.py's word-boundary match); refusals of unanswerable questions; time to
   the first streamed piece and total, over the answers where the model was called.

Writes ``benchmarks/out/local_models.json`` (every answer's text, for the honest-answers checks) and
prints the tables.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402  (sets warning filters before langchain imports)
from chains import contains_answer  # noqa: E402
from common import REPO, Timer, machine_info, read_jsonl, write_json  # noqa: E402
from strategies import summarise_all  # noqa: E402
from transform_quality import one, rates  # noqa: E402

OWN_WORDS = REPO.parents[0] / "main" / "benchmarks" / "out" / "own_words" / "indexes"
QA_SETS = {"sample_docs": REPO / "benchmarks" / "sample_docs_qa.jsonl",
           "pdfs-test": REPO / "benchmarks" / "grounded" / "pdfs-test.jsonl"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_data_arg(parser)
    parser.add_argument("--models", default="smollm2-135m,qwen2.5-coder-1.5b")
    parser.add_argument("--limit", type=int, default=40, help="first N SciFact test queries (40)")
    parser.add_argument("--qa-limit", type=int, default=None, help="first N questions of each QA set (all)")
    parser.add_argument("--depth", type=int, default=300, help="chunks retrieved per query (300, as transform_quality)")
    parser.add_argument("--scifact-index", type=Path, default=OWN_WORDS / "scifact")
    parser.add_argument("--pdfs-index", type=Path, default=OWN_WORDS / "pdfs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parts", default="rewrites,answers")
    args = parser.parse_args()
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    args.out = Path(args.out).resolve()
    return args


def build_models(names: list[str], threads: int, cache: Path) -> dict:
    """One ChatLLM per shipped model name, loaded and warmed up (outside any timed item)."""
    from ragkit.llm import LLMConfig, build_llm

    llms = {}
    for name in names:
        llm = build_llm(LLMConfig(kind="local", model=name, threads=threads), cache_dir=cache / name)
        with Timer() as t:
            llm._get_model().invoke("Say hello.", max_tokens=8)  # load + first generation, uncached, uncounted
        print(f"{name}: {llm.model_id} loaded + warmed up in {t.s:.1f} s", flush=True)
        llms[name] = llm
    return llms


def rewrites(args, llms: dict) -> dict:
    """Part 1: usable rewrites and nDCG@10 vs none, per model and strategy, on the same SciFact queries."""
    from ragkit.config import Config
    from ragkit.retrieval.search import Searcher

    qids_all, texts_all, qrels_all = common.load_test_queries(args.data)
    qids, texts = qids_all[: args.limit], texts_all[: args.limit]
    qrels = {q: qrels_all[q] for q in qids}
    searcher = Searcher(args.scifact_index, Config())
    searcher.search_many([texts[0]], mode="hybrid", k=10)  # query embedder warm-up
    keys = ["none"] + [f"{m}/{s}" for m in llms for s in ("multi-query", "rag-fusion")]
    per: dict[str, list[dict]] = {k: [] for k in keys}
    started = time.perf_counter()
    for i, q in enumerate(texts, 1):
        per["none"].append(one(q, "none", next(iter(llms.values())), searcher, args.depth, 3))
        for m, llm in llms.items():
            for s in ("multi-query", "rag-fusion"):
                per[f"{m}/{s}"].append(one(q, s, llm, searcher, args.depth, 3))
        if i % 5 == 0 or i == len(texts):
            print(f"  rewrites {i}/{len(texts)}, {(time.perf_counter() - started) / 60:.1f} min", flush=True)
    searcher.close()
    summary = summarise_all(keys, per, qids, qrels)
    for k in keys[1:]:
        summary[k]["rewrite_quality"] = rates(per[k])
        calls = [r["transform_s"] for r in per[k] if r["usage"]["calls"]]
        summary[k]["model_call_p50_s"] = round(statistics.median(calls), 2) if calls else None
    return {"queries": len(qids), "summary": summary,
            "rows": {k: [{"qid": qid, "queries": r["queries"], "raw": r["raw"], "usable": r.get("usable")}
                         for qid, r in zip(qids, rows)] for k, rows in per.items() if k != "none"}}


def answer_one(question: str, chain: str, llm, searcher) -> tuple:
    """``ask`` once; (result, seconds to the first streamed piece or None, total seconds)."""
    from ragkit.config import AskConfig
    from ragkit.generation.ask import ask

    first: list[float] = []
    start = time.perf_counter()
    result = ask(question, searcher, llm if chain != "extract" else None, AskConfig(strategy="none", chain=chain),
                 mode="hybrid", on_token=lambda piece: first.append(time.perf_counter() - start) if not first else None)
    return result, (first[0] if first else None), time.perf_counter() - start


def answers(args, llms: dict, tmp: Path) -> dict:
    """Part 2: extract vs each model's stuff chain on the QA sets, interleaved per question."""
    from ragkit.config import Config
    from ragkit.ingest.pipeline import ingest
    from ragkit.retrieval.search import Searcher

    sample_index = tmp / "sample"
    ingest(REPO / "sample_docs", sample_index, Config(), rebuild=True)
    indexes = {"sample_docs": sample_index, "pdfs-test": args.pdfs_index}
    out: dict = {}
    for set_name, path in QA_SETS.items():
        qa = read_jsonl(path)[: args.qa_limit] if args.qa_limit else read_jsonl(path)
        searcher = Searcher(indexes[set_name], Config())
        runs = {"extract": None, **{f"{m}/stuff": llm for m, llm in llms.items()}}
        rows: dict[str, list[dict]] = {k: [] for k in runs}
        for n, q in enumerate(qa, 1):
            for key, llm in runs.items():
                result, first_s, total_s = answer_one(q["question"], "extract" if llm is None else "stuff", llm, searcher)
                ans = result.answer
                text = re.sub(r"\[\d+\]", " ", ans.text)
                rows[key].append({"id": q["id"], "answerable": bool(q["answers"]), "answer": ans.text,
                                  "refused": ans.refused, "citations": ans.citations,
                                  "expected": bool(q["answers"]) and not ans.refused and contains_answer(text, q["answers"]),
                                  "model_called": bool(result.usage["calls"]), "first_s": first_s, "total_s": total_s,
                                  "usage": result.usage, "notes": result.notes})
                print(f"  [{set_name} {n}/{len(qa)}] {q['id']} {key:22s} {total_s:6.1f}s "
                      f"{'ok ' if rows[key][-1]['expected'] else '-- '}{' '.join(ans.text.split())[:80]}", flush=True)
        searcher.close()
        out[set_name] = {"questions": len(qa), "summary": {k: summarise_answers(r) for k, r in rows.items()}, "rows": rows}
    return out


def summarise_answers(rows: list[dict]) -> dict:
    """Expected-answer and refusal rates; first-piece and total seconds over the answers the model wrote."""
    an, un = [r for r in rows if r["answerable"]], [r for r in rows if not r["answerable"]]
    called = [r for r in rows if r["model_called"]]

    def med(key: str) -> float | None:
        values = [r[key] for r in called if r[key] is not None]
        return round(statistics.median(values), 2) if values else None

    return {"answerable": len(an), "unanswerable": len(un),
            "expected": sum(r["expected"] for r in an), "expected_rate": round(sum(r["expected"] for r in an) / len(an), 4),
            "refused_unanswerable": sum(r["refused"] for r in un), "refused_answerable": sum(r["refused"] for r in an),
            "model_answers": len(called), "first_piece_p50_s": med("first_s"), "total_p50_s": med("total_s"),
            "total_max_s": round(max((r["total_s"] for r in called), default=0.0), 2) or None,
            "completion_tokens_p50": statistics.median([r["usage"]["completion_tokens"] for r in called]) if called else None}


def print_tables(result: dict) -> None:
    """Markdown tables of both parts."""
    if "rewrites" in result:
        print(f"\nRewrites, first {result['rewrites']['queries']} SciFact test queries:")
        print("| run | nDCG@10 | Δ vs none [95% CI] | W/T/L | usable | fallback | model call p50 s |\n|---|---|---|---|---|---|---|")
        for k, e in result["rewrites"]["summary"].items():
            v, r = e.get("vs_none"), e.get("rewrite_quality", {})
            delta = f"{v['delta_ndcg@10']:+.4f} [{v['delta_ndcg@10_ci95'][0]:+.3f}, {v['delta_ndcg@10_ci95'][1]:+.3f}]" if v else ""
            wtl = f"{v['ndcg@10_wins']}/{v['ndcg@10_ties']}/{v['ndcg@10_losses']}" if v else ""
            print(f"| {k} | {e['metrics']['ndcg@10']:.4f} | {delta} | {wtl} | {r.get('usable_rate', '')} | "
                  f"{e['fallback_rate'] if v else ''} | {e.get('model_call_p50_s') or ''} |")
    for set_name, data in result.get("answers", {}).items():
        print(f"\nAnswers, {set_name} ({data['questions']} questions):")
        print("| run | expected | refused unanswerable | refused answerable | model answers | first piece p50 s | "
              "total p50 s | total max s |\n|---|---|---|---|---|---|---|---|")
        for k, s in data["summary"].items():
            print(f"| {k} | {s['expected']}/{s['answerable']} | {s['refused_unanswerable']}/{s['unanswerable']} | "
                  f"{s['refused_answerable']}/{s['answerable']} | {s['model_answers']} | {s['first_piece_p50_s']} | "
                  f"{s['total_p50_s']} | {s['total_max_s']} |")


def main() -> None:
    args = parse_args()
    parts = {p.strip() for p in args.parts.split(",")}
    tmp = Path(tempfile.mkdtemp(prefix="ragkit-local-models-"))
    result: dict = {"machine": machine_info(), "models": args.models,
                    "setup": {"limit": args.limit, "depth": args.depth, "threads": args.threads, "qa_limit": args.qa_limit,
                              "scifact_index": str(args.scifact_index), "pdfs_index": str(args.pdfs_index)}}
    try:
        llms = build_models(args.models, args.threads, tmp / "llm-cache")
        result["model_ids"] = {m: llm.model_id for m, llm in llms.items()}
        result["params"] = {m: llm.params for m, llm in llms.items()}
        started = time.perf_counter()
        if "rewrites" in parts:
            result["rewrites"] = rewrites(args, llms)
            result["rewrites_wall_s"] = round(time.perf_counter() - started, 1)
        if "answers" in parts:
            result["answers"] = answers(args, llms, tmp)
        result["run_wall_s"] = round(time.perf_counter() - started, 1)
        result["machine"]["loadavg_end"] = machine_info()["loadavg_start"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    path = write_json(args.out, "local_models.json", result)
    print_tables(result)
    print(f"\nrun {result['run_wall_s'] / 60:.1f} min; wrote {path}")


if __name__ == "__main__":
    main()
