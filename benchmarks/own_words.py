"""Issue 18: every quality default on every set, questions in the users' own words included, in one run.

    python benchmarks/own_words.py --split cal                 # while choosing settings
    python benchmarks/own_words.py --split test --langchain --before 67c5b43   # once, to report
    python benchmarks/own_words.py --split cal --route 5,10,20     # search.route: documents against chunks

Sets (own_words_sets.py): SciFact, msmarco-subset, the entity-name queries (benchmarks/paraphrase/entities),
the 195 docugami questions, sample_docs, the grounded PDF and filing questions (benchmarks/grounded), the
paraphrase PDF and filing questions (benchmarks/paraphrase) and docugami-short, each by its half.

Per set, retrieval runs: ``sparse``, ``dense``, ``hybrid`` (today's default config) and ``fixed-0.6``
(the same with the weights fixed at dense 0.6 / sparse 0.4, the default before issue 18); with
``--langchain``, LangChain's EnsembleRetriever (BM25Retriever + FAISS with ragkit's embedder, 0.5/0.5;
own_words_sets.py's pipeline, vectors cached per corpus). Main metric: nDCG@10 (BEIR sets: documents
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
import itertools
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402
from own_words_sets import SETS, SPLITS, corpus_folder, langchain_hits, missing_data  # noqa: E402

RETRIEVAL_RUNS = ("sparse", "dense", "hybrid", "fixed-0.6")
TOLERANCE = 0.005

# --choose-weights (issue 18, point 3): for every set, each query's dense and sparse top-300 chunk rankings (the
# functions ``ragkit search`` fuses, cached in ``<out>/rankings/``). Every schedule of the grid (dense weight
# ``high`` up to ``short`` distinct query terms, ``low`` from ``long`` terms on, linear between) fuses them with
# ``Searcher.fuse``'s own code (convex, max normalisation, by document). The rule, fixed before looking: the
# schedule whose worst set loses least to that set's better single retriever, ties to the best mean over sets.
GRID = {"high": (0.6, 0.65, 0.7, 0.75, 0.8), "low": (0.2, 0.25, 0.3, 0.35), "short": (3, 4, 5, 6, 8),
        "long": (10, 12, 14, 16, 20)}
DEPTH = 300


def parse_args() -> argparse.Namespace:
    parser = common.parser(__doc__)
    parser.add_argument("--split", choices=SPLITS, default="cal", help="which half to score (default cal)")
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, of: {', '.join(SETS)}")
    parser.add_argument("--out", type=Path, default=common.OUT / "own_words", help="indexes, caches, results")
    parser.add_argument("--langchain", action="store_true", help="add LangChain's EnsembleRetriever baseline")
    parser.add_argument("--before", metavar="COMMIT", help="also run this commit's ragkit, side by side")
    parser.add_argument("--choose-weights", action="store_true",
                        help="choose the hybrid weights by query length on these sets (use --split cal)")
    parser.add_argument("--route", metavar="N,N", help="search.route: documents with each N of route_documents "
                        "against route: chunks (the default hybrid search), quality and query time, instead of the runs")
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
    """LangChain's EnsembleRetriever (own_words_sets.langchain_hits) on the set: its main metric."""
    hits = langchain_hits(dataset, out / "langchain" / f"{spec.corpus}.npz")
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


def route_runs(args: argparse.Namespace, sizes: list[int]) -> dict:
    """Issue 23, point 3: per set, ``search.route: chunks`` (today's hybrid search) and ``documents`` with each
    ``route_documents`` N, through the retrieval pipeline one query at a time as ``ragkit search`` runs them.
    Query time is each run's total over the set divided by the chunks run's, in the same process; the routers'
    one-off document embeddings (computed on a loaded index's first routed query) are timed apart."""
    import dataclasses
    import time

    from ragkit.config import Config
    from ragkit.retrieval.pipeline import Pipeline
    from ragkit.retrieval.search import Searcher

    table = {}
    for name in args.sets.split(","):
        spec = SETS[name]
        dataset = spec.load(args.split)
        index = ensure_index(spec.corpus, args.out)
        depth = 100 if dataset.kind == "beir" else 10
        row = {"metric": spec.metric, "queries": len(dataset.queries), "runs": {}, "seconds": {}}
        for run, n in [("chunks", None), *((f"documents-{n}", n) for n in sizes)]:
            cfg = Config()
            if n is not None:
                cfg = dataclasses.replace(cfg, search=dataclasses.replace(cfg.search, route="documents",
                                                                          route_documents=n))
            searcher = Searcher(index, cfg)
            pipeline = Pipeline(searcher)
            start = time.perf_counter()
            pipeline.search([dataset.queries[0][1]], k=depth)   # loads the embedder (and the router's embeddings)
            row.setdefault("warmup_s", {})[run] = round(time.perf_counter() - start, 2)
            start = time.perf_counter()
            hits = [pipeline.search([text], k=depth)[0].hits for _, text in dataset.queries]
            row["seconds"][run] = round(time.perf_counter() - start, 3)
            searcher.close()
            scores = [hit_score(dataset, qid, h, spec.metric) for (qid, _), h in zip(dataset.queries, hits)]
            scored = [v for v in scores if v is not None]
            row["runs"][run] = round(sum(scored) / len(scored), 4) if scored else None
        log(f"{name} ({args.split}): {row}")
        table[name] = row
    return table


def print_route(table: dict) -> None:
    """Markdown: each route's main metric per set, and its query time as a ratio to the chunks route's."""
    runs = list(next(iter(table.values()))["runs"])
    print(f"\n| set | metric | n | {' | '.join(runs)} | time ratio ({', '.join(runs[1:])} / chunks) |")
    print("|---|---|---|" + "---|" * len(runs) + "---|")
    for name, row in table.items():
        cells = " | ".join("" if row["runs"][r] is None else f"{row['runs'][r]:.3f}" for r in runs)
        ratios = ", ".join(f"{row['seconds'][r] / row['seconds']['chunks']:.2f}" for r in runs[1:])
        print(f"| {name} | {row['metric']} | {row['queries']} | {cells} | {ratios} |")


def choose_weights(args: argparse.Namespace) -> dict:
    """The length schedule of the hybrid weights chosen over the chosen sets' half (the rule above)."""
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
    if args.route:
        table = route_runs(args, [int(n) for n in args.route.split(",")])
        common.write_json(args.out, f"own_words-route-{args.split}.json", {"machine": machine, "table": table})
        print_route(table)
        return
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
