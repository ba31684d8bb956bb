"""Issue 8: does hybrid search lose to the better of its own two halves? Four data sets, one run.

    python benchmarks/fusion_datasets.py [--out DIR] [--sets scifact,msmarco,docugami,sample]

Data sets (in ../shared/datasets unless said): SciFact test (nDCG@10) and SciFact train (the
split fusion settings are chosen on), msmarco-subset (5,000 MS MARCO passages, 43 judged queries,
nDCG@10), docugami-sec-10q (20 10-Q PDFs, 195 questions, source hit@5) and sample_docs with
benchmarks/sample_docs_qa.jsonl (source hit@1: with 4 files, hit@5 is 1.0 for every run).

Each index is built once with the default config (ragkit.ingest.pipeline.ingest; SciFact reuses
benchmarks/out/scifact-index from scifact_quality.py), each query's dense and sparse top-300
chunk rankings are cached (fusion_cache.py), and every run fuses them with ``Searcher.fuse``
under its own ``search`` settings, i.e. exactly the code ``ragkit search`` runs. Runs:

- dense; sparse (what ``--mode sparse`` ranks: chunk BM25 plus its document's BM25, each scaled
  by its best); sparse-chunk (the chunk's BM25 alone, ``document_weight: 0``);
- hybrid: today's default config (convex fusion, max normalisation, dense 0.6 / sparse 0.4, by
  document, sparse with document evidence), chosen on SciFact train by fusion_choose.py;
- before: the default until issue 8 (RRF k=60, equal weights, by document, chunk BM25);
- rrf, convex-minmax, convex-max-0.65, convex-zscore-0.55: neighbours of the default, for scale;
- langchain_*: benchmarks/langchain_baseline.py's output (run it first, at the same commit):
  LangChain's EnsembleRetriever over BM25Retriever + FAISS with the same embedder.

Nothing was tuned on msmarco, docugami or sample_docs, which have no train split. The goal
(issue 8 point 1): hybrid >= the best single retriever - 0.005 on every set. Writes
benchmarks/out/fusion_datasets.json and prints one table (winner per data set marked).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from fusion_cache import SHARED, ensure_index, load_rankings, specs  # noqa: E402
from fusion_score import MAIN_METRIC, score_run  # noqa: E402

TOLERANCE = 0.005
SINGLE = ("dense", "sparse", "sparse-chunk")
# Fused runs: (which sparse list, search overrides of the default config). "sparse" is what
# `--mode sparse` ranks now (chunk BM25 plus its document's); "sparse-chunk" the chunk's BM25 alone.
RUNS = {
    "hybrid": ("sparse", {}),
    "before: RRF, chunk BM25": ("sparse-chunk", {"fusion": "rrf", "weights": {"dense": 1.0, "sparse": 1.0}}),
    "rrf": ("sparse", {"fusion": "rrf", "weights": {"dense": 1.0, "sparse": 1.0}}),
    "convex-minmax": ("sparse", {"fusion": "convex", "normalization": "minmax", "weights": {"dense": 0.5, "sparse": 0.5}}),
    "convex-max-0.65": ("sparse", {"fusion": "convex", "normalization": "max", "weights": {"dense": 0.65, "sparse": 0.35}}),
    "convex-zscore-0.55": ("sparse", {"fusion": "convex", "normalization": "zscore",
                                      "weights": {"dense": 0.55, "sparse": 0.45}}),
}
LANGCHAIN = ("langchain_bm25", "langchain_faiss", "langchain_ensemble")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=common.OUT, help=f"output folder (default {common.OUT})")
    parser.add_argument("--sets", default="scifact-train,scifact,msmarco,docugami,sample",
                        help="comma-separated data sets (scifact-train is the tuning split)")
    return parser.parse_args()


def fused_rows(searcher, dense: list, sparse: list, overrides: dict) -> list[list[int]]:
    """Each query's hybrid ranking under the default search settings changed by ``overrides``."""
    from ragkit.config import Config

    base = Config()
    searcher.cfg = dataclasses.replace(base, search=dataclasses.replace(base.search, **overrides))
    return [[row for row, _ in searcher.fuse(d, s)] for d, s in zip(dense, sparse)]


def run_dataset(name: str, out: Path) -> dict:
    """Every run's metrics on one data set."""
    from ragkit.retrieval.search import Searcher

    base, split = name.split("-")[0], "train" if name.endswith("-train") else "test"
    spec = specs(out, split)[base]
    ensure_index(spec, SHARED / "msmarco-subset" / "corpus.jsonl" if base == "msmarco" else None)
    rankings = load_rankings(spec, out / "fusion" / "cache", tag="-train" if split == "train" else "")
    lists = {"dense": rankings.dense, "sparse": rankings.sparse, "sparse-chunk": rankings.sparse_chunk}
    results = {run: score_run(rankings, [[r for r, _ in ranked] for ranked in lists[run]]) for run in SINGLE}
    searcher = Searcher(spec.index)
    for run, (sparse, overrides) in RUNS.items():
        results[run] = score_run(rankings, fused_rows(searcher, rankings.dense, lists[sparse], overrides))
    searcher.close()
    return {"queries": len(rankings.dataset.queries), "metric": MAIN_METRIC[base], "runs": results}


def add_langchain(table: dict, out: Path) -> dict | None:
    """The LangChain baseline's metrics (benchmarks/langchain_baseline.py's output) into ``table``; its machine info."""
    path = out / "langchain_baseline.json"
    if not path.is_file():
        return None
    baseline = json.loads(path.read_text())
    for name, data in table.items():
        runs = baseline["table"].get(name, {}).get("runs", {})   # not for scifact-train: the baseline runs test queries
        data["runs"].update({run: metrics for run, metrics in runs.items() if run in LANGCHAIN})
    return baseline.get("machine")


def verdicts(table: dict) -> dict:
    """Per data set: the winner, and per fused run whether it keeps up with the better single retriever."""
    out = {}
    for name, data in table.items():
        metric, runs = data["metric"], data["runs"]
        best_single = max(runs[r][metric] for r in SINGLE)
        out[name] = {"winner": max(runs, key=lambda r: runs[r].get(metric, -1)), "best_single": best_single,
                     "keeps_up": {r: runs[r][metric] >= best_single - TOLERANCE for r in RUNS}}
    return out


def print_table(table: dict, verdict: dict) -> None:
    names = list(table)
    header = " | ".join(f"{n} ({table[n]['metric']})" for n in names)
    print(f"\n| run | {header} |")
    print(f"|---|{'---|' * len(names)}")
    for run in [*SINGLE, *RUNS, *LANGCHAIN]:
        cells = []
        for n in names:
            value = table[n]["runs"].get(run, {}).get(table[n]["metric"])
            if value is None:
                cells.append("")
                continue
            mark = " **win**" if verdict[n]["winner"] == run else ""
            keep = "" if run not in RUNS else (" ok" if verdict[n]["keeps_up"][run] else " LOSES")
            cells.append(f"{value:.4f}{mark}{keep}")
        print(f"| {run} | {' | '.join(cells)} |")


def main() -> None:
    args = parse_args()
    machine = common.machine_info()
    table = {}
    for name in args.sets.split(","):
        with common.Timer() as t:
            table[name] = run_dataset(name, args.out.resolve())
        print(f"{name}: {table[name]['queries']} queries in {t.s:.1f}s", flush=True)
    langchain_machine = add_langchain(table, args.out)
    verdict = verdicts(table)
    path = common.write_json(args.out, "fusion_datasets.json",
                             {"machine": machine, "tolerance": TOLERANCE, "runs": RUNS, "table": table, "verdict": verdict,
                              "langchain_baseline_machine": langchain_machine})
    print_table(table, verdict)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
