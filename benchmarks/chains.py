"""ragkit ask generation chains on sample_docs/: extract (no model, the baseline) vs stuff, map-reduce, refine.

    python benchmarks/chains.py [--qa FILE] [--k 4] [--chains extract,stuff,map-reduce,refine]
                                [--limit N] [--no-cache]

1. Ingests ``sample_docs/`` with the default config into a temporary index (deleted at the end).
2. Checks the question file (``benchmarks/sample_docs_qa.jsonl``): every accepted answer of an
   answerable question must occur in at least one chunk of its source file (and page), so that
   "does the cited chunk contain the answer" is checkable by substring.
3. For every question, every chain in turn (chains interleaved per question, so that load
   changes on the shared machine hit all chains alike): ``ask(question, searcher, llm,
   AskConfig(strategy="none", chain=..., k=4), mode="hybrid")`` with the local model
   (SmolLM2-135M-Instruct via llama.cpp; extract gets no model at all).

Per chain: latency p50/p95 per question (wall time of ``ask``), LLM calls and tokens per
question, and answer quality checked by case-insensitive substring match on word boundaries
(whitespace collapsed; "lock" is found in "a lock" but not in "block"):

- cited-contains: over answerable questions, the share whose *cited* chunks include one that
  contains an accepted answer;
- answer-contains: the share whose answer text contains an accepted answer;
- refusal rate on unanswerable and on answerable questions;
- removed (invalid) citations, in total and per question.

Retrieval is identical for every chain (same question, same k), so ``retrieved-contains`` (any
of the k chunks given to the model contains an answer) is the ceiling for cited-contains.

Model answers are cached in SQLite under ``benchmarks/out/llm-cache/chains`` (re-runs are
cheap); ``usage.cached_calls`` says how many came from there, and latencies of cached answers
do not measure the model (``--no-cache`` forces fresh calls). Writes benchmarks/out/chains.json
and prints a table. Nothing touches the network; nothing is pickled.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402  (sets warning filters before langchain imports)
from common import Timer, peak_rss_mb, percentiles  # noqa: E402

CHAINS = ("extract", "stuff", "map-reduce", "refine")
DEFAULT_QA = common.REPO / "benchmarks" / "sample_docs_qa.jsonl"
DOCS = common.REPO / "sample_docs"


def norm(text: str) -> str:
    """Lower case, whitespace collapsed: the form answers are matched in."""
    return " ".join((text or "").lower().split())


def contains_answer(text: str, answers: list[str]) -> bool:
    """Does ``text`` contain an accepted answer, as whole words ("lock" is not in "block")?"""
    t = norm(text)
    return any(re.search(r"(?<!\w)" + re.escape(norm(a)) + r"(?!\w)", t) for a in answers)


def load_qa(path: Path) -> list[dict]:
    rows = common.read_jsonl(path)
    for row in rows:
        missing = {"id", "question", "answers", "source", "page"} - set(row)
        if missing:
            sys.exit(f"error: {path}: question {row.get('id')!r} lacks {sorted(missing)}")
    return rows


def check_qa(qa: list[dict], searcher) -> list[str]:
    """Problems with the question file against the ingested chunks (empty list: all answers findable)."""
    chunks = list(searcher.index.docstore.iter_chunks())
    problems = []
    for row in qa:
        if not row["answers"]:
            continue
        pool = [c for c in chunks if Path(c.source).name == row["source"]
                and (row["page"] is None or c.page == row["page"])]
        if not pool:
            problems.append(f"{row['id']}: no chunk from {row['source']} page {row['page']}")
            continue
        for answer in row["answers"]:
            if not any(contains_answer(c.text, [answer]) for c in pool):
                problems.append(f"{row['id']}: answer {answer!r} is in no chunk of {row['source']} page {row['page']}")
    return problems


def run_one(question: str, chain: str, searcher, llm, k: int):
    from ragkit.config import AskConfig
    from ragkit.generation.ask import ask

    start = time.perf_counter()
    result = ask(question, searcher, llm if chain != "extract" else None,
                 AskConfig(strategy="none", chain=chain, k=k), mode="hybrid")
    return result, time.perf_counter() - start


def summarise(rows: list[dict]) -> dict:
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]

    def rate(items: list[dict], key: str) -> float | None:
        return round(sum(bool(r[key]) for r in items) / len(items), 4) if items else None

    n = len(rows)
    return {
        "questions": n, "answerable": len(answerable), "unanswerable": len(unanswerable),
        "latency": percentiles([r["wall_s"] for r in rows]),
        "llm_calls_per_question": round(sum(r["usage"]["calls"] + r["usage"]["cached_calls"] for r in rows) / n, 2),
        "uncached_calls": sum(r["usage"]["calls"] for r in rows),
        "cached_calls": sum(r["usage"]["cached_calls"] for r in rows),
        "prompt_tokens_per_question": round(sum(r["usage"]["prompt_tokens"] for r in rows) / n, 1),
        "completion_tokens_per_question": round(sum(r["usage"]["completion_tokens"] for r in rows) / n, 1),
        "cited_contains_rate": rate(answerable, "cited_contains"),
        "answer_contains_rate": rate(answerable, "answer_contains"),
        "retrieved_contains_rate": rate(answerable, "retrieved_contains"),
        "refusal_rate_unanswerable": rate(unanswerable, "refused"),
        "refusal_rate_answerable": rate(answerable, "refused"),
        "removed_citations_total": sum(r["removed_citations"] for r in rows),
        "questions_with_removed_citations": sum(1 for r in rows if r["removed_citations"]),
        "answers_without_citation": sum(1 for r in rows if not r["refused"] and not r["citations"]),
    }


def fmt(value: float | None, width: int) -> str:
    return f"{value:{width}.2f}" if value is not None else f"{'-':>{width}s}"


def print_table(result: dict) -> None:
    print()
    print(f"{'chain':11s} {'p50 s':>7s} {'p95 s':>7s} {'calls/q':>7s} {'tok in/q':>8s} {'tok out/q':>9s} "
          f"{'cited∋ans':>9s} {'ans∋ans':>7s} {'refuse U':>8s} {'refuse A':>8s} {'removed':>7s} {'cached':>6s}")
    for chain, s in result["chains"].items():
        lat = s["latency"]
        print(f"{chain:11s} {lat['p50_ms'] / 1000:7.2f} {lat['p95_ms'] / 1000:7.2f} {s['llm_calls_per_question']:7.2f} "
              f"{s['prompt_tokens_per_question']:8.0f} {s['completion_tokens_per_question']:9.0f} "
              f"{fmt(s['cited_contains_rate'], 9)} {fmt(s['answer_contains_rate'], 7)} "
              f"{fmt(s['refusal_rate_unanswerable'], 8)} {fmt(s['refusal_rate_answerable'], 8)} "
              f"{s['removed_citations_total']:7d} {s['cached_calls']:6d}")
    any_chain = next(iter(result["chains"].values()))
    print(f"retrieved-contains (any of the k chunks holds an answer; the ceiling for cited∋ans): "
          f"{fmt(any_chain['retrieved_contains_rate'], 0)} of {any_chain['answerable']} answerable questions")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--qa", type=Path, default=DEFAULT_QA, help=f"question file (default {DEFAULT_QA})")
    parser.add_argument("--docs", type=Path, default=DOCS, help=f"folder to ingest (default {DOCS})")
    parser.add_argument("--out", type=Path, default=common.OUT, help=f"output folder (default {common.OUT})")
    parser.add_argument("--k", type=int, default=4, help="chunks handed to the chain (4)")
    parser.add_argument("--chains", default=",".join(CHAINS), help=f"comma-separated (default {','.join(CHAINS)})")
    parser.add_argument("--limit", type=int, default=None, help="first N questions only (a smoke test)")
    parser.add_argument("--no-cache", action="store_true", help="no model answer cache: every call runs the model")
    args = parser.parse_args()
    args.chains = [c.strip() for c in args.chains.split(",") if c.strip()]
    bad = [c for c in args.chains if c not in CHAINS]
    if bad:
        sys.exit(f"error: unknown chain(s) {bad}; choose from {', '.join(CHAINS)}")
    if "extract" not in args.chains:
        print("note: the extract baseline is not in --chains; there is nothing to compare against", flush=True)
    args.out = args.out.resolve()
    return args


def score(row: dict, result, wall: float) -> dict:
    """One chain's answer to one question, with the substring checks of the module docstring."""
    answers, ans = row["answers"], result.answer
    cited = [ans.sources[c - 1] for c in ans.citations if 1 <= c <= len(ans.sources)]
    return {
        "id": row["id"], "answerable": bool(answers), "wall_s": round(wall, 4),
        "timings": result.timings, "usage": result.usage, "answer": ans.text,
        "citations": ans.citations, "refused": ans.refused,
        "removed_citations": ans.removed_citations,
        "cited": [{"n": s.n, "chunk_id": s.chunk_id, "source": Path(s.source).name, "page": s.page,
                   "contains_answer": contains_answer(s.text, answers) if answers else None}
                  for s in cited],
        "context": [{"chunk_id": c.chunk_id, "source": Path(c.source).name, "page": c.page,
                     "contains_answer": contains_answer(c.text, answers) if answers else None}
                    for c in result.context],
        "cited_contains": bool(answers) and any(contains_answer(s.text, answers) for s in cited),
        "answer_contains": bool(answers) and not ans.refused and contains_answer(
            re.sub(r"\[\d+\]", " ", ans.text), answers),
        "retrieved_contains": bool(answers) and any(contains_answer(c.text, answers)
                                                    for c in result.context),
        "notes": result.notes,
    }


def run_questions(qa: list[dict], chains: list[str], searcher, llm, k: int) -> dict[str, list[dict]]:
    """Every question through every chain, chains interleaved per question; the scored answers by chain."""
    per: dict[str, list[dict]] = {c: [] for c in chains}
    for n, row in enumerate(qa, start=1):
        for chain in chains:
            result, wall = run_one(row["question"], chain, searcher, llm, k)
            entry = score(row, result, wall)
            per[chain].append(entry)
            ans = result.answer
            flag = ("REFUSED" if ans.refused else
                    ("cited-ok" if entry["cited_contains"] else "cited-miss") if row["answers"] else "answered")
            print(f"[{n}/{len(qa)}] {row['id']} {chain:10s} {wall:6.2f}s calls "
                  f"{result.usage['calls']}+{result.usage['cached_calls']}c {flag}: "
                  f"{' '.join(ans.text.split())[:90]}", flush=True)
    return per


def warm_up(llm) -> float:
    """Load the model and run one throw-away generation outside any timed question; the seconds it took.

    ``_get_model``/``invoke`` bypass the cache and the usage counts on purpose.
    """
    with Timer() as t_load:
        llm._get_model().invoke("Say hello.", max_tokens=8)
    print(f"model {llm.model_id} loaded + warmed up in {t_load.s:.2f}s", flush=True)
    return round(t_load.s, 2)


def main() -> None:
    args = parse_args()
    chains = args.chains

    from ragkit.config import Config
    from ragkit.ingest.pipeline import ingest
    from ragkit.llm import LLMConfig, build_llm
    from ragkit.retrieval.search import Searcher

    qa = load_qa(args.qa)[: args.limit] if args.limit else load_qa(args.qa)
    cfg = Config()
    machine = common.machine_info()
    print(f"{len(qa)} questions ({sum(1 for r in qa if r['answers'])} answerable), chains {chains}, k={args.k}; "
          f"{machine['cpu_model']}, {machine['nproc']} CPUs, load {machine['loadavg_start']}", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="ragkit-chains-"))
    try:
        with Timer() as t_ingest:
            report = ingest(args.docs, tmp / "index", cfg, rebuild=True)
        if report.failed:
            sys.exit(f"error: ingest failed: {report.failed}")
        print(f"ingested {args.docs} in {t_ingest.s:.1f}s: {report.chunks_total} chunks", flush=True)
        searcher = Searcher(tmp / "index", cfg)
        problems = check_qa(qa, searcher)
        if problems:
            sys.exit("error: the question file does not match the documents:\n  " + "\n  ".join(problems))
        llm_cfg = LLMConfig(kind="local", cache=not args.no_cache)
        cache_dir = args.out / "llm-cache" / "chains"
        llm = build_llm(llm_cfg, cache_dir=cache_dir)
        load_s = warm_up(llm) if any(c != "extract" for c in chains) else None
        searcher.search_many([qa[0]["question"]], mode="hybrid", k=args.k)  # query embedder warm-up
        with Timer() as t_run:
            per = run_questions(qa, chains, searcher, llm, args.k)
        searcher.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    result = {
        "machine": machine,
        "setup": {"docs": str(args.docs), "qa": str(args.qa), "questions": len(qa), "k": args.k, "strategy": "none",
                  "mode": "hybrid", "expand": "none", "llm": asdict(llm_cfg), "model_id": llm.model_id,
                  "llm_cache_dir": None if args.no_cache else str(cache_dir), "model_load_s": load_s,
                  "ingest_s": round(t_ingest.s, 2), "chunks": report.chunks_total,
                  "config": {"splitter": asdict(cfg.splitter), "search": asdict(cfg.search)},
                  "matching": "case-insensitive substring on word boundaries, whitespace collapsed; citation "
                              "markers removed from the answer text before matching"},
        "run_wall_s": round(t_run.s, 1),
        "chains": {c: summarise(rows) for c, rows in per.items()},
        "per_question": per,
        "peak_rss_mb": peak_rss_mb(),
    }
    path = common.write_json(args.out, "chains.json" if not args.limit else f"chains-limit{args.limit}.json", result)
    print_table(result)
    if any(s["cached_calls"] for s in result["chains"].values()):
        print("note: some model answers came from the cache; their latency does not measure the model "
              "(--no-cache for fresh calls)")
    print(f"run {t_run.s:.0f}s; wrote {path}")


if __name__ == "__main__":
    main()
