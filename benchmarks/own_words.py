"""Issue 18: every quality default on every set, questions in the users' own words included, in one run.

    python benchmarks/own_words.py --split cal                 # while choosing settings
    python benchmarks/own_words.py --split test --langchain --before 67c5b43   # once, to report

Sets (own_words_sets.py): SciFact, msmarco-subset, the entity-name queries (benchmarks/paraphrase/entities),
the 195 docugami questions, sample_docs, the grounded PDF and filing questions (benchmarks/grounded), the
paraphrase PDF and filing questions (benchmarks/paraphrase) and docugami-short, each by its half.

Per set, retrieval runs: ``sparse``, ``dense``, ``hybrid`` (today's default config) and ``fixed-0.6``
(the same with the weights fixed at dense 0.6 / sparse 0.4, the default before issue 18); with
``--langchain``, LangChain's EnsembleRetriever (BM25Retriever + FAISS with ragkit's embedder, 0.5/0.5;
langchain_baseline.py's pipeline, vectors cached per corpus). Main metric: nDCG@10 (BEIR sets: documents
ranked by their best chunk), page hit@5 (questions with a page) or source hit@k. On sets with answers,
``ragkit ask``'s default (the extract chain, hybrid top 5): the expected answer found, refused, weak
support, the right file cited (answerable), and refused / weak / strong (unanswerable).

``--before COMMIT`` runs the same script against that commit's ragkit (a git worktree, its own indexes
built with its own code) in a subprocess and prints both side by side. Indexes are built once with the
default config under ``--out`` (docugami ~8 min, SciFact ~14 min on 2 cores). Writes
``<out>/own_words-<split>.json`` and prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402
from own_words_sets import SETS, SPLITS, corpus_folder, missing_data  # noqa: E402

RETRIEVAL_RUNS = ("sparse", "dense", "hybrid", "fixed-0.6")
TOLERANCE = 0.005


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=SPLITS, default="cal", help="which half to score (default cal)")
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, of: {', '.join(SETS)}")
    parser.add_argument("--out", type=Path, default=common.OUT / "own_words", help="indexes, caches, results")
    parser.add_argument("--langchain", action="store_true", help="add LangChain's EnsembleRetriever baseline")
    parser.add_argument("--before", metavar="COMMIT", help="also run this commit's ragkit, side by side")
    parser.add_argument("--choose-weights", action="store_true",
                        help="choose the hybrid weights by query length on these sets (own_words_weights.py; use --split cal)")
    parser.add_argument("--ragkit", type=Path, help=argparse.SUPPRESS)   # the checkout to import (for --before)
    return parser.parse_args()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_index(corpus: str, out: Path) -> Path:
    """The default-config index of ``corpus`` under ``out``, built on first use."""
    from ragkit.config import Config
    from ragkit.ingest.pipeline import ingest

    index = out / "indexes" / corpus
    if not (index / "CURRENT").is_file():
        with common.Timer() as t:
            report = ingest(corpus_folder(corpus, out), index, Config())
        log(f"built {index}: {report.chunks_total} chunks in {t.s:.0f} s")
    return index


def hit_score(dataset, qid: str, hits: list, metric: str) -> float | None:
    """The main metric of one query from its ranked chunks (None: the question has nothing to score)."""
    from ragkit.evaluation import metrics as M

    if dataset.kind == "beir":
        return M.ndcg_at_k(dataset.qrels[qid], M.dedupe_ranked([h.doc_id for h in hits]), 10)
    item = dataset.items[qid]
    if not item.sources or (metric == "page_hit@5" and item.page is None):
        return None
    if metric == "page_hit@5":
        return max(M.page_hit_at_k(s, item.page, [(h.source, h.page) for h in hits], 5) for s in item.sources)
    k = int(metric.split("@")[1])
    return max(M.source_hit_at_k(s, [h.source for h in hits], k) for s in item.sources)


def retrieval_runs(spec, dataset, index: Path) -> dict:
    """Each retrieval run's main metric (mean over the scored queries)."""
    import dataclasses

    from ragkit.config import Config
    from ragkit.retrieval.search import Searcher

    cfg = Config()
    fixed = dataclasses.replace(cfg, search=dataclasses.replace(cfg.search, weights={"dense": 0.6, "sparse": 0.4}))
    depth = 100 if dataset.kind == "beir" else 10
    out = {}
    for run, config, mode in (("sparse", cfg, "sparse"), ("dense", cfg, "dense"), ("hybrid", cfg, "hybrid"),
                              ("fixed-0.6", fixed, "hybrid")):
        searcher = Searcher(index, config)
        scores = [hit_score(dataset, qid, searcher.search(text, mode=mode, k=depth), spec.metric)
                  for qid, text in dataset.queries]
        searcher.close()
        scored = [s for s in scores if s is not None]
        out[run] = round(sum(scored) / len(scored), 4) if scored else None
    return out


def answer_runs(dataset, index: Path) -> dict:
    """``ragkit ask``'s default answers (extract chain): found, refused, weak, right file; unanswerable outcomes."""
    from ragkit.config import Config
    from ragkit.evaluation import metrics as M
    from ragkit.generation.ask import ask
    from ragkit.retrieval.search import Searcher

    cfg = Config()
    searcher = Searcher(index, cfg)
    rows = []
    for qid, text in dataset.queries:
        item = dataset.items[qid]
        answer = ask(text, searcher, None, cfg.ask).answer
        cited = [answer.sources[n - 1].source for n in answer.citations if 1 <= n <= len(answer.sources)]
        support = getattr(answer, "support", None)   # None before issue 18: two outcomes only
        rows.append({"answerable": bool(item.answers), "refused": answer.refused, "weak": support == "weak",
                     "found": bool(item.answers) and M.answer_contains(answer.text, item.answers) == 1.0,
                     "right_file": bool(cited) and any(M.source_hit_at_k(s, cited, len(cited)) for s in item.sources)
                     if item.sources else None})
    searcher.close()
    return summarise_answers(rows)


def summarise_answers(rows: list[dict]) -> dict:
    """Counts and shares of the answer rows (answerable and unanswerable apart)."""
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    with_file = [r for r in answerable if r["right_file"] is not None]
    share = lambda part, whole: round(len(part) / len(whole), 4) if whole else None   # noqa: E731
    return {"answerable": len(answerable), "found": share([r for r in answerable if r["found"]], answerable),
            "answerable_refused": share([r for r in answerable if r["refused"]], answerable),
            "answerable_weak": share([r for r in answerable if r["weak"]], answerable),
            "right_file": share([r for r in with_file if r["right_file"]], with_file),
            "unanswerable": len(unanswerable),
            "unanswerable_refused": share([r for r in unanswerable if r["refused"]], unanswerable),
            "unanswerable_weak": share([r for r in unanswerable if r["weak"]], unanswerable)}


def langchain_run(spec, dataset, out: Path) -> float | None:
    """LangChain's EnsembleRetriever (langchain_baseline.py's pipeline) on the set: its main metric."""
    from types import SimpleNamespace

    import langchain_baseline as baseline
    import langchain_corpus as lc

    from ragkit.config import Config
    from ragkit.embedders import build_embedder

    chunks, _ = baseline.load_chunks(dataset)
    vectors, _ = lc.cached_vectors(build_embedder(Config().embedder), [c.page_content for c in chunks],
                                   out / "langchain" / f"{spec.corpus}.npz", log)
    retrievers, _ = baseline.build_retrievers(chunks, vectors, 100 if dataset.kind == "beir" else 10)
    units = lc.units(chunks)
    ranked, _ = baseline.query_run(retrievers["langchain_ensemble"], [text for _, text in dataset.queries])
    hits = [[SimpleNamespace(doc_id=units[r][0], page=units[r][1], source=units[r][2]) for r in rows] for rows in ranked]
    scores = [hit_score(dataset, qid, h, spec.metric) for (qid, _), h in zip(dataset.queries, hits)]
    scored = [s for s in scores if s is not None]
    return round(sum(scored) / len(scored), 4) if scored else None


def run_all(args: argparse.Namespace) -> dict:
    """Every chosen set on one half: retrieval runs, answers, the LangChain baseline."""
    table = {}
    for name in args.sets.split(","):
        spec = SETS[name]
        dataset = spec.load(args.split)
        index = ensure_index(spec.corpus, args.out)
        with common.Timer() as t:
            row = {"metric": spec.metric, "queries": len(dataset.queries), "runs": retrieval_runs(spec, dataset, index)}
            if args.langchain:
                row["runs"]["langchain"] = langchain_run(spec, dataset, args.out)
            if spec.answers:
                row["answers"] = answer_runs(dataset, index)
        log(f"{name} ({args.split}, {len(dataset.queries)} queries, {t.s:.0f} s): {row}")
        table[name] = row
    return table


def choose_weights(args: argparse.Namespace) -> dict:
    """own_words_weights.py's choice of the length schedule over the chosen sets' half."""
    from own_words_weights import cached_rankings, choose, print_choice

    from ragkit.config import Config
    from ragkit.retrieval.search import Searcher

    sets, meta = {}, {}
    for name in args.sets.split(","):
        spec = SETS[name]
        dataset = spec.load(args.split)
        searcher = Searcher(ensure_index(spec.corpus, args.out), Config())
        dense, sparse = cached_rankings(searcher, dataset, args.out / "rankings" / f"{name}-{args.split}.npz")
        rows = {row for lists in (dense, sparse) for items in lists for row, _ in items}
        meta[name] = searcher.index.docstore.get(rows)   # row -> chunk (doc_id, source, page), read once
        sets[name] = (searcher, dataset, dense, sparse, spec)

    def score(spec, dataset, qid, rows, searcher):
        chunks = meta[dataset.name]
        return hit_score(dataset, qid, [chunks[r] for r in rows[:100]], spec.metric)

    choice = choose(sets, score)
    print_choice(choice)
    return choice


def run_before(args: argparse.Namespace) -> dict:
    """This script against ``args.before``'s ragkit, in a git worktree and a subprocess; its table."""
    worktree = Path(tempfile.mkdtemp(prefix="own-words-before-")) / "ragkit"
    subprocess.run(["git", "-C", str(common.REPO), "worktree", "add", "--detach", str(worktree), args.before],
                   check=True, capture_output=True)
    try:
        out = args.out / f"before-{args.before}"
        command = [sys.executable, __file__, "--split", args.split, "--sets", args.sets, "--out", str(out),
                   "--ragkit", str(worktree)]
        subprocess.run(command, check=True)
        return json.loads((out / f"own_words-{args.split}.json").read_text())["table"]
    finally:
        subprocess.run(["git", "-C", str(common.REPO), "worktree", "remove", "--force", str(worktree)], check=False)


def print_tables(table: dict, before: dict | None) -> None:
    """Markdown: retrieval per set (winner of the single retrievers, whether hybrid keeps up), then answers."""
    runs = [*RETRIEVAL_RUNS, *(["langchain"] if any("langchain" in r["runs"] for r in table.values()) else [])]
    print(f"\n| set | metric | n | {' | '.join(runs)} | hybrid ≥ best single − {TOLERANCE} |" +
          (" hybrid before |" if before else ""))
    print("|---|---|---|" + "---|" * len(runs) + "---|" + ("---|" if before else ""))
    for name, row in table.items():
        r = row["runs"]
        best = max(r["sparse"], r["dense"])
        cells = " | ".join("" if r.get(run) is None else f"{r[run]:.3f}" for run in runs)
        extra = f" {before[name]['runs']['hybrid']:.3f} |" if before and name in before else ""
        print(f"| {name} | {row['metric']} | {row['queries']} | {cells} | "
              f"{'yes' if r['hybrid'] >= best - TOLERANCE else 'NO'} ({r['hybrid'] - best:+.3f}) |{extra}")
    keys = ("found", "answerable_refused", "answerable_weak", "right_file", "unanswerable_refused", "unanswerable_weak")
    print(f"\n| set | version | answerable | {' | '.join(keys[:4])} | unanswerable | {' | '.join(keys[4:])} |")
    print("|---|---|---|" + "---|" * 4 + "---|" + "---|" * 2)
    for name, row in table.items():
        for version, data in (("now", row.get("answers")), ("before", (before or {}).get(name, {}).get("answers"))):
            if data:
                cells = lambda ks: " | ".join("" if data[k] is None else f"{data[k]:.3f}" for k in ks)   # noqa: E731
                print(f"| {name} | {version} | {data['answerable']} | {cells(keys[:4])} | {data['unanswerable']} | "
                      f"{cells(keys[4:])} |")


def main() -> None:
    args = parse_args()
    if args.ragkit:
        sys.path.insert(0, str(args.ragkit))   # that checkout's ragkit, not the installed one
    if missing_data():
        sys.exit("error: data sets not found: " + ", ".join(missing_data()) + " (see ../shared/datasets)")
    args.out = args.out.resolve()
    machine = common.machine_info()
    if args.choose_weights:
        choice = choose_weights(args)
        common.write_json(args.out, f"own_words-weights-{args.split}.json", {"machine": machine, **choice})
        return
    before = run_before(args) if args.before else None
    with common.Timer() as t:
        table = run_all(args)
    result = {"machine": machine, "command": machine["command"], "split": args.split, "seconds": round(t.s, 1),
              "table": table, "before": {"commit": args.before, "table": before} if before else None}
    path = common.write_json(args.out, f"own_words-{args.split}.json", result)
    if not args.ragkit:
        print_tables(table, before)
        log(f"wrote {path}")


if __name__ == "__main__":
    main()
